"""Nothing the plugin sends comes back in an error (issue 22, items 7, 16, 17, 18).

A server or a proxy may echo the request: in an error's message and body, in its
``x-request-id`` header, or inside a malformed HTTP response (whose text the transport's
exception quotes, and the framework prints as the error's cause). Every credential the plugin
sent is masked there: the endpoint's key and token, the worker token a LiveKit job adds, and
whatever the ``http_client`` given adds (headers, query parameters, its ``auth``). Checked
wherever a user sees an error: ``str``, ``repr``, the cause chain as a traceback prints it,
``request_id``, ``body``, the log records and the command line's error line.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator, Callable

import httpx2 as httpx
import pytest
from aiohttp import web
from livekit.agents import APIConnectionError, APIConnectOptions, APIError, APIStatusError

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted import auth, redact
from livekit_plugins_hosted.cli import main
from livekit_plugins_hosted.cli.errors import describe
from tests.gateway import API_KEY, API_SECRET, Gateway, Reply, serve, user_ctx

ONE_TRY = APIConnectOptions(max_retry=0, timeout=5)
RETRY_ONCE = APIConnectOptions(max_retry=1, retry_interval=0.0, timeout=5)
KEY = "sk-self-hosted-0123456789abcdef"
WORKER_TOKEN = "worker-token-6f1e0c2a9b8d7e3f"
CLIENT_KEY = "client-api-key-5a4b3c2d1e0f"
CLIENT_TOKEN = "client-custom-token-9z8y7x6w"
QUERY_KEY = "query-key-1q2w3e4r5t6y"
BASIC = ("user-basic", "basic-password-0p9o8i7u")


def texts_of(error: BaseException) -> list[str]:
    """Everything of ``error`` a user or a log may show: its text, its repr, each exception
    in its chain (causes and contexts) and the whole traceback as the framework prints it."""
    out = [str(error), repr(error), "".join(traceback.format_exception(error))]
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        out += [str(e), repr(e)]
        todo += [c for c in (e.__cause__, e.__context__) if c is not None]
    if isinstance(error, APIStatusError):
        out += [str(error.request_id), repr(error.body)]
    out.append(describe(error))
    return out


def assert_hidden(texts: list[str], *secrets: str) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text[:300])


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Each record of the plugin and the framework (``livekit.*``, at DEBUG) as a handler
    with a traceback formatter writes it, and its extras. (httpcore's own DEBUG lines quote
    every response header as it came: a library's wire trace, outside the plugin's reach.)"""
    formatter = logging.Formatter("%(message)s")
    return [formatter.format(r) + repr(vars(r)) for r in caplog.records]


# -- a server that echoes the request into its error, its request id and its body --------------


class Echo:
    """A loopback server standing for the proxies and servers that answer with the request
    echoed: every header (and the query) in the error's message, its body and the
    ``x-request-id`` header."""

    def __init__(self, status: int = 400) -> None:
        self.status = status
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Echo:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._echo)
        self._runner, self.url = await serve(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _echo(self, request: web.Request) -> web.Response:
        sent = " ".join(f"{k}: {v}" for k, v in request.headers.items())
        return web.json_response(
            {"error": {"message": f"refused; you sent {request.query_string} {sent}"}},
            status=self.status,
            headers={"x-request-id": f"req {sent}"[:4000]},
        )


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    async with Echo() as server:
        yield server


@pytest.fixture
def in_a_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a LiveKit job the framework's helper adds the worker token (and room ids)."""
    monkeypatch.setattr(
        auth,
        "job_headers",
        lambda **_: {"X-LiveKit-Worker-Token": WORKER_TOKEN, "X-LiveKit-Room-ID": "RM_1"},
    )


async def test_worker_token_echoed_in_an_error_is_masked(
    echo: Echo, in_a_job: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Inside a job the worker token went out with every request, and an echo of it reached
    ``str(error)``, ``repr``, the body, the request id and the framework's retry WARNING."""
    caplog.set_level(logging.DEBUG, logger="livekit")
    model = hosted.LLM("m", base_url=echo.url, api_key=API_KEY, api_secret=API_SECRET)
    with pytest.raises(APIStatusError) as info:
        await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    error = info.value
    assert error.status_code == 400 and "X-LiveKit-Worker-Token: ***" in error.message
    assert error.request_id is not None and "X-LiveKit-Worker-Token: ***" in error.request_id
    assert "RM_1" in error.message  # an identifier is no credential: left as it is
    (token,) = model.endpoint.token.issued  # type: ignore[attr-defined]
    assert_hidden(texts_of(error), WORKER_TOKEN, token, API_SECRET)
    assert_hidden(log_texts(caplog), WORKER_TOKEN, token, API_SECRET)
    await model.aclose()


def client_of(kind: str) -> httpx.AsyncClient:
    if kind == "headers":
        return httpx.AsyncClient(headers={"X-Api-Key": CLIENT_KEY, "X-Custom-Token": CLIENT_TOKEN})
    if kind == "params":
        return httpx.AsyncClient(params={"api-key": QUERY_KEY})
    return httpx.AsyncClient(auth=httpx.BasicAuth(*BASIC))


@pytest.mark.parametrize("kind", ["headers", "params", "auth"])
async def test_http_client_credentials_echoed_are_masked(
    echo: Echo, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Headers (``X-Api-Key``, any ``*-Token``), query parameters and the ``auth`` of the
    ``http_client`` given were sent and, echoed, shown whole in the error and the logs."""
    import base64

    caplog.set_level(logging.DEBUG, logger="livekit")
    client = client_of(kind)
    basic = base64.b64encode(":".join(BASIC).encode()).decode()
    secrets = {"headers": (CLIENT_KEY, CLIENT_TOKEN), "params": (QUERY_KEY,), "auth": (basic,)}
    model = hosted.LLM.self_hosted("m", base_url=echo.url, backend="vllm", http_client=client)
    with pytest.raises(APIStatusError) as info:
        await model.chat(chat_ctx=user_ctx(), conn_options=RETRY_ONCE).collect()
    assert "***" in info.value.message
    assert_hidden(texts_of(info.value), *secrets[kind])
    assert_hidden(log_texts(caplog), *secrets[kind])
    await model.aclose()
    await client.aclose()


async def test_request_id_echo_is_masked_in_every_view(
    echo: Echo, caplog: pytest.LogCaptureFixture
) -> None:
    """``x-request-id`` became the error's ``request_id`` as it came (shown by ``str``,
    ``repr``, the CLI's line and the 429 WARNING's extras), while the same echo in the body
    was masked."""
    caplog.set_level(logging.DEBUG, logger="livekit")
    echo.status = 429
    model = hosted.LLM.self_hosted("m", base_url=echo.url, api_key=KEY, backend="vllm")
    with pytest.raises(APIStatusError) as info:
        await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    error = info.value
    assert error.request_id is not None and "Bearer ***" in error.request_id
    assert f"(request id {error.request_id})" in describe(error)
    assert any(getattr(r, "request_id", None) == error.request_id for r in caplog.records)
    assert_hidden(texts_of(error), KEY)
    assert_hidden(log_texts(caplog), KEY)
    await model.aclose()


async def test_cli_line_masks_the_worker_token_and_the_request_id(
    echo: Echo,
    in_a_job: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The command line's error line showed the request id (the echo) as it came."""
    monkeypatch.setenv("LIVEKIT_API_KEY", API_KEY)
    monkeypatch.setenv("LIVEKIT_API_SECRET", API_SECRET)
    monkeypatch.setenv("LIVEKIT_INFERENCE_URL", echo.url)
    code = await asyncio.to_thread(main, ["chat", "Hi", "--retries", "0"])
    out, err = capsys.readouterr()
    assert code == 1 and "request id req" in out + err and "***" in out + err
    assert WORKER_TOKEN not in out + err and "Bearer ey" not in out + err


@pytest.mark.parametrize(
    "event",
    [
        f"you sent Bearer {KEY}",  # not JSON: the error quotes the event
        {"error": {"message": f"you sent Bearer {KEY}"}},  # an error event naming no status
        {"error": {"message": f"you sent Bearer {KEY}", "code": 400}},
        {"error": {"message": f"you sent Bearer {KEY}", "code": 503}},
    ],
)
async def test_key_echoed_inside_the_stream_is_in_no_part_of_the_error(
    gateway: Gateway, event: object, caplog: pytest.LogCaptureFixture
) -> None:
    """An echo inside the stream was masked in the error's message, but the exception that
    carried it unmasked (the stream's own) stayed the error's ``__context__``."""
    caplog.set_level(logging.DEBUG, logger="livekit")
    gateway._verify = False
    gateway.replies += [Reply(events=[event], done=False)] * 2  # type: ignore[list-item]
    model = hosted.LLM.self_hosted("m", base_url=gateway.url, api_key=KEY, backend="vllm")
    error = await _fail(model, RETRY_ONCE)
    assert "Bearer ***" in str(error)
    assert_hidden(texts_of(error), KEY)
    assert_hidden(log_texts(caplog), KEY)
    await model.aclose()


# -- a malformed HTTP response that echoes the request -----------------------------------------


Respond = Callable[[dict[str, str]], bytes]


class Raw:
    """A loopback TCP server that reads each request and writes bytes of its own making:
    the malformed responses no HTTP framework would send. ``requests`` counts arrivals."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.requests = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Raw:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")[1:]
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines if h)
            }
            await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests += 1
            writer.write(self.respond(headers))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def illegal_header_line(headers: dict[str, str]) -> bytes:
    """A response whose header block holds the request's own Authorization line without its
    name: h11 refuses it as an illegal header line and quotes the line."""
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        + headers.get("authorization", "none").encode()
        + b"\r\n\r\n"
    )


async def _fail(model: hosted.LLM, opts: APIConnectOptions) -> APIError:
    with pytest.raises(APIError) as info:
        await model.chat(chat_ctx=user_ctx(), conn_options=opts).collect()
    return info.value


async def test_key_in_a_malformed_response_is_masked_in_the_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``str(error)`` read "... (caused by RemoteProtocolError: illegal header line:
    b'Bearer sk-...')": the framework prints the root cause, and the cause was the
    transport's own exception, quoting the response. The cause still names the fault."""
    caplog.set_level(logging.DEBUG, logger="livekit")
    async with Raw(illegal_header_line) as raw:
        model = hosted.LLM.self_hosted("m", base_url=raw.url, api_key=KEY, backend="vllm")
        error = await _fail(model, RETRY_ONCE)
        await model.aclose()
    assert isinstance(error, APIConnectionError)
    assert "RemoteProtocolError" in str(error) and "illegal header line" in str(error)
    assert "Bearer ***" in str(error)
    assert_hidden(texts_of(error), KEY)
    assert_hidden(log_texts(caplog), KEY)


async def test_token_in_a_malformed_response_is_masked_on_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's line repeated the root cause, signed token and all."""
    monkeypatch.setenv("LIVEKIT_API_KEY", API_KEY)
    monkeypatch.setenv("LIVEKIT_API_SECRET", API_SECRET)
    async with Raw(illegal_header_line) as raw:
        monkeypatch.setenv("LIVEKIT_INFERENCE_URL", raw.url)
        code = await asyncio.to_thread(main, ["chat", "Hi", "--retries", "1"])
    out, err = capsys.readouterr()
    assert code == 1 and "illegal header line" in out + err
    assert "Bearer ***" in out + err and "Bearer ey" not in out + err


@pytest.mark.parametrize("retries", [0, 1])
async def test_malformed_response_is_not_sent_again_at_once(retries: int) -> None:
    """A malformed (here: unclosed header block) response was sent again at once, on the
    kept-alive connection's rule, even with ``max_retry=0``: only a connection closed with
    no response at all is. The framework's retries alone decide."""
    async with Raw(lambda _headers: b"HTTP/1.1 200 OK\r\nContent-Type: text/event") as raw:
        model = hosted.LLM.self_hosted("m", base_url=raw.url, backend="vllm")
        opts = APIConnectOptions(max_retry=retries, retry_interval=0.0, timeout=5)
        error = await _fail(model, opts)
        await model.aclose()
    assert isinstance(error, APIConnectionError)
    assert raw.requests == retries + 1


def test_credentials_are_picked_by_name_and_keep_their_scheme() -> None:
    """What is masked of a request: the values under credential-looking names, the scheme of
    an ``Authorization``-style value left out (an echo still reads ``Bearer ***``)."""
    sent = [
        ("Authorization", "Bearer tok-123456789"),
        ("Proxy-Authorization", "Basic dXNlcjpwYXNz"),
        ("X-Api-Key", "k-with space inside"),
        ("X-LiveKit-Worker-Token", "wt-987654321"),
        ("X-LiveKit-Room-ID", "RM_1"),
        ("Accept", "text/event-stream"),
        ("api-key", "q-1234"),
    ]
    assert redact.credentials(sent) == (
        "tok-123456789",
        "dXNlcjpwYXNz",
        "user:pass",  # Basic auth as a proxy that decoded it repeats it
        "pass",
        "k-with space inside",
        "wt-987654321",
        "q-1234",
    )


def test_digest_parameters_the_server_chose_are_not_taken_for_credentials() -> None:
    """Every part of a Digest header was masked, so a server's ``POST /v1/chat/completions``
    read ``POST ***``: the request's uri, the realm, the server's nonce and the counters are
    not secrets; the response and the client nonce are."""
    header = (
        'Digest username="bot", realm="api@example", nonce="n0nce-abcdef12", '
        'uri="/v1/chat/completions", qop=auth, nc=00000001, cnonce="c-0123456789", '
        'response="r-0123456789abcdef"'
    )
    found = redact.credentials([("Authorization", header)])
    assert "r-0123456789abcdef" in found and "c-0123456789" in found
    assert not {"/v1/chat/completions", "api@example", "n0nce-abcdef12", "00000001"} & set(found)
