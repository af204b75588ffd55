"""The second request of a turn whose thought ``max_thinking_time`` stopped (issue 22, review
22c): it is read as what it asked for, and what the turn's requests cost is reported once,
however the turn ends."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from livekit.agents import APIConnectOptions

import livekit_plugins_hosted as hosted
from tests.gateway import Gateway, Reply, user_ctx

ONCE = APIConnectOptions(max_retry=0, timeout=10)
TURN_BOUND = 8.0


async def say(model: hosted.LLM, text: str = "What is it?", **chat: Any) -> tuple[str, float]:
    """One turn's text and the seconds to its first word; bounded by ``TURN_BOUND``."""
    parts: list[str] = []
    first = -1.0
    start = time.monotonic()
    async with asyncio.timeout(TURN_BOUND):
        async with model.chat(chat_ctx=user_ctx(text), conn_options=ONCE, **chat) as stream:
            async for chunk in stream:
                if chunk.delta is not None and chunk.delta.content:
                    if first < 0:
                        first = time.monotonic() - start
                    parts.append(chunk.delta.content)
    return "".join(parts), first


async def test_the_reask_after_a_learned_opened_thought_is_heard() -> None:
    """A server whose prompts were seen to open a thought (a stray ``</think>`` in an earlier
    turn) is cut at the deadline and asked again with thinking off: the re-ask's plain answer
    was held as the inside of an opened thought, then cut as "thought again", and the user heard
    nothing but an error. The answer is heard, as it comes."""
    async with Gateway(verify_jwt=False) as gw:
        gw.replies.append(Reply.text("Okay let me think.</think>", "Hi."))
        thought = [f"pondering{i} " for i in range(100)]
        gw.replies.append(Reply.text(*thought, "</think>Late.", delay_between=0.05))
        answer = ["Hello", " there", " friend", "."]
        gw.replies.append(Reply.text(*answer, delay_between=0.5))
        model = hosted.LLM.self_hosted(
            "my-model", base_url=gw.url, backend="vllm", max_thinking_time=1.0
        )
        try:
            learned, _ = await say(model, "hi")
            text, first = await say(model)
        finally:
            await model.aclose()
    assert "</think>" not in learned
    assert text == "".join(answer)
    assert gw.bodies[-1].get("reasoning_effort") == "none"
    # cut at 1 s; the re-ask's first part is heard before its second is sent (0.5 s later)
    assert 1.0 <= first < 1.0 + 1.5
