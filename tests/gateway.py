"""A real HTTP server on loopback standing for the LiveKit Inference gateway.

It stands at the network edge only: it verifies the bearer JWT with the API secret (as the
gateway does: signature, issuer, expiry, the inference grant), records every request, and
answers each one from a queue of scripted replies (by default a short streamed completion).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from livekit import api
from livekit.agents.llm import ChatContext
from multidict import CIMultiDict

import livekit_plugins_hosted as hosted

API_KEY = "APItestkey"
API_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


def completion_chunks(
    text_parts: list[str],
    *,
    id: str = "chatcmpl-test-1",
    finish_reason: str = "stop",
    usage: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The chunks of a streamed completion that says ``text_parts`` one part per chunk."""
    chunks: list[dict[str, Any]] = [
        {
            "id": id,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": part}}],
        }
        for part in text_parts
    ]
    chunks.append(
        {
            "id": id,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}],
        }
    )
    chunks.append(
        {
            "id": id,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [],
            "usage": usage
            or {
                "prompt_tokens": 11,
                "completion_tokens": len(text_parts),
                "total_tokens": 11 + len(text_parts),
            },
        }
    )
    return chunks


@dataclass
class Reply:
    """One scripted answer: a status with a JSON body, or a 200 SSE stream of events."""

    status: int = 200
    events: list[dict[str, Any] | str] = field(default_factory=list)
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_between: float = 0.0
    done: bool = True
    stall_after: int | None = None
    """Stop sending (but keep the connection open) after this many events."""
    linger: bool = False
    """Keep the body open after ``[DONE]`` (until the client hangs up)."""
    crlf: bool = False
    """End lines with CRLF, as some servers do."""
    fragmented: bool = False
    """Write each event in two pieces split mid-line (a line arrives across two reads)."""
    frames: list[bytes] | None = None
    """The body's bytes, written as they are, one write each, with ``status`` and ``headers``
    (a hostile or unusual server); nothing is added, not even ``[DONE]``. A list may repeat
    one bytes object, so that a huge body costs the test no memory."""

    @classmethod
    def text(cls, *parts: str, **kw: Any) -> Reply:
        return cls(events=list(completion_chunks(list(parts))), **kw)

    @classmethod
    def error(cls, status: int, message: str = "error", **kw: Any) -> Reply:
        return cls(status=status, body={"error": {"message": message, "type": "error"}}, **kw)


async def serve(app: web.Application, **runner: Any) -> tuple[web.AppRunner, str]:
    """``app`` on a free loopback port: its runner (``cleanup()`` stops it) and its ``/v1`` URL;
    ``shutdown_timeout`` bounds teardown."""
    started = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, **runner)
    await started.setup()
    site = web.TCPSite(started, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return started, f"http://127.0.0.1:{port}/v1"


SAYS_HI: list[dict[str, Any]] = [
    {"id": "x", "choices": [{"index": 0, "delta": {"content": "Hi."}}]}
]
"""The events of a reply that says "Hi." (no finish reason: ``[DONE]`` ends it)."""


async def stream_events(
    request: web.Request,
    events: list[dict[str, Any]],
    response: web.StreamResponse | None = None,
) -> web.StreamResponse:
    """Answer ``request`` with ``events`` as a server-sent event stream, then ``[DONE]``
    (``response``: one already given headers or cookies, not yet prepared)."""
    if response is None:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for event in events:
        await response.write(f"data: {json.dumps(event)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    return response


@dataclass
class Recorded:
    path: str
    headers: CIMultiDict[str]
    """Case-insensitive, as HTTP headers are."""
    body: dict[str, Any] | None
    claims: api.Claims | None
    at: float = 0.0
    """time.monotonic() when the request arrived."""
    query: str = ""
    """The query string, as sent."""
    client_port: int | None = None
    """The client's port: requests with the same one came on one kept-alive connection."""


class Gateway:
    """The loopback gateway; use as ``async with Gateway() as gw: gw.url``."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
        verify_jwt: bool = True,
        default: Callable[[dict[str, Any]], Reply] | None = None,
    ) -> None:
        self._verifier = api.TokenVerifier(api_key, api_secret)
        self._verify = verify_jwt
        self.replies: list[Reply] = []
        self.requests: list[Recorded] = []
        self.models_reply: Reply | None = None
        """How ``GET /v1/models`` answers, every time (default: a 200 models list)."""
        self.disconnects = 0
        self.disconnect_times: list[float] = []
        self._default = default or (lambda _body: Reply.text("Hello", " from", " the", " gateway."))
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._closing = asyncio.Event()
        self._disconnected = asyncio.Event()

    async def __aenter__(self) -> Gateway:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        # handler_cancellation: a client that hangs up cancels its handler, as a real server
        # notices the disconnect; shutdown_timeout bounds teardown.
        self._runner, self.url = await serve(app, handler_cancellation=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        self._closing.set()
        await self._runner.cleanup()

    def _auth(self, request: web.Request) -> tuple[api.Claims | None, web.Response | None]:
        if not self._verify:
            return None, None
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None, web.json_response({"error": {"message": "missing token"}}, status=401)
        try:
            claims = self._verifier.verify(header.removeprefix("Bearer "))
        except Exception as e:  # any verification failure is a 401, as at the gateway
            return None, web.json_response(
                {"error": {"message": f"bad token: {type(e).__name__}"}}, status=401
            )
        if not (claims.inference and claims.inference.perform):
            return None, web.json_response({"error": {"message": "no inference grant"}}, status=403)
        return claims, None

    async def _models(self, request: web.Request) -> web.StreamResponse:
        claims, denied = self._auth(request)
        self.requests.append(
            Recorded(request.path, CIMultiDict(request.headers), None, claims, time.monotonic())
        )
        if denied is not None:
            return denied
        if (reply := self.models_reply) is not None:
            if reply.frames is not None:
                return await self._write_frames(request, reply)
            return web.json_response(reply.body or {}, status=reply.status, headers=reply.headers)
        return web.json_response(
            {"object": "list", "data": [{"id": "google/gemma-4-31b-it", "object": "model"}]}
        )

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/json":  # as FastAPI-based servers do
            return web.json_response(
                {"error": {"message": f"expected JSON, got {request.content_type!r}"}}, status=400
            )
        body = await request.json()
        claims, denied = self._auth(request)
        self.requests.append(
            Recorded(
                request.path,
                CIMultiDict(request.headers),
                body,
                claims,
                time.monotonic(),
                query=request.query_string,
                client_port=_client_port(request),
            )
        )
        if denied is not None:
            return denied
        reply = self.replies.pop(0) if self.replies else self._default(body)
        if reply.frames is not None:
            return await self._write_frames(request, reply)
        if reply.status != 200:
            return web.json_response(reply.body or {}, status=reply.status, headers=reply.headers)
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream", **reply.headers}
        )
        await resp.prepare(request)
        try:
            for i, ev in enumerate(reply.events):
                if reply.stall_after is not None and i >= reply.stall_after:
                    await self._closing.wait()  # silent until the client or the test gives up
                    break
                data = ev if isinstance(ev, str) else json.dumps(ev)
                nl = "\r\n" if reply.crlf else "\n"
                frame = f": keep-alive comment{nl}data: {data}{nl}{nl}".encode()
                if reply.fragmented:
                    half = len(frame) // 2
                    await resp.write(frame[:half])
                    await asyncio.sleep(0.005)
                    frame = frame[half:]
                await resp.write(frame)
                if reply.delay_between:
                    await asyncio.sleep(reply.delay_between)
            if reply.done:
                await resp.write(b"data: [DONE]\n\n")
            if reply.linger:
                await self._closing.wait()
        except (ConnectionResetError, asyncio.CancelledError):
            self._hung_up()
            raise
        return resp

    def _hung_up(self) -> None:
        """A client hung up on a stream: counted, timed, and any waiter woken."""
        self.disconnects += 1
        self.disconnect_times.append(time.monotonic())
        self._disconnected.set()

    async def _write_frames(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        assert reply.frames is not None
        resp = web.StreamResponse(
            status=reply.status, headers={"Content-Type": "text/event-stream", **reply.headers}
        )
        await resp.prepare(request)
        try:
            for frame in reply.frames:
                await resp.write(frame)
        except (ConnectionResetError, asyncio.CancelledError):
            # the client stopped reading (a size cap) and hung up
            self._hung_up()
            raise
        return resp

    async def wait_disconnects(self, n: int = 1, *, within: float = 5.0) -> None:
        """Until clients have hung up on ``n`` streams; ``TimeoutError`` after ``within`` s."""
        async with asyncio.timeout(within):
            while self.disconnects < n:
                self._disconnected.clear()
                await self._disconnected.wait()

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the completion requests, in order."""
        return [r.body for r in self.requests if r.body is not None]


def _client_port(request: web.Request) -> int | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return peer[1] if peer else None


def user_ctx(text: str = "Hello") -> ChatContext:
    """A chat context with one user message."""
    ctx = ChatContext()
    ctx.add_message(role="user", content=text)
    return ctx


def gateway_llm(gw: Gateway, **kw: Any) -> hosted.LLM:
    """``hosted.LLM`` for Gemma 4 pointed at the loopback gateway with its credentials."""
    return hosted.LLM(
        "google/gemma-4-31b-it", base_url=gw.url, api_key=API_KEY, api_secret=API_SECRET, **kw
    )


def delta_chunks(
    deltas: list[dict[str, Any]], *, id: str = "chatcmpl-test-1", finish_reason: str = "stop"
) -> list[dict[str, Any]]:
    """The chunks of a streamed completion, one per ``delta`` object, then finish and usage."""
    chunks = completion_chunks([], id=id, finish_reason=finish_reason)
    return [
        {
            "id": id,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": delta}],
        }
        for delta in deltas
    ] + chunks


def reasoning_chunks(
    thought: list[str], answer: list[str], *, field: str = "reasoning_content"
) -> list[dict[str, Any]]:
    """A completion that thinks ``thought`` in ``delta.<field>``, then says ``answer``."""
    return delta_chunks([{field: part} for part in thought] + [{"content": a} for a in answer])


def tool_call_chunks(
    name: str, arguments: str, *, call_id: str = "call_1", id: str = "chatcmpl-tool-1"
) -> list[dict[str, Any]]:
    """A completion that calls one tool: its name first, then its arguments in two fragments."""
    half = len(arguments) // 2
    return delta_chunks(
        [
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            },
            {"tool_calls": [{"index": 0, "function": {"arguments": arguments[:half]}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]},
        ],
        id=id,
        finish_reason="tool_calls",
    )
