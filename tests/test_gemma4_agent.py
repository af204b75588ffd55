"""Gemma 4's raw grammar through the whole plugin: never spoken, native tool calls that run.

A server that does not parse Gemma 4 (vLLM without its gemma4 parsers, a llama.cpp or Ollama
build that does not know the model, a gateway passing markers through) streams the model's own
grammar in ``content``. The loopback gateway here plays that server, on the gateway id and on a
self-hosted Gemma 4 id.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from livekit.agents import Agent, llm
from livekit.agents.voice.run_result import (
    ChatMessageEvent,
    FunctionCallEvent,
    FunctionCallOutputEvent,
)

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted import Session
from tests.gateway import Gateway, Reply, gateway_llm, user_ctx

CALLS: list[dict[str, Any]] = []


@llm.function_tool
async def get_weather(city: str, days: int) -> str:
    """The weather forecast for a city."""
    CALLS.append({"city": city, "days": days})
    return "18 degrees and sunny"


def split(text: str, size: int = 5) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


NATIVE_CALL = '<|tool_call>call:get_weather{city:<|"|>Paris<|"|>,days:2}<tool_call|>'
AFTER_TOOL = "The tool says 18 degrees; answer briefly.<channel|>It is 18 degrees in Paris."


THINKING_ON = {"extra_body": {"chat_template_kwargs": {"enable_thinking": True}}}


def _llm(gateway: Gateway, where: str, params: dict[str, Any] | None = None) -> hosted.LLM:
    if where == "gateway":
        return gateway_llm(gateway, extra_kwargs=params)
    gateway._verify = False
    return hosted.LLM.self_hosted(
        "google/gemma-4-31B-it", base_url=gateway.url, backend="vllm", extra_kwargs=params
    )


def _after_tool_result() -> llm.ChatContext:
    """A context that ends with a tool result: where Gemma 4's template may open a thought."""
    ctx = user_ctx()
    ctx.insert(
        [
            llm.FunctionCall(call_id="c1", name="get_weather", arguments="{}"),
            llm.FunctionCallOutput(call_id="c1", name="get_weather", output="18", is_error=False),
        ]
    )
    return ctx


def _first_words(model: hosted.LLM, ctx: llm.ChatContext) -> Any:
    """The first content chunk's text, read while the server still holds the stream open."""

    async def read() -> str | None:
        stream = model.chat(chat_ctx=ctx)
        try:
            async for chunk in stream:
                if chunk.delta and chunk.delta.content:
                    return chunk.delta.content
            return None
        finally:
            await stream.aclose()

    return read()


def _spoken(events: list[Any]) -> str:
    return " ".join(
        ev.item.text_content or ""
        for ev in events
        if isinstance(ev, ChatMessageEvent) and ev.item.role == "assistant"
    )


@pytest.mark.parametrize("where", ["gateway", "self-hosted"])
@pytest.mark.parametrize(
    "first, params",
    [
        # thinking asked for: after the tool result the template opens a thought
        (NATIVE_CALL, THINKING_ON),
        ('<|tool_call>:get_weather{city:<|"|>Paris<|"|>,days:2}<tool_call|>', THINKING_ON),
        # thinking not asked for, but the server has just shown raw thought: it is on
        ("<|channel>thought\nThe user wants the weather.<channel|>" + NATIVE_CALL, None),
        ("<|channel>thought\nI should call the tool. " + NATIVE_CALL, None),  # out of a thought
    ],
    ids=["native", "bare-opener", "after-thought", "inside-thought"],
)
async def test_native_tool_call_runs_and_the_answer_is_spoken(
    gateway: Gateway, where: str, first: str, params: dict[str, Any] | None
) -> None:
    """The agent runs get_weather(city="Paris", days=2) and speaks only the answer after it,
    never the thought the template opened after the tool result."""
    CALLS.clear()
    gateway.replies.append(Reply.text(*split(first)))
    gateway.replies.append(Reply.text(*split(AFTER_TOOL + "<|turn>user\nthanks")))
    model = _llm(gateway, where, params)
    async with Session(llm=model) as session:
        await session.start(Agent(instructions="Be brief.", tools=[get_weather]))
        result = await session.run(user_input="Weather in Paris for two days?")
    await model.aclose()
    assert CALLS == [{"city": "Paris", "days": 2}]
    kinds = [type(ev) for ev in result.events]
    assert kinds == [FunctionCallEvent, FunctionCallOutputEvent, ChatMessageEvent]
    assert json.loads(result.events[0].item.arguments) == {"city": "Paris", "days": 2}
    assert _spoken(result.events) == "It is 18 degrees in Paris."
    follow_up = gateway.bodies[-1]["messages"]
    assert follow_up[-1]["role"] == "tool" and follow_up[-1]["content"] == "18 degrees and sunny"


@pytest.mark.parametrize("where", ["gateway", "self-hosted"])
async def test_direct_answer_after_a_tool_result_is_still_heard(
    gateway: Gateway, where: str
) -> None:
    """After a tool result the model may answer without any thought: the answer is spoken."""
    CALLS.clear()
    gateway.replies.append(Reply.text(*split(NATIVE_CALL)))
    gateway.replies.append(Reply.text(*split("It is 18 degrees.<turn|>")))
    model = _llm(gateway, where, THINKING_ON)
    async with Session(llm=model) as session:
        await session.start(Agent(instructions="Be brief.", tools=[get_weather]))
        result = await session.run(user_input="Weather?")
    await model.aclose()
    assert _spoken(result.events) == "It is 18 degrees."


@pytest.mark.parametrize(
    "parts, said",
    [
        (["<|channel>thought\nhmm<channel|>", "Hi there!"], "Hi there!"),
        (["Hi there!", "<|turn>user\nthanks"], "Hi there!"),
        (["Sure.<tool_response|>", "junk"], "Sure."),
        (["<thi", "nk>secret plan</th", "ink>Hi there!"], "Hi there!"),  # a fine-tune's tags
    ],
)
async def test_markers_never_spoken_on_plain_turns(
    gateway: Gateway, parts: list[str], said: str
) -> None:
    """Thought and turn-boundary tokens never reach the text a TTS would speak."""
    gateway.replies.append(Reply.text(*parts))
    model = gateway_llm(gateway)
    result = await model.chat(chat_ctx=user_ctx()).collect()
    assert result.text == said
    await model.aclose()


async def test_server_parsed_output_wins(gateway: Gateway) -> None:
    """A server that parses (reasoning field, tool_calls) is taken at its word: the answer
    after a tool result is not held back as a possible thought."""
    ctx = _after_tool_result()
    events: list[dict[str, Any] | str] = [
        {"id": "x", "choices": [{"index": 0, "delta": {"reasoning": "think"}}]},
        {"id": "x", "choices": [{"index": 0, "delta": {"content": "It is 18."}}]},
        {"id": "x", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    assert ctx.items[-1].type == "function_call_output"  # the prompt may open a thought
    gateway.replies.append(Reply(events=events, stall_after=2))
    model = gateway_llm(gateway, extra_kwargs=THINKING_ON)
    assert await _first_words(model, ctx) == "It is 18."  # before the stream ended
    await model.aclose()


async def test_answer_after_a_tool_result_is_not_held_when_thinking_is_off(
    gateway: Gateway,
) -> None:
    """Thinking off (Gemma 4's default) and no raw thought seen: the answer after a tool
    result streams at once instead of waiting for the whole reply (and for the deadline)."""
    ctx = _after_tool_result()
    events: list[dict[str, Any] | str] = [
        {"id": "x", "choices": [{"index": 0, "delta": {"content": "It is 18."}}]},
        {"id": "x", "choices": [{"index": 0, "delta": {"content": " Anything else?"}}]},
    ]
    gateway.replies.append(Reply(events=events, stall_after=1))
    model = gateway_llm(gateway, first_token_timeout=1.0)
    assert await _first_words(model, ctx) == "It is 18."  # before the stream ended
    await model.aclose()


async def test_reasoning_effort_not_sent_to_the_gateway_holds_nothing(gateway: Gateway) -> None:
    """reasoning_effort is left out for Gemma 4 on LiveKit Inference (the model page does not
    list it), so it cannot switch thinking on there: the answer after a tool result streams at
    once instead of being held until first_token_timeout ends every tool turn in silence."""
    ctx = _after_tool_result()
    events: list[dict[str, Any] | str] = [
        {"id": "x", "choices": [{"index": 0, "delta": {"content": "It is 18."}}]},
        {"id": "x", "choices": [{"index": 0, "delta": {"content": " Anything else?"}}]},
    ]
    gateway.replies.append(Reply(events=events, stall_after=1))
    model = gateway_llm(gateway, extra_kwargs={"reasoning_effort": "high"})
    assert await _first_words(model, ctx) == "It is 18."  # before the stream ended
    assert "reasoning_effort" not in gateway.bodies[-1]
    await model.aclose()
