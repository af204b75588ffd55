"""The README's comparison table, tried: what the framework's built-in ``inference.LLM`` does.

Each test tries one row's claim about the built-in against the loopback gateway, on the
framework version installed, so the table says what the built-in does today, not what it once
did: a framework release that fixes a row fails its test here, and the row is rewritten. Our
own side of each row is proven where our behaviour is tested (named in each docstring).

Not tried here: "offline" (the built-in has no local engine) and "self-hosted engine" (it has no
detection: it sends the same body to any ``base_url``, which the other rows show).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from livekit.agents import (
    APIConnectionError,
    APIConnectOptions,
    APIError,
    APIStatusError,
    inference,
    llm,
)

from tests.gateway import API_KEY, API_SECRET, Gateway, Reply, delta_chunks, user_ctx

GEMMA = "google/gemma-4-31b-it"
ONCE = APIConnectOptions(max_retry=0, timeout=5)


@pytest.fixture
async def builtin(gateway: Gateway) -> AsyncIterator[Any]:
    """A factory of built-in LLMs pointed at the loopback gateway, all closed afterwards."""
    made: list[inference.LLM] = []

    def make(model: str = GEMMA, **kw: Any) -> inference.LLM:
        made.append(
            inference.LLM(
                model=model, base_url=gateway.url, api_key=API_KEY, api_secret=API_SECRET, **kw
            )
        )
        return made[-1]

    yield make
    for model in made:
        await model.aclose()


@llm.function_tool
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


async def _said(stream: llm.LLMStream) -> tuple[str, list[llm.FunctionToolCall]]:
    text, calls = "", []
    async with stream:
        async for chunk in stream:
            if chunk.delta is not None:
                text += chunk.delta.content or ""
                calls += chunk.delta.tool_calls or []
    return text, calls


@pytest.mark.parametrize(
    "extra", [{"add_generation_prompt": False}, {"continue_final_message": True}]
)
async def test_open_weight_parameters_crash_as_a_retryable_connection_error(
    gateway: Gateway, builtin: Any, extra: dict[str, Any]
) -> None:
    """Row "add_generation_prompt / continue_final_message": the SDK's create() refuses the
    keyword (TypeError) and the built-in reports it as a retryable connection error; nothing
    reaches the gateway. (Ours: tests/test_llm.py test_every_parameter_arrives_top_level.)"""
    model = builtin(extra_kwargs=extra)
    with pytest.raises(APIConnectionError) as raised:
        await _said(model.chat(chat_ctx=user_ctx(), conn_options=ONCE))
    assert raised.value.retryable
    assert isinstance(raised.value.__cause__, TypeError)
    assert gateway.bodies == []


async def test_a_misspelt_parameter_crashes_the_same_way(gateway: Gateway, builtin: Any) -> None:
    """Row "typo temprature": refused by the SDK's create() (TypeError), reported as a
    retryable connection error, with no hint of the name meant. (Ours:
    tests/test_params.py, a ValueError that suggests 'temperature'.)"""
    model = builtin(extra_kwargs={"temprature": 0.7})
    with pytest.raises(APIConnectionError) as raised:
        await _said(model.chat(chat_ctx=user_ctx(), conn_options=ONCE))
    assert raised.value.retryable and isinstance(raised.value.__cause__, TypeError)
    assert "temperature" not in str(raised.value)
    assert gateway.bodies == []


async def test_out_of_range_values_are_sent(gateway: Gateway, builtin: Any) -> None:
    """Row "temperature 7, top_p with temperature, 5 stop strings, top_logprobs 50": all sent
    as given. (Ours: tests/test_llm.py test_bad_parameters_never_reach_the_wire.)"""
    extra = {
        "temperature": 7,
        "top_p": 0.5,
        "stop": ["a", "b", "c", "d", "e"],
        "logprobs": True,
        "top_logprobs": 50,
    }
    model = builtin(extra_kwargs=extra)
    await _said(model.chat(chat_ctx=user_ctx(), conn_options=ONCE))
    body = gateway.bodies[-1]
    assert {k: body[k] for k in extra} == extra


async def test_persistent_tool_choice_overrides_the_call(gateway: Gateway, builtin: Any) -> None:
    """Row "per-call tool_choice / parallel_tool_calls": a persistent value wins over the
    call's. (Ours: tests/test_llm.py test_per_call_values_win_over_persistent.)"""
    model = builtin(extra_kwargs={"tool_choice": "none", "parallel_tool_calls": False})
    stream = model.chat(
        chat_ctx=user_ctx(),
        tools=[get_weather],
        tool_choice="required",
        parallel_tool_calls=True,
        conn_options=ONCE,
    )
    await _said(stream)
    body = gateway.bodies[-1]
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("none", False)


async def test_tool_schemas_are_always_strict(gateway: Gateway, builtin: Any) -> None:
    """Row "tool schemas": strict is always sent, and there is no option to turn it off.
    (Ours: tests/test_llm.py test_named_tool_choice_and_non_strict_schema.)"""
    model = builtin()
    await _said(model.chat(chat_ctx=user_ctx(), tools=[get_weather], conn_options=ONCE))
    (tool,) = gateway.bodies[-1]["tools"]
    assert tool["function"]["strict"] is True


async def test_a_stream_of_empty_deltas_is_silence_without_an_error(
    gateway: Gateway, builtin: Any
) -> None:
    """Row "a model that thinks for 6 s, or a stream of empty deltas": the timeout is per
    read, so a server that keeps sending nothing speakable for longer than the timeout ends
    the turn in silence and no error (a FallbackAdapter never moves on). (Ours:
    tests/test_first_word.py, first_token_timeout.)"""
    events: list[dict[str, Any] | str] = list(delta_chunks([{"content": ""}] * 6))
    gateway.replies.append(Reply(events=events, delay_between=0.25))
    model = builtin()
    text, calls = await _said(
        model.chat(chat_ctx=user_ctx(), conn_options=APIConnectOptions(max_retry=0, timeout=1))
    )
    assert (text, calls) == ("", [])


async def test_any_inference_class_is_sent(gateway: Gateway, builtin: Any) -> None:
    """Row "inference_class": any value goes out as the priority header. (Ours:
    tests/test_inputs.py, priority/standard/low only.)"""
    model = builtin(inference_class="banana")
    await _said(model.chat(chat_ctx=user_ctx(), conn_options=ONCE))
    assert gateway.requests[-1].headers["X-LiveKit-Inference-Priority"] == "banana"


THOUGHT = "<|channel>thought\nThe caller wants the weather.<channel|>"


@pytest.mark.parametrize(
    ("model_id", "content", "leaks"),
    [
        # since livekit/agents PR #6398: stripped for this exact id
        (GEMMA, [THOUGHT[:9], THOUGHT[9:30], THOUGHT[30:], "It is sunny."], None),
        # the same thought under other ids a gateway, a relay or a local server may use
        ("gemma4:31b", [THOUGHT, "It is sunny."], "caller wants"),
        ("google/gemma-4-31B-it", [THOUGHT, "It is sunny."], "caller wants"),
        ("models/gemma-4-31b-it-Q4_K_M.gguf", [THOUGHT, "It is sunny."], "caller wants"),
        # the label alone (a server that dropped the special tokens' text)
        (GEMMA, ["thought\nThe caller wants the weather.", "It is sunny."], "caller wants"),
    ],
    ids=["exact-id", "ollama-id", "capitalised-id", "gguf-path", "bare-label"],
)
async def test_gemma4_thought(
    gateway: Gateway, builtin: Any, model_id: str, content: list[str], leaks: str | None
) -> None:
    """Rows "Gemma 4 thought in content" and "Gemma 4 under another id": the built-in strips
    the thought for the exact id ``google/gemma-4-31b-it`` only; under another id, or as the
    bare ``thought`` label, it is spoken. (Ours: tests/test_gemma4.py, tests/test_families.py.)"""
    gateway.replies.append(Reply(events=list(delta_chunks([{"content": c} for c in content]))))
    model = builtin(model_id)
    text, _ = await _said(model.chat(chat_ctx=user_ctx(), conn_options=ONCE))
    assert "It is sunny." in text
    if leaks is None:
        assert "caller wants" not in text and "<|channel>" not in text
    else:
        assert leaks in text


async def test_gemma4_native_tool_call_is_spoken_and_never_run(
    gateway: Gateway, builtin: Any
) -> None:
    """Row "native tool-call syntax in content": the call is read aloud as text and no tool
    runs, even for the exact id. (Ours: tests/test_gemma4.py, the call runs.)"""
    call = '<|tool_call>call:get_weather{city:<|"|>Paris<|"|>}<tool_call|>'
    gateway.replies.append(Reply(events=list(delta_chunks([{"content": call}]))))
    model = builtin()
    text, calls = await _said(
        model.chat(chat_ctx=user_ctx(), tools=[get_weather], conn_options=ONCE)
    )
    assert calls == [] and "get_weather" in text


async def test_a_programming_error_is_a_retryable_connection_error(
    gateway: Gateway, builtin: Any
) -> None:
    """Row "programming errors": a value the request cannot even be encoded with (a bug in
    the caller's code, not the network) is reported as a retryable "Connection error".
    (Ours: tests/test_errors.py, raised as itself.)"""
    model = builtin(extra_kwargs={"seed": object()})
    with pytest.raises(APIConnectionError) as raised:
        await _said(model.chat(chat_ctx=user_ctx(), conn_options=ONCE))
    assert raised.value.retryable and isinstance(raised.value.__cause__, TypeError)
    assert gateway.bodies == []


async def test_exhausted_credits_are_retried_at_once(gateway: Gateway, builtin: Any) -> None:
    """Row "429": a 429 for exhausted credits (terminal) is retried like any fault, at once,
    whatever ``Retry-After`` says. (Ours: tests/test_faults.py, fails at once; a per-minute
    429 waits the server's Retry-After.)"""
    for _ in range(2):
        gateway.replies.append(Reply.error(429, "credits exhausted", headers={"Retry-After": "30"}))
    model = builtin()
    options = APIConnectOptions(max_retry=1, timeout=5, retry_interval=0.01)
    with pytest.raises(APIError) as raised:  # "failed after 2 attempts", caused by the 429
        await _said(model.chat(chat_ctx=user_ctx(), conn_options=options))
    assert isinstance(raised.value.__cause__, APIStatusError)
    assert raised.value.__cause__.status_code == 429
    completions = [r for r in gateway.requests if r.body is not None]
    assert len(completions) == 2
    assert completions[1].at - completions[0].at < 5  # not the 30 s the server asked for


async def test_a_token_is_signed_for_every_chat(
    gateway: Gateway, builtin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row "JWT": each ``chat()`` signs a new token. Counted at the signing function the
    built-in's module calls (the tokens of one second are the same bytes). (Ours:
    tests/test_llm.py test_token_is_signed_once_for_many_requests.)"""
    from livekit.agents.inference import llm as builtin_llm

    signed = 0
    sign = builtin_llm.create_access_token

    def counting(*args: Any, **kw: Any) -> str:
        nonlocal signed
        signed += 1
        return sign(*args, **kw)

    model = builtin()
    monkeypatch.setattr(builtin_llm, "create_access_token", counting)
    for _ in range(3):
        await _said(model.chat(chat_ctx=user_ctx(), conn_options=ONCE))
    assert signed == 3


async def test_nothing_is_retried_once_content_was_said(gateway: Gateway, builtin: Any) -> None:
    """Row "retry after the agent already spoke": since the framework's fix for #1238 the
    built-in, like ours, marks a fault after content non-retryable (the row says so rather
    than claim a difference that is gone)."""
    events: list[dict[str, Any] | str] = [
        *delta_chunks([{"content": "Hello"}])[:1],
        {"error": {"message": "upstream failed", "type": "server_error"}},
    ]
    gateway.replies.append(Reply(events=events, done=False))
    model = builtin()
    options = APIConnectOptions(max_retry=2, timeout=5, retry_interval=0.01)
    with pytest.raises(APIError) as raised:
        await _said(model.chat(chat_ctx=user_ctx(), conn_options=options))
    assert not raised.value.retryable
    await asyncio.sleep(0)
    assert len(gateway.bodies) == 1
