"""The voice path with ``max_thinking_time`` and the framework's default preemptive generation:
a turn the framework cancels early (the user went on speaking) leaves nothing behind."""

from __future__ import annotations

import asyncio
import json

import httpx2 as httpx

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


async def test_a_preemptive_turn_cancelled_at_its_control_request_sends_nothing_more() -> None:
    """The cancel lands after the deadline, while the control request is in flight (held by a
    hook of the caller's client): that request is abandoned, the completion hung up, and no
    request of the cancelled turn (a continuation) follows; the next turn still ends in its
    spoken answer (its own control request fails after 2 s and the thought is continued)."""
    entered = asyncio.Event()
    abandoned: list[str] = []

    async def hook(request: httpx.Request) -> None:
        if not request.url.path.endswith("/control"):
            return
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            abandoned.append(json.loads(request.content)["id"])
            raise

    async with (
        ThinkingEngine("llama.cpp") as engine,
        httpx.AsyncClient(event_hooks={"request": [hook]}) as client,
    ):
        model = hosted.LLM.self_hosted(
            "unsloth/gemma-4-31b-it-GGUF:Q4_K_M",
            base_url=engine.url,
            backend="llama.cpp",
            extra_kwargs={"reasoning_effort": "high"},
            max_thinking_time=LIMIT,
            http_client=client,
        )
        async with VoiceHarness(model, preemptive=True, min_delay=0.8) as h:
            h.say("What is the answer")
            async with asyncio.timeout(5.0):
                await entered.wait()  # the preemptive turn reached its deadline
            h.say("to everything?")
            await engine.wait_hung_up(1, within=5.0)
            cancelled = engine.hung_up[0]
            reply = await h.reply(within=15.0)
            assert reply == "".join(ANSWER)
            await wait_until(lambda: not _plugin_tasks(), within=5.0, what="plugin tasks end")
        assert cancelled.hung_up_at is not None
        assert abandoned[0] == cancelled.id
        asked = cancelled.body["messages"]
        later = [c for c in engine.completions if c.request.at > cancelled.hung_up_at]
        # a second request of the cancelled turn: its thought given back, or asked again with
        # thinking off (the framework may itself send a new turn with the same context)
        of_cancelled = [
            c
            for c in later
            if (c.body["messages"][:-1] == asked and c.body["messages"][-1]["role"] == "assistant")
            or (c.body["messages"] == asked and c.body.get("reasoning_effort") == "none")
        ]
        assert later and of_cancelled == []
