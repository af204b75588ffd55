"""Reading a completion stream off the wire: server-sent events on bytes, then JSON events.

The event stream is read as the WHATWG rules say ("Interpreting an event stream", HTML
§9.2.6), on bytes, never on ``str`` lines (``str.splitlines`` also splits at U+2028, U+2029,
U+0085, which JSON strings may hold unescaped):

* a line ends at CR, LF or CRLF only (a CR ending one read and an LF starting the next are
  one line end);
* the stream is UTF-8 whatever charset a header claims; invalid bytes become U+FFFD;
* one leading byte-order mark is dropped (a second one is content);
* a line starting with ``:`` is a comment; ``data`` lines are joined with LF; a blank line
  ends the event; an event without a ``data`` line is not dispatched.

Deviations, each for the completion stream's sake: an event left open when the stream ends
is dispatched by :meth:`SSEReader.flush` (the spec drops it; servers end with
``data: [DONE]`` and no blank line), ``id`` and ``retry`` are not kept (there is no
reconnection), and an event whose data is empty or only line feeds (``data`` lines with no
value) is a keep-alive some relays send, skipped by :class:`CompletionEvents`.

Sizes are capped (:data:`MAX_LINE`, :data:`MAX_EVENT`): no real chunk comes near them, and a
server that never ends a line or an event would otherwise grow memory without limit.

Exceptions: :class:`StreamError` (the server sent something that is not a valid completion
stream, or an error event; ``retryable`` says whether asking again may help).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2 as httpx

from . import faults

MAX_LINE = 4 * 1024 * 1024
"""Bytes one line may hold (a real completion chunk is a few hundred)."""
MAX_EVENT = 4 * 1024 * 1024
"""Bytes of ``data`` one event may hold (each line counted 64 bytes more)."""


class StreamError(Exception):
    """The server sent something that is not a valid completion stream.

    ``status_code``: the HTTP status an error event names (its ``code``, read as
    :func:`faults.status_of_error` reads it), else ``None``. ``retryable``: ``False`` when
    asking again would only repeat it (a stream past a size cap).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: object = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body
        self.retryable = retryable


_BOM = b"\xef\xbb\xbf"
_LINE_COST = 64
"""Bytes counted for each ``data`` line beyond its own (a bytes object and its list slot)."""


class SSEReader:
    """Server-sent events from a stream's bytes, as ``(event, data)`` pairs.

    ``feed`` takes the bytes of one read, in any pieces, and returns the events they complete;
    ``event`` is ``""`` when the event names none. :class:`StreamError` (not retryable) past
    ``max_line`` bytes in one line or ``max_event`` bytes of data in one event.
    """

    __slots__ = (
        "_cr",
        "_data",
        "_event",
        "_max_event",
        "_max_line",
        "_parts",
        "_pending",
        "_size",
        "_start",
    )

    def __init__(self, *, max_line: int = MAX_LINE, max_event: int = MAX_EVENT) -> None:
        self._parts: list[bytes] = []
        """A line begun but not ended, in the pieces it came in (joined once it ends)."""
        self._pending = 0
        self._data: list[bytes] = []
        self._size = 0
        self._event = b""
        self._cr = False
        """The last read ended with CR: an LF starting the next one ends no further line."""
        self._start = True
        """Nothing read yet but perhaps the beginning of a byte-order mark."""
        self._max_line = max_line
        self._max_event = max_event

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        """The events that ``chunk`` completes."""
        if self._start:
            if self._parts:  # the beginning of a BOM came alone
                chunk = b"".join((*self._parts, chunk))
                self._parts, self._pending = [], 0
            if len(chunk) < 3 and _BOM.startswith(chunk):
                if chunk:
                    self._parts, self._pending = [chunk], len(chunk)
                return []
            self._start = False
            if chunk.startswith(_BOM):
                chunk = chunk[3:]
        if self._cr:
            if not chunk:
                return []
            self._cr = False
            if chunk[0] == 10:
                chunk = chunk[1:]
        if b"\r" in chunk:  # rare: most servers end lines with LF alone
            self._cr = chunk[-1] == 13
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in chunk:
            if chunk:
                self._parts.append(chunk)
                self._pending += len(chunk)
                if self._pending > self._max_line:
                    self._too_long()
            return []
        if self._parts:
            self._parts.append(chunk)
            chunk = b"".join(self._parts)
            self._parts, self._pending = [], 0
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if rest:
            self._parts, self._pending = [rest], len(rest)
            if len(rest) > self._max_line:
                self._too_long()
        out: list[tuple[str, str]] = []
        for line in lines:
            if line:
                self._line(line)
            elif self._data:
                out.append(self._dispatch())
            else:
                self._event = b""
        return out

    def flush(self) -> tuple[str, str] | None:
        """At the end of the stream: the event left open, if any (see the module docstring)."""
        if self._parts and not self._start:
            line = b"".join(self._parts)
            self._parts, self._pending = [], 0
            self._line(line)
        if self._data:
            return self._dispatch()
        self._event = b""
        return None

    def _line(self, line: bytes) -> None:
        if line[:6] == b"data: ":  # the usual form, first
            value = line[6:]
        elif line[0] == 58:  # ":" a comment
            return
        else:
            name, colon, value = line.partition(b":")
            if colon and value[:1] == b" ":
                value = value[1:]
            if name == b"event":
                self._event = value
                return
            if name != b"data":
                return  # id, retry (no reconnection here) and unknown fields
        self._data.append(value)
        # a line costs memory beyond its bytes: counted, so that a flood of tiny data lines
        # is bounded as tightly as one big line
        self._size += len(value) + _LINE_COST
        if self._size > self._max_event:
            raise StreamError(
                f"a stream event of more than {self._max_event} bytes (no blank line ends it)",
                retryable=False,
            )

    def _dispatch(self) -> tuple[str, str]:
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event = self._event.decode("utf-8", "replace") if self._event else ""
        self._data, self._size, self._event = [], 0, b""
        return event, data.decode("utf-8", "replace")

    def _too_long(self) -> None:
        raise StreamError(
            f"a stream line of more than {self._max_line} bytes (no line end)", retryable=False
        )


def _as_is(text: str) -> str:
    return text


def decode_event(
    event: str, data: str, scrub: Callable[[str], str] = _as_is
) -> dict[str, Any] | None:
    """The JSON object of one event; ``None`` for ``[DONE]``; ``StreamError`` if malformed or
    an error event (its ``code`` read as an HTTP status would be, see
    :func:`faults.status_of_error`). ``scrub`` masks the server's words an error quotes before
    they are quoted: ``repr`` doubles each backslash, which would hide an escaped secret from
    a masking of the error's text."""
    if data == "[DONE]":
        return None
    try:
        obj = json.loads(data)
    except ValueError:
        if event == "error":  # an error all the same, whatever its data
            said = scrub(faults.clip(data.strip()))
            raise StreamError(f"error event in stream: {said!r}") from None
        raise StreamError(f"malformed stream event (not JSON): {scrub(data[:200])!r}") from None
    except RecursionError:
        said = scrub(data[:50])
        raise StreamError(f"malformed stream event (nested too deeply): {said!r}") from None
    if not isinstance(obj, dict):
        raise StreamError(f"malformed stream event (not an object): {scrub(data[:200])!r}")
    if event == "error" or obj.get("error") is not None:
        err = obj.get("error", obj)
        message = err.get("message") if isinstance(err, dict) else err
        raise StreamError(
            f"error event in stream: {scrub(faults.clip(str(message)))}",
            status_code=faults.status_of_error(err),
            body=obj,
        )
    return obj


def _keep_alive(data: str) -> bool:
    """An event with no JSON to read: empty data, or data lines with no value (the data is
    then only the line feeds that join them: the WHATWG example's ``data\\ndata\\n\\n``)."""
    # a real chunk starts with "{" or "[DONE]": only data that starts with LF is looked at
    return not data or (data[0] == "\n" and not data.strip("\n"))


class CompletionEvents:
    """The JSON objects of one chat-completion stream, read from the response's bytes.

    Iterate :meth:`objects`; afterwards ``done`` says whether ``[DONE]`` ended it (else the
    body simply ended). Events with empty data or only line feeds (keep-alives) are skipped.

    ``idle``: seconds the stream may go on with keep-alives and comments only, no event to
    read, before :class:`StreamError` ends it. A read timeout never fires while bytes arrive,
    so without it a server (or a relay) that sends keep-alives forever after the first words
    would hold the turn open for ever. ``scrub``: as for :func:`decode_event`.
    """

    __slots__ = ("_chunks", "_idle", "_reader", "_scrub", "done")

    def __init__(
        self,
        response: httpx.Response,
        reader: SSEReader | None = None,
        *,
        idle: float | None = None,
        scrub: Callable[[str], str] = _as_is,
    ) -> None:
        self._chunks = response.aiter_bytes()
        self._reader = reader or SSEReader()
        self._idle = idle
        self._scrub = scrub
        self.done = False

    async def objects(self) -> AsyncIterator[dict[str, Any]]:
        """Each event's object, up to ``[DONE]`` or the end of the body."""
        feed = self._reader.feed
        idle = self._idle
        clock = asyncio.get_running_loop().time
        seen = 0  # events read
        quiet_since, quiet_seen = 0.0, -1  # when reads with no event began, and the count then
        async for chunk in self._chunks:
            before = seen
            for event, data in feed(chunk):
                # per chunk, so the cheap test first; an error event without JSON is still an
                # error (skipped, the reply would end at [DONE] as if complete, cut short)
                if (not data or (data[0] == "\n" and _keep_alive(data))) and event != "error":
                    continue
                obj = decode_event(event, data, self._scrub)
                if obj is None:
                    self.done = True
                    return
                seen += 1
                yield obj
            if seen == before and idle is not None:
                # a read with no event in it (a keep-alive, a comment, part of a line): only
                # then is the clock read, so a steady stream pays nothing for the bound
                now = clock()
                if seen != quiet_seen:  # the first such read since the last event
                    quiet_since, quiet_seen = now, seen
                elif now - quiet_since > idle:
                    raise StreamError(
                        f"only keep-alives from the server for {idle:g}s, no event "
                        "(the read timeout)"
                    )
        last = self._reader.flush()
        if last is not None and (last[0] == "error" or not _keep_alive(last[1])):
            obj = decode_event(*last, self._scrub)
            if obj is None:
                self.done = True
                return
            yield obj

    async def drain(self) -> None:
        """Read what follows ``[DONE]`` (normally nothing) so the connection can be reused.

        The reply is complete by then: the caller bounds the wait, and a server that keeps the
        body open only costs the connection (a transport error here is not the caller's).
        """
        with contextlib.suppress(httpx.RequestError):
            async for _ in self._chunks:
                pass


async def read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of a response's body, and whether there was more."""
    parts: list[bytes] = []
    size = 0
    async with contextlib.aclosing(response.aiter_bytes()) as chunks:
        async for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(parts)[:limit], True
    return b"".join(parts), False
