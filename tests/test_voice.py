"""The plugin inside the voice pipeline: user audio in, spoken audio out, no LiveKit server.

Each test drives the framework's session (``tests.voice.VoiceHarness``) whose LLM is ``hosted.LLM``
against the loopback gateway, and checks what the TTS was asked to say.
"""

from __future__ import annotations

import time

import pytest
from livekit.agents import llm
from livekit.agents.llm import FallbackAdapter

from tests.gateway import (
    Gateway,
    Reply,
    completion_chunks,
    gateway_llm,
    reasoning_chunks,
    tool_call_chunks,
)
from tests.voice import VoiceHarness
from tests.waits import wait_until

ANSWER = "Hi there! How can I help?"
THOUGHT_BITS = ("<", "|", "chan", "nel", "thought", "think", "hmm")
"""Pieces of the thought and of its tags: none may reach the TTS."""


def _thinking_reply(case: str) -> Reply:
    """The gateway thinks ("Let me think, hmm") before it answers ``ANSWER``."""
    if case == "tags split across chunks":
        return Reply.text(
            "<|chan", "nel>thought\nLet me think, hmm<chan", "nel|>Hi there!", " How can I help?"
        )
    thought, answer = ["Let me think", ", hmm"], ["Hi there!", " How can I help?"]
    return Reply(events=list(reasoning_chunks(thought, answer, field=case)))


@pytest.mark.parametrize("case", ["tags split across chunks", "reasoning", "reasoning_content"])
async def test_tts_hears_the_answer_never_the_thought(gateway: Gateway, case: str) -> None:
    """Broken, the agent would read its Gemma 4 thinking aloud (or drop part of its answer)."""
    gateway.replies.append(_thinking_reply(case))
    async with VoiceHarness(gateway_llm(gateway)) as h:
        h.say("Hello")
        assert await h.reply() == ANSWER
    assert h.tts.heard == [ANSWER]
    assert not [bit for bit in THOUGHT_BITS if bit in h.tts.heard[0]]
    assert h.stt.transcribed == ["Hello"]
    assert gateway.bodies[0]["messages"][-1] == {"role": "user", "content": "Hello"}


async def test_tool_call_runs_and_its_result_is_spoken(gateway: Gateway) -> None:
    """Broken, a spoken question needing a tool would get silence, or an answer without it."""
    ran: list[str] = []

    @llm.function_tool
    async def get_weather(city: str) -> str:
        """The weather in a city."""
        ran.append(city)
        return f"sunny in {city}"

    gateway.replies += [
        Reply(events=list(tool_call_chunks("get_weather", '{"city": "Paris"}'))),
        Reply.text("It is sunny", " in Paris."),
    ]
    async with VoiceHarness(gateway_llm(gateway), tools=[get_weather]) as h:
        h.say("What is the weather in Paris?")
        assert await h.reply() == "It is sunny in Paris."
    assert ran == ["Paris"]
    assert len(gateway.bodies) == 2
    follow_up = gateway.bodies[1]["messages"]
    assert follow_up[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny in Paris"}
    assert follow_up[-2]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert h.tts.heard == ["It is sunny in Paris."]


COUNT = ["One,", " two,", " three,", " four,", " five,", " six,", " seven,", " eight,"]
COUNT += [" nine,", " ten,", " eleven,", " twelve,", " thirteen,", " fourteen,", " fifteen,"]
COUNT += [" sixteen,", " seventeen,", " eighteen,", " nineteen,", " twenty."]


async def test_interruption_closes_the_stream_and_is_not_retried(gateway: Gateway) -> None:
    """Broken, an interrupted agent would keep a stream (and tokens) running, or say it again.

    The reply streams for 5 s, so that a busy machine has seconds to notice the interruption
    before the stream would end by itself (and then no disconnect would come at all).
    """
    gateway.replies.append(Reply.text(*COUNT, delay_between=0.25))  # about 5 s of speech
    async with VoiceHarness(gateway_llm(gateway)) as h:
        h.say("Count to twenty")
        await wait_until(lambda: "three" in "".join(h.tts.heard), within=5, what="mid-reply")
        interrupted_at = time.monotonic()
        h.say("Stop, please")  # the user talks over the agent
        await gateway.wait_disconnects(1, within=5.0)
        assert gateway.disconnect_times[0] - interrupted_at < 3.0
        assert await h.reply() == "Hello from the gateway."
    first_turn = [b for b in gateway.bodies if b["messages"][-1]["content"] == "Count to twenty"]
    assert len(first_turn) == 1  # the half reply was not asked for again
    assert len(gateway.bodies) == 2
    assert gateway.disconnects == 1
    assert h.speaker.interruptions == 1  # it was speaking, not still thinking
    cut, answer = h.tts.heard
    assert "".join(COUNT).startswith(cut) and "twenty" not in cut
    assert answer == "Hello from the gateway."
    assert len(h.interrupted) == 1 and "twenty" not in (h.interrupted[0].text_content or "")


async def test_slow_thinker_fails_over_at_the_first_word_deadline(gateway: Gateway) -> None:
    """Broken, a model that thinks for seconds would leave the caller in silence that long.

    The thought lasts 12 s; the turn at the 1 s deadline takes about 1.3 s on an idle machine,
    and the bound leaves a busy one nearly 3 s more (a deadline missed fivefold still fails).
    """
    thought = ["<|channel>thought\n"] + [f"step {i}. " for i in range(60)] + ["<channel|>Too late."]
    gateway.replies.append(Reply(events=list(completion_chunks(thought)), delay_between=0.2))
    async with Gateway() as fast:
        fast.replies.append(Reply.text("Quick", " answer."))
        first = gateway_llm(gateway, first_token_timeout=1.0)
        second = gateway_llm(fast)
        try:
            async with VoiceHarness(FallbackAdapter([first, second])) as h:
                started = time.monotonic()
                h.say("Hello")
                assert await h.reply(within=8) == "Quick answer."
                took = time.monotonic() - started
        finally:
            await first.aclose()
            await second.aclose()
    assert h.tts.heard == ["Quick answer."]
    assert not [bit for bit in ("step", "thought", "Too late") if bit in h.tts.heard[0]]
    assert took < 4.0, f"the turn took {took:.1f}s"
