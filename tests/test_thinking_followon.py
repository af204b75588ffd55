"""The second request of a turn whose thought ``max_thinking_time`` stopped (issue 22, review
22c): it is read as what it asked for, and what the turn's requests cost is reported once,
however the turn ends."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from livekit.agents import APIConnectOptions

import livekit_plugins_hosted as hosted
from tests.gateway import Gateway, Reply, user_ctx
from tests.thinking_engines import ANSWER, Completion, ThinkingEngine

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


class _NoIds(ThinkingEngine):
    """llama-server behind a relay that strips the completion id (``None``: no ``id`` at all)
    or blanks it."""

    def __init__(self, id: str | None, **kw: Any) -> None:
        super().__init__("llama.cpp", **kw)
        self.id = id

    def _chunk(self, c: Completion, choice: dict[str, Any] | None) -> dict[str, Any]:
        chunk = super()._chunk(c, choice)
        if self.id is None:
            del chunk["id"]
        else:
            chunk["id"] = self.id
        return chunk


@pytest.mark.parametrize("id", [None, ""])
async def test_a_thought_in_a_stream_without_ids_is_cut_on_time(id: str | None) -> None:
    """llama-server's chunks carry no completion id (a relay stripped it): the control request
    had nothing to name, so nothing ended the thought and the first word came after the whole
    4 s thought. The reading stops at the deadline and the thought is continued from, as when
    the control request fails."""
    async with _NoIds(id, think_for=4.0) as engine:
        model = hosted.LLM.self_hosted(
            "unsloth/gemma-4-31b-it-GGUF:Q4_K_M",
            base_url=engine.url,
            backend="llama.cpp",
            extra_kwargs={"reasoning_effort": "high"},
            max_thinking_time=1.0,
        )
        try:
            text, first = await say(model)
        finally:
            await model.aclose()
    assert text == "".join(ANSWER)
    assert 1.0 <= first < 2.5
    assert engine.controls == []
    assert [c.mode for c in engine.completions] == ["think", "continued"]
