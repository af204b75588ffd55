"""The fault table, row by row, against the loopback gateway; plus secrets and a bounded load test.

Each test fails if the behaviour a caller hears regresses: a double reply, a retry that ignores
the server's Retry-After, an agent left silent, a leaked secret, a leaked socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from types import SimpleNamespace
from typing import Any

import pytest
from livekit import api
from livekit.agents import (
    APIConnectionError,
    APIConnectOptions,
    APIStatusError,
    APITimeoutError,
)
from livekit.agents.llm import FallbackAdapter

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted import auth, drains, faults
from livekit_plugins_hosted.auth import REFRESH_MARGIN, TOKEN_TTL
from tests.clock import FakeClock
from tests.gateway import (
    API_KEY,
    API_SECRET,
    Gateway,
    Reply,
    completion_chunks,
    gateway_llm,
    user_ctx,
)
from tests.waits import wait_until

_ctx = user_ctx

_llm = gateway_llm


def _opts(max_retry: int = 2, timeout: float = 5.0) -> APIConnectOptions:
    return APIConnectOptions(max_retry=max_retry, retry_interval=0.0, timeout=timeout)


# -- 429 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, wait",
    [({"Retry-After": "1"}, 1.0), ({"retry-after-ms": "600"}, 0.6)],
)
async def test_429_retry_waits_for_retry_after(
    gateway: Gateway, headers: dict[str, str], wait: float
) -> None:
    """A per-minute 429 with Retry-After inside the budget is retried no sooner than asked."""
    gateway.replies.append(Reply.error(429, "rate limit: requests per minute", headers=headers))
    model = _llm(gateway)
    result = await model.chat(chat_ctx=_ctx(), conn_options=_opts()).collect()
    assert result.text == "Hello from the gateway."
    first, second = gateway.requests[0].at, gateway.requests[1].at
    assert second - first >= wait
    await model.aclose()


async def test_429_beyond_budget_fails_at_once_and_falls_over(gateway: Gateway) -> None:
    """A Retry-After longer than the budget fails fast, non-retryable; the fallback answers.

    Fast: well under the 20 s budget that a wait "as long as allowed" would sleep through,
    with seconds of slack for a busy machine.
    """
    gateway.replies.append(Reply.error(429, "slow down", headers={"Retry-After": "120"}))
    first = _llm(gateway)
    second = _llm(gateway)
    start = time.monotonic()
    with pytest.raises(APIStatusError) as info:
        await first.chat(chat_ctx=_ctx(), conn_options=_opts(timeout=20)).collect()
    assert info.value.retryable is False and "budget" in info.value.message
    assert time.monotonic() - start < 5.0
    gateway.replies.append(Reply.error(429, "slow down", headers={"Retry-After": "120"}))
    adapter = FallbackAdapter([first, second], attempt_timeout=5, max_retry_per_llm=0)
    result = await adapter.chat(chat_ctx=_ctx(), conn_options=_opts(max_retry=0)).collect()
    assert result.text == "Hello from the gateway."
    await adapter.aclose()
    await first.aclose()
    await second.aclose()


@pytest.mark.parametrize(
    "reply",
    [
        Reply.error(
            429,
            "rate limited",
            headers={
                "X-LiveKit-Inference-Credits-Limit": "1000",
                "X-LiveKit-Inference-Credits-Used": "1000",
            },
        ),
        Reply(status=429, body={"error": {"message": "quota", "code": "insufficient_quota"}}),
        Reply.error(429, "Your credit balance is exhausted"),
    ],
)
async def test_429_credits_exhausted_is_terminal(gateway: Gateway, reply: Reply) -> None:
    """Out of credits is not retried: the error says so, and the caller is told at once."""
    gateway.replies.append(reply)
    model = _llm(gateway)
    with pytest.raises(APIStatusError) as info:
        await model.chat(chat_ctx=_ctx(), conn_options=_opts()).collect()
    assert info.value.retryable is False and "credits exhausted" in info.value.message
    assert len(gateway.bodies) == 1
    await model.aclose()


async def test_429_per_minute_limit_is_transient(gateway: Gateway) -> None:
    """An RPM 429 (used == limit, credits left) is retried and the reply is heard once."""
    gateway.replies.append(
        Reply.error(
            429,
            "requests per minute exceeded",
            headers={
                "X-LiveKit-Inference-RPM-Limit": "60",
                "X-LiveKit-Inference-RPM-Used": "60",
                "X-LiveKit-Inference-Credits-Limit": "1000",
                "X-LiveKit-Inference-Credits-Used": "10",
            },
        )
    )
    model = _llm(gateway)
    result = await model.chat(chat_ctx=_ctx(), conn_options=_opts()).collect()
    assert result.text == "Hello from the gateway." and len(gateway.bodies) == 2
    await model.aclose()


# -- auth ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failure_names_the_credential_not_the_secret(
    gateway: Gateway, status: int
) -> None:
    """401/403 are not retried; the message says which key to check and never the secret."""
    gateway.replies.append(Reply.error(status, "denied"))
    model = _llm(gateway)
    with pytest.raises(APIStatusError) as info:
        await model.chat(chat_ctx=_ctx(), conn_options=_opts()).collect()
    text = str(info.value) + repr(info.value)
    assert info.value.retryable is False and API_KEY in text and "LIVEKIT_API_SECRET" in text
    assert API_SECRET not in text
    assert len(gateway.bodies) == 1
    await model.aclose()


async def test_session_outlives_the_token(
    gateway: Gateway, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past each refresh point the next request carries a newly signed token the gateway takes.

    The token's clock is stopped and moved by the test: the session lives through three
    tokens' lifetimes in no time, with the plugin's own TTL and margin.
    """
    signings = 0

    class NumberedToken(api.AccessToken):
        """A real token carrying its signing number: the JWT's times are whole wall-clock
        seconds, so without it a stale token could not be told from a fresh one here."""

        def to_jwt(self) -> str:
            nonlocal signings
            signings += 1
            self.with_metadata(f"signing {signings}")
            return super().to_jwt()

    monkeypatch.setattr(
        auth, "api", SimpleNamespace(AccessToken=NumberedToken, access_token=api.access_token)
    )
    model = _llm(gateway)
    for _ in range(3):
        result = await model.chat(chat_ctx=_ctx(), conn_options=_opts(max_retry=0)).collect()
        assert result.text == "Hello from the gateway."  # the gateway verified the token
        clock.now += TOKEN_TTL - REFRESH_MARGIN  # the refresh point of the token just sent
    sent = [r.claims.metadata for r in gateway.requests if r.claims is not None]
    assert sent == ["signing 1", "signing 2", "signing 3"]
    await model.aclose()


# -- stalls and broken streams ---------------------------------------------------------------


async def test_slow_but_steady_stream_is_not_cut(gateway: Gateway) -> None:
    """Chunks 0.3 s apart under a 1.2 s timeout: the 2.4 s reply arrives whole.

    The timeout is per read, not for the whole reply; each gap leaves a busy machine 0.9 s.
    """
    parts = ["a", "b", "c", "d", "e", "f", "g", "h"]
    gateway.replies.append(Reply.text(*parts, delay_between=0.3))
    model = _llm(gateway)
    result = await model.chat(chat_ctx=_ctx(), conn_options=_opts(0, timeout=1.2)).collect()
    assert result.text == "abcdefgh"
    await model.aclose()


@pytest.mark.parametrize("stall_after", [0, 2])
async def test_stall_ends_within_the_timeout(gateway: Gateway, stall_after: int) -> None:
    """No byte for conn_options.timeout (before or between chunks) ends the attempt in time.

    In time: at the 0.5 s timeout, not a default of 10 s or more; the bound leaves slack.
    """
    gateway.replies.append(
        Reply(events=completion_chunks(["x", "y", "z"]), stall_after=stall_after)
    )
    model = _llm(gateway)
    start = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        await model.chat(chat_ctx=_ctx(), conn_options=_opts(0, timeout=0.5)).collect()
    assert time.monotonic() - start < 5.0
    assert info.value.retryable is (stall_after == 0)
    await model.aclose()


async def test_malformed_chunk_before_content_is_retried_once_spoken(gateway: Gateway) -> None:
    """Garbage before any content is a retryable error; the retry's reply is heard once."""
    gateway.replies.append(Reply(events=["{garbage"], done=False))
    model = _llm(gateway)
    result = await model.chat(chat_ctx=_ctx(), conn_options=_opts()).collect()
    assert result.text == "Hello from the gateway." and len(gateway.bodies) == 2
    await model.aclose()


async def test_stream_without_done_but_with_finish_reason_is_complete(gateway: Gateway) -> None:
    """Servers that omit [DONE] after a finish reason are fine: no error, no retry."""
    gateway.replies.append(Reply.text("ok", done=False))
    model = _llm(gateway)
    result = await model.chat(chat_ctx=_ctx(), conn_options=_opts()).collect()
    assert result.text == "ok" and len(gateway.bodies) == 1
    await model.aclose()


async def test_body_left_open_after_done_ends_the_reply(gateway: Gateway) -> None:
    """A server that sends [DONE] but keeps the body open: the reply ends, no error, no hang.

    No hang: the reply ends well before the 30 s read timeout would end it.
    """
    gateway.replies.append(Reply.text("done", " here", linger=True))
    model = _llm(gateway)
    start = time.monotonic()
    result = await model.chat(chat_ctx=_ctx(), conn_options=_opts(0, timeout=30)).collect()
    assert result.text == "done here"
    assert time.monotonic() - start < 10.0
    await model.aclose()


async def test_turn_ends_at_done_while_the_body_stays_open(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a relay that keeps the body open after [DONE], every turn ended only when the
    wait for the body's end gave up (1 s later: the last TTS flush with it). The turn now ends
    at [DONE] however long that wait may be (here: longer than the test); the body is read
    on in the background and closed with the LLM."""
    monkeypatch.setattr(drains, "DRAIN_TIMEOUT", 600.0)
    gateway.replies.append(Reply.text("done", " here", linger=True))
    model = _llm(gateway)
    async with asyncio.timeout(20):
        result = await model.chat(chat_ctx=_ctx(), conn_options=_opts(0, timeout=30)).collect()
    assert result.text == "done here"
    assert gateway.disconnects == 0  # the body is still open: the turn did not wait for it
    await model.aclose()
    await gateway.wait_disconnects(1, within=5.0)  # closing the LLM ends the wait


async def test_connection_is_kept_for_the_next_turn(gateway: Gateway) -> None:
    """The end of the body is still read after [DONE] (now in the background), so the next
    turns reuse the connection rather than open (and, on https, handshake) a new one."""
    model = _llm(gateway)
    for _ in range(3):
        result = await model.chat(chat_ctx=_ctx(), conn_options=_opts(0)).collect()
        assert result.text == "Hello from the gateway."
    ports = {r.client_port for r in gateway.requests if r.body is not None}
    assert len(ports) == 1, ports
    await model.aclose()


@pytest.mark.parametrize("echoed_in", ["message", "body"])
async def test_a_400_repeating_the_request_is_not_a_refused_budget(
    gateway: Gateway, echoed_in: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A 400 whose body repeated the request (a proxy's echo; an error that quotes what was
    asked) was taken for vLLM refusing the thinking budget: the request was sent again
    without it, a WARNING blamed --reasoning-parser, and every later turn went without the
    budget. Now it is the turn's error, and the next turn still sends the budget."""

    def echo(body: dict[str, Any]) -> Reply:
        if echoed_in == "message":
            return Reply.error(400, f"invalid request: {json.dumps(body)}")
        return Reply(status=400, body={"error": {"message": "too long", "request": body}})

    caplog.set_level(logging.WARNING, logger="livekit.plugins.hosted")
    gateway._verify = False
    gateway._default = echo
    model = hosted.LLM.self_hosted(
        "google/gemma-4-31b-it",
        base_url=gateway.url,
        backend="vllm",
        extra_kwargs={"reasoning_effort": "high"},
    )
    for turn in (1, 2):
        with pytest.raises(APIStatusError) as info:
            await model.chat(chat_ctx=_ctx(), conn_options=_opts(0)).collect()
        assert info.value.status_code == 400
        assert len(gateway.bodies) == turn  # not sent again without the budget
        assert gateway.bodies[-1]["thinking_token_budget"] == 24576
    assert not [r for r in caplog.records if "reasoning-parser" in r.getMessage()]
    await model.aclose()


async def test_interruption_disconnects_at_once(gateway: Gateway) -> None:
    """Closing the stream (a user interruption) closes the HTTP response at once.

    A few ms on an idle machine; the bound is 1 s, against a reply that would run on for 10 s
    (and end without any disconnect) if the response were left open.
    """
    gateway.replies.append(Reply.text(*["word "] * 500, delay_between=0.02))
    model = _llm(gateway)
    stream = model.chat(chat_ctx=_ctx(), conn_options=_opts(0))
    async for chunk in stream:
        if chunk.delta and chunk.delta.content:
            break
    closed_at = time.monotonic()
    await stream.aclose()
    await gateway.wait_disconnects(1, within=5.0)
    assert gateway.disconnect_times[0] - closed_at < 1.0
    await model.aclose()


async def test_connection_reset_midway_is_not_retried(gateway: Gateway) -> None:
    """The server dying after content: a non-retryable error and the text is not repeated."""
    gateway.replies.append(Reply(events=completion_chunks(["Hel", "lo"])[:2], done=False))
    model = _llm(gateway)
    seen: list[str] = []
    with pytest.raises(APIConnectionError) as info:
        async for chunk in model.chat(chat_ctx=_ctx(), conn_options=_opts()):
            if chunk.delta and chunk.delta.content:
                seen.append(chunk.delta.content)
    assert info.value.retryable is False and "".join(seen) == "Hello"
    assert len(gateway.bodies) == 1
    await model.aclose()


# -- secrets ---------------------------------------------------------------------------------


async def test_no_secret_or_token_in_debug_logs(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG, across the SDK, HTTP and plugin loggers, neither secret nor token appears."""
    with caplog.at_level(logging.DEBUG):
        model = _llm(gateway)
        await model.chat(chat_ctx=_ctx(), conn_options=_opts()).collect()
        gateway.replies.append(Reply.error(401, "denied"))
        with pytest.raises(APIStatusError) as info:
            await model.chat(chat_ctx=_ctx(), conn_options=_opts()).collect()
        await model.aclose()
    assert model.endpoint.token is not None
    token = model.endpoint.token.get()
    text = caplog.text + str(info.value) + repr(info.value) + repr(model)
    assert API_SECRET not in text and token not in text


# -- the pure rules --------------------------------------------------------------------------


def test_retry_after_forms() -> None:
    """Retry-After in seconds, in ms, as an HTTP date, or unreadable."""
    assert faults.retry_after({"retry-after": "2"}) == 2.0
    assert faults.retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert (
        faults.retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470) == 10
    )
    assert faults.retry_after({"retry-after": "soon"}) is None
    assert faults.retry_after({}) is None


# -- load ------------------------------------------------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
async def test_load_1000_streams_200_at_a_time(gateway: Gateway) -> None:
    """1,000 streams, 200 concurrent: zero errors, every reply whole, descriptors back to base."""
    baseline = _open_fds()
    model = _llm(gateway)
    limit = asyncio.Semaphore(200)
    errors: list[BaseException] = []
    peak = 0

    async def one() -> None:
        nonlocal peak
        async with limit:
            try:
                result = await model.chat(chat_ctx=_ctx(), conn_options=_opts()).collect()
                assert result.text == "Hello from the gateway."
            except Exception as e:  # counted: the assertion below reports them
                errors.append(e)
            peak = max(peak, _open_fds())

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(1000))), timeout=120)
    await model.aclose()
    assert errors == []
    assert len(gateway.bodies) == 1000
    assert peak > baseline  # connections were really held concurrently
    # the server side closes its ends on its own schedule
    await wait_until(lambda: _open_fds() <= baseline + 2, within=10.0, what="descriptors freed")


def test_tls_verification_is_on() -> None:
    """The client the plugin builds verifies certificates and host names."""
    import ssl

    model = hosted.LLM("google/gemma-4-31b-it", api_key=API_KEY, api_secret=API_SECRET)
    context = model._wire.http._transport._pool._ssl_context  # type: ignore[attr-defined]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


async def test_self_hosted_never_gets_job_headers(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside a job, the worker token and room ids go to the gateway only, never elsewhere."""
    from livekit_plugins_hosted import auth

    monkeypatch.setattr(
        auth,
        "job_headers",
        lambda **_: {"X-LiveKit-Worker-Token": "WORKER-SECRET", "X-LiveKit-Room-ID": "RM_1"},
    )
    gateway._verify = False
    own = hosted.LLM.self_hosted("m", base_url=gateway.url)
    await own.chat(chat_ctx=_ctx(), conn_options=_opts(0)).collect()
    assert "X-LiveKit-Worker-Token" not in gateway.requests[-1].headers
    gateway._verify = True
    lk = _llm(gateway)
    await lk.chat(chat_ctx=_ctx(), conn_options=_opts(0)).collect()
    assert gateway.requests[-1].headers["X-LiveKit-Worker-Token"] == "WORKER-SECRET"
    await own.aclose()
    await lk.aclose()


async def test_redirect_is_an_error_not_a_stream(gateway: Gateway) -> None:
    """A 3xx is reported as a status error (not followed, the token stays put), not parsed."""
    gateway.replies.append(Reply(status=307, body={"error": {"message": "moved"}}))
    model = _llm(gateway)
    with pytest.raises(APIStatusError) as info:
        await model.chat(chat_ctx=_ctx(), conn_options=_opts(0)).collect()
    assert info.value.status_code == 307
    await model.aclose()


async def test_undecodable_body_is_a_connection_error(gateway: Gateway) -> None:
    """A body that does not decode (a gzip header on plain text) is an APIError, not a crash."""
    gateway.replies.append(Reply.text("x", headers={"Content-Encoding": "gzip"}))
    model = _llm(gateway)
    with pytest.raises(APIConnectionError):
        await model.chat(chat_ctx=_ctx(), conn_options=_opts(0)).collect()
    await model.aclose()
