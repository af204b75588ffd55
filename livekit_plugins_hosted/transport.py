"""httpx's exceptions as the framework's, never repeating a credential; a connection the
server had closed told from a malformed response; a response that is not 2xx, its body read
capped (:class:`HTTPStatus`).

The framework's ``APIConnectionError`` prints its root cause (``... (caused by
RemoteProtocolError: illegal header line: b'...')``), and so do the command line and every log
line with a traceback. A transport error's text may quote bytes the server sent (a malformed
response that echoes the request, key included) or that were about to be sent (an illegal
header: the key itself). So the cause is never the transport's own exception: it is a copy
of the same type whose text is scrubbed, with no chain of its own, or none at all where the
text quotes the request.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

import httpx2 as httpx
from livekit.agents import APIConnectionError, APIError, APITimeoutError

from . import faults
from .sse import read_capped

_ROWS: tuple[tuple[type[httpx.RequestError], type[APIError], str], ...] = (
    # the first row that matches wins: the more specific exceptions come first
    (
        httpx.ConnectTimeout,
        APIConnectionError,
        "connection to {url} not established within {connect}s",
    ),
    (httpx.PoolTimeout, APITimeoutError, "no free connection to {url} within {pool}s"),
    (httpx.TimeoutException, APITimeoutError, "no response from {url} within {read}s"),
    (httpx.DecodingError, APIConnectionError, "undecodable response from {url}: {error}"),
    (httpx.RequestError, APIConnectionError, "connection to {url} failed: {name}"),
)
"""httpx's exceptions as the framework's: (httpx class, framework class, message)."""

CAUSE_LIMIT = 200
"""Characters of a transport error's text kept (it may quote a whole response line)."""


def transport_error(
    e: httpx.RequestError,
    *,
    url: str,
    timeout: Mapping[str, float | None],
    retryable: bool,
    scrub: Callable[[str], str],
) -> tuple[APIError, BaseException | None]:
    """The framework's error for a transport failure, and the cause to raise it from:
    ``raise error from cause``, outside the ``except`` that caught ``e``, so that ``e``
    (whose text is not scrubbed) is not in the chain either."""
    api_error, template = next((a, t) for k, a, t in _ROWS if isinstance(e, k))
    said = scrub(faults.clip(str(e), CAUSE_LIMIT))
    text = template.format(
        url=url,
        name=type(e).__name__,
        error=said,
        **{k: f"{v:g}" if v is not None else "unlimited" for k, v in timeout.items()},
    )
    error = api_error(text, retryable=retryable)
    if isinstance(e, httpx.LocalProtocolError):
        # its text quotes what was about to be sent (an illegal header: the key itself,
        # perhaps one no endpoint knows of): not repeated at all
        return error, None
    return error, _copy(e, said)


def _copy(e: httpx.RequestError, text: str) -> BaseException:
    """``e``'s type with ``text``: the cause the framework names, without ``e``'s chain."""
    try:
        return type(e)(text)
    except TypeError:  # a subclass that takes other arguments: the text alone
        return httpx.RequestError(text)


_CONNECTING = (".connect_tcp.started", ".connect_unix_socket.started")
_STREAM_READY = (".connect_tcp.complete", ".connect_unix_socket.complete", ".start_tls.complete")
_RECEIVING = ".receive_response_headers.started"

_receiving: ContextVar[Connection | None] = ContextVar("hosted_receiving", default=None)
"""The request whose response the current task is reading (set by its trace)."""

_counted: weakref.WeakSet[object] = weakref.WeakSet()
"""Network streams whose reads are counted (see :func:`_count_reads`)."""


class Connection:
    """One request's connection, as httpx's ``trace`` request extension reports it: whether
    a connection was opened for it (else a kept-alive one was reused), and what was read of
    its response on a connection a traced request opened: ``counted`` once a read was seen,
    ``received`` the bytes read."""

    __slots__ = ("counted", "opened", "received")

    def __init__(self) -> None:
        self.opened = False
        self.counted = False
        self.received = 0

    async def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        if event.endswith(_CONNECTING):
            self.opened = True
        elif event.endswith(_STREAM_READY):
            _count_reads(info.get("return_value"))
        elif event.endswith(_RECEIVING):
            # the trace is awaited in the task that reads the response: its context is that
            # task's, so the reads that follow find this request
            _receiving.set(self)


def _count_reads(stream: object) -> None:
    """Wrap the ``read`` of a network stream the transport just opened (its public
    interface, as the trace hands it over) so that each read is credited to the request being
    received: a response cut after some bytes (half a status line) must not pass for a
    connection closed while idle. A stream that cannot be wrapped is never counted, and a
    request on it is then never sent again at once."""
    read = getattr(stream, "read", None)
    try:
        if read is None or stream in _counted:
            return
    except TypeError:  # a stream that takes no weak reference: not counted
        return

    # the signature of httpcore's AsyncNetworkStream.read, which it calls with timeout=
    async def counting(max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        data: bytes = await read(max_bytes, timeout)
        if (request := _receiving.get()) is not None:
            request.counted = True
            request.received += len(data)
        return data

    try:
        setattr(stream, "read", counting)  # noqa: B010 (a method replaced on one instance)
        _counted.add(stream)
    except (AttributeError, TypeError):
        pass


def idle_closed(e: httpx.RemoteProtocolError, connection: Connection) -> bool:
    """Whether ``e`` is a kept-alive connection the server had closed while it was idle (as
    llama-server does after 5 s), found as it was reused: not one byte of a response was
    read, so sending again at once, on a fresh connection, is safe. A connection opened for
    the request that ends without an answer, a response cut after some bytes (httpcore says
    "without sending a response" of those too), or a connection whose reads were not seen,
    is a fault the framework's retries judge."""
    return (
        not connection.opened
        and connection.counted
        and connection.received == 0
        and "without sending a response" in str(e)
    )


@dataclasses.dataclass(frozen=True)
class Fault:
    """A status the server answered with (4xx/5xx/3xx) or named in an error event."""

    status: int
    headers: Mapping[str, str]
    body: object
    reason: str = ""
    request_id: str | None = None


class HTTPStatus(Exception):
    """A response that is not 2xx; its body read up to ``faults.ERROR_BODY_LIMIT`` bytes."""

    def __init__(self, fault: Fault) -> None:
        self.fault = fault

    @classmethod
    async def read(cls, response: httpx.Response) -> HTTPStatus:
        content, truncated = await read_capped(response, faults.ERROR_BODY_LIMIT)
        return cls(
            Fault(
                status=response.status_code,
                headers=response.headers,
                body=faults.read_body(content, truncated=truncated),
                reason=response.reason_phrase,
                request_id=response.headers.get("x-request-id"),
            )
        )
