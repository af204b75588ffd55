"""Self-hosted backends: each parameter is sent in the form the engine honours, or refused."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.agents import llm

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted.backends import BACKENDS, get_backend
from tests.gateway import Gateway, Reply, user_ctx

_ctx = user_ctx


async def _body(gw: Gateway, backend: str, params: dict[str, Any]) -> dict[str, Any]:
    gw._verify = False
    model = hosted.LLM.self_hosted("m", base_url=gw.url, backend=backend, extra_kwargs=params)
    await model.chat(chat_ctx=_ctx()).collect()
    await model.aclose()
    return gw.bodies[-1]


@pytest.mark.parametrize("backend", ["llama-cpp-python", "ollama", "openai-compatible"])
async def test_max_completion_tokens_becomes_max_tokens(gateway: Gateway, backend: str) -> None:
    """Servers that read only max_tokens get the limit under that name (else: unbounded)."""
    body = await _body(gateway, backend, {"max_completion_tokens": 5})
    assert body["max_tokens"] == 5 and "max_completion_tokens" not in body


@pytest.mark.parametrize("backend", ["vllm", "llama.cpp"])
async def test_max_completion_tokens_kept_where_read(gateway: Gateway, backend: str) -> None:
    """Servers that read max_completion_tokens get it as is."""
    body = await _body(gateway, backend, {"max_completion_tokens": 5})
    assert body["max_completion_tokens"] == 5 and "max_tokens" not in body


async def test_vllm_continue_pairs_with_no_generation_prompt(gateway: Gateway) -> None:
    """continue_final_message alone would be a 400 on vLLM; it is sent with its pair."""
    body = await _body(gateway, "vllm", {"continue_final_message": True})
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


async def test_llama_cpp_continue_is_sent_with_its_pair(gateway: Gateway) -> None:
    """Without the flag llama-server echoes the prefill (said twice); with it, only the rest."""
    body = await _body(gateway, "llama.cpp", {"continue_final_message": True})
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


@pytest.mark.parametrize(
    "backend, params, field",
    [
        ("llama-cpp-python", {"n": 2}, "n"),
        ("llama-cpp-python", {"continue_final_message": True}, "continue_final_message"),
        ("llama-cpp-python", {"add_generation_prompt": False}, "add_generation_prompt"),
        ("llama-cpp-python", {"reasoning_effort": "low"}, "reasoning_effort"),
        ("llama-cpp-python", {"tool_choice": "required"}, "tool_choice"),
        ("llama-cpp-python", {"user": "u"}, "user"),
        ("ollama", {"n": 3}, "n"),
        ("ollama", {"logit_bias": {"1": 5}}, "logit_bias"),
        ("ollama", {"continue_final_message": True}, "continue_final_message"),
        ("ollama", {"tool_choice": "required"}, "tool_choice"),
        ("llama.cpp", {"n": 2}, "n"),
        (
            "llama.cpp",
            {"tool_choice": {"type": "function", "function": {"name": "f"}}},
            "tool_choice",
        ),
        ("vllm", {"store": True}, "store"),
        ("vllm", {"metadata": {"a": "b"}}, "metadata"),
    ],
)
def test_unhonoured_parameters_are_refused(
    backend: str, params: dict[str, Any], field: str
) -> None:
    """A parameter the engine would ignore raises ValueError naming it and the backend."""
    with pytest.raises(ValueError, match=field) as info:
        hosted.LLM.self_hosted(
            "m", base_url="http://127.0.0.1:1/v1", backend=backend, extra_kwargs=params
        )
    assert backend in str(info.value)


@pytest.mark.parametrize(
    "backend, params",
    [
        ("llama-cpp-python", {"n": 1, "add_generation_prompt": True, "seed": 3}),
        ("llama-cpp-python", {"tool_choice": {"type": "function", "function": {"name": "f"}}}),
        ("ollama", {"tool_choice": "auto", "parallel_tool_calls": True, "seed": 1}),
        ("llama.cpp", {"tool_choice": "required", "n": 1}),
        ("vllm", {"n": 1, "continue_final_message": True, "add_generation_prompt": False}),
    ],
)
async def test_honoured_values_pass(gateway: Gateway, backend: str, params: dict[str, Any]) -> None:
    """Values the engine does honour are accepted and reach the wire."""
    body = await _body(gateway, backend, params)
    for name, value in params.items():
        if name in ("tool_choice", "parallel_tool_calls"):
            continue  # sent only with tools; _body sends none
        assert body[get_backend(backend).renames.get(name, name)] == value, name


async def test_per_call_values_are_checked_against_the_backend(gateway: Gateway) -> None:
    """chat(extra_kwargs=...) is refused too when the engine would ignore it, before sending."""
    gateway._verify = False
    model = hosted.LLM.self_hosted("m", base_url=gateway.url, backend="llama-cpp-python")
    with pytest.raises(ValueError, match="n"):
        model.chat(chat_ctx=_ctx(), extra_kwargs={"n": 2})
    assert gateway.requests == []
    await model.aclose()


def test_unknown_backend_lists_the_known_ones() -> None:
    """A typo in backend= names the allowed values."""
    with pytest.raises(ValueError, match="llama-cpp-python"):
        get_backend("llamacpp")
    assert set(BACKENDS) == {
        "livekit",
        "openai-compatible",
        "vllm",
        "llama.cpp",
        "llama-cpp-python",
        "ollama",
    }


async def test_usage_estimated_when_the_engine_streams_none(gateway: Gateway) -> None:
    """llama-cpp-python sends no usage in streams; metrics still get a completion token count."""
    events = [
        {"id": "c", "choices": [{"index": 0, "delta": {"content": w}}]} for w in ("a", "b", "c")
    ]
    events.append({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    gateway.replies.append(Reply(events=events))
    gateway._verify = False
    model = hosted.LLM.self_hosted("m", base_url=gateway.url, backend="llama-cpp-python")
    result = await model.chat(chat_ctx=_ctx()).collect()
    assert result.usage is not None and result.usage.completion_tokens == 3
    await model.aclose()


@llm.function_tool
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return city


@pytest.mark.parametrize(
    "backend, choice, tools_sent, choice_sent",
    [
        ("llama-cpp-python", "auto", True, None),  # its default; the field is not read
        ("llama-cpp-python", "none", False, None),  # not read: the tools are left out
        ("ollama", "auto", True, "auto"),
        ("ollama", "none", False, None),
        ("vllm", "none", True, "none"),
    ],
)
async def test_the_frameworks_tool_choices_are_honoured(
    gateway: Gateway, backend: str, choice: str, tools_sent: bool, choice_sent: str | None
) -> None:
    """The agent's own tool_choice ('auto' after a tool result, 'none' at the tool-step limit)
    never fails a turn: each engine gets it in the form it honours."""
    gateway._verify = False
    model = hosted.LLM.self_hosted("m", base_url=gateway.url, backend=backend)
    await model.chat(chat_ctx=_ctx(), tools=[get_weather], tool_choice=choice).collect()
    body = gateway.bodies[-1]
    assert ("tools" in body) is tools_sent
    assert body.get("tool_choice") == choice_sent
    await model.aclose()


@pytest.mark.parametrize("backend", ["llama-cpp-python", "ollama"])
async def test_tool_fields_without_tools_are_not_refused(gateway: Gateway, backend: str) -> None:
    """Without tools the tool fields are not sent, so a value the engine ignores is no error."""
    gateway._verify = False
    model = hosted.LLM.self_hosted("m", base_url=gateway.url, backend=backend)
    await model.chat(chat_ctx=_ctx(), tool_choice="required", parallel_tool_calls=False).collect()
    assert "tool_choice" not in gateway.bodies[-1]
    await model.aclose()
