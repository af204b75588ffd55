"""The voice path with ``max_thinking_time`` and the framework's default preemptive generation:
a turn the framework cancels early (the user went on speaking) leaves nothing behind."""

from __future__ import annotations

import asyncio

import livekit_plugins_hosted as hosted
from tests.thinking_engines import ANSWER, ThinkingEngine
from tests.voice import VoiceHarness
from tests.waits import wait_until

LIMIT = 1.0


def _plugin_tasks() -> list[asyncio.Task[object]]:
    """Tasks still running code of the plugin (a control request, a rendering probe)."""
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and "livekit_plugins_hosted" in repr(t.get_coro())
    ]


async def test_a_cancelled_preemptive_turn_leaves_nothing_running() -> None:
    """Preemptive generation starts a thinking turn on the first transcript; the user goes on
    speaking, so the framework cancels it before its deadline. That completion is hung up, no
    control request is sent for it after the cancel, no plugin task is left, and the turn that
    follows is answered through the control request and spoken whole."""
    async with ThinkingEngine("llama.cpp") as engine:
        model = hosted.LLM.self_hosted(
            "unsloth/gemma-4-31b-it-GGUF:Q4_K_M",
            base_url=engine.url,
            backend="llama.cpp",
            extra_kwargs={"reasoning_effort": "high"},
            max_thinking_time=LIMIT,
        )
        async with VoiceHarness(model, preemptive=True, min_delay=0.8) as h:
            h.say("What is the answer")
            await engine.wait(lambda: len(engine.completions) >= 1, within=5.0, what="preemptive")
            h.say("to everything?")
            await engine.wait_hung_up(1, within=5.0)
            cancelled = engine.hung_up[0]
            reply = await h.reply(within=10.0)
            assert reply == "".join(ANSWER)
            await wait_until(lambda: not _plugin_tasks(), within=5.0, what="plugin tasks end")
        assert cancelled.hung_up_at is not None
        late = [
            c
            for c in engine.controls
            if c.request.body.get("id") == cancelled.id and c.request.at >= cancelled.hung_up_at
        ]
        assert late == []
        assert not any(c.id == cancelled.id for c in engine.completions if c.finish_reason)
        answered = [c for c in engine.completions if c.finish_reason == "stop"]
        assert answered and answered[-1].ended_by == "control"
