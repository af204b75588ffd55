"""Credentials stay where they belong: never in a repr, a log line, an error or the CLI's output.

Issue 16, items 13-16: a ``user:password@`` in ``base_url``; a key read from a file with its
newline; a server that echoes the request (token and key) in its error; a key sent over plain
http to a remote host.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
import pytest
from aiohttp import web
from livekit.agents import APIConnectionError, APIConnectOptions, APIError, APIStatusError

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted.cli import main
from livekit_plugins_hosted.cli.errors import describe
from tests.gateway import (
    API_KEY,
    API_SECRET,
    SAYS_HI,
    Gateway,
    Reply,
    serve,
    stream_events,
    user_ctx,
)

ONE_TRY = APIConnectOptions(max_retry=0, timeout=5)
KEY = "sk-self-hosted-0123456789abcdef"
PASSWORD = "hunter2-pa55word"


async def cli(*argv: str) -> int:
    """``main(argv)`` in a worker thread, so a server on this loop keeps answering."""
    return await asyncio.to_thread(main, list(argv))


# --- 13: user:password@ in base_url is refused -------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"http://admin:{PASSWORD}@127.0.0.1:8000/v1",
        f"https://{PASSWORD}@vllm.example.com/v1",
        f"https://user:{PASSWORD}@example.com:8443",
    ],
)
def test_userinfo_in_base_url_refused_without_repeating_it(url: str) -> None:
    """It showed in repr(llm), .base_url, errors and the detection log line, and the transport
    sent it as Basic auth in place of the bearer key. Now refused; the message hides it."""
    with pytest.raises(ValueError, match="user name or password") as info:
        hosted.LLM.self_hosted("m", base_url=url, api_key=KEY)
    assert PASSWORD not in str(info.value) and "***@" in str(info.value)
    with pytest.raises(ValueError, match="user name or password") as info:
        hosted.LLM("m", base_url=url, api_key=API_KEY, api_secret=API_SECRET)
    assert PASSWORD not in str(info.value)


def test_userinfo_in_inference_url_variable_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """LIVEKIT_INFERENCE_URL gets the same check as base_url."""
    monkeypatch.setenv("LIVEKIT_INFERENCE_URL", f"https://u:{PASSWORD}@gw.example.com/v1")
    with pytest.raises(ValueError, match="user name or password") as info:
        hosted.LLM("m", api_key=API_KEY, api_secret=API_SECRET)
    assert PASSWORD not in str(info.value)


def test_query_in_base_url_refused_without_repeating_it() -> None:
    """``?api-key=...`` would be shown with the URL, and /chat/completions appended after it."""
    with pytest.raises(ValueError, match="query") as info:
        hosted.LLM.self_hosted("m", base_url=f"https://example.com/v1?api-key={PASSWORD}")
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        f"ftp://example.com/v1?api-key={PASSWORD}",  # refused for its scheme first
        f"http:///v1?api-key={PASSWORD}",  # no host
        f"https://u@example.com/v1#{PASSWORD}",  # user name, then a fragment
        f"http://example.com:99999/v1?api-key={PASSWORD}",  # not a valid URL
    ],
)
def test_other_refusals_do_not_repeat_the_query(url: str) -> None:
    """A URL refused for another reason was shown whole, its query (and a key in it) too."""
    with pytest.raises(ValueError) as info:
        hosted.LLM.self_hosted("m", base_url=url)
    assert PASSWORD not in str(info.value) and "?..." in str(info.value)


@pytest.mark.parametrize("command", ["chat", "doctor"])
async def test_cli_never_prints_the_password(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line's error line for such a URL does not show the password either."""
    monkeypatch.setenv("LIVEKIT_API_KEY", API_KEY)
    monkeypatch.setenv("LIVEKIT_API_SECRET", API_SECRET)
    url = f"http://admin:{PASSWORD}@127.0.0.1:9/v1"
    code = await cli(command, *(["Hi"] if command == "chat" else []), "--base-url", url)
    out, err = capsys.readouterr()
    assert code in (1, 2)
    assert PASSWORD not in out + err
    assert "user name or password" in out + err


# --- 14: a key read from a file keeps its newline ----------------------------------------------


async def test_key_with_trailing_newline_is_stripped_and_works(gateway: Gateway) -> None:
    """``api_key=open("key").read()`` failed every request with a retryable connection error
    whose text (and the framework's WARNING, and the CLI's line) held the whole header."""
    gateway._verify = False
    model = hosted.LLM.self_hosted("m", base_url=gateway.url, api_key=KEY + "\n", backend="vllm")
    result = await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    assert result.text == "Hello from the gateway."
    assert gateway.requests[-1].headers["Authorization"] == f"Bearer {KEY}"
    await model.aclose()


async def test_cli_key_with_trailing_newline(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--api-key "$(cat key)"`` with a CRLF file: the reply, and the key never printed."""
    gateway._verify = False
    argv = ("chat", "Hi", "--base-url", gateway.url, "--backend", "vllm", "--api-key", KEY + "\r\n")
    assert await cli(*argv) == 0
    out, err = capsys.readouterr()
    assert "Hello from the gateway." in out and KEY not in out + err


def test_cli_error_line_never_quotes_an_illegal_header() -> None:
    """If a header were still refused by the transport, its error text (which quotes the
    header, key included) is left out of the CLI's line; the type name stays."""
    try:
        try:
            raise httpx.LocalProtocolError(f"Illegal header value b'Bearer {KEY}\\n'")
        except httpx.LocalProtocolError as inner:
            raise APIConnectionError(
                "connection to http://127.0.0.1:9/v1 failed: LocalProtocolError"
            ) from inner
    except APIConnectionError as e:
        line = describe(e)
    assert KEY not in line and "LocalProtocolError" in line


# --- 15: a server that echoes the request ------------------------------------------------------


class EchoProxy:
    """A loopback server standing for the proxies that answer 400 with the request echoed
    (headers and body) in their message and body."""

    def __init__(self) -> None:
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> EchoProxy:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._echo)
        app.router.add_get("/v1/models", self._echo)
        self._runner, self.url = await serve(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _echo(self, request: web.Request) -> web.Response:
        headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        text = await request.text()
        return web.json_response(
            {
                "error": {
                    "message": f"bad request; you sent:\n{headers}\n\n{text}",
                    "headers": dict(request.headers),
                }
            },
            status=400,
        )


@pytest.fixture
async def echo() -> AsyncIterator[EchoProxy]:
    async with EchoProxy() as proxy:
        yield proxy


def _assert_hidden(error: APIStatusError, *secrets: str) -> None:
    for text in (str(error), repr(error), error.message, repr(error.body)):
        for secret in secrets:
            assert secret not in text
    assert "Bearer ***" in error.message


async def test_echoed_key_is_scrubbed(echo: EchoProxy) -> None:
    """The self-hosted key echoed in a 400 reached str(error); now it reads ``***``."""
    model = hosted.LLM.self_hosted("m", base_url=echo.url, api_key=KEY, backend="vllm")
    with pytest.raises(APIStatusError) as info:
        await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    assert info.value.status_code == 400 and "you sent" in info.value.message
    _assert_hidden(info.value, KEY)
    await model.aclose()


async def test_echoed_token_and_secret_are_scrubbed(echo: EchoProxy) -> None:
    """The signed LiveKit token echoed in a 400 reached str(error); now it reads ``***``."""
    model = hosted.LLM("m", base_url=echo.url, api_key=API_KEY, api_secret=API_SECRET)
    endpoint = model.endpoint
    assert isinstance(endpoint, hosted.LiveKitInference)
    with pytest.raises(APIStatusError) as info:
        await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    (token,) = endpoint.token.issued
    _assert_hidden(info.value, token, API_SECRET)
    await model.aclose()


def test_scrub_hides_every_form_and_keeps_placeholders() -> None:
    """scrub() replaces the secret as written and JSON-escaped; a 1-3 character placeholder
    key (``api_key="x"``) is no secret and is left alone rather than garble the text."""
    endpoint = hosted.SelfHosted(base_url="http://127.0.0.1:1/v1", api_key='sk-"quoted"-key')
    assert endpoint.scrub('Bearer sk-"quoted"-key') == "Bearer ***"
    assert endpoint.scrub('{"auth": "Bearer sk-\\"quoted\\"-key"}') == '{"auth": "Bearer ***"}'
    assert endpoint.scrub_body({"k": ['sk-"quoted"-key']}) == {"k": ["***"]}
    placeholder = hosted.SelfHosted(base_url="http://127.0.0.1:1/v1", api_key="x")
    assert placeholder.scrub("max tokens exceeded") == "max tokens exceeded"


# --- 16: a key over plain http to a remote host ------------------------------------------------


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "livekit.plugins.hosted"
    ]


def test_key_over_plain_http_to_a_remote_host_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    """It passed without a word (the LiveKit endpoint refuses the same URL); now a WARNING
    once per server, naming the URL, not the key."""
    host = f"vllm-{uuid.uuid4().hex[:8]}.example.com"  # a host no other test has warned about
    caplog.set_level(logging.WARNING, logger="livekit.plugins.hosted")
    for _ in range(3):
        hosted.LLM.self_hosted("m", base_url=f"http://{host}:8000/v1", api_key=KEY)
    (record,) = _warnings(caplog)
    assert "clear text" in record.getMessage() and host in record.getMessage()
    assert KEY not in record.getMessage()


@pytest.mark.parametrize(
    "kw",
    [
        {"base_url": "https://vllm.example.com/v1", "api_key": KEY},
        {"base_url": "http://127.0.0.1:8000/v1", "api_key": KEY},
        {"base_url": "http://localhost:8000/v1", "api_key": KEY},
        {"base_url": "http://[::1]:8000/v1", "api_key": KEY},
        {"base_url": "http://vllm-no-key.example.com:8000/v1"},
    ],
)
def test_no_warning_when_nothing_travels_in_clear(
    kw: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """https, loopback, or no key at all: nothing secret crosses a network in clear text."""
    caplog.set_level(logging.WARNING, logger="livekit.plugins.hosted")
    hosted.LLM.self_hosted("m", **kw)
    assert _warnings(caplog) == []


async def test_a_key_cut_in_two_by_the_message_limit_is_masked(gateway: Gateway) -> None:
    """An error message is cut to 1,000 characters before it is scrubbed: a key the cut
    splits no longer matched, and its first part reached ``str(error)``."""
    key = "sk-live-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef"
    gateway._verify = False
    gateway.replies.append(Reply.error(400, "x" * 985 + key))
    model = hosted.LLM.self_hosted("m", base_url=gateway.url, api_key=key, backend="vllm")
    with pytest.raises(APIStatusError) as err:
        await model.chat(chat_ctx=user_ctx()).collect()
    assert key[:_PREFIX] not in str(err.value) and key[:_PREFIX] not in repr(err.value)
    await model.aclose()


_PREFIX = 8


def _idecho_app(heard: bool) -> web.Application:
    """A relay that names the completion after the request's Authorization header."""

    async def completions(request: web.Request) -> web.StreamResponse:
        cid = "cmpl " + request.headers.get("Authorization", "")
        usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        delta = {"content": "Hi." if heard else " "}
        events = [
            {"id": cid, "choices": [{"index": 0, "delta": delta, "finish_reason": "stop"}]},
            {"id": cid, "choices": [], "usage": usage},
        ]
        return await stream_events(request, events)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    return app


@pytest.mark.parametrize("heard", [True, False], ids=["heard", "failed"])
async def test_a_completion_id_echoing_the_key_is_masked_in_metrics(heard: bool) -> None:
    """A relay that puts the request's Authorization into the completion id had the key
    reach ``metrics_collected``'s request id (the framework's for a heard reply, the plugin's
    for a failed one) and the span's provider ids, while the same echo in ``x-request-id``
    was masked. The id is masked as the server's other words are."""
    runner, url = await serve(_idecho_app(heard))
    model = hosted.LLM.self_hosted("m", base_url=url, backend="vllm", api_key=KEY)
    seen: list[Any] = []
    arrived = asyncio.Event()
    model.on("metrics_collected", lambda m: (seen.append(m), arrived.set()))
    try:
        stream = model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY)
        if heard:
            await stream.collect()
        else:
            with pytest.raises(APIError):
                await stream.collect()
        await asyncio.wait_for(arrived.wait(), 10)
    finally:
        await model.aclose()
        await runner.cleanup()
    assert seen and all(KEY not in m.request_id for m in seen)
    assert any("cmpl Bearer ***" in m.request_id for m in seen)


async def test_a_tool_call_id_echoing_the_key_is_masked() -> None:
    """A relay that builds a tool call's id from the request's Authorization had the key go
    into the framework's tool spans and logs with the call id. The id is masked (and clipped)
    like the completion id; the call still runs."""

    async def completions(request: web.Request) -> web.StreamResponse:
        call = {
            "index": 0,
            "id": "call " + request.headers.get("Authorization", "") + "x" * 400,
            "type": "function",
            "function": {"name": "lookup", "arguments": "{}"},
        }
        events = [
            {"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]},
            {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        ]
        return await stream_events(request, events)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    runner, url = await serve(app)
    model = hosted.LLM.self_hosted("m", base_url=url, backend="vllm", api_key=KEY)
    try:
        result = await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    finally:
        await model.aclose()
        await runner.cleanup()
    [call] = result.tool_calls
    assert call.name == "lookup" and KEY not in call.call_id
    assert call.call_id.startswith("call Bearer ***") and len(call.call_id) <= 200


async def test_an_http_clients_cookies_reach_the_completion_request() -> None:
    """A cookie-auth proxy in front of the server (Cloudflare Access, a sticky session): the
    ``http_client``'s cookies went with the engine probe but not with the completion, so every
    turn was refused. They go with every request, as the client would send them."""
    seen: list[str] = []

    async def completions(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Cookie", ""))
        return await stream_events(request, SAYS_HI)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    runner, url = await serve(app)
    try:
        async with httpx.AsyncClient(cookies={"CF_Authorization": "cf-token-0123456789"}) as client:
            model = hosted.LLM.self_hosted("m", base_url=url, backend="vllm", http_client=client)
            assert (await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()).text
            await model.aclose()
    finally:
        await runner.cleanup()
    assert seen == ["CF_Authorization=cf-token-0123456789"]
