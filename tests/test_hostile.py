"""Hostile and broken servers (issue 16), on the loopback gateway: what the caller hears.

Each test stands for a server seen in the wild or a failure a proxy makes: a line separator
inside content, a byte-order mark, keep-alive events with empty data, a claimed charset that
is not the stream's, endless lines and bodies, JSON nested past Python's depth, a server's own
499, in-stream error codes as strings, redirects, a /models that never says what it is. Every
loop is bounded in count, every wait in time; memory is measured with tracemalloc.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import tracemalloc
from typing import Any

import httpx2 as httpx
import pytest
from aiohttp import web
from livekit.agents import APIConnectionError, APIConnectOptions, APIStatusError, APITimeoutError
from livekit.agents.llm import FallbackAdapter

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted.cli import doctor
from livekit_plugins_hosted.parsing import ChunkParser
from livekit_plugins_hosted.transport import transport_error
from tests.gateway import (
    SAYS_HI,
    Gateway,
    Reply,
    completion_chunks,
    delta_chunks,
    gateway_llm,
    serve,
    stream_events,
    user_ctx,
)

MiB = 1024 * 1024
BLOCK = b"x" * MiB
"""One mebibyte, written many times over (the list repeats the object: no test memory)."""


def _opts(max_retry: int = 0, timeout: float = 10.0) -> APIConnectOptions:
    return APIConnectOptions(max_retry=max_retry, retry_interval=0.0, timeout=timeout)


def sse(obj: dict[str, Any] | str) -> bytes:
    """One event as a server writes it (non-ASCII characters raw, as most servers send them)."""
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return b"data: " + data.encode() + b"\n\n"


def frames_of(parts: list[str], *, done: bool = True) -> list[bytes]:
    return [sse(c) for c in completion_chunks(parts)] + ([sse("[DONE]")] if done else [])


async def say(model: hosted.LLM, opts: APIConnectOptions | None = None) -> str:
    result = await model.chat(chat_ctx=user_ctx(), conn_options=opts or _opts()).collect()
    return result.text


def self_hosted(gw: Gateway, **kw: Any) -> hosted.LLM:
    gw._verify = False
    return hosted.LLM.self_hosted("m", base_url=gw.url, **kw)


# -- 1. the event stream, as the WHATWG rules read it -----------------------------------------


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
async def test_line_separator_inside_content_is_spoken(gateway: Gateway, separator: str) -> None:
    """aiter_lines split the event at U+2028/U+2029/U+0085 and the turn died "not JSON"."""
    parts = ["Hello", f" wide{separator}world", " again."]
    gateway.replies.append(Reply(frames=frames_of(parts)))
    model = gateway_llm(gateway)
    assert await say(model) == "".join(parts)
    await model.aclose()


async def test_leading_bom_keeps_the_first_event(gateway: Gateway) -> None:
    """A byte-order mark before the first event made it silently lost (the first words)."""
    frames = frames_of(["First", " words."])
    gateway.replies.append(Reply(frames=[b"\xef\xbb\xbf" + frames[0], *frames[1:]]))
    model = gateway_llm(gateway)
    assert await say(model) == "First words."
    await model.aclose()


async def test_empty_data_keep_alives_do_not_cut_the_answer(gateway: Gateway) -> None:
    """A relay's ``data:`` keep-alive between chunks cut a long answer with a non-retryable
    "not JSON" error."""
    frames = frames_of(["One,", " two,", " three."])
    keep_alive = b"data:\n\ndata: \n\n"
    gateway.replies.append(Reply(frames=[f for frame in frames for f in (frame, keep_alive)]))
    model = gateway_llm(gateway)
    assert await say(model) == "One, two, three."
    await model.aclose()


@pytest.mark.parametrize(
    "keep_alive",
    [
        b"data\ndata\n\n",  # the WHATWG example and web-platform-tests' format-field-data
        b"data:\ndata:\ndata:\n\n",
        b"data\r\ndata\r\n\r\n",
    ],
    ids=["two-bare-data-lines", "three-empty-data-lines", "crlf"],
)
async def test_data_of_line_feeds_only_is_a_keep_alive(gateway: Gateway, keep_alive: bytes) -> None:
    """An event whose ``data`` lines hold no value dispatches data made only of line feeds; it
    failed the turn as "malformed stream event (not JSON)" after the first words."""
    frames = frames_of(["One,", " two,", " three."])
    gateway.replies.append(Reply(frames=[f for frame in frames for f in (frame, keep_alive)]))
    model = gateway_llm(gateway)
    assert await say(model) == "One, two, three."
    await model.aclose()


@pytest.mark.parametrize("keep_alive", ["", "\n"], ids=["empty-data", "line-feeds"])
async def test_keep_alives_after_the_first_words_do_not_hold_the_turn(
    gateway: Gateway, keep_alive: str
) -> None:
    """A server (or relay) that sends keep-alives and comments, and no event, after the first
    words held the turn open for ever: each keep-alive restarts the read timeout."""
    first = completion_chunks(["Hello"])[0]
    # bounded: 400 keep-alives 50 ms apart, 20 s, far past the 1 s read timeout
    events: list[dict[str, Any] | str] = [first, *[keep_alive] * 400]
    gateway.replies.append(Reply(events=events, delay_between=0.05, done=False))
    model = gateway_llm(gateway)
    started = time.monotonic()
    with pytest.raises(APIConnectionError, match="only keep-alives") as raised:
        await say(model, APIConnectOptions(max_retry=0, timeout=1))
    assert not raised.value.retryable  # "Hello" was said
    assert time.monotonic() - started < 15  # bounded by about twice the read timeout
    await model.aclose()


@pytest.mark.parametrize("data", [b"data\ndata\n", b"data:\n"])
async def test_an_error_event_without_json_is_an_error(gateway: Gateway, data: bytes) -> None:
    """An ``event: error`` whose data is empty or only line feeds was skipped as a keep-alive:
    the reply then ended at ``[DONE]`` as if complete, cut short with no error."""
    frames = frames_of(["One,", " two,"])
    error = b"event: error\n" + data + b"\n"
    gateway.replies.append(Reply(frames=[frames[0], error, *frames[1:]]))
    model = gateway_llm(gateway)
    with pytest.raises(APIConnectionError, match="error event") as raised:
        await say(model)
    assert not raised.value.retryable  # "One," was said
    await model.aclose()


def test_a_service_tier_that_is_no_string_is_left_out() -> None:
    """A ``service_tier`` of another type failed the turn after the reply was spoken; it is a
    label for metrics, so it is left out instead."""
    parser = ChunkParser((("<think>", "</think>"),))
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    for tier in (5, ["x"], {"a": 1}, True, None):
        (out,) = parser.feed({"id": "x", "choices": [], "usage": usage, "service_tier": tier})
        assert out.usage is not None and out.usage.service_tier is None


async def test_stream_is_utf8_whatever_the_charset_header_says(gateway: Gateway) -> None:
    """A ``charset=windows-1252`` header turned "…" and "é" into mojibake that was spoken."""
    gateway.replies.append(
        Reply(
            frames=frames_of(["Caf\u00e9", " ok\u2026"]),
            headers={"Content-Type": "text/event-stream; charset=windows-1252"},
        )
    )
    model = gateway_llm(gateway)
    assert await say(model) == "Caf\u00e9 ok\u2026"
    await model.aclose()


async def test_cr_line_ends_split_across_reads(gateway: Gateway) -> None:
    """CR-only and CRLF line ends, a CRLF cut between two writes: one answer, nothing lost."""
    body = b"".join(frames_of(["a", "b", "c"]))
    cr = body.replace(b"\n", b"\r")
    crlf = body.replace(b"\n", b"\r\n")
    cut = crlf.index(b"\r\n") + 1
    gateway.replies.append(Reply(frames=[cr]))
    gateway.replies.append(Reply(frames=[crlf[:cut], crlf[cut:]]))
    model = gateway_llm(gateway)
    assert await say(model) == "abc"
    assert await say(model) == "abc"
    await model.aclose()


async def test_doctor_reads_with_the_same_reader(gateway: Gateway) -> None:
    """``doctor`` had its own copy of the line loop, with the line-separator and BOM bugs."""
    gateway._verify = False
    frames = frames_of(["Hi\u2028there"])
    gateway.replies.append(Reply(frames=[b"\xef\xbb\xbf", *frames]))
    async with (
        httpx.AsyncClient() as client,
        client.stream("POST", f"{gateway.url}/chat/completions", json={}) as response,
    ):
        chunks, tokens = await doctor._read_stream(response)
    assert (chunks, tokens) == (3, 1)


# -- 2. nothing unbounded ----------------------------------------------------------------------


async def _peak_during(coro: Any) -> tuple[Any, int]:
    """What ``coro`` returns (or raises), and the peak of memory traced while it ran."""
    tracemalloc.start()
    try:
        async with asyncio.timeout(60):  # on the unbounded code this could run for minutes
            try:
                result: Any = await coro
            except Exception as e:
                result = e
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_huge_error_body_is_not_read_or_repeated(gateway: Gateway) -> None:
    """A 16 MB error body was read whole and copied into the exception (and every retry's
    log line)."""
    gateway.replies.append(
        Reply(status=500, frames=[b'{"error": {"message": "', *[BLOCK] * 16, b'"}}'])
    )
    model = gateway_llm(gateway)
    error, peak = await _peak_during(say(model))
    assert isinstance(error, APIStatusError) and error.status_code == 500
    assert len(error.message) < 4096 and len(str(error)) < 8192
    assert peak < 4 * MiB
    await model.aclose()


@pytest.mark.parametrize(
    "frames",
    [
        [b"data: ", *[BLOCK] * 64],  # one line that never ends
        [b"data: x\n" * 8192] * 1024,  # data lines that no blank line ends (64 MiB)
    ],
    ids=["endless line", "endless event"],
)
async def test_endless_stream_fails_within_a_memory_bound(
    gateway: Gateway, frames: list[bytes]
) -> None:
    """64 MB without a line end (or an event end) grew memory without limit; past the cap it
    fails, not retryable (a retry would stream it again)."""
    gateway.replies.append(Reply(frames=frames))
    model = gateway_llm(gateway)
    error, peak = await _peak_during(say(model, _opts(max_retry=2)))
    assert isinstance(error, APIConnectionError), error
    assert error.retryable is False and "more than" in error.message
    assert len(gateway.bodies) == 1
    assert peak < 24 * MiB
    await model.aclose()


async def test_huge_models_answer_is_not_read_whole(gateway: Gateway) -> None:
    """The /models probe read any size; a 64 MB answer is cut at its cap and says nothing."""
    gateway.models_reply = Reply(
        frames=[b'{"data": [', *[BLOCK] * 64], headers={"Content-Type": "application/json"}
    )
    model = self_hosted(gateway)
    text, peak = await _peak_during(say(model))
    assert text == "Hello from the gateway."
    assert peak < 8 * MiB
    await model.aclose()


# -- 3. malformed data is an APIError ----------------------------------------------------------

DEEP = "[" * 4000 + "]" * 4000
"""JSON nested past Python's recursion limit, in under 8 KiB."""


async def test_deeply_nested_event_is_a_connection_error(gateway: Gateway) -> None:
    """``json.loads`` raised RecursionError out of the stream."""
    gateway.replies.append(Reply(frames=[sse(DEEP)]))
    model = gateway_llm(gateway)
    with pytest.raises(APIConnectionError, match="nested too deeply") as info:
        await say(model)
    assert info.value.retryable is True
    await model.aclose()


async def test_deeply_nested_error_body_is_a_status_error(gateway: Gateway) -> None:
    """The error body's JSON raised RecursionError instead of the 500 being reported."""
    gateway.replies.append(
        Reply(status=500, frames=[DEEP.encode()], headers={"Content-Type": "application/json"})
    )
    model = gateway_llm(gateway)
    with pytest.raises(APIStatusError) as info:
        await say(model)
    assert info.value.status_code == 500 and info.value.retryable is True
    await model.aclose()


async def test_deeply_nested_models_answer_is_undecided(gateway: Gateway) -> None:
    """The probe's JSON raised RecursionError out of chat()."""
    gateway.models_reply = Reply(
        frames=[DEEP.encode()], headers={"Content-Type": "application/json"}
    )
    model = self_hosted(gateway)
    assert await say(model) == "Hello from the gateway."
    assert model.provider == "auto"  # not settled after one undecided answer
    await model.aclose()


@pytest.mark.parametrize(
    "call",
    [
        {"index": 0, "id": 5, "function": {"name": "f", "arguments": "{}"}},
        {"index": 0, "id": "c1", "function": {"name": ["f"], "arguments": "{}"}},
        {"index": 0, "id": "c1", "function": {"name": "f"}, "extra_content": "x"},
    ],
    ids=["id", "name", "extra_content"],
)
async def test_tool_call_fragment_of_the_wrong_type(gateway: Gateway, call: dict[str, Any]) -> None:
    """pydantic's ValidationError escaped from the stream (the CLI called it "bad usage")."""
    chunks = delta_chunks([{"tool_calls": [call]}], finish_reason="tool_calls")
    gateway.replies.append(Reply(events=list(chunks)))
    model = gateway_llm(gateway)
    with pytest.raises(APIConnectionError, match="malformed chunk") as info:
        await say(model)
    assert info.value.retryable is True
    await model.aclose()


# -- 4. a 499 from the server is not silence ---------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply.error(499, "upstream closed"),
        Reply(events=[{"error": {"message": "upstream closed", "code": 499}}], done=False),
        Reply(events=[{"error": {"message": "upstream closed", "code": "499"}}], done=False),
    ],
    ids=["status", "in-stream", "in-stream string"],
)
async def test_server_499_is_reported_and_falls_over(gateway: Gateway, reply: Reply) -> None:
    """The framework swallows a 499 status as "the caller went away": the turn ended in
    silence and a FallbackAdapter never moved on."""
    gateway.replies.append(reply)
    model = gateway_llm(gateway)
    with pytest.raises(APIConnectionError, match="499") as info:
        await say(model)
    assert info.value.retryable is True
    gateway.replies.append(reply)
    backup = gateway_llm(gateway)
    adapter = FallbackAdapter([model, backup], attempt_timeout=10, max_retry_per_llm=0)
    result = await adapter.chat(chat_ctx=user_ctx(), conn_options=_opts()).collect()
    assert result.text == "Hello from the gateway."
    await adapter.aclose()
    await model.aclose()
    await backup.aclose()


# -- 5. in-stream error codes are statuses -----------------------------------------------------


@pytest.mark.parametrize(
    "error, status, requests",
    [
        ({"message": "bad request", "code": "400"}, 400, 1),
        ({"message": "no more credits", "code": "insufficient_quota"}, 429, 1),
        ({"message": "rate limited", "type": "rate_limit_error"}, 429, 3),
        ({"message": "boom", "code": True}, None, 3),
    ],
    ids=["string status", "credits name", "rate-limit type", "boolean"],
)
async def test_in_stream_codes_follow_the_status_rules(
    gateway: Gateway, error: dict[str, Any], status: int | None, requests: int
) -> None:
    """String codes were connection errors, retried (the credits rule never ran on them); a
    boolean code became status ``True``."""
    for _ in range(3):
        gateway.replies.append(Reply(events=[{"error": error}], done=False))
    model = gateway_llm(gateway)
    with pytest.raises((APIStatusError, APIConnectionError)) as info:
        await say(model, _opts(max_retry=2))
    assert len(gateway.bodies) == requests
    # after its retries the framework raises its own error, from the last attempt's
    last = info.value if requests == 1 else info.value.__cause__
    if status is None:
        assert type(last) is APIConnectionError
    else:
        assert isinstance(last, APIStatusError) and last.status_code == status
        assert last.retryable is (requests > 1)
    await model.aclose()


# -- 6. a redirect fails at once ---------------------------------------------------------------


@pytest.mark.parametrize("follows", [False, True], ids=["plugin client", "following client"])
async def test_redirect_fails_at_once_with_retries_on(gateway: Gateway, follows: bool) -> None:
    """A 3xx was retried three times (it is never followed, so it can only repeat); a client
    that follows redirects must not follow this one either."""
    gateway.replies.append(
        Reply(
            status=307,
            body={"error": {"message": "moved"}},
            headers={"Location": f"{gateway.url}/chat/completions"},
        )
    )
    client = httpx.AsyncClient(follow_redirects=True) if follows else None
    model = gateway_llm(gateway, http_client=client)
    with pytest.raises(APIStatusError) as info:
        await say(model, _opts(max_retry=3))
    assert info.value.status_code == 307 and info.value.retryable is False
    assert "not followed" in info.value.message
    assert len(gateway.bodies) == 1
    await model.aclose()
    if client is not None:
        await client.aclose()


# -- 7. detection that cannot decide settles ---------------------------------------------------


@pytest.mark.parametrize("status", [403, 405])
async def test_undecided_detection_settles(
    gateway: Gateway, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A /models answering 403/405 was probed before every request, for ever."""
    gateway.models_reply = Reply.error(status, "no")
    model = self_hosted(gateway)
    caplog.set_level(logging.INFO, logger="livekit.plugins.hosted")
    for _ in range(6):  # bounded: settles at the third
        assert await say(model) == "Hello from the gateway."
    probes = [r for r in gateway.requests if r.path.endswith("/models")]
    assert len(probes) == 3
    assert model.provider == "openai-compatible"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "openai-compatible" in warnings[0].getMessage()
    assert f"answered {status}" in warnings[0].getMessage()
    await model.aclose()


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_a_busy_detection_is_asked_again_less_and_less(gateway: Gateway, status: int) -> None:
    """A /models answering busy (5xx, 429) says nothing lasting: it is not settled on (that
    refused max_thinking_time for the LLM's life on a vLLM that had been busy), yet not asked
    before every request either: after 1, 2, 4, 8... requests. Once it names its engine, that
    engine is used."""
    gateway.models_reply = Reply.error(status, "busy")
    model = self_hosted(gateway)
    for _ in range(10):
        assert await say(model) == "Hello from the gateway."
    probes = [r for r in gateway.requests if r.path.endswith("/models")]
    assert len(probes) == 4  # before requests 1, 2, 4 and 8
    assert model.provider == "auto"
    card = {"id": "m", "object": "model", "owned_by": "vllm"}
    gateway.models_reply = Reply(body={"object": "list", "data": [card]})
    for _ in range(8):
        await say(model)
    assert model.provider == "vllm"
    await model.aclose()


# -- 11. an http_client's defaults are honoured -------------------------------------------------


async def test_http_client_headers_and_params_are_sent(gateway: Gateway) -> None:
    """The client's default headers and query parameters were dropped from the completion."""
    client = httpx.AsyncClient(
        headers={"X-Org": "acme", "Authorization": "Bearer from-client"},
        params={"api-version": "2"},
    )
    model = self_hosted(gateway, http_client=client, backend="vllm")
    assert await say(model) == "Hello from the gateway."
    [request] = gateway.requests
    assert request.query == "api-version=2"
    assert request.headers["X-Org"] == "acme"
    assert request.headers["Authorization"] == "Bearer from-client"
    assert request.headers.getall("User-Agent") == [hosted.auth.USER_AGENT]
    assert request.headers.getall("Accept") == ["text/event-stream"]
    await model.aclose()
    await client.aclose()


async def test_endpoint_headers_win_over_the_clients(gateway: Gateway) -> None:
    """A key given to the LLM wins over the client's header; the plugin's client adds none."""
    client = httpx.AsyncClient(headers={"authorization": "Bearer from-client"})
    model = self_hosted(gateway, http_client=client, backend="vllm", api_key="sk-own")
    own = self_hosted(gateway, backend="vllm")
    await say(model)
    await say(own)
    first, second = gateway.requests
    assert first.headers.getall("Authorization") == ["Bearer sk-own"]
    assert "Accept-Encoding" not in second.headers and second.query == ""
    await model.aclose()
    await own.aclose()
    await client.aclose()


async def test_http_client_pool_timeout_is_honoured(gateway: Gateway) -> None:
    """The client's timeouts were replaced by the call's: a full pool waited the whole
    ``conn_options.timeout`` instead of the client's pool timeout."""
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1), timeout=httpx.Timeout(30.0, pool=0.3)
    )
    model = gateway_llm(gateway, http_client=client)
    gateway.replies.append(Reply.text("held", " open", stall_after=1))
    holder = model.chat(chat_ctx=user_ctx(), conn_options=_opts(timeout=20))
    first = await anext(aiter(holder))  # the only connection is now busy
    assert first.delta is not None and first.delta.content == "held"
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="no free connection"):
        await say(model, _opts(timeout=20))
    assert time.monotonic() - started < 10
    await holder.aclose()
    await model.aclose()
    await client.aclose()


# -- 12. chat() after aclose() -----------------------------------------------------------------


@pytest.mark.parametrize("own_client", [True, False])
async def test_chat_after_aclose_says_so(gateway: Gateway, own_client: bool) -> None:
    """A plain RuntimeError from the pool escaped from the stream's task."""
    client = None if own_client else httpx.AsyncClient()
    model = gateway_llm(gateway, http_client=client)
    if client is None:
        await model.aclose()
    else:
        await client.aclose()
    with pytest.raises(APIConnectionError, match="closed") as info:
        await say(model, _opts(max_retry=2))
    assert info.value.retryable is False
    assert gateway.requests == []
    await model.aclose()


# -- transport errors: one table ---------------------------------------------------------------


@pytest.mark.parametrize(
    "error, expected, words",
    [
        (httpx.ReadTimeout("timed out"), APITimeoutError, "no response"),
        (httpx.PoolTimeout("full"), APITimeoutError, "no free connection"),
        (httpx.ConnectTimeout("slow"), APIConnectionError, "not established within 15s"),
        (httpx.RemoteProtocolError("peer closed"), APIConnectionError, "RemoteProtocolError"),
        (httpx.ConnectError("refused"), APIConnectionError, "ConnectError"),
        (httpx.DecodingError("bad gzip"), APIConnectionError, "undecodable"),
    ],
)
def test_transport_errors_mapped_by_the_table(
    error: httpx.RequestError, expected: type[Exception], words: str
) -> None:
    """openai-python test_transport_error_mid_stream: a read timeout is a timeout, a peer that
    closed is a connection error; the message names the limit that was reached."""
    timeout = {"connect": 15.0, "read": 10.0, "write": 10.0, "pool": 10.0}
    mapped, cause = transport_error(
        error, url="u", timeout=timeout, retryable=False, scrub=lambda text: text
    )
    assert type(mapped) is expected and words in mapped.message
    assert type(cause) is type(error) and str(cause) == str(error)
    assert mapped.retryable is False


def test_backends_table_is_read_only() -> None:
    """``hosted.BACKENDS`` was a dict any importer could change for every LLM in the process."""
    with pytest.raises(TypeError):
        hosted.BACKENDS["vllm"] = hosted.BACKENDS["openai-compatible"]  # type: ignore[index]
    assert hosted.BACKENDS["vllm"].name == "vllm"


async def test_kept_alive_connection_closed_by_the_server_is_sent_again_at_once() -> None:
    """llama-server closes idle keep-alive connections (5 s): a request that reuses one as it
    closes gets no response at all. Nothing was read or said, so the plugin sends it once more
    on a fresh connection; with no framework retry (max_retry=0) the turn used to fail."""
    served: list[int] = []  # requests answered, per connection, in order of arrival
    body = (
        "".join(f"data: {json.dumps(c)}\n\n" for c in completion_chunks(["Hi", " again."])).encode()
        + b"data: [DONE]\n\n"
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                if answered:  # the connection's second request: closed, as it idled out
                    return
                answered += 1
                served.append(answered)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    model = hosted.LLM.self_hosted(
        "google/gemma-4-31b-it", base_url=f"http://127.0.0.1:{port}/v1", backend="vllm"
    )
    try:
        once = APIConnectOptions(max_retry=0, timeout=10)
        for _ in range(3):  # each reuses the connection the previous one left in the pool
            result = await model.chat(chat_ctx=user_ctx(), conn_options=once).collect()
            assert result.text == "Hi again."
        assert served == [1, 1, 1]  # every answer came on a fresh connection
    finally:
        await model.aclose()
        server.close()
        await server.wait_closed()


async def test_detection_survives_an_owned_by_that_is_not_text(gateway: Gateway) -> None:
    """An ``owned_by`` object in ``GET /models`` raised TypeError (unhashable) out of the
    stream and out of prewarm; it says nothing about the engine."""
    gateway._verify = False
    gateway.models_reply = Reply(body={"data": [{"id": "m", "owned_by": {"org": "x"}}]})
    model = hosted.LLM.self_hosted("acme/model", base_url=gateway.url)
    result = await model.chat(chat_ctx=user_ctx()).collect()
    assert result.text == "Hello from the gateway."
    assert model.provider == "openai-compatible"
    await model.aclose()


# -- cookies a server sets are not kept ----------------------------------------------------


async def test_cookies_a_server_sets_are_not_kept() -> None:
    """The plugin's own client kept every cookie a server set, for the LLM's life (50 new ones
    a reply: 1000 after 20 turns, memory a server can grow), and sent them all back with the
    engine probe and the control request, until those grew past what a server accepts.
    Nothing is kept, so nothing is sent back."""
    cookies_sent: list[str] = []

    async def models(request: web.Request) -> web.Response:
        # a guard that names no engine: asked again on the next turns
        cookies_sent.append(request.headers.get("Cookie", ""))
        return web.json_response({"error": "forbidden"}, status=403)

    async def completions(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        for i in range(50):
            response.set_cookie(f"c{len(cookies_sent)}_{i}", "v" * 40)
        return await stream_events(request, SAYS_HI, response)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", completions)
    runner, url = await serve(app)
    model = hosted.LLM.self_hosted("m", base_url=url)
    try:
        for _ in range(3):
            assert (await model.chat(chat_ctx=user_ctx()).collect()).text == "Hi."
    finally:
        await model.aclose()
        await runner.cleanup()
    assert cookies_sent == ["", "", ""]


async def test_a_turn_cancelled_during_the_probe_says_nothing_about_the_server() -> None:
    """Barge-in (or a preemptive turn dropped) while the engine probe was in flight was
    counted as a busy server: after two, the next turn to a healthy vLLM skipped detection
    and ran without its engine's settings. Only the probe's own bound expiring counts."""
    gate, arrived = asyncio.Event(), asyncio.Event()

    async def models(_request: web.Request) -> web.Response:
        arrived.set()
        await gate.wait()  # in flight when the caller cancels
        card = {"id": "m", "object": "model", "owned_by": "vllm"}
        return web.json_response({"object": "list", "data": [card]})

    async def completions(request: web.Request) -> web.StreamResponse:
        return await stream_events(request, SAYS_HI)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", completions)
    runner, url = await serve(app)
    model = hosted.LLM.self_hosted("m", base_url=url)
    try:
        for _ in range(2):
            arrived.clear()
            stream = model.chat(chat_ctx=user_ctx())
            await asyncio.wait_for(arrived.wait(), 10)
            await stream.aclose()
        gate.set()
        assert (await model.chat(chat_ctx=user_ctx()).collect()).text == "Hi."
        assert model.provider == "vllm"
    finally:
        gate.set()
        await model.aclose()
        await runner.cleanup()


async def test_a_models_list_trickled_a_byte_at_a_time_does_not_hold_the_turn() -> None:
    """``GET /v1/models`` sending its body a byte at a time, each within the read timeout,
    held a turn without a first-word deadline (and a prewarm) for as long as it trickled: the
    whole probe is bounded, then the stand-in serves the turn."""
    stop = asyncio.Event()

    async def models(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(600):  # bounded: 5 minutes at most
            if stop.is_set():
                break
            await response.write(b" ")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        return response

    async def completions(request: web.Request) -> web.StreamResponse:
        return await stream_events(request, SAYS_HI)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", completions)
    runner, url = await serve(app)
    model = hosted.LLM.self_hosted("m", base_url=url, first_token_timeout=None)
    try:
        said = await asyncio.wait_for(model.chat(chat_ctx=user_ctx()).collect(), 30)
        assert said.text == "Hi."
    finally:
        stop.set()
        await model.aclose()
        await runner.cleanup()
