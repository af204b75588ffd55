"""The first word: a deadline on speakable output, and LiveKit Inference's inference class.

A caller judges a voice agent by its first word. A model that thinks for seconds, or a server
that sends empty deltas, keeps every per-read timeout happy while the caller hears nothing;
``first_token_timeout`` ends such an attempt (retryable: nothing was said) so the framework's
retry or a ``FallbackAdapter`` takes over, and never cuts a reply that has begun.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from livekit.agents import APIConnectOptions, APITimeoutError
from livekit.agents.llm import FallbackAdapter

import livekit_plugins_hosted as hosted
from tests.gateway import Gateway, Reply, completion_chunks, gateway_llm, user_ctx

ONCE = APIConnectOptions(max_retry=0, timeout=10)


def _delta(**delta: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-think", "choices": [{"index": 0, "delta": delta}]}


def thinking_reply(seconds: float, *, step: float = 0.2, answer: str = "Late answer.") -> Reply:
    """Gemma 4 thought streamed steadily for ``seconds``, then the answer."""
    n = max(1, int(seconds / step))
    events: list[dict[str, Any] | str] = [_delta(role="assistant", content="<|channel>thought\n")]
    events += [_delta(content="still thinking ") for _ in range(n)]
    events += completion_chunks(["<channel|>", answer], id="chatcmpl-think")
    return Reply(events=events, delay_between=step)


@pytest.mark.parametrize(
    "filler",
    [
        {"content": "still thinking "},  # inside an open thought
        {"content": ""},  # empty deltas
        {"reasoning": "hmm "},  # a reasoning field
        {"role": "assistant"},  # role-only
    ],
)
async def test_nothing_speakable_ends_the_attempt(gateway: Gateway, filler: dict[str, Any]) -> None:
    """A 6 s silence dressed as activity ends at the 1 s deadline, retryable, nothing said.

    Never before the deadline; the upper bound only has to tell the deadline from the reply's
    own end (6 s, never sooner on a busy machine), so it leaves seconds of slack.
    """
    events: list[dict[str, Any] | str] = [_delta(role="assistant", content="<|channel>thought\n")]
    if "content" not in filler or filler["content"] == "":
        events = [_delta(role="assistant")]
    events += [_delta(**filler) for _ in range(30)]
    events += completion_chunks(["Too late."])
    gateway.replies.append(Reply(events=events, delay_between=0.2))
    model = gateway_llm(gateway, first_token_timeout=1.0)
    start = time.monotonic()
    spoken: list[str] = []
    with pytest.raises(APITimeoutError) as info:
        async for chunk in model.chat(chat_ctx=user_ctx(), conn_options=ONCE):
            if chunk.delta and chunk.delta.content:
                spoken.append(chunk.delta.content)
    elapsed = time.monotonic() - start
    assert 0.9 <= elapsed < 4.0, elapsed
    assert info.value.retryable is True and "first_token_timeout" in str(info.value)
    assert spoken == []
    await model.aclose()
    await gateway.wait_disconnects(1)


async def test_fallback_answers_from_the_second_llm_in_time(gateway: Gateway) -> None:
    """FallbackAdapter([slow thinker, other]) answers from the other at the 1 s deadline.

    The thinker would answer at 6 s and the adapter give up on it at its 10 s attempt timeout,
    neither sooner on a busy machine; the bound lies well below both.
    """
    gateway.replies.append(thinking_reply(6.0))
    async with Gateway() as other_gw:
        other_gw.replies.append(Reply.text("Hi", " from", " the", " fallback."))
        slow = gateway_llm(gateway, first_token_timeout=1.0)
        other = gateway_llm(other_gw)
        adapter = FallbackAdapter([slow, other], attempt_timeout=10, max_retry_per_llm=0)
        start = time.monotonic()
        result = await adapter.chat(chat_ctx=user_ctx(), conn_options=ONCE).collect()
        elapsed = time.monotonic() - start
        assert result.text == "Hi from the fallback."
        assert elapsed < 4.0, elapsed
        await adapter.aclose()
        await slow.aclose()
        await other.aclose()


async def test_a_reply_that_began_in_time_is_never_cut(gateway: Gateway) -> None:
    """A slow but steady reply whose first word came in time is heard whole.

    The first word comes at once and the reply runs on past the 1.5 s deadline (2.4 s).
    """
    parts = ["One", " two", " three", " four", " five", " six", " seven", " eight"]
    gateway.replies.append(Reply.text(*parts, delay_between=0.3))
    model = gateway_llm(gateway, first_token_timeout=1.5)
    result = await model.chat(chat_ctx=user_ctx(), conn_options=ONCE).collect()
    assert result.text == "".join(parts)
    await model.aclose()


async def test_thought_then_answer_within_the_deadline(gateway: Gateway) -> None:
    """A short thought followed by the answer in time is not cut, and the thought not heard."""
    gateway.replies.append(thinking_reply(0.4, step=0.1, answer="Here."))
    model = gateway_llm(gateway, first_token_timeout=5.0)  # seconds of slack for a busy machine
    result = await model.chat(chat_ctx=user_ctx(), conn_options=ONCE).collect()
    assert result.text == "Here."
    await model.aclose()


async def test_no_deadline_waits(gateway: Gateway) -> None:
    """first_token_timeout=None waits for a slow thinker (only the per-read timeout applies)."""
    gateway.replies.append(thinking_reply(1.2, step=0.2, answer="Patient."))
    model = gateway_llm(gateway, first_token_timeout=None)
    result = await model.chat(chat_ctx=user_ctx(), conn_options=ONCE).collect()
    assert result.text == "Patient."
    await model.aclose()


async def test_update_options_sets_the_deadline(gateway: Gateway) -> None:
    """A deadline set later with update_options applies to the next chat().

    The 0.5 s deadline, not the 6 s thought's end: the bound leaves a busy machine slack.
    """
    gateway.replies.append(thinking_reply(6.0))
    model = gateway_llm(gateway, first_token_timeout=None)
    model.update_options(first_token_timeout=0.5)
    start = time.monotonic()
    with pytest.raises(APITimeoutError):
        await model.chat(chat_ctx=user_ctx(), conn_options=ONCE).collect()
    assert time.monotonic() - start < 3.0
    await model.aclose()


@pytest.mark.parametrize("value", [0, -1, True, "1", float("inf"), float("nan")])
def test_bad_deadline_is_refused(value: Any) -> None:
    """A deadline that could never pass, or a typo, is a ValueError before anything is sent."""
    with pytest.raises(ValueError, match="first_token_timeout"):
        hosted.LLM.self_hosted("m", base_url="http://127.0.0.1:1/v1", first_token_timeout=value)


def test_default_deadline() -> None:
    """Without a value, the documented default deadline applies."""
    from livekit_plugins_hosted.llm import DEFAULT_FIRST_TOKEN_TIMEOUT

    model = hosted.LLM.self_hosted("m", base_url="http://127.0.0.1:1/v1")
    assert model._opts.first_token_timeout == DEFAULT_FIRST_TOKEN_TIMEOUT == 10.0


# -- inference class --------------------------------------------------------------------------

PRIORITY = "X-LiveKit-Inference-Priority"


async def test_inference_class_persistent_and_per_call(gateway: Gateway) -> None:
    """The priority reaches the gateway from the constructor, update_options, and per call."""
    model = gateway_llm(gateway, inference_class="low")
    await model.chat(chat_ctx=user_ctx()).collect()
    await model.chat(chat_ctx=user_ctx(), inference_class="priority").collect()
    model.update_options(inference_class="standard")
    await model.chat(chat_ctx=user_ctx()).collect()
    model.update_options(inference_class=None)
    await model.chat(chat_ctx=user_ctx()).collect()
    sent = [r.headers.get(PRIORITY) for r in gateway.requests]
    assert sent == ["low", "priority", "standard", None]
    await model.aclose()


def test_inference_class_is_validated() -> None:
    """A typo in the priority is a ValueError naming the allowed values, before sending."""
    with pytest.raises(ValueError, match="'priority', 'standard', 'low'"):
        hosted.LLM(
            "google/gemma-4-31b-it",
            base_url="http://127.0.0.1:1/v1",
            api_key="k",
            api_secret="s" * 32,
            inference_class="urgent",  # type: ignore[arg-type]
        )


async def test_inference_class_never_goes_to_a_self_hosted_server(gateway: Gateway) -> None:
    """A self-hosted server gets no LiveKit priority; asking for one there is a ValueError."""
    gateway._verify = False
    model = hosted.LLM.self_hosted("m", base_url=gateway.url, backend="vllm")
    with pytest.raises(ValueError, match="LiveKit Inference only"):
        model.chat(chat_ctx=user_ctx(), inference_class="low")
    with pytest.raises(ValueError, match="LiveKit Inference only"):
        model.update_options(inference_class="low")
    await model.chat(chat_ctx=user_ctx()).collect()
    assert PRIORITY not in gateway.requests[-1].headers
    await model.aclose()
