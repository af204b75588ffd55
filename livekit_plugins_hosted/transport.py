"""httpx's exceptions as the framework's, never repeating a credential; a connection the
server had closed told from a malformed response.

The framework's ``APIConnectionError`` prints its root cause (``... (caused by
RemoteProtocolError: illegal header line: b'...')``), and so do the command line and every log
line with a traceback. A transport error's text may quote bytes the server sent (a malformed
response that echoes the request, key included) or that were about to be sent (an illegal
header: the key itself). So the cause is never the transport's own exception: it is a copy
of the same type whose text is scrubbed, with no chain of its own, or none at all where the
text quotes the request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx2 as httpx
from livekit.agents import APIConnectionError, APIError, APITimeoutError

from . import faults

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


class Connection:
    """One request's connection, as httpx's ``trace`` request extension reports it: whether
    a connection was opened for it (else a kept-alive one was reused)."""

    __slots__ = ("opened",)

    def __init__(self) -> None:
        self.opened = False

    async def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        if event.endswith(_CONNECTING):
            self.opened = True


def idle_closed(e: httpx.RemoteProtocolError, connection: Connection) -> bool:
    """Whether ``e`` is a kept-alive connection the server had closed while it was idle (as
    llama-server does after 5 s), found as it was reused: nothing was read, so sending again
    at once, on a fresh connection, is safe. A connection opened for the request that ends
    without an answer, or a malformed response, is a fault the framework's retries judge."""
    return not connection.opened and "without sending a response" in str(e)
