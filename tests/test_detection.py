"""Backend detection: what each engine says about itself, and what the plugin makes of it.

The payloads are the engines' own (recorded from llama-server and llama-cpp-python's server
running here; read in vLLM's and Ollama's code). The real servers are asked too, in
``tests/test_llama_server.py`` and ``tests/test_local_engine.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted.backends import identify_models, identify_ollama
from tests.gateway import Gateway, user_ctx


def _models(owned_by: str, **extra: Any) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": "m", "object": "model", "owned_by": owned_by, **extra}],
    }


@pytest.mark.parametrize(
    "payload, backend",
    [
        (_models("vllm", root="/models/gemma", max_model_len=8192), "vllm"),
        (_models("llamacpp", meta={"n_vocab": 262144}), "llama.cpp"),
        (_models("me", permissions=[]), "llama-cpp-python"),
    ],
)
def test_owned_by_names_the_engine(payload: dict[str, Any], backend: str) -> None:
    """A server's /v1/models answer would be read as the wrong engine."""
    found = identify_models(payload)
    assert found is not None and found.name == backend


@pytest.mark.parametrize(
    "payload",
    [
        _models("library"),  # Ollama: the model's namespace, not the engine
        _models("openai"),
        {"data": []},
        {"data": [{"owned_by": "vllm"}, {"owned_by": "llamacpp"}]},  # a proxy mixing engines
        {"data": "nope"},
        [],
        None,
    ],
)
def test_unknown_or_ambiguous_is_not_guessed(payload: object) -> None:
    """An answer that does not name one known engine is not taken for one."""
    assert identify_models(payload) is None


def test_ollama_version() -> None:
    """Ollama answers GET /api/version with its version."""
    found = identify_ollama({"version": "0.13.0"})
    assert found is not None and found.name == "ollama"
    assert identify_ollama({"detail": "Not Found"}) is None


async def _serve(routes: dict[str, Any]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    for path, body in routes.items():

        async def handler(_request: web.Request, body: Any = body) -> web.Response:
            return web.json_response(body)

        app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize(
    "routes, backend",
    [
        ({"/v1/models": _models("vllm")}, "vllm"),
        ({"/v1/models": _models("library"), "/api/version": {"version": "0.13.0"}}, "ollama"),
        ({"/v1/models": _models("openai")}, "openai-compatible"),
        ({}, "openai-compatible"),  # no /v1/models at all
    ],
)
async def test_prewarm_detects_once(routes: dict[str, Any], backend: str) -> None:
    """Prewarm asks the server once; the profile is logged, kept and shown as provider."""
    runner, url = await _serve(routes)
    model = hosted.LLM.self_hosted("google/gemma-4-31b-it", base_url=url)
    assert model.provider == "auto"
    await model._prewarm_impl()
    assert model.provider == backend
    await model._prewarm_impl()  # known now: no second probe changes it
    assert model.provider == backend
    await model.aclose()
    await runner.cleanup()


async def test_explicit_backend_skips_the_probe(gateway: Gateway) -> None:
    """backend= named: no detection request, only the completion."""
    gateway._verify = False
    model = hosted.LLM.self_hosted("m", base_url=gateway.url, backend="vllm")
    await model.chat(chat_ctx=user_ctx()).collect()
    assert [r.path for r in gateway.requests] == ["/v1/chat/completions"]
    await model.aclose()


async def test_unreachable_server_is_asked_again() -> None:
    """A server that is down at first is not settled as 'openai-compatible' for good."""
    model = hosted.LLM.self_hosted("m", base_url="http://127.0.0.1:9/v1")
    await model._prewarm_impl()
    assert model.provider == "auto"
    await model.aclose()


@pytest.mark.parametrize("status", [401, 429, 503])
async def test_an_error_answer_is_not_taken_for_an_engine(status: int) -> None:
    """A /models that answers 401/429/503 says nothing about the engine: not settled as
    'openai-compatible', asked again on the next request."""
    app = web.Application()
    calls = 0

    async def models(_request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.json_response({"error": "busy"}, status=status)
        return web.json_response(_models("vllm"))

    app.router.add_get("/v1/models", models)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    model = hosted.LLM.self_hosted("m", base_url=f"http://127.0.0.1:{port}/v1")
    await model._prewarm_impl()
    assert model.provider == "auto"
    await model._prewarm_impl()
    assert model.provider == "vllm" and calls == 2
    await model.aclose()
    await runner.cleanup()


@pytest.mark.parametrize("url", ["localhost:8000/v1", "ftp://host/v1", ""])
def test_self_hosted_url_needs_a_scheme(url: str) -> None:
    """A base_url without http(s) is a ValueError at once, not retried connection errors."""
    with pytest.raises(ValueError, match="http"):
        hosted.LLM.self_hosted("m", base_url=url)
