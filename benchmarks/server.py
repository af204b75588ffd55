"""A loopback OpenAI-compatible streaming server for the benchmark, run as its own process.

Standard library only (a raw asyncio HTTP/1.1 server, keep-alive, chunked transfer), so that
its own cost is small and it can be started by path with the benchmark's interpreter::

    python benchmarks/server.py [--port 0] [--max-seconds 3600] [--max-hold 60]

It prints ``PORT <n>`` on stdout once it listens on 127.0.0.1, accepts any bearer token, and
answers ``POST .../chat/completions`` with a ``text/event-stream`` of ``chat.completion.chunk``
events: N content chunks (chunk ``i`` says ``expected_text``'s ``i``-th word), a finish chunk,
a usage chunk and ``data: [DONE]``. ``GET .../models`` answers a one-model list;
``GET /stats`` the connections accepted and requests served so far (not counted themselves).

The stream's shape comes from the path in front of ``/v1``, so each client is configured by
its ``base_url`` alone (every peer, plugin or raw, takes a ``base_url``)::

    /b/<n>/<gap_us>/v1          n content chunks, gap_us microseconds between consecutive
                                chunks (0: written back to back)
    /b/<n>/<gap_us>/hold/v1     the first chunk, then nothing until the client disconnects or
                                --max-hold seconds pass, then the rest
    /b/think/<ms>/<step_ms>/v1  a thinking model as llama-server streams it: a thought in
                                ``reasoning_content`` deltas (``thought_word(i)``), one every
                                step_ms for ms milliseconds, then the answer
                                (``think_answer()``, a word a chunk), a finish chunk, usage,
                                ``[DONE]``; every chunk carries the same completion ``id``
    /v1                         /b/8/0/v1

A request whose ``model`` is ``"pause"`` is held the same way, whatever its path (not on the
thinking shape).

On the thinking shape, a request that says ``"reasoning_control": true`` can have its thought
ended early, as llama-server's can: ``POST .../v1/chat/completions/control`` with
``{"id": <the streamed id>, "action": "reasoning_end"}`` while the thought runs is answered
``{"success": true}`` and the answer follows at once in the same stream. Any other control
request (unknown id, a request without ``reasoning_control``, a thought already over, another
action) is answered 404 ``{"success": false, "message": ...}``. The control request comes on a
connection of its own while the stream is open (every connection is served concurrently).

The process exits by itself when its parent dies (``os.getppid()`` changes, polled), when
stdin reaches end of file (the parent closed the pipe), or after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import selectors
import stat
import subprocess
import sys
import time
from collections.abc import Iterator

CHUNK_ID = "chatcmpl-bench"
_PATH = re.compile(r"^(?:/b/(\d+)/(\d+)(/hold)?)?(?:/v1)?/(chat/completions|models|stats)/?$")
_THINK = re.compile(
    r"^/b/think/(\d+)/(\d+)(?:/v1)?/(chat/completions/control|chat/completions|models)/?$"
)
_MAX_N = 100_000
THINK_ANSWER = ("Sure, ", "the ", "answer ", "is ", "ready.")
"""The answer of the thinking shape, one content delta per word."""


def word(i: int) -> str:
    """The content delta of chunk ``i``."""
    return f"w{i} "


def expected_text(n: int) -> str:
    """The full text of a stream of ``n`` content chunks."""
    return "".join(word(i) for i in range(n))


def thought_word(i: int) -> str:
    """The ``reasoning_content`` delta of thought chunk ``i`` (thinking shape)."""
    return f"t{i} "


def think_answer() -> str:
    """The full spoken text of a thinking-shape stream: the answer, no thought."""
    return "".join(THINK_ANSWER)


def _event(obj: dict[str, object]) -> bytes:
    data = b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _base(choices: list[dict[str, object]]) -> dict[str, object]:
    return {
        "id": CHUNK_ID,
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench",
        "choices": choices,
    }


_cache: dict[int, tuple[list[bytes], bytes]] = {}


def frames(n: int) -> tuple[list[bytes], bytes]:
    """The chunked-encoding frames of a stream: one per content chunk, then the tail."""
    got = _cache.get(n)
    if got is not None:
        return got
    content = [
        _event(
            _base(
                [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": word(i)},
                        "finish_reason": None,
                    }
                ]
            )
        )
        for i in range(n)
    ]
    tail = (
        _event(_base([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        + _event(
            {
                **_base([]),
                "usage": {"prompt_tokens": 12, "completion_tokens": n, "total_tokens": 12 + n},
            }
        )
        + b"%x\r\n%s\r\n" % (len(b"data: [DONE]\n\n"), b"data: [DONE]\n\n")
        + b"0\r\n\r\n"
    )
    _cache[n] = (content, tail)
    return content, tail


_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"x-request-id: req-bench\r\n"
)


def _plain(status: str, body: bytes, keep_alive: bool) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    ).encode() + body


async def _answer(writer: asyncio.StreamWriter, status: str, body: bytes, keep_alive: bool) -> bool:
    """Write a whole plain response; whether the connection stays open."""
    writer.write(_plain(status, body, keep_alive))
    await writer.drain()
    return keep_alive


class Server:
    def __init__(self, max_hold: float) -> None:
        self.max_hold = max_hold
        self.connections = 0
        self.requests = 0
        self.completions = 0
        """Completion requests (``POST .../chat/completions``), of every shape."""
        self.reasoning_ends = 0
        """Control requests that ended a running thought."""
        self._thoughts: dict[str, asyncio.Event] = {}
        """Completion id -> set to end its thought: the thoughts running now, of requests
        that had ``"reasoning_control": true``."""
        self._think_seq = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; whether the connection stays open for another."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = ([*lines[0].split(" "), "", "", ""])[:3]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        body = await reader.readexactly(length) if length else b""
        keep_alive = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        path = target.split("?", 1)[0]
        if (t := _THINK.match(path)) is not None:
            return await self._think(t, method, body, writer, keep_alive)
        m = _PATH.match(path)
        if m is None:
            return await _answer(
                writer, "404 Not Found", b'{"error":{"message":"not found"}}', keep_alive
            )
        n = min(int(m.group(1) or 8), _MAX_N)
        gap = int(m.group(2) or 0) / 1e6
        hold = m.group(3) is not None
        if m.group(4) == "stats":
            self.connections -= 1  # not counted itself
            stats = {
                "connections": self.connections,
                "requests": self.requests,
                "completions": self.completions,
                "reasoning_ends": self.reasoning_ends,
            }
            return await _answer(writer, "200 OK", json.dumps(stats).encode(), keep_alive)
        self.requests += 1
        if m.group(4) == "models":
            return await _answer(
                writer, "200 OK", b'{"object":"list","data":[{"id":"bench"}]}', keep_alive
            )
        if method != "POST":
            return await _answer(writer, "405 Method Not Allowed", b"{}", keep_alive)
        self.completions += 1
        request: object = {}
        # parsed only when it can say "pause": a long conversation's body (~100 KiB) would
        # otherwise cost the server ~1 ms per request, on the same 2 cores as the clients
        if b'"pause"' in body:
            try:
                request = json.loads(body)
            except ValueError:
                request = {}
        if isinstance(request, dict) and request.get("model") == "pause":
            hold = True
        content, tail = frames(n)
        writer.write(
            _SSE_HEAD
            + (b"Connection: keep-alive\r\n\r\n" if keep_alive else b"Connection: close\r\n\r\n")
        )
        for i, frame in enumerate(content):
            writer.write(frame)
            if i == 0 and hold:
                await writer.drain()
                # nothing more until the client goes away (read returns b"") or the bound
                end = time.monotonic() + self.max_hold
                with contextlib.suppress(asyncio.TimeoutError):
                    while await asyncio.wait_for(
                        reader.read(65536), max(end - time.monotonic(), 0.001)
                    ):
                        pass
                    return False  # the client disconnected
            if gap:
                await asyncio.sleep(gap)
            elif i % 64 == 63:
                await writer.drain()
        writer.write(tail)
        await writer.drain()
        return keep_alive

    # -- the thinking shape ----------------------------------------------------------------

    async def _think(
        self,
        m: re.Match[str],
        method: str,
        body: bytes,
        writer: asyncio.StreamWriter,
        keep_alive: bool,
    ) -> bool:
        """``/b/think/<ms>/<step_ms>/v1/...``: the thinking stream, its control route, models."""
        route = m.group(3)
        self.requests += 1
        if route == "models":
            return await _answer(
                writer, "200 OK", b'{"object":"list","data":[{"id":"bench"}]}', keep_alive
            )
        if method != "POST":
            return await _answer(writer, "405 Method Not Allowed", b"{}", keep_alive)
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return await _answer(
                writer, "400 Bad Request", b'{"error":{"message":"not JSON"}}', keep_alive
            )
        if route == "chat/completions/control":
            writer.write(self._control(request, keep_alive))
            await writer.drain()
            return keep_alive
        self.completions += 1
        think = min(int(m.group(1)) / 1e3, self.max_hold)
        step = max(int(m.group(2)), 1) / 1e3
        self._think_seq += 1
        cid = f"chatcmpl-think-{self._think_seq}"
        ended = asyncio.Event()
        if request.get("reasoning_control") is True:
            self._thoughts[cid] = ended
        try:
            writer.write(
                _SSE_HEAD
                + (
                    b"Connection: keep-alive\r\n\r\n"
                    if keep_alive
                    else b"Connection: close\r\n\r\n"
                )
            )
            # llama-server's first chunk: the role, content null
            writer.write(_think_event(cid, {"role": "assistant", "content": None}))
            loop = asyncio.get_running_loop()
            start = loop.time()
            end = start + think
            i = 0
            while not ended.is_set() and loop.time() < end:
                writer.write(_think_event(cid, {"reasoning_content": thought_word(i)}))
                await writer.drain()
                i += 1
                wake = min(start + i * step, end)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), max(wake - loop.time(), 0.0))
        finally:
            # over (or the client went away): a control request now is answered 404
            self._thoughts.pop(cid, None)
        for w in THINK_ANSWER:
            writer.write(_think_event(cid, {"content": w}))
        writer.write(_think_event(cid, {}, finish="stop"))
        n = i + len(THINK_ANSWER)
        usage = {"prompt_tokens": 12, "completion_tokens": n, "total_tokens": 12 + n}
        writer.write(_event({**_base([]), "id": cid, "usage": usage}))
        writer.write(
            b"%x\r\n%s\r\n" % (len(b"data: [DONE]\n\n"), b"data: [DONE]\n\n") + b"0\r\n\r\n"
        )
        await writer.drain()
        return keep_alive

    def _control(self, request: dict[str, object], keep_alive: bool) -> bytes:
        """llama-server's ``POST /v1/chat/completions/control``: ``reasoning_end``."""
        cid = request.get("id")
        ended = self._thoughts.get(cid) if isinstance(cid, str) else None
        if request.get("action") != "reasoning_end" or ended is None:
            said = {"success": False, "message": "no running thought with this id to end"}
            return _plain("404 Not Found", json.dumps(said).encode(), keep_alive)
        ended.set()
        self.reasoning_ends += 1
        return _plain("200 OK", b'{"success":true}', keep_alive)


def _think_event(cid: str, delta: dict[str, object], finish: str | None = None) -> bytes:
    return _event({**_base([{"index": 0, "delta": delta, "finish_reason": finish}]), "id": cid})


async def _watch_parent(parent: int, deadline: float) -> None:
    while True:
        if os.getppid() != parent or time.monotonic() > deadline:
            os._exit(0)
        await asyncio.sleep(0.5)


async def _watch_stdin() -> None:
    try:
        if not stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
            return  # not a pipe (started by hand): parent polling only
    except (OSError, ValueError, AttributeError):
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (ValueError, OSError):
        return
    while await reader.read(4096):
        pass
    os._exit(0)


async def serve(port: int, max_seconds: float, max_hold: float) -> None:
    server = Server(max_hold)
    srv = await asyncio.start_server(server.handle, "127.0.0.1", port, backlog=1024)
    real_port = srv.sockets[0].getsockname()[1]
    print(f"PORT {real_port}", flush=True)
    watchers = [
        asyncio.create_task(_watch_parent(os.getppid(), time.monotonic() + max_seconds)),
        asyncio.create_task(_watch_stdin()),
    ]
    async with srv:
        await srv.serve_forever()
    del watchers


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--max-seconds", type=float, default=3600.0, help="exit after this long")
    p.add_argument("--max-hold", type=float, default=60.0, help="bound of a held stream (s)")
    a = p.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(a.port, a.max_seconds, a.max_hold))


@contextlib.contextmanager
def server_process(
    *, max_seconds: float = 3600.0, max_hold: float = 60.0, startup_timeout: float = 15.0
) -> Iterator[str]:
    """Start this file as a child process; yield ``http://127.0.0.1:<port>``; always end it."""
    proc = subprocess.Popen(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--max-seconds",
            str(max_seconds),
            "--max-hold",
            str(max_hold),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(startup_timeout):
            raise RuntimeError(f"benchmark server did not start within {startup_timeout}s")
        line = proc.stdout.readline().decode().strip()
        sel.close()
        if not line.startswith("PORT "):
            raise RuntimeError(f"benchmark server failed to start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


async def stats(base: str) -> dict[str, int]:
    """The server's counters (``GET /stats`` on a connection of its own): ``connections``,
    ``requests``, ``completions`` and ``reasoning_ends`` (thoughts ended by a control
    request)."""
    host, port = base.rsplit("/", 1)[-1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET /stats HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    counters: dict[str, int] = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    return counters


def url(base: str, n: int, gap_us: int = 0, *, hold: bool = False) -> str:
    """The ``base_url`` (ending in ``/v1``) of a stream of ``n`` chunks."""
    return f"{base}/b/{n}/{gap_us}{'/hold' if hold else ''}/v1"


def think_url(base: str, think_ms: int, step_ms: int) -> str:
    """The ``base_url`` (ending in ``/v1``) of a thinking stream: ``think_ms`` of thought, a
    ``reasoning_content`` delta every ``step_ms``, then :func:`think_answer`."""
    return f"{base}/b/think/{think_ms}/{step_ms}/v1"


if __name__ == "__main__":
    main()
