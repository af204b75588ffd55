"""``thinking_time`` and how the thought ended, on the framework's span of each attempt
(issue 22): set once, at the first word, or where an attempt ended before it (it failed, or
the caller closed the stream), with what is known of the thought by then.

Time bounds as in ``test_thinking_deadline.py``; what must happen in an order is waited for as
an event of the stand-in (:class:`tests.thinking_engines.ThinkingEngine`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from livekit.agents import APIError
from livekit.agents.telemetry import set_tracer_provider
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.gateway import Gateway, Reply, gateway_llm, user_ctx
from tests.test_thinking_deadline import (
    ANSWER_TEXT,
    HIGH,
    LIMIT,
    LLAMA_GEMMA,
    ONCE,
    R1,
    TURN_BOUND,
    Models,
    hear,
)
from tests.thinking_engines import ThinkingEngine


@pytest.fixture
async def models() -> AsyncIterator[Models]:
    made = Models()
    yield made
    for model in made.made:
        await model.aclose()


def attempt_attributes(spans: InMemorySpanExporter) -> dict[str, object]:
    """The attributes of the turn's one attempt span."""
    (attempt,) = [s for s in spans.get_finished_spans() if s.name == "llm_request_run"]
    return dict(attempt.attributes or {})


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The framework's spans, exported in memory (the provider restored after the test)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    set_tracer_provider(provider)
    try:
        yield exporter
    finally:
        set_tracer_provider(trace.get_tracer_provider())
        provider.shutdown()


async def test_thinking_time_is_on_the_attempt_span(
    models: Models, spans: InMemorySpanExporter
) -> None:
    """A trace of the turn shows how long the thought ran and what ended it, on the
    framework's span of the attempt."""
    async with ThinkingEngine("llama.cpp") as engine:
        model = models(engine, LLAMA_GEMMA, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        heard = await hear(model)
    assert heard.text == ANSWER_TEXT
    (attempt,) = [s for s in spans.get_finished_spans() if s.name == "llm_request_run"]
    attributes = attempt.attributes or {}
    assert attributes.get("hosted.thought_ended_by") == "max_thinking_time"
    assert attributes.get("hosted.thinking_time") == heard.stream.thinking_time
    assert isinstance(heard.stream.thinking_time, float) and heard.stream.thinking_time >= LIMIT


async def test_thinking_is_on_the_span_of_an_interrupted_turn(
    models: Models, spans: InMemorySpanExporter
) -> None:
    """The caller closes the stream after the first word (a barge-in, a preemptive cancel):
    the trace still shows how long the thought ran and what ended it (they were set only
    once the whole response had been read)."""
    async with ThinkingEngine("llama.cpp", answer_step=0.5) as engine:
        model = models(engine, LLAMA_GEMMA, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        stream = model.chat(chat_ctx=user_ctx("What is it?"), conn_options=ONCE)
        async with asyncio.timeout(TURN_BOUND), stream:
            async for chunk in stream:
                if chunk.delta is not None and chunk.delta.content:
                    break
    assert stream.thinking_time is not None
    (attempt,) = [s for s in spans.get_finished_spans() if s.name == "llm_request_run"]
    attributes = attempt.attributes or {}
    assert attributes.get("hosted.thinking_time") == stream.thinking_time
    assert attributes.get("hosted.thought_ended_by") == "max_thinking_time"


async def test_thinking_is_on_the_span_of_an_attempt_that_failed(
    models: Models, spans: InMemorySpanExporter
) -> None:
    """A turn whose thought was ended at ``max_thinking_time`` and whose re-asked reply
    thought again ends in an APIError, with no first word: its span had no ``hosted.*``
    attribute. It shows how long the thought ran and that the deadline ended it."""
    async with ThinkingEngine("ollama", think_for=6.0, model=R1, always_thinks=True) as engine:
        model = models(engine, R1, max_thinking_time=LIMIT, first_token_timeout=20)
        stream = model.chat(chat_ctx=user_ctx("What is it?"), conn_options=ONCE)
        with pytest.raises(APIError, match="thought again"):
            async with asyncio.timeout(TURN_BOUND), stream:
                await stream.collect()
    attributes = attempt_attributes(spans)
    assert attributes.get("hosted.thought_ended_by") == "max_thinking_time"
    seconds = attributes.get("hosted.thinking_time")
    assert isinstance(seconds, float) and LIMIT <= seconds < TURN_BOUND
    assert stream.thinking_time == seconds


async def test_thinking_is_on_the_span_of_a_turn_closed_inside_its_thought(
    models: Models, spans: InMemorySpanExporter
) -> None:
    """The caller closes the stream while the model is still thinking (a barge-in, a
    preemptive generation cancelled): the span had no ``hosted.*`` attribute. It shows the
    thought unfinished and how long it had run."""
    async with ThinkingEngine("llama.cpp", think_for=6.0) as engine:
        model = models(engine, LLAMA_GEMMA, extra_kwargs=HIGH)
        stream = model.chat(chat_ctx=user_ctx("What is it?"), conn_options=ONCE)
        reading = asyncio.create_task(stream.collect())
        await engine.wait(
            lambda: bool(engine.completions) and len(engine.completions[-1].thought) >= 3,
            within=TURN_BOUND,
            what="three thought deltas",
        )
        await stream.aclose()
        await asyncio.wait([reading], timeout=TURN_BOUND)
        assert reading.done()
        if not reading.cancelled():
            reading.exception()  # closed under the reader: whatever it ended in is not the test
        await engine.wait_hung_up(within=TURN_BOUND)
    attributes = attempt_attributes(spans)
    assert attributes.get("hosted.thought_ended_by") == "unfinished"
    seconds = attributes.get("hosted.thinking_time")
    assert isinstance(seconds, float) and 0 < seconds < TURN_BOUND


async def test_a_thought_after_the_first_word_is_not_on_the_span(
    spans: InMemorySpanExporter,
) -> None:
    """Thought markup inside the answer (after the first word) is no thought before it: the
    span says nothing of one, as it says nothing for a turn that did not think."""
    async with Gateway() as gw:
        gw.replies.append(Reply.text("Hello", " <|channel>thought\nlater<channel|>", " there."))
        model = gateway_llm(gw)
        try:
            result = await model.chat(chat_ctx=user_ctx(), conn_options=ONCE).collect()
        finally:
            await model.aclose()
    assert "Hello" in result.text and "later" not in result.text
    attributes = attempt_attributes(spans)
    assert not any(name.startswith("hosted.") for name in attributes), attributes
