"""``max_thinking_time`` (issue 17): a thought still running at the deadline is ended by the
engine's means, and the caller hears the answer, once, about a first token after it.

Each test plays one engine on loopback (:class:`tests.thinking_engines.ThinkingEngine`: it
thinks as llama-server, vLLM or Ollama do, answers their control, tokenizer and detection
requests, and records everything) and checks, in real time, what the caller hears and what
was sent:

* llama-server: ``"reasoning_control": true`` on the request, one control request naming the
  streamed completion id at the deadline, the answer in the same stream; when the control
  fails, the stream is stopped and the thought given back to continue from.
* vLLM: the stream is cut at the deadline and the thought given back in a continued final
  assistant message where the template renders it (asked once per LLM with ``/tokenize``),
  else the question asked again with thinking off; the budget a server without a reasoning
  parser refuses is sent once, then never again.
* Ollama: cut, then asked again with thinking off.

Time bounds are written as in ``test_first_word.py``: never before the deadline (1 s), and an
upper bound that only has to tell the deadline from the thought's natural end (6 s, never
sooner on a busy machine), so it leaves seconds of slack.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import pytest
from livekit.agents import APIConnectOptions, APIError, APITimeoutError, llm

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted.backends import REASONING_BUDGETS
from livekit_plugins_hosted.stream import LLMStream
from tests.gateway import API_KEY, API_SECRET, Gateway, Reply, user_ctx
from tests.thinking_engines import (
    ANSWER,
    NO_COMPLETION,
    NOT_ENABLED,
    THOUGHT_WORD,
    Completion,
    Kind,
    ThinkingEngine,
)

LOGGER = "livekit.plugins.hosted"
ONCE = APIConnectOptions(max_retry=0, timeout=10)
HIGH: dict[str, Any] = {"reasoning_effort": "high"}
ANSWER_TEXT = "".join(ANSWER)

LIMIT = 1.0
"""max_thinking_time in the tests that reach it."""
EARLIEST = LIMIT - 0.01
"""Never before the deadline (a timer may fire a clock tick early)."""
LATEST = 4.0
"""Well before the stand-in's thought ends by itself (6 s), with seconds of slack."""
TURN_BOUND = 8.0
"""No turn of these tests may take longer (the first_token_timeout default is 10 s)."""

MODELS: dict[str, str] = {
    # the ids each engine knows Gemma 4 by
    "llama.cpp": "unsloth/gemma-4-31b-it-GGUF:Q4_K_M",
    "vllm": "google/gemma-4-31B-it",
    "ollama": "gemma4:31b",
}
KEY = "sk-local-test"
BUDGET_FIELDS: dict[str, str] = {
    "llama.cpp": "thinking_budget_tokens",
    "vllm": "thinking_token_budget",
}


# -- helpers --------------------------------------------------------------------------------------


@dataclass
class Turn:
    """What the caller heard in one turn, and what the stream says about its thought."""

    parts: list[str]
    first_word: float | None
    """Seconds from ``chat()`` to the first text heard."""
    took: float
    """Seconds from ``chat()`` to the end of the stream."""
    thinking_time: float | None
    ended_by: str | None
    usage: list[llm.CompletionUsage]

    @property
    def text(self) -> str:
        return "".join(self.parts)


async def speak(model: hosted.LLM, **chat: Any) -> Turn:
    """One turn read chunk by chunk as a voice agent reads it; bounded by ``TURN_BOUND``."""
    parts: list[str] = []
    usage: list[llm.CompletionUsage] = []
    first: float | None = None
    start = time.monotonic()
    stream: LLMStream = model.chat(
        chat_ctx=user_ctx("What is the answer?"), conn_options=ONCE, **chat
    )
    async with asyncio.timeout(TURN_BOUND), stream:
        async for chunk in stream:
            if chunk.delta is not None and chunk.delta.content:
                if first is None:
                    first = time.monotonic() - start
                parts.append(chunk.delta.content)
            if chunk.usage is not None:
                usage.append(chunk.usage)
    return Turn(
        parts=parts,
        first_word=first,
        took=time.monotonic() - start,
        thinking_time=stream.thinking_time,
        ended_by=stream.thought_ended_by,
        usage=usage,
    )


class Models:
    """Makes ``LLM.self_hosted`` for a stand-in; every one is closed after the test."""

    def __init__(self) -> None:
        self.made: list[hosted.LLM] = []

    def __call__(
        self,
        engine: ThinkingEngine,
        *,
        backend: str | None = None,
        model: str | None = None,
        **kw: Any,
    ) -> hosted.LLM:
        made = hosted.LLM.self_hosted(
            model or MODELS[engine.kind], base_url=engine.url, backend=backend or engine.kind, **kw
        )
        self.made.append(made)
        return made


@pytest.fixture
async def models() -> AsyncIterator[Models]:
    made = Models()
    yield made
    for model in made.made:
        await model.aclose()


def deadline_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The plugin's INFO messages that mention max_thinking_time, since the last clear."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.INFO and "max_thinking_time" in r.getMessage()
    ]


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING
    ]


def assert_heard_in_time(turn: Turn) -> None:
    """The answer, whole and once, after the deadline and long before the thought's own end;
    the thought ended by the deadline."""
    assert turn.text == ANSWER_TEXT, turn.parts
    assert THOUGHT_WORD not in turn.text
    assert turn.first_word is not None and EARLIEST <= turn.first_word < LATEST, turn.first_word
    assert turn.thinking_time is not None and EARLIEST <= turn.thinking_time < LATEST, turn
    assert turn.thinking_time <= turn.first_word
    assert turn.ended_by == "max_thinking_time"


def assert_given_back(cut: Completion, given: object) -> None:
    """``given`` is the thought streamed before the cut: whole deltas from its start."""
    assert isinstance(given, str) and given.strip(), given
    assert cut.thought_text.startswith(given.strip() + " "), (given, cut.thought_text)
    assert given.split()[0] == f"{THOUGHT_WORD}1"


def assert_asked_again(first: dict[str, Any], again: dict[str, Any], *, budget: str | None) -> None:
    """``again`` is ``first`` asked with thinking off: the same messages, no continuation, a
    thinking budget of none at most (so that a template that thinks whatever the request
    says answers at once all the same)."""
    assert again["messages"] == first["messages"]
    assert again["reasoning_effort"] == "none"
    assert "continue_final_message" not in again and "reasoning_control" not in again
    if budget is not None:
        assert again.get(budget, 0) == 0


def control_answers(engine: ThinkingEngine) -> list[dict[str, Any]]:
    return [c.answer for c in engine.controls]


# -- llama-server: the control request ------------------------------------------------------------


async def test_llama_cpp_control_ends_the_thought(
    models: Models, caplog: pytest.LogCaptureFixture
) -> None:
    """At the deadline one control request names the streamed completion; the answer follows
    in the same stream, heard once; the thought deltas are counted as reasoning tokens."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with ThinkingEngine("llama.cpp") as engine:
        model = models(engine, api_key=KEY, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        turn = await speak(model)
        assert_heard_in_time(turn)

        (completion,) = engine.completions
        body = completion.body
        assert body["reasoning_control"] is True
        assert body["thinking_budget_tokens"] == REASONING_BUDGETS["high"] == 24576
        assert body["reasoning_effort"] == "high"
        assert completion.ended_by == "control" and completion.finish_reason == "stop"
        assert completion.answer == list(ANSWER) and completion.hung_up_at is None

        (control,) = engine.controls
        assert control.request.path == "/v1/chat/completions/control"
        assert control.request.body == {
            "id": completion.id,
            "action": "reasoning_end",
            "model": MODELS["llama.cpp"],
        }
        assert control.answer == {"success": True}
        assert control.request.headers["Authorization"] == f"Bearer {KEY}"  # --api-key guards it
        assert control.request.at - completion.request.at >= LIMIT - 0.1
        # llama-server reports no reasoning tokens: one thought delta is one
        assert turn.usage and turn.usage[-1].reasoning_tokens == len(completion.thought)
        assert deadline_logs(caplog) and len(deadline_logs(caplog)) == 1
        assert warnings_of(caplog) == []


async def test_llama_cpp_control_refused_continues_from_the_thought(
    models: Models, caplog: pytest.LogCaptureFixture
) -> None:
    """A control request answered ``success: false``: the stream is stopped and a second
    request gives the thought back (``continue_final_message: "content"``); heard once."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with ThinkingEngine("llama.cpp", control_works=False) as engine:
        model = models(engine, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        turn = await speak(model)
        assert_heard_in_time(turn)

        assert control_answers(engine) == [{"success": False, "message": NOT_ENABLED}]
        cut, follow = engine.completions
        await engine.wait_hung_up(1)
        assert cut.hung_up_at is not None and cut.answer == []
        assert follow.mode == "continued" and follow.answer == list(ANSWER)
        second = follow.body
        assert second["messages"][:-1] == cut.body["messages"]
        final = second["messages"][-1]
        assert final.keys() == {"role", "content", "reasoning_content"}
        assert final["role"] == "assistant" and final["content"] == ""
        assert_given_back(cut, final["reasoning_content"])
        assert second["continue_final_message"] == "content"
        assert second["add_generation_prompt"] is False
        assert "reasoning_control" not in second and "thinking_budget_tokens" not in second
        # the thought deltas read before the cut are the turn's reasoning tokens
        given = final["reasoning_content"].split()
        assert turn.usage and turn.usage[-1].reasoning_tokens == len(given)
        assert len(deadline_logs(caplog)) == 1
        (warning,) = warnings_of(caplog)
        assert NOT_ENABLED in warning


# -- vLLM: continue from the thought, or ask again ------------------------------------------------


async def test_vllm_continues_from_the_thought(
    models: Models, caplog: pytest.LogCaptureFixture
) -> None:
    """A template that renders a thought given back: the stream is cut at the deadline and
    the thought so far continued in ``reasoning``; the template is asked about once per LLM."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with ThinkingEngine("vllm") as engine:
        model = models(engine, api_key=KEY, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        for n in (1, 2):
            caplog.clear()
            turn = await speak(model)
            assert_heard_in_time(turn)
            assert len(deadline_logs(caplog)) == 1

            cut, follow = engine.completions[-2:]
            await engine.wait_hung_up(n)
            assert cut.body["thinking_token_budget"] == 24576
            assert cut.body["reasoning_effort"] == "high"
            assert cut.body["skip_special_tokens"] is False
            assert cut.answer == [] and cut.hung_up_at is not None
            second = follow.body
            assert follow.mode == "continued" and follow.answer == list(ANSWER)
            assert second["messages"][:-1] == cut.body["messages"]
            final = second["messages"][-1]
            assert final.keys() == {"role", "content", "reasoning"}
            assert final["role"] == "assistant" and final["content"] == ""
            assert_given_back(cut, final["reasoning"])
            assert second["continue_final_message"] is True
            assert second["add_generation_prompt"] is False
            assert "thinking_token_budget" not in second
            # vLLM's usage here counts no reasoning: the deltas read before the cut do
            assert turn.usage and turn.usage[-1].reasoning_tokens == len(final["reasoning"].split())
            # the probe ran once, in the first turn, before the continuation
            assert len(engine.tokenizes) == 2
        assert len(engine.completions) == 4
        first_probe = engine.tokenizes[0]
        assert first_probe.at < engine.completions[1].request.at
        assert [t.path for t in engine.tokenizes] == ["/tokenize", "/tokenize"]
        for probe in engine.tokenizes:
            assert probe.body.keys() == {
                "model",
                "messages",
                "continue_final_message",
                "add_generation_prompt",
                "chat_template_kwargs",
            }
            assert probe.body["model"] == MODELS["vllm"]
            assert probe.body["continue_final_message"] is True
            assert probe.body["add_generation_prompt"] is False
            assert probe.body["chat_template_kwargs"] == {"enable_thinking": True}
            assert probe.body["messages"][-1]["role"] == "assistant"
            assert probe.headers["Authorization"] == f"Bearer {KEY}"
        thoughts = {len(p.body["messages"][-1]["reasoning"].split()) for p in engine.tokenizes}
        assert len(thoughts) == 2  # a short and a long thought


async def test_vllm_template_that_drops_the_thought_asks_again(
    models: Models, caplog: pytest.LogCaptureFixture
) -> None:
    """A template that drops a thought given back (the two /tokenize counts are equal): the
    question is asked again with thinking off; the probe is not repeated in the next turn.
    ``max_thinking_time`` given per call."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with ThinkingEngine("vllm", renders=False) as engine:
        model = models(engine, extra_kwargs=HIGH)
        logged: list[list[str]] = []
        for n in (1, 2):
            caplog.clear()
            turn = await speak(model, max_thinking_time=LIMIT)
            assert_heard_in_time(turn)
            logged.append(deadline_logs(caplog))
            cut, again = engine.completions[-2:]
            await engine.wait_hung_up(n)
            assert cut.body["thinking_token_budget"] == 24576 and cut.answer == []
            assert again.mode == "answer" and again.answer == list(ANSWER)
            assert_asked_again(cut.body, again.body, budget="thinking_token_budget")
            assert len(engine.tokenizes) == 2
        assert len(engine.completions) == 4
        # one deadline record per turn (the once-per-LLM note that this template drops the
        # thought is about the server, not the turn, and is not repeated)
        assert len(logged[0]) == len(logged[1]) == 1 and "reached" in logged[1][0]
        assert any("drops a thought" in r.getMessage() for r in caplog.records) is False


async def test_vllm_raw_thought_without_reasoning_parser(
    models: Models, caplog: pytest.LogCaptureFixture
) -> None:
    """vLLM without ``--reasoning-parser``: the budget is refused in an error event (HTTP 200)
    and sent again once without it, with one WARNING, and never again on this LLM; the thought
    arrives raw in content (``<|channel>thought``) and is still cut and continued, unheard."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with ThinkingEngine("vllm", reasoning_parser=False) as engine:
        model = models(engine, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        turn = await speak(model)
        assert_heard_in_time(turn)
        refused, cut, follow = engine.completions
        assert refused.mode == "refused" and refused.body["thinking_token_budget"] == 24576
        assert "thinking_token_budget" not in cut.body and cut.mode == "think"
        assert {k: v for k, v in refused.body.items() if k != "thinking_token_budget"} == cut.body
        assert follow.mode == "continued" and follow.answer == list(ANSWER)
        final = follow.body["messages"][-1]
        assert final["role"] == "assistant" and final["content"] == ""
        assert_given_back(cut, final["reasoning"])
        assert "<|channel>" not in final["reasoning"] and "<channel|>" not in final["reasoning"]
        assert len(deadline_logs(caplog)) == 1
        (warning,) = warnings_of(caplog)
        assert "thinking_token_budget" in warning

        caplog.clear()
        turn = await speak(model)
        assert_heard_in_time(turn)
        assert len(engine.completions) == 5
        cut, follow = engine.completions[3:]
        assert cut.mode == "think" and follow.mode == "continued"
        for completion in engine.completions[1:]:
            assert "thinking_token_budget" not in completion.body
        assert len(engine.tokenizes) == 2
        assert len(deadline_logs(caplog)) == 1
        assert warnings_of(caplog) == []


# -- Ollama: ask again ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["ollama", "auto"])
async def test_ollama_asks_again_with_thinking_off(
    models: Models, caplog: pytest.LogCaptureFixture, backend: str
) -> None:
    """Ollama has no budget and no prefill: cut at the deadline, asked again with
    ``reasoning_effort: "none"``. ``max_thinking_time`` set with update_options; ``auto``
    finds Ollama by its ``/api/version``."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with ThinkingEngine("ollama") as engine:
        model = models(engine, backend=backend, extra_kwargs=HIGH)
        model.update_options(max_thinking_time=LIMIT)
        caplog.clear()
        turn = await speak(model)
        assert_heard_in_time(turn)
        cut, again = engine.completions
        await engine.wait_hung_up(1)
        assert cut.body["reasoning_effort"] == "high" and cut.answer == []
        assert not {"thinking_budget_tokens", "thinking_token_budget", "reasoning_control"} & (
            cut.body.keys() | again.body.keys()
        )
        assert again.mode == "answer" and again.answer == list(ANSWER)
        assert_asked_again(cut.body, again.body, budget=None)
        assert len(deadline_logs(caplog)) == 1
        assert model.provider == "ollama"


# -- what is never cut ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["llama.cpp", "vllm", "ollama"])
async def test_thought_that_ends_in_time_is_never_cut(
    models: Models, caplog: pytest.LogCaptureFixture, kind: Kind
) -> None:
    """A thought that ends by itself before the deadline: one request, no control, nothing cut;
    its deltas are the reasoning tokens (none of these engines counts them in usage)."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with ThinkingEngine(kind, think_for=0.3) as engine:
        model = models(engine, extra_kwargs=HIGH, max_thinking_time=2.0)
        turn = await speak(model)
        assert turn.text == ANSWER_TEXT
        (completion,) = engine.completions
        assert completion.ended_by == "time" and completion.hung_up_at is None
        # a watched request asks vLLM's rendering probe (two /tokenize) ahead, once per LLM
        assert engine.controls == [] and len(engine.tokenizes) <= 2
        assert turn.ended_by is None
        assert turn.thinking_time is not None and 0.29 <= turn.thinking_time < 2.0
        assert turn.usage and turn.usage[-1].reasoning_tokens == len(completion.thought) >= 2
        assert deadline_logs(caplog) == []


async def test_raw_thought_is_counted_as_reasoning_tokens(models: Models) -> None:
    """vLLM without a reasoning parser reports no reasoning tokens: the thought's deltas,
    raw in content, are what the plugin can count (as it does for ``reasoning`` deltas)."""
    async with ThinkingEngine("vllm", think_for=0.3, reasoning_parser=False) as engine:
        model = models(engine, extra_kwargs=HIGH)
        turn = await speak(model)
        assert turn.text == ANSWER_TEXT
        completion = engine.completions[-1]
        assert completion.mode == "think" and len(completion.thought) >= 2
        # the thought's deltas, give or take its two markers
        assert turn.usage
        assert len(completion.thought) <= turn.usage[-1].reasoning_tokens
        assert turn.usage[-1].reasoning_tokens <= len(completion.thought) + 2


@pytest.mark.parametrize("kind", ["llama.cpp", "vllm"])
@pytest.mark.parametrize(
    "effort, own, budget",
    [("low", None, 1024), ("medium", None, 8192), ("high", None, 24576), ("high", 3, 3)],
    ids=["low", "medium", "high", "own-budget"],
)
async def test_reasoning_effort_goes_as_a_token_budget(
    models: Models, kind: Kind, effort: str, own: int | None, budget: int
) -> None:
    """``reasoning_effort`` low/medium/high is sent as 1024/8192/24576 thinking tokens in
    the engine's own budget field; a budget the user set in ``extra_body`` wins (and the
    engine ends the thought there: nothing for the deadline to do)."""
    name = BUDGET_FIELDS[kind]
    given: dict[str, Any] = {"reasoning_effort": effort}
    if own is not None:
        given["extra_body"] = {name: own}
    async with ThinkingEngine(kind, think_for=0.3) as engine:
        model = models(engine, extra_kwargs=given, max_thinking_time=LIMIT)
        turn = await speak(model)
        assert turn.text == ANSWER_TEXT
        (completion,) = engine.completions
        assert completion.body[name] == budget
        assert engine.controls == [] and turn.ended_by is None
        if own is not None:
            assert completion.ended_by == "budget" and len(completion.thought) == own


@pytest.mark.parametrize("kind", ["llama.cpp", "vllm"])
async def test_an_answer_that_has_begun_is_never_cut(models: Models, kind: Kind) -> None:
    """The answer starts before the deadline and streams slowly past it: heard whole, one
    request, no control call."""
    parts = ("One", " two", " three", " four", " five", " six")
    async with ThinkingEngine(kind, think_for=0.5, answer=parts, answer_step=0.25) as engine:
        model = models(engine, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        turn = await speak(model)
        assert turn.text == "".join(parts)
        assert turn.took > LIMIT  # the reply did run past the deadline
        (completion,) = engine.completions
        assert completion.answer == list(parts) and completion.hung_up_at is None
        # a watched request asks vLLM's rendering probe (two /tokenize) ahead, once per LLM
        assert engine.controls == [] and len(engine.tokenizes) <= 2
        assert turn.ended_by is None
        assert turn.thinking_time is not None and turn.thinking_time < LIMIT


@pytest.mark.parametrize("kind", ["vllm", "ollama"])
async def test_answer_read_in_the_same_read_as_the_cut_is_not_said_twice(
    models: Models, kind: Kind
) -> None:
    """The prompt takes longer than max_thinking_time, then a short thought and the answer's
    first word arrive in one read (a buffering proxy, or a reader behind a fast engine). The
    thought is under way when it is read, so the response is cut, and asked again: the
    caller must still hear the answer once. (The cut is a cancellation that lands at the next
    wait; the chunks already read with the thought were spoken before it: "TheThe answer".)"""
    engine = ThinkingEngine(kind, prompt_for=1.3, think_for=0.1, burst=True, answer_step=0.3)
    async with engine:
        model = models(engine, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        turn = await speak(model)
        assert turn.text == ANSWER_TEXT, turn.parts


@pytest.mark.parametrize("kind", ["llama.cpp", "vllm", "ollama"])
async def test_thinking_off_sends_no_control_and_no_budget(
    models: Models, caplog: pytest.LogCaptureFixture, kind: Kind
) -> None:
    """Thinking off (the default for Gemma 4): no ``reasoning_control``, no budget, and no
    deadline action, even with max_thinking_time set."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with ThinkingEngine(kind) as engine:
        model = models(engine, max_thinking_time=LIMIT)
        turn = await speak(model)
        assert turn.text == ANSWER_TEXT
        (completion,) = engine.completions
        body = completion.body
        assert completion.mode == "answer"
        assert (
            not {"reasoning_control", "thinking_budget_tokens", "thinking_token_budget"}
            & body.keys()
        )
        # llama-server and Ollama think by default: Gemma 4's "off" is said there
        assert body.get("reasoning_effort") == (None if kind == "vllm" else "none")
        assert engine.controls == [] and engine.tokenizes == []
        assert turn.ended_by is None and turn.thinking_time is None
        assert deadline_logs(caplog) == []


async def test_a_request_with_thinking_off_is_not_watched(models: Models) -> None:
    """A model that thinks by the server's own default, with thinking switched off by the
    request (``reasoning_effort="none"``): no ``reasoning_control`` is sent and nothing is
    done at the deadline. (A request that says nothing about thinking is watched: Qwen3 and
    gpt-oss think unasked, see test_thinking_deadline.py.)"""
    async with ThinkingEngine("llama.cpp", think_for=1.5, thinks_unasked=True) as engine:
        model = models(
            engine,
            model="Qwen/Qwen3-8B",
            max_thinking_time=LIMIT,
            extra_kwargs={"reasoning_effort": "none"},
        )
        turn = await speak(model)
        assert turn.text == ANSWER_TEXT
        (completion,) = engine.completions
        assert completion.mode == "answer"
        assert "reasoning_control" not in completion.body
        assert engine.controls == []
        assert turn.ended_by is None


async def test_per_call_none_lets_the_model_think(models: Models) -> None:
    """``chat(max_thinking_time=None)`` wins over the LLM's own: nothing is armed or cut."""
    async with ThinkingEngine("llama.cpp", think_for=1.5) as engine:
        model = models(engine, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        turn = await speak(model, max_thinking_time=None)
        assert turn.text == ANSWER_TEXT
        (completion,) = engine.completions
        assert "reasoning_control" not in completion.body
        assert completion.body["thinking_budget_tokens"] == 24576
        assert completion.ended_by == "time" and engine.controls == []
        assert turn.ended_by is None
        assert turn.first_word is not None and turn.first_word >= 1.5 - 0.05


async def test_first_token_timeout_stays_the_outer_guard(models: Models) -> None:
    """Ending the thought does not extend the attempt: a server that takes 1.5 s before each
    first token is cut at its thought and asked again, and the 2 s first_token_timeout still
    ends the attempt (retryable, nothing heard) before the second answer at about 3 s."""
    async with ThinkingEngine("ollama", prompt_for=1.5) as engine:
        model = models(engine, extra_kwargs=HIGH, max_thinking_time=LIMIT, first_token_timeout=2.0)
        start = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            await speak(model)
        took = time.monotonic() - start
        assert 2.0 - 0.01 <= took < LATEST, took
        assert info.value.retryable is True and "first_token_timeout" in str(info.value)
        cut, again = engine.completions
        assert cut.answer == [] and again.body["reasoning_effort"] == "none"
        await engine.wait_hung_up(2)
        assert again.answer == []


# -- a thought that used up the token limit -------------------------------------------------------


@pytest.mark.parametrize(
    "kind, renders, parser",
    [
        ("llama.cpp", True, True),
        ("vllm", True, True),
        ("vllm", False, True),
        ("vllm", True, False),
        ("ollama", True, True),
    ],
    ids=["llama.cpp", "vllm-renders", "vllm-drops", "vllm-raw", "ollama"],
)
async def test_thought_that_used_up_the_token_limit_ends_in_an_answer(
    models: Models, kind: Kind, renders: bool, parser: bool
) -> None:
    """``finish_reason: "length"`` with thought only was an APIError: now the thought is
    continued (llama-server; vLLM where the template renders it) or the question asked again
    with thinking off (Ollama; vLLM where it drops it). ``vllm-raw``: no reasoning parser, so
    the budget is refused first and the thought arrives in raw markers."""
    async with ThinkingEngine(kind, renders=renders, reasoning_parser=parser) as engine:
        limit = 6
        model = models(engine, extra_kwargs={**HIGH, "max_completion_tokens": limit})
        turn = await speak(model)
        assert turn.text == ANSWER_TEXT
        assert turn.ended_by == "token_limit"
        assert turn.thinking_time is not None and turn.thinking_time < LATEST
        if not parser:
            assert engine.completions[0].mode == "refused"
        spent, follow = engine.completions[0 if parser else 1 :]
        assert spent.ended_by == "length" and spent.finish_reason == "length"
        assert spent.answer == [] and spent.tokens == limit and spent.thought
        assert spent.limit == follow.limit == limit
        assert follow.answer == list(ANSWER)
        assert engine.controls == []
        assert len(engine.tokenizes) == (2 if kind == "vllm" else 0)
        given_back = kind == "llama.cpp" or (kind == "vllm" and renders)
        if given_back:
            key = "reasoning_content" if kind == "llama.cpp" else "reasoning"
            final = follow.body["messages"][-1]
            assert follow.mode == "continued"
            # the whole thought was read: it is given back whole
            assert final == {"role": "assistant", "content": "", key: spent.thought_text.strip()}
            assert follow.body["messages"][:-1] == spent.body["messages"]
        else:
            assert follow.mode == "answer"
            assert_asked_again(spent.body, follow.body, budget=BUDGET_FIELDS.get(kind))


async def test_token_limit_on_an_engine_without_means_is_a_retryable_error(models: Models) -> None:
    """An unknown engine (``openai-compatible``) has no way to continue: still the retryable
    APIError, nothing heard, one request."""
    async with ThinkingEngine("llama.cpp") as engine:
        model = models(
            engine, backend="openai-compatible", extra_kwargs={**HIGH, "max_completion_tokens": 6}
        )
        with pytest.raises(APIError) as info:
            await speak(model)
        assert info.value.retryable is True
        assert "length" in str(info.value)
        (completion,) = engine.completions
        assert completion.body["max_tokens"] == 6 and completion.finish_reason == "length"
        assert "reasoning_control" not in completion.body


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 0.0, -1, float("inf"), float("nan"), True, False, "1"])
async def test_invalid_values_are_refused(value: Any) -> None:
    """A value that could never pass, a flag or a string: ValueError naming the option, from
    the constructor, update_options and chat()."""
    with pytest.raises(ValueError, match="max_thinking_time"):
        hosted.LLM.self_hosted(
            "m", base_url="http://127.0.0.1:1/v1", backend="vllm", max_thinking_time=value
        )
    model = hosted.LLM.self_hosted("m", base_url="http://127.0.0.1:1/v1", backend="vllm")
    try:
        with pytest.raises(ValueError, match="max_thinking_time"):
            model.update_options(max_thinking_time=value)
        with pytest.raises(ValueError, match="max_thinking_time"):
            model.chat(chat_ctx=user_ctx(), max_thinking_time=value)
        assert model._opts.max_thinking_time is None
    finally:
        await model.aclose()


async def test_not_less_than_first_token_timeout_is_refused() -> None:
    """The attempt would end before the thought is cut short: refused everywhere it is set."""
    url = "http://127.0.0.1:1/v1"
    for value, deadline in ((10.0, 10.0), (12, 10.0), (2.0, 1.5)):
        with pytest.raises(ValueError, match="less than first_token_timeout"):
            hosted.LLM.self_hosted(
                "m",
                base_url=url,
                backend="llama.cpp",
                first_token_timeout=deadline,
                max_thinking_time=value,
            )
    # no first_token_timeout: any number of seconds
    free = hosted.LLM.self_hosted(
        "m", base_url=url, backend="llama.cpp", first_token_timeout=None, max_thinking_time=60.0
    )
    model = hosted.LLM.self_hosted("m", base_url=url, backend="llama.cpp", max_thinking_time=2.0)
    try:
        with pytest.raises(ValueError, match="less than first_token_timeout"):
            model.update_options(max_thinking_time=10.0)
        with pytest.raises(ValueError, match="less than first_token_timeout"):
            model.update_options(first_token_timeout=2.0)  # the one set already
        with pytest.raises(ValueError, match="less than first_token_timeout"):
            model.chat(chat_ctx=user_ctx(), max_thinking_time=11.0)
        assert model._opts.max_thinking_time == 2.0 and model._opts.first_token_timeout == 10.0
        model.update_options(first_token_timeout=3.0, max_thinking_time=2.5)
        assert model._opts.max_thinking_time == 2.5 and model._opts.first_token_timeout == 3.0
    finally:
        await free.aclose()
        await model.aclose()


async def test_livekit_inference_refuses_it() -> None:
    """LiveKit Inference has no means to end a thought: refused in the constructor,
    update_options and chat()."""
    kw: dict[str, Any] = {
        "base_url": "http://127.0.0.1:1/v1",
        "api_key": API_KEY,
        "api_secret": API_SECRET,
    }
    with pytest.raises(
        ValueError, match="max_thinking_time is not supported by the livekit backend"
    ):
        hosted.LLM("google/gemma-4-31b-it", max_thinking_time=1.0, **kw)
    model = hosted.LLM("google/gemma-4-31b-it", **kw)
    try:
        with pytest.raises(ValueError, match="livekit"):
            model.update_options(max_thinking_time=1.0)
        with pytest.raises(ValueError, match="livekit"):
            model.chat(chat_ctx=user_ctx(), max_thinking_time=1.0)
        assert model._opts.max_thinking_time is None
    finally:
        await model.aclose()


@pytest.mark.parametrize("backend", ["llama-cpp-python", "openai-compatible"])
async def test_engines_without_means_refuse_it(backend: str) -> None:
    """llama-cpp-python and an unknown engine cannot end a thought: refused, naming the
    backend, wherever it is set."""
    url = "http://127.0.0.1:1/v1"
    with pytest.raises(ValueError, match=f"not supported by the {backend} backend"):
        hosted.LLM.self_hosted("m", base_url=url, backend=backend, max_thinking_time=1.0)
    model = hosted.LLM.self_hosted("m", base_url=url, backend=backend)
    try:
        with pytest.raises(ValueError, match=backend):
            model.update_options(max_thinking_time=1.0)
        with pytest.raises(ValueError, match=backend):
            model.chat(chat_ctx=user_ctx(), max_thinking_time=1.0)
        model.update_options(max_thinking_time=None)  # None is no deadline: always allowed
    finally:
        await model.aclose()


@pytest.mark.parametrize(
    "owned_by, backend",
    [(None, "openai-compatible"), ("me", "llama-cpp-python")],
)
@pytest.mark.parametrize("per_call", [False, True])
async def test_auto_detected_engine_without_means_refuses_it_before_sending(
    owned_by: str | None, backend: str, per_call: bool
) -> None:
    """``backend="auto"``: the engine is known only at the first request; detected as one
    that cannot end a thought, the stream raises ValueError before any completion is sent."""
    async with Gateway(verify_jwt=False) as gw:
        card: dict[str, Any] = {"id": "m", "object": "model"}
        if owned_by is not None:
            card["owned_by"] = owned_by
        gw.models_reply = Reply(body={"object": "list", "data": [card]})
        persistent = None if per_call else LIMIT
        model = hosted.LLM.self_hosted("m", base_url=gw.url, max_thinking_time=persistent)
        chat: dict[str, Any] = {"max_thinking_time": LIMIT} if per_call else {}
        try:
            with pytest.raises(ValueError, match=f"not supported by the {backend} backend"):
                await speak(model, extra_kwargs=HIGH, **chat)
            assert model.provider == backend
            assert [r.path for r in gw.requests if r.path.endswith("/chat/completions")] == []
        finally:
            await model.aclose()


# -- the stand-in itself --------------------------------------------------------------------------


async def test_stand_in_control_answers_as_llama_server() -> None:
    """The control endpoint answers as llama-server's does: an unknown id, and a completion
    that was not sent with ``reasoning_control``, are ``200 {"success": false}``."""
    async with (
        ThinkingEngine("llama.cpp") as engine,
        httpx.AsyncClient(timeout=5.0) as client,
    ):
        control = f"{engine.url}/chat/completions/control"
        body = {
            "model": "m",
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": True,
            **HIGH,
        }
        async with client.stream("POST", f"{engine.url}/chat/completions", json=body) as response:
            lines = response.aiter_lines()
            first = await anext(lines)
            assert first.startswith("data: ") and engine.completions[0].id in first
            unknown = await client.post(control, json={"id": "nope", "action": "reasoning_end"})
            assert unknown.status_code == 200
            assert unknown.json() == {"success": False, "message": NO_COMPLETION}
            not_armed = await client.post(
                control, json={"id": engine.completions[0].id, "action": "reasoning_end"}
            )
            assert not_armed.json() == {"success": False, "message": NOT_ENABLED}
        await engine.wait_hung_up(1)
        assert engine.completions[0].ended_by is None
