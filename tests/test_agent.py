"""The framework's view: string descriptors, Session turns, FallbackAdapter."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from livekit.agents import Agent, APIConnectOptions, inference, llm
from livekit.agents.llm import FallbackAdapter
from livekit.agents.voice.run_result import (
    ChatMessageEvent,
    FunctionCallEvent,
    FunctionCallOutputEvent,
)

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted import Session
from tests.gateway import API_KEY, API_SECRET, Gateway, Reply


@llm.function_tool
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _assistant_text(events: list[Any]) -> str:
    return " ".join(
        ev.item.text_content or ""
        for ev in events
        if isinstance(ev, ChatMessageEvent) and ev.item.role == "assistant"
    )


async def test_descriptor_resolves_hosted_ids(gateway_env: Gateway) -> None:
    """Session(llm="google/gemma-4-31b-it") and Agent(llm=...) give a hosted.LLM."""
    session = Session(llm="google/gemma-4-31b-it")
    assert isinstance(session.llm, hosted.LLM)
    agent = Agent(instructions="x", llm="google/gemma-4-31b-it")
    assert isinstance(agent.llm, hosted.LLM)
    await session.llm.aclose()  # cancels the prewarm the session started
    await agent.llm.aclose()


async def test_descriptor_delegates_other_ids(gateway_env: Gateway) -> None:
    """Every other model string still resolves to the framework's own class."""
    other = inference.llm_from_model_string("openai/gpt-4.1-mini")
    assert type(other) is inference.LLM
    await other.aclose()


def test_descriptor_hook_is_idempotent(gateway_env: Gateway) -> None:
    """Re-importing the package does not stack wrappers."""
    before = inference.llm_from_model_string
    importlib.reload(hosted)
    after = inference.llm_from_model_string
    assert after is before
    assert not getattr(getattr(after, "__wrapped__", None), "__hosted_hook__", False)


async def test_register_model_makes_a_descriptor(gateway_env: Gateway) -> None:
    """A model registered as hosted resolves through Session too."""
    from livekit_plugins_hosted import models

    hosted.register_model(hosted.ModelInfo(id="google/gemma-4-test", family="Test"))
    try:
        session = Session(llm="google/gemma-4-test")
        assert isinstance(session.llm, hosted.LLM)
        await session.llm.aclose()
    finally:
        models._CATALOGUE.pop("google/gemma-4-test")


async def test_agent_session_text_turn(gateway_env: Gateway) -> None:
    """A text turn through Session produces the gateway's reply."""
    async with Session(llm="google/gemma-4-31b-it") as session:
        await session.start(Agent(instructions="Be brief."))
        result = await session.run(user_input="Hello")
    assert isinstance(session.llm, hosted.LLM)
    await session.llm.aclose()  # the session does not own an LLM it was given
    assert _assistant_text(result.events) == "Hello from the gateway."
    body = gateway_env.bodies[0]
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][-1] == {"role": "user", "content": "Hello"}


async def test_agent_session_tool_call_turn(gateway_env: Gateway) -> None:
    """A tool call runs the tool and the reply comes from the follow-up completion."""
    gateway_env.replies.append(
        Reply(
            events=[
                {
                    "id": "c1",
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": 0,
                                        "id": "call_1",
                                        "type": "function",
                                        "function": {"name": "get_weather", "arguments": ""},
                                    }
                                ]
                            },
                        }
                    ],
                },
                {
                    "id": "c1",
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {"index": 0, "function": {"arguments": '{"city": "Paris"}'}}
                                ]
                            },
                            "finish_reason": "tool_calls",
                        }
                    ],
                },
            ]
        )
    )
    async with Session(llm="google/gemma-4-31b-it") as session:
        await session.start(Agent(instructions="Be brief.", tools=[get_weather]))
        result = await session.run(user_input="Weather in Paris?")
    assert isinstance(session.llm, hosted.LLM)
    await session.llm.aclose()
    kinds = [type(ev) for ev in result.events]
    assert kinds == [FunctionCallEvent, FunctionCallOutputEvent, ChatMessageEvent]
    assert result.events[1].item.output == "sunny in Paris"
    follow_up = gateway_env.bodies[1]["messages"]
    assert follow_up[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny in Paris"}


async def test_fallback_adapter_moves_to_the_next_llm(gateway: Gateway) -> None:
    """FallbackAdapter passes its arguments through and falls over to the second LLM."""
    first = hosted.LLM(
        "google/gemma-4-31b-it", base_url=gateway.url, api_key=API_KEY, api_secret="wrong" * 8
    )
    second = hosted.LLM(
        "google/gemma-4-31b-it", base_url=gateway.url, api_key=API_KEY, api_secret=API_SECRET
    )
    adapter = FallbackAdapter([first, second], attempt_timeout=5, max_retry_per_llm=0)
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="Hello")
    stream = adapter.chat(
        chat_ctx=ctx,
        tools=[get_weather],
        tool_choice="auto",
        parallel_tool_calls=False,
        conn_options=APIConnectOptions(max_retry=0, timeout=5),
        extra_kwargs={"temperature": 0.3},
    )
    result = await stream.collect()
    assert result.text == "Hello from the gateway."
    # the adapter may probe the failed LLM for recovery in the background: count answers only
    answered = [r for r in gateway.requests if r.claims is not None]
    assert len(answered) == 1 and gateway.requests[0].claims is None
    assert answered[0].body is not None
    assert answered[0].body["temperature"] == 0.3
    assert answered[0].body["parallel_tool_calls"] is False
    await adapter.aclose()
    await first.aclose()
    await second.aclose()


@pytest.mark.parametrize("model", ["google/gemma-4-31b-it"])
def test_metrics_label(model: str, gateway_env: Gateway) -> None:
    """Metrics name the model and provider the framework reports."""
    m = hosted.LLM(model)
    assert m.metrics_metadata == {"model_name": model, "model_provider": "livekit"}
