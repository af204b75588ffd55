"""Faults from the server reach the caller as the framework's APIError family, retried only
while nothing has been said."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest
from livekit.agents import (
    APIConnectionError,
    APIConnectOptions,
    APIError,
    APIStatusError,
    APITimeoutError,
    llm,
)

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted import parsing
from tests.gateway import (
    Gateway,
    Reply,
    completion_chunks,
    delta_chunks,
    gateway_llm,
    tool_call_chunks,
    user_ctx,
)
from tests.waits import MetricsSeen, wait_until

FAST_RETRY = APIConnectOptions(max_retry=2, retry_interval=0.0, timeout=5)
NO_RETRY = APIConnectOptions(max_retry=0, timeout=5)


_ctx = user_ctx

_llm = gateway_llm


@pytest.mark.parametrize("status", [500, 502, 503, 408])
async def test_transient_status_is_retried_and_spoken_once(gateway: Gateway, status: int) -> None:
    """A 5xx/408 before any content is retried by the framework; the reply is heard once."""
    gateway.replies.append(Reply.error(status, "upstream hiccup"))
    model = _llm(gateway)
    result = await model.chat(chat_ctx=_ctx(), conn_options=FAST_RETRY).collect()
    assert result.text == "Hello from the gateway."
    assert len(gateway.bodies) == 2
    await model.aclose()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_not_retried(gateway: Gateway, status: int) -> None:
    """A 4xx (other than 408/429) fails at once with the server's message, no retry."""
    gateway.replies.append(Reply.error(status, "bad request: unknown field"))
    model = _llm(gateway)
    with pytest.raises(APIStatusError) as info:
        await model.chat(chat_ctx=_ctx(), conn_options=FAST_RETRY).collect()
    assert info.value.status_code == status and info.value.retryable is False
    assert "bad request: unknown field" in info.value.message
    assert len(gateway.bodies) == 1
    await model.aclose()


async def test_fault_after_content_is_never_retried(gateway: Gateway) -> None:
    """A stream that breaks after text was emitted is not retried: no double speech."""
    chunks = completion_chunks(["Hello", " there"])[:2]
    gateway.replies.append(Reply(events=[*chunks, "{not json"], done=False))
    model = _llm(gateway)
    seen: list[str] = []
    with pytest.raises(APIError) as info:
        async for chunk in model.chat(chat_ctx=_ctx(), conn_options=FAST_RETRY):
            if chunk.delta and chunk.delta.content:
                seen.append(chunk.delta.content)
    assert info.value.retryable is False
    assert "".join(seen) == "Hello there"
    assert len(gateway.bodies) == 1
    await model.aclose()


async def test_stream_cut_before_finish_is_a_connection_error(gateway: Gateway) -> None:
    """A stream that ends without [DONE] or a finish reason is an error, not a silent stop."""
    chunks = completion_chunks(["Partial"])[:1]
    gateway.replies.append(Reply(events=chunks, done=False))
    model = _llm(gateway)
    with pytest.raises(APIConnectionError, match="ended before"):
        await model.chat(chat_ctx=_ctx(), conn_options=NO_RETRY).collect()
    await model.aclose()


async def test_error_event_inside_stream(gateway: Gateway) -> None:
    """An {"error": ...} event in the stream becomes an APIStatusError with its code."""
    gateway.replies.append(
        Reply(events=[{"error": {"message": "model overloaded", "code": 503}}], done=False)
    )
    model = _llm(gateway)
    with pytest.raises(APIStatusError, match="model overloaded") as info:
        await model.chat(chat_ctx=_ctx(), conn_options=NO_RETRY).collect()
    assert info.value.status_code == 503
    await model.aclose()


async def test_rate_limit_logs_quota_headers(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """A 429 is logged with the gateway's quota figures so the user can see which limit hit."""
    gateway.replies.append(
        Reply.error(
            429,
            "rate limited",
            headers={"X-LiveKit-Inference-RPM-Limit": "60", "X-LiveKit-Inference-RPM-Used": "60"},
        )
    )
    model = _llm(gateway)
    with (
        caplog.at_level(logging.WARNING, logger="livekit.plugins.hosted"),
        pytest.raises(APIStatusError) as info,
    ):
        await model.chat(chat_ctx=_ctx(), conn_options=NO_RETRY).collect()
    assert info.value.status_code == 429
    assert "rpm_limit=60" in caplog.text and "rpm_used=60" in caplog.text
    await model.aclose()


async def test_connection_refused_is_retryable_connection_error() -> None:
    """Nothing listening: APIConnectionError, retryable (the framework may try again)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = hosted.LLM.self_hosted("m", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(APIConnectionError) as info:
        await model.chat(chat_ctx=_ctx(), conn_options=NO_RETRY).collect()
    assert info.value.retryable is True
    await model.aclose()


async def test_stall_before_first_chunk_times_out(gateway: Gateway) -> None:
    """A server that goes silent ends the attempt at conn_options.timeout (0.5 s), not at a
    default of 10 s or more; the bound leaves a busy machine seconds of slack."""
    gateway.replies.append(Reply(events=completion_chunks(["x"]), stall_after=0))
    model = _llm(gateway)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(APITimeoutError):
        await model.chat(
            chat_ctx=_ctx(), conn_options=APIConnectOptions(max_retry=0, timeout=0.5)
        ).collect()
    assert loop.time() - start < 5.0
    await model.aclose()


async def test_stall_after_content_times_out_non_retryable(gateway: Gateway) -> None:
    """A stall between chunks after text was spoken fails without a retry."""
    gateway.replies.append(Reply(events=completion_chunks(["one", "two"]), stall_after=1))
    model = _llm(gateway)
    with pytest.raises(APITimeoutError) as info:
        await model.chat(
            chat_ctx=_ctx(), conn_options=APIConnectOptions(max_retry=2, timeout=0.5)
        ).collect()
    assert info.value.retryable is False
    assert len(gateway.bodies) == 1
    await model.aclose()


async def test_programming_errors_are_not_disguised(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the plugin surfaces as itself, not as a retryable 'connection error'."""

    def broken(self: parsing.ChunkParser, obj: dict[str, Any]) -> list[llm.ChatChunk]:
        raise TypeError("bug in parser")

    monkeypatch.setattr(parsing.ChunkParser, "feed", broken)
    model = _llm(gateway)
    with pytest.raises(TypeError, match="bug in parser"):
        await model.chat(chat_ctx=_ctx(), conn_options=FAST_RETRY).collect()
    assert len(gateway.bodies) == 1
    await model.aclose()


async def test_cancellation_closes_the_response(gateway: Gateway) -> None:
    """Interrupting a reply closes the HTTP stream: the server sees the disconnect."""
    # 10 s of reply: a stream left open would end normally, long after the 5 s wait
    gateway.replies.append(Reply(events=completion_chunks(["a"] * 200), delay_between=0.05))
    model = _llm(gateway)
    stream = model.chat(chat_ctx=_ctx(), conn_options=NO_RETRY)
    async for chunk in stream:
        if chunk.delta and chunk.delta.content:
            break
    await stream.aclose()
    await gateway.wait_disconnects(1, within=5.0)
    assert gateway.disconnects == 1
    await model.aclose()


SPENT = {"prompt_tokens": 11, "completion_tokens": 40, "total_tokens": 51}


def thought_only(*, usage: bool) -> Reply:
    """A reply that thinks and then says nothing: reasoning deltas, a finish reason, and the
    usage chunk (or none, as llama-cpp-python sends none)."""
    chunks = delta_chunks([{"reasoning_content": "hmm"}] * 3 + [{"content": "\n"}] * 2)
    chunks[-1]["usage"] = SPENT
    return Reply(events=chunks if usage else chunks[:-1])


@pytest.mark.parametrize("usage", [True, False])
async def test_failed_turn_still_reports_its_tokens(gateway: Gateway, usage: bool) -> None:
    """A reply with nothing to say ends in APIError (right), but the tokens it spent reached
    no ``metrics_collected``: the framework reports nothing for a failed attempt, so billing
    and dashboards lost them. Without usage from the server the content deltas are counted,
    as for a reply that is heard."""
    gateway.replies.append(thought_only(usage=usage))
    model = _llm(gateway)
    seen = MetricsSeen(model)
    with pytest.raises(APIError, match="nothing to say"):
        await model.chat(chat_ctx=_ctx(), conn_options=NO_RETRY).collect()
    (metrics,) = seen.events
    assert metrics.ttft == -1 and metrics.request_id == "chatcmpl-test-1"
    if usage:
        assert (metrics.prompt_tokens, metrics.completion_tokens) == (11, 40)
        assert metrics.total_tokens == 51
    else:
        assert (metrics.prompt_tokens, metrics.completion_tokens) == (0, 2)
    await model.aclose()


async def test_retried_turn_reports_both_attempts(gateway: Gateway) -> None:
    """The framework keeps the last attempt's usage only: the failed attempt's tokens were
    lost when the retry answered."""
    gateway.replies.append(thought_only(usage=True))
    model = _llm(gateway)
    seen = MetricsSeen(model)
    result = await model.chat(chat_ctx=_ctx(), conn_options=FAST_RETRY).collect()
    assert result.text == "Hello from the gateway."
    await wait_until(lambda: len(seen.events) == 2, within=10.0, what="both attempts metrics")
    assert [m.completion_tokens for m in seen.events] == [40, 4]
    await model.aclose()


async def test_a_failing_metrics_listener_does_not_replace_the_api_error(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """A ``metrics_collected`` listener that raised (a TypeError, which the event emitter
    re-raises) ended the turn in that TypeError instead of the retryable APIError: no retry,
    and a FallbackAdapter could not move on."""
    gateway.replies.append(thought_only(usage=True))
    model = _llm(gateway)

    def broken(_: object) -> None:
        raise TypeError("listener bug")

    model.on("metrics_collected", broken)
    with (
        caplog.at_level(logging.ERROR, logger="livekit.plugins.hosted"),
        pytest.raises(APIError, match="nothing to say"),
    ):
        await model.chat(chat_ctx=_ctx(), conn_options=NO_RETRY).collect()
    assert "listener failed" in caplog.text
    await model.aclose()


def _reply(deltas: list[dict[str, Any]], usage: dict[str, int], finish: str = "stop") -> Reply:
    chunks = delta_chunks(deltas, finish_reason=finish)
    chunks[-1]["usage"] = usage
    return Reply(events=chunks)


@pytest.mark.parametrize("retry", ["interrupted", "tool_call_without_usage"])
async def test_a_failed_attempt_is_counted_once(gateway: Gateway, retry: str) -> None:
    """The failed attempt's usage went into the stream as well as to ``spent.report``: when
    the retry was interrupted, or sent no usage (a tool call alone), the framework reported
    the failed attempt's 40 tokens a second time, so billing counted 80."""
    gateway.replies.append(thought_only(usage=True))
    if retry == "interrupted":
        slow = Reply.text("one", " two", " three")
        slow.delay_between = 0.5
        gateway.replies.append(slow)
    else:
        call = tool_call_chunks("get_weather", '{"city": "Paris"}')
        gateway.replies.append(Reply(events=[c for c in call if not c.get("usage")]))
    model = _llm(gateway)
    seen = MetricsSeen(model)
    stream = model.chat(chat_ctx=_ctx(), conn_options=FAST_RETRY)
    async for chunk in stream:
        if chunk.delta and chunk.delta.content:
            break  # the user interrupts the retry's answer
    await stream.aclose()
    await wait_until(lambda: len(seen.events) >= 2, within=10.0, what="both attempts metrics")
    assert sum(m.completion_tokens for m in seen.events) == 40
    await model.aclose()


@pytest.mark.parametrize("second", ["\n", "Hello"])
async def test_a_follow_on_turn_reports_both_requests_tokens(gateway: Gateway, second: str) -> None:
    """A thought that used up the token limit is followed by a second request: its 4000
    tokens were lost (only the second request's usage reached ``metrics_collected``), whether
    the second request answered or failed too."""
    gateway._verify = False
    first = {"prompt_tokens": 10, "completion_tokens": 4000, "total_tokens": 4010}
    gateway.replies.append(_reply([{"reasoning_content": "hmm"}] * 3, first, "length"))
    last = {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}
    gateway.replies.append(_reply([{"content": second}], last))
    model = hosted.LLM.self_hosted(
        "qwen3-8b",
        base_url=gateway.url,
        backend="ollama",
        extra_kwargs={"reasoning_effort": "high"},
    )
    seen = MetricsSeen(model)
    if second.strip():
        result = await model.chat(chat_ctx=_ctx(), conn_options=NO_RETRY).collect()
        assert result.text == second
        await wait_until(lambda: len(seen.events) >= 1, within=10.0, what="the turn's metrics")
    else:
        with pytest.raises(APIError, match="nothing to say"):
            await model.chat(chat_ctx=_ctx(), conn_options=NO_RETRY).collect()
    assert len(gateway.bodies) == 2
    (metrics,) = seen.events
    assert (metrics.completion_tokens, metrics.prompt_tokens) == (4001, 20)
    assert metrics.total_tokens == 4021
    assert metrics.reasoning_tokens == 3  # the three thought deltas, counted once
    await model.aclose()


@pytest.mark.parametrize("second", ["503", "thinks-again", "cancelled"])
async def test_a_follow_on_that_does_not_complete_reports_the_first_requests_tokens(
    gateway: Gateway, second: str
) -> None:
    """A thought that used up the token limit is followed by a second request, which then
    fails (a 503), thinks again and is cut, or is cancelled after its first word (barge-in, a
    preemptive turn dropped): the first request's 4000 tokens reached no
    ``metrics_collected`` (or a cancelled turn's 0), so billing lost them. They are reported,
    once."""
    gateway._verify = False
    first = {"prompt_tokens": 10, "completion_tokens": 4000, "total_tokens": 4010}
    gateway.replies.append(_reply([{"reasoning_content": "hmm"}] * 3, first, "length"))
    if second == "503":
        gateway.replies.append(Reply.error(503, "overloaded"))
    elif second == "thinks-again":
        again = [{"reasoning_content": f"hmm{i} "} for i in range(100)]
        gateway.replies.append(Reply(events=delta_chunks(again), delay_between=0.05))
    else:
        gateway.replies.append(Reply.text("one", " two", " three", delay_between=0.5))
    model = hosted.LLM.self_hosted(
        "qwen3-8b",
        base_url=gateway.url,
        backend="ollama",
        extra_kwargs={"reasoning_effort": "high"},
        max_thinking_time=1.0,
    )
    seen = MetricsSeen(model)
    stream = model.chat(chat_ctx=_ctx(), conn_options=NO_RETRY)
    if second == "cancelled":
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                break  # the user interrupts the answer
        await stream.aclose()
    else:
        with pytest.raises(APIError):
            async with asyncio.timeout(8.0), stream:
                async for _chunk in stream:
                    pass
    assert len(gateway.bodies) == 2
    await seen.first()
    assert [(m.completion_tokens, m.prompt_tokens) for m in seen.events] == [(4000, 10)]
    await model.aclose()


async def test_a_turn_that_spoke_and_then_failed_reports_its_tokens(gateway: Gateway) -> None:
    """The caller heard "Let me check." and the tool call the model meant could not be read:
    the turn ends in an APIError (right), but the tokens the reply was billed for reached no
    ``metrics_collected``. They are reported, once (counted from its deltas: the error comes
    with the finish, before the server's usage)."""

    @llm.function_tool
    async def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    gateway.replies.append(Reply.text("Let me check.", " call:get_weather{city:Rome days:2}"))
    model = _llm(gateway)
    seen = MetricsSeen(model)
    with pytest.raises(APIError, match="could not be read"):
        await model.chat(chat_ctx=_ctx(), tools=[get_weather], conn_options=NO_RETRY).collect()
    await seen.first()
    assert [(m.completion_tokens, m.ttft) for m in seen.events] == [(2, -1)]
    await model.aclose()
