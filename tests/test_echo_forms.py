"""A credential echoed in another form than it was sent is masked too (review of issue 22).

A server repeats what it received as it received it: a query value percent-encoded (the raw
request line), a key with ``/`` JSON-escaped as ``\\/`` (PHP's default). Masking reads a
server's text, which is hostile: its work grows with the text's length, never with the text
times a secret's length, and a huge error body is not walked string by string. Credentials
held by the objects a stream keeps never show in their ``repr`` (a traceback that records
locals, as Sentry's default does, prints them).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import AsyncIterator

import httpx2 as httpx
import pytest
from aiohttp import web
from livekit.agents import APIConnectOptions, APIError, APIStatusError

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted import auth, redact
from livekit_plugins_hosted.faults import ERROR_BODY_LIMIT
from tests.gateway import Gateway, Reply, gateway_llm, serve, user_ctx
from tests.test_echoes import texts_of
from tests.thinking_engines import ThinkingEngine

ONE_TRY = APIConnectOptions(max_retry=0, timeout=5)


class RawPathEcho:
    """A server that repeats the request line as it came, query percent-encoded, in its
    error's message and its ``x-request-id``."""

    url = ""

    async def __aenter__(self) -> RawPathEcho:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._echo)
        self._runner, self.url = await serve(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    lower_escapes = False
    """Write the path's percent-escapes in lower case (``%2b``), as some proxies do."""

    async def _echo(self, request: web.Request) -> web.Response:
        path = request.raw_path
        if self.lower_escapes:
            first, *rest = path.split("%")
            path = first + "".join(f"%{part[:2].lower()}{part[2:]}" for part in rest)
        return web.json_response(
            {"error": {"message": f"refused: POST {path}"}},
            status=400,
            headers={"x-request-id": f"req {path}"},
        )


@pytest.fixture
async def raw_echo() -> AsyncIterator[RawPathEcho]:
    async with RawPathEcho() as server:
        yield server


@pytest.mark.parametrize(
    "params",
    [
        {"api-key": "AbC+dEf/GhI=jKl012345"},  # percent-encoded in the request line
        {"sig": "sas-signature-0123456789abcdef"},  # Azure SAS
        {"code": "azfunc-key-0123456789abcdef"},  # Azure Functions
    ],
)
async def test_a_query_credential_is_masked_encoded_and_under_any_name(
    raw_echo: RawPathEcho, params: dict[str, str]
) -> None:
    """An ``http_client`` query credential came back whole in the error's message and its
    ``request_id`` when it was echoed percent-encoded, or when its name (``sig``, ``code``)
    was not one the plugin took for a credential's."""
    (secret,) = params.values()
    client = httpx.AsyncClient(params=params)
    model = hosted.LLM.self_hosted("m", base_url=raw_echo.url, backend="vllm", http_client=client)
    with pytest.raises(APIStatusError) as info:
        await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    error = info.value
    assert "=***" in error.message and error.request_id is not None and "***" in error.request_id
    encoded = str(httpx.QueryParams(params)).partition("=")[2]
    for text in texts_of(error):
        assert secret not in text and encoded not in text and secret[:8] not in text
    await model.aclose()
    await client.aclose()


async def test_a_query_credential_echoed_with_lower_case_escapes_is_masked(
    raw_echo: RawPathEcho,
) -> None:
    """Echoed with its percent-escapes in lower case (``%2b``, ``%2f``, ``%3d``), a query
    credential was masked only up to its first escape, the rest shown."""
    secret = "AbC+dEf/GhI=jKl012345"
    raw_echo.lower_escapes = True
    client = httpx.AsyncClient(params={"api-key": secret})
    model = hosted.LLM.self_hosted("m", base_url=raw_echo.url, backend="vllm", http_client=client)
    with pytest.raises(APIStatusError) as info:
        await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    for text in texts_of(info.value):
        assert "GhI" not in text and "jKl012345" not in text, text
    assert "=***" in info.value.message
    await model.aclose()
    await client.aclose()


async def test_a_key_echoed_with_escaped_slashes_in_a_long_body_is_masked(
    gateway: Gateway,
) -> None:
    """A body over 8 KB is kept as text, its escapes never decoded: a key with ``/`` echoed
    as ``\\/`` (PHP's JSON default) was masked only up to the first ``/``, the rest shown."""
    key = "Zm9vYmFy/c2VjcmV0+a2V5LTAxMjM0NTY3ODk="
    gateway._verify = False
    escaped = key.replace("/", "\\/")
    echo = '{"error":"bad","headers":{"authorization":"Bearer ' + escaped + '"},"body":"'
    gateway.replies.append(Reply(status=400, frames=[(echo + "x" * 9000 + '"}').encode()]))
    model = hosted.LLM.self_hosted("m", base_url=gateway.url, api_key=key, backend="vllm")
    with pytest.raises(APIStatusError) as info:
        await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    assert '"Bearer ***"' in info.value.message
    for text in texts_of(info.value):
        assert key.split("/", 1)[1] not in text and key[:8] not in text
    await model.aclose()


SPLIT_KEY = "sk-live-0123456789abcdefghij-KLMNOPQRSTUVWXYZ"
HEAD, TAIL = SPLIT_KEY[:20], SPLIT_KEY[20:]


@pytest.mark.parametrize(
    "frame",
    [
        # an error event in plain text, its data lines wrapped mid-key
        f"event: error\ndata: denied for Bearer {HEAD}\ndata: {TAIL}\n\n",
        # a JSON error wrapped inside its string: not JSON once the lines are joined
        f'data: {{"error": {{"message": "denied for Bearer {HEAD}\ndata: {TAIL}"}}}}\n\n',
    ],
    ids=["error-text", "json-broken"],
)
async def test_a_key_split_across_an_events_data_lines_is_masked(
    gateway: Gateway, frame: str
) -> None:
    """A server that wraps long lines echoed the key across two ``data:`` lines: they are
    joined with a line feed, and only the key's beginning was masked, its last 25 characters
    shown in ``str(error)``. The whole key is masked."""
    gateway._verify = False
    gateway.replies.append(Reply(frames=[b": hi\n\n", frame.encode()]))
    model = hosted.LLM.self_hosted("m", base_url=gateway.url, backend="vllm", api_key=SPLIT_KEY)
    with pytest.raises(APIError) as info:
        await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    await model.aclose()
    assert "Bearer ***" in str(info.value)
    for text in texts_of(info.value):
        assert TAIL[:8] not in text and HEAD[:8] not in text, text


SLASHED_KEY = "Zm9vYmFy/c2VjcmV0+a2V5LTAxMjM0NTY3ODk="


@pytest.mark.parametrize(
    "frame",
    [
        # a JSON error event cut short (not JSON)
        'data: {"error": {"message": "bad", "headers": {"authorization": "Bearer '
        + SLASHED_KEY.replace("/", "\\/")
        + '"\n\n',
        # an error event whose data is the echo as text
        'event: error\ndata: "authorization": "Bearer ' + SLASHED_KEY.replace("/", "\\/") + '"\n\n',
    ],
    ids=["cut-short", "error-text"],
)
async def test_an_escaped_key_quoted_from_an_event_that_is_not_json_is_masked(
    gateway: Gateway, frame: str
) -> None:
    """A key with ``/`` echoed as ``\\/`` (PHP's JSON default) in an event that is not JSON:
    the error quotes the event with ``repr``, which doubles the backslash, and all but the
    key's first 8 characters showed in ``str(error)``. The whole key is masked."""
    gateway._verify = False
    gateway.replies.append(Reply(frames=[frame.encode()]))
    model = hosted.LLM.self_hosted("m", base_url=gateway.url, backend="vllm", api_key=SLASHED_KEY)
    with pytest.raises(APIError) as info:
        await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    await model.aclose()
    assert "Bearer ***" in str(info.value)
    for text in texts_of(info.value):
        assert SLASHED_KEY.split("/", 1)[1] not in text, text


def test_a_secret_is_masked_across_line_ends_and_as_repr_quotes_it() -> None:
    """The masker itself: a secret broken by a line end (LF, CRLF), or rendered by ``repr``
    after JSON escaping (backslashes doubled), is replaced whole; a short placeholder value
    across a line end is two lines' words, left alone."""
    assert redact.scrub(f"for {HEAD}\n{TAIL}.", [SPLIT_KEY]) == "for ***."
    assert redact.scrub(f"{HEAD[:10]}\r\n{HEAD[10:]}\n{TAIL}", [SPLIT_KEY]) == "***"
    escaped = repr("Bearer " + SLASHED_KEY.replace("/", "\\/"))
    assert redact.scrub(escaped, [SLASHED_KEY]) == "'Bearer ***'"
    assert redact.scrub("ab\ncd", ["abcd"]) == "ab\ncd"


def _masking_work(text: str, secrets: list[str]) -> int:
    masker = redact.Masker(secrets)
    masker.mask(text)
    return masker.work


SECRET = "eyJ" + "w" * 400  # a worker token's length
HOSTILE = {
    # each a near-miss of the secret: its beginning, then a wrong character
    "beginnings": lambda n: (SECRET[:200] + "!") * (n // 201),
    "anchors": lambda n: SECRET[:8] * (n // 8),
    "plain": lambda n: "x" * n,
    "cut_secrets": lambda n: (SECRET[:-1] + " ") * (n // len(SECRET)),
    # line ends: many short lines, and near-misses broken across them
    "line_ends": lambda n: "a\n" * (n // 2),
    "broken_beginnings": lambda n: (SECRET[:100] + "\n" + SECRET[100:200] + "!") * (n // 202),
}


@pytest.mark.parametrize("shape", HOSTILE)
def test_masking_work_is_linear_in_the_text(shape: str) -> None:
    """Masking tried every beginning of every secret against the text, 400 scans of it for
    a worker token: one 4 MB error event held the event loop for 23 s. The characters
    examined are now a small multiple of the text's length, and 4x the text is 4x the work."""
    secrets = [SECRET, "sk-self-hosted-0123456789abcdef", "query-key-1q2w3e4r5t6y"]
    n = 32 * 1024
    small = _masking_work(HOSTILE[shape](n), secrets)
    large = _masking_work(HOSTILE[shape](4 * n), secrets)
    assert small <= 32 * n  # the forms of three secrets, each at most a few passes
    assert large <= 4.5 * small


async def test_a_huge_error_event_is_masked_within_the_body_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One error event of about 4 MB had each of its 780,000 strings masked against every
    form of every credential (the event loop stalled for 23-38 s inside a job). What is
    masked (and kept in the error's body) is now bounded by the error body limit, whatever
    the event's size."""
    monkeypatch.setattr(auth, "job_headers", lambda **_: {"X-LiveKit-Worker-Token": SECRET})
    masked: list[int] = []
    mask = redact.Masker.mask

    def counted(self: redact.Masker, text: str) -> str:
        masked.append(len(text))
        return mask(self, text)

    monkeypatch.setattr(redact.Masker, "mask", counted)
    for items in (195_000, 780_000):
        masked.clear()
        async with Gateway() as gw:
            junk = ["a"] * items
            gw.replies.append(
                Reply(events=[{"error": {"message": "x", "code": 400, "junk": junk}}])
            )
            model = gateway_llm(gw)
            with pytest.raises(APIError) as info:
                await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
            await model.aclose()
        assert len(masked) <= 8 and sum(masked) <= 4 * ERROR_BODY_LIMIT
        assert isinstance(info.value, APIStatusError)
        assert len(repr(info.value.body)) <= 2 * ERROR_BODY_LIMIT


async def test_no_credential_in_the_reprs_of_what_a_stream_holds() -> None:
    """``repr`` of the stream's ``Wire`` (a dataclass, also a local of every attempt) showed
    the ``http_client``'s ``X-Api-Key`` and query key: a traceback that records locals
    (Sentry's default) recorded them."""
    client = httpx.AsyncClient(
        headers={"X-Api-Key": "client-api-key-5a4b3c2d1e0f"},
        params={"api-key": "query-key-1q2w3e4r5t6y"},
    )
    model = hosted.LLM.self_hosted(
        "m",
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-self-hosted-0123456789abcdef",
        backend="vllm",
        http_client=client,
    )
    stream = model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY)
    shown = repr(stream._wire) + repr(stream._plan) + repr(vars(stream))
    await stream.aclose()
    await model.aclose()
    await client.aclose()
    for secret in ("client-api-key-5a4b3c2d1e0f", "query-key-1q2w3e4r5t6y", "0123456789abcdef"):
        assert secret not in shown


class Signing(httpx.Auth):
    """A client ``auth`` that signs each request anew (request signing, Digest): every
    request carries a credential of its own."""

    def __init__(self) -> None:
        self.sent = 0

    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        self.sent += 1
        request.headers["X-Signature"] = f"sig-{self.sent:04d}-9f8e7d6c5b4a3210"
        yield request


class HeldEcho:
    """A server that echoes each request's signature in a 400; the first request's body is
    held (its headers sent) until :attr:`release` is set."""

    url = ""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self._first = True

    async def __aenter__(self) -> HeldEcho:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._echo)
        self._runner, self.url = await serve(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        await self._runner.cleanup()

    async def _echo(self, request: web.Request) -> web.StreamResponse:
        body = {"error": {"message": f"refused: X-Signature {request.headers['X-Signature']}"}}
        if not self._first:
            return web.json_response(body, status=400)
        self._first = False
        response = web.StreamResponse(status=400, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        async with asyncio.timeout(10):
            await self.release.wait()
        await response.write(json.dumps(body).encode())
        await response.write_eof()
        return response


async def test_a_per_request_credential_is_masked_however_many_requests_follow() -> None:
    """Of credentials that change with every request (a client ``auth`` that signs each
    one), only the last 8 sent were remembered: a request whose error came after more than
    8 others had been sent showed its own signature unmasked. Each request's credentials
    now mask its own errors, however many others were sent meanwhile."""
    answered = asyncio.Event()

    async def on_response(response: httpx.Response) -> None:
        answered.set()  # the first request's headers are in: what it sent is known

    signing = Signing()
    client = httpx.AsyncClient(auth=signing, event_hooks={"response": [on_response]})
    async with HeldEcho() as server:
        model = hosted.LLM.self_hosted("m", base_url=server.url, backend="vllm", http_client=client)
        first = asyncio.create_task(model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect())
        async with asyncio.timeout(10):
            await answered.wait()
        for _ in range(12):  # each sent and failed while the first is still being read
            with pytest.raises(APIStatusError) as other:
                await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
            assert "X-Signature ***" in other.value.message
        server.release.set()
        with pytest.raises(APIStatusError) as info:
            async with asyncio.timeout(10):
                await first
        await model.aclose()
    await client.aclose()
    assert signing.sent == 13
    assert "X-Signature ***" in info.value.message
    for text in texts_of(info.value):
        assert "sig-0001" not in text, text


SESSION = "s3cr3t-session-0123456789abcdef"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Cookie", f"theme=dark; session={SESSION}"),
        ("Authorization", f'Digest username="bot", nonce="n0nce-1234", response="{SESSION}"'),
    ],
)
async def test_one_part_of_a_cookie_or_digest_credential_echoed_alone_is_masked(
    header: str, value: str
) -> None:
    """A session cookie (or a Digest response) given through ``http_client`` was known only as
    the whole header: a server saying ``session <id> expired`` showed the id in the error's
    text, request id and body. Each part's value is masked, and a short setting such as
    ``theme=dark`` is left readable."""
    async with Gateway(verify_jwt=False) as gw:
        gw.replies.append(
            Reply.error(
                401,
                f"session {SESSION} expired (theme dark)",
                headers={"x-request-id": f"r1 session={SESSION}"},
            )
        )
        async with httpx.AsyncClient(headers={header: value}) as client:
            model = hosted.LLM.self_hosted("m", base_url=gw.url, backend="vllm", http_client=client)
            with pytest.raises(APIError) as info:
                await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
            await model.aclose()
    shown = texts_of(info.value)
    assert not any(SESSION in text for text in shown), shown[0]
    assert "(theme dark)" in str(info.value)


class _ControlEchoes(ThinkingEngine):
    """llama-server behind a proxy that refuses the control request, repeating its header."""

    async def _control(self, request: web.Request) -> web.Response:
        await request.read()
        said = f"denied for {request.headers.get('Authorization', '')}"
        return web.json_response({"success": False, "message": said})


class _TokenPerRequest(httpx.Auth):
    """A token signed afresh for each request (an OAuth client, a signing proxy)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        token = uuid.uuid4().hex + uuid.uuid4().hex
        self.sent.append(token)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


async def test_a_control_requests_own_credential_is_masked_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The control request for ``max_thinking_time`` carries its own credential when the
    client's ``auth`` signs each request; a refusal that echoes it was logged at WARNING with
    the whole token. The log line is still there, with the token masked."""
    caplog.set_level(logging.DEBUG)
    auth = _TokenPerRequest()
    async with _ControlEchoes("llama.cpp") as engine, httpx.AsyncClient(auth=auth) as client:
        model = hosted.LLM.self_hosted(
            "unsloth/gemma-4-31b-it-GGUF:Q4_K_M",
            base_url=engine.url,
            backend="llama.cpp",
            extra_kwargs={"reasoning_effort": "high"},
            max_thinking_time=1.0,
            http_client=client,
        )
        await model.chat(chat_ctx=user_ctx("q"), conn_options=ONE_TRY).collect()
        await model.aclose()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "denied for Bearer ***" in logged
    assert len(auth.sent) >= 2 and not [t for t in auth.sent if t in logged]


class _SignedCopy(httpx.Auth):
    """An auth that sends a signed copy of the request (``auth_flow`` may yield any request)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        token = uuid.uuid4().hex + uuid.uuid4().hex
        self.sent.append(token)
        headers = {**request.headers, "Authorization": f"Bearer {token}"}
        yield httpx.Request(
            request.method,
            request.url,
            headers=headers,
            content=request.content,
            extensions=request.extensions,
        )


async def _echo_authorization(request: web.Request) -> web.Response:
    said = request.headers.get("Authorization", "")
    return web.json_response(
        {"error": {"message": f"token rejected: {said}"}},
        status=401,
        headers={"x-request-id": f"r1 {said}"},
    )


async def test_the_credential_of_a_signed_copy_the_client_sent_is_masked() -> None:
    """The plugin read the credentials off the request it built, while the client's auth
    sent a signed copy: a 401 repeating its token showed it in the error's text, request id
    and body. What was actually sent is masked."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _echo_authorization)
    runner, url = await serve(app)
    auth = _SignedCopy()
    try:
        async with httpx.AsyncClient(auth=auth) as client:
            model = hosted.LLM.self_hosted("m", base_url=url, backend="vllm", http_client=client)
            with pytest.raises(APIError) as info:
                await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
            await model.aclose()
    finally:
        await runner.cleanup()
    shown = texts_of(info.value)
    assert auth.sent and "token rejected: Bearer ***" in str(info.value)
    assert not any(token in text for token in auth.sent for text in shown), shown[0]


async def _echo_basic_decoded(request: web.Request) -> web.Response:
    said = request.headers.get("Authorization", "").removeprefix("Basic ")
    decoded = base64.b64decode(said).decode()
    return web.json_response({"error": {"message": f"invalid credentials {decoded}"}}, status=401)


@pytest.mark.parametrize(
    ("user", "password", "secret"),
    [
        ("alice", "pw-0123456789abcdefXYZ", "pw-0123456789abcdefXYZ"),
        ("sk-key-as-user-0123456789", "", "sk-key-as-user-0123456789"),  # curl -u KEY:
    ],
    ids=["password", "key-as-user"],
)
async def test_a_basic_auth_password_a_proxy_decoded_is_masked(
    user: str, password: str, secret: str
) -> None:
    """Basic auth given through ``http_client`` was masked only as sent (base64), so a proxy
    repeating what it decoded (``alice:<password>``) showed the password, which anyone can
    decode from the request anyway. The decoded pair and the password are masked, or the
    user name when it is the key and the password is empty."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _echo_basic_decoded)
    runner, url = await serve(app)
    try:
        async with httpx.AsyncClient(auth=(user, password)) as client:
            model = hosted.LLM.self_hosted("m", base_url=url, backend="vllm", http_client=client)
            with pytest.raises(APIError) as info:
                await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
            await model.aclose()
    finally:
        await runner.cleanup()
    shown = texts_of(info.value)
    assert "invalid credentials ***" in str(info.value)
    assert not any(secret in text for text in shown), shown[0]
