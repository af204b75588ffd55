"""The answer that begins just as ``max_thinking_time`` ends the thought is said once.

The deadline may be decided while the answer's first chunk is already on its way (in the
socket, in the reader's buffer). Whatever the order, the caller hears one answer: the first
response's (the deadline came too late to cut it) or the second request's (the first was cut
before any of its answer was read), never both and never a mix.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web
from livekit.agents import APIConnectOptions, llm

import livekit_plugins_hosted as hosted
from tests.gateway import Gateway, Reply, serve

ONCE = APIConnectOptions(max_retry=0, timeout=10)
DEADLINE = 0.5


def _reasoning(text: str) -> dict[str, Any]:
    return {"id": "c1", "choices": [{"index": 0, "delta": {"reasoning": text}}]}


def _content(text: str, finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": {"content": text}, "finish_reason": finish}
    return {"id": "c1", "choices": [choice]}


async def _hear(model: hosted.LLM) -> tuple[str, hosted.LLMStream]:
    """One turn: what the caller heard, and the stream."""
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="Hi")
    heard: list[str] = []
    async with model.chat(chat_ctx=ctx, conn_options=ONCE) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                heard.append(chunk.delta.content)
    return "".join(heard), stream


@pytest.mark.parametrize("lead", [-0.04, -0.02, -0.01, 0.0, 0.01, 0.02, 0.04])
async def test_an_answer_at_the_deadline_is_heard_once(lead: float) -> None:
    """Thought until about the deadline (shifted by ``lead`` seconds), then the whole answer in
    one burst; an Ollama-like server answers the re-ask with a different answer."""
    step = 0.02
    n = max(1, round((DEADLINE + lead) / step))
    first = Reply(
        events=[
            *(_reasoning("hm ") for _ in range(n)),
            _content("First"),
            _content(" one.", "stop"),
        ],
        delay_between=step,
    )
    async with Gateway(verify_jwt=False) as server:
        server.replies += [first, Reply.text("Second", " one.")]
        model = hosted.LLM.self_hosted(
            "google/gemma-4-31b-it",
            base_url=server.url,
            backend="ollama",
            max_thinking_time=DEADLINE,
            extra_kwargs={"reasoning_effort": "high"},
        )
        try:
            said, _ = await _hear(model)
        finally:
            await model.aclose()
        asked = len(server.bodies)
    assert said in ("First one.", "Second one."), said
    assert (said == "Second one.") == (asked == 2), (said, asked)


async def test_a_burst_after_the_deadline_is_cut_before_its_answer_is_read() -> None:
    """Nothing comes until after the deadline, then the thought's first chunk and the whole
    answer in one write: the thought is seen past the deadline, so the response is cut at once
    and the answer already in the buffer is never read; the second request's answer is the
    one heard."""
    bodies: list[dict[str, Any]] = []

    async def completions(request: web.Request) -> web.StreamResponse:
        bodies.append(await request.json())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if len(bodies) == 1:
            await asyncio.sleep(DEADLINE + 0.2)
            burst = [_reasoning("hm "), _content("First"), _content(" one.", "stop")]
        else:
            burst = [_content("Second"), _content(" one.", "stop")]
        frames = "".join(f"data: {json.dumps(e)}\n\n" for e in burst) + "data: [DONE]\n\n"
        await response.write(frames.encode())
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    runner, url = await serve(app)
    model = hosted.LLM.self_hosted(
        "google/gemma-4-31b-it",
        base_url=url,
        backend="ollama",
        max_thinking_time=DEADLINE,
        extra_kwargs={"reasoning_effort": "high"},
    )
    try:
        said, stream = await _hear(model)
    finally:
        await model.aclose()
        await runner.cleanup()
    assert said == "Second one."
    assert [b.get("reasoning_effort") for b in bodies] == ["high", "none"]
    assert stream.thought_ended_by == "max_thinking_time"
