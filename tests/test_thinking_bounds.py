"""What a server can make ``max_thinking_time`` hold, and what it refuses (issue 22).

Memory is measured as bytes read or characters kept while the server's part grows 4x, never
as the process's size or by the clock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
import pytest
from aiohttp import web
from livekit.agents import APIConnectOptions

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted import thinking
from livekit_plugins_hosted.backends import VLLM
from livekit_plugins_hosted.parsing import THOUGHT_KEPT, ChunkParser, ThinkFilter
from tests.gateway import serve, user_ctx
from tests.thinking_engines import ANSWER, ThinkingEngine

ONCE = APIConnectOptions(max_retry=0, timeout=10)
HIGH: dict[str, Any] = {"reasoning_effort": "high"}
MIB = 1024 * 1024


class _Counted(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, seen: list[int]) -> None:
        self._inner = inner
        self._seen = seen

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._seen[0] += len(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts the response bytes the client pulled off the wire (``read``)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.seen = [0]

    @property
    def read(self) -> int:
        return self.seen[0]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_Counted(response.stream, self.seen),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _huge_answers(size: int) -> tuple[web.AppRunner, str]:
    """A server whose control and tokenize answers are ``size`` bytes of JSON string."""

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"message": "')
        block = b"x" * (256 * 1024)
        for _ in range(size // len(block)):
            await response.write(block)
        await response.write(b'"}')
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions/control", huge)
    app.router.add_post("/tokenize", huge)
    return await serve(app)


@pytest.mark.parametrize("which", ["control", "probe"])
async def test_control_and_probe_answers_are_read_capped(which: str) -> None:
    """A control or probe answer 4x larger is read no further: what is read stays under the cap
    (plus one read), and the answer is taken as no answer."""
    read: list[int] = []
    for size in (8 * MIB, 32 * MIB):
        runner, url = await _huge_answers(size)
        transport = CountingTransport()
        try:
            async with httpx.AsyncClient(transport=transport) as client:
                if which == "control":
                    why = await thinking.end_reasoning(
                        client, url, {}, completion_id="c1", model="m"
                    )
                    assert why is not None
                else:
                    renders = await thinking.renders(
                        client,
                        url,
                        {},
                        model="m",
                        way=VLLM.continuation,  # type: ignore[arg-type]
                    )
                    assert not renders
        finally:
            await runner.cleanup()
        read.append(transport.read)
    limit = thinking.ANSWER_LIMIT + 2 * 256 * 1024  # per request: the cap and one more read
    requests = 1 if which == "control" else 2
    assert all(n <= requests * limit for n in read), read


def test_a_long_thought_is_kept_bounded() -> None:
    """Thought kept to continue from stays under THOUGHT_KEPT while the thought grows 4x; past
    it nothing is kept (the reply is asked again instead of continued)."""
    kept: list[int] = []
    for n in (THOUGHT_KEPT // 1024 * 2, THOUGHT_KEPT // 1024 * 8):
        parser = ChunkParser((("<think>", "</think>"),))
        parser.keep_thought()
        most = 0
        for _ in range(n):
            obj = {"id": "c", "choices": [{"index": 0, "delta": {"reasoning": "x" * 1023 + " "}}]}
            parser.feed(obj)
            most = max(most, parser.kept)
        kept.append(most)
        assert parser.thought() == ""
    assert all(k <= THOUGHT_KEPT for k in kept), kept


@pytest.mark.parametrize("pad", [500, 2000])
async def test_a_long_thought_is_not_sent_back(pad: int) -> None:
    """A fast server's thought of 512 KiB and of 2 MiB (4x) before the deadline: neither is
    given back in the second request, which stays small (the question asked again)."""
    async with ThinkingEngine("vllm", step=0.0, pad=pad, pause_after=1024) as engine:
        model = hosted.LLM.self_hosted(
            "google/gemma-4-31B-it",
            base_url=engine.url,
            backend="vllm",
            extra_kwargs=HIGH,
            max_thinking_time=2.0,  # slack for the stand-in to write every delta first
        )
        try:
            heard: list[str] = []
            async with (
                asyncio.timeout(8.0),
                model.chat(chat_ctx=user_ctx(), conn_options=ONCE) as stream,
            ):
                async for chunk in stream:
                    if chunk.delta is not None and chunk.delta.content:
                        heard.append(chunk.delta.content)
        finally:
            await model.aclose()
    assert "".join(heard) == "".join(ANSWER)
    assert len(engine.completions[0].thought_text) >= 1024 * pad
    second = engine.completions[1]
    assert len(json.dumps(second.body)) < 16 * 1024
    assert second.mode == "answer"


def test_a_thought_the_prompt_opened_is_held_bounded() -> None:
    """A DeepSeek-R1-style thought the prompt opened, never closed, as it grows 4x: what is
    held to release stays under THOUGHT_KEPT, and past it nothing is released at the end."""
    for n in (THOUGHT_KEPT // 1024 * 2, THOUGHT_KEPT // 1024 * 8):
        gate = ThinkFilter((("<think>", "</think>"),), opened=("<think>", "</think>"))
        most = 0
        for _ in range(n):
            assert gate.feed("y" * 1023 + " ") == ""
            most = max(most, gate.held)
        assert most <= THOUGHT_KEPT
        assert gate.feed("", final=True) == ""


class _HalfHangs(ThinkingEngine):
    """vLLM whose ``/tokenize`` answers the short probe 503 at once and never the long one
    (until the test ends); it counts the probe requests it still holds open."""

    def __init__(self, release: asyncio.Event) -> None:
        super().__init__("vllm", think_for=0.5)
        self.release = release
        self.held = 0

    async def _tokenize(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body["messages"][-1]["reasoning"] == "ok":
            return web.json_response({"error": {"message": "overloaded"}}, status=503)
        self.held += 1
        try:
            await self.release.wait()
        finally:
            self.held -= 1
            self._note()
        return web.json_response({"count": 1})


def _probe_tasks() -> list[asyncio.Task[Any]]:
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and "renders" in getattr(t.get_coro(), "__qualname__", "")
    ]


async def test_a_probe_half_that_hangs_is_not_left_running() -> None:
    """The rendering probe's short half fails at once and its long half hangs: the long one
    went on after the turn, holding a request open on the server until the client's read
    timeout (10 s), on every turn (a failed probe is asked again). Once the turn is over,
    nothing of the probe runs and the server holds none of its requests."""
    release = asyncio.Event()
    async with _HalfHangs(release) as engine:
        model = hosted.LLM.self_hosted(
            "google/gemma-4-31B-it",
            base_url=engine.url,
            backend="vllm",
            extra_kwargs=HIGH,
            max_thinking_time=1.0,
        )
        try:
            reply = await asyncio.wait_for(
                model.chat(chat_ctx=user_ctx(), conn_options=ONCE).collect(), 8.0
            )
            assert reply.text == "".join(ANSWER)
            await engine.wait(lambda: engine.held == 0, within=3.0, what="the probe's end")
            assert _probe_tasks() == []
        finally:
            release.set()
            await model.aclose()
