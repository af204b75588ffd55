"""``max_thinking_time`` correct to the end (issue 22): the defects the happy path of issue 17
left on the deadline's path, each on a loopback stand-in of the engine it is about
(:class:`tests.thinking_engines.ThinkingEngine`).

Time bounds as in ``test_thinking_time.py``: never before the deadline (1 s), and an upper
bound that only has to tell the deadline's path from the thought's own end (6 s), with seconds
of slack; what must happen in an order is waited for as an event of the stand-in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import pytest
from aiohttp import web
from livekit.agents import APIConnectionError, APIConnectOptions, APIError, llm

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted import deadline
from livekit_plugins_hosted.stream import LLMStream
from livekit_plugins_hosted.thinking import CONTROL_TIMEOUT
from tests.gateway import Gateway, Reply, user_ctx
from tests.thinking_engines import ANSWER, THOUGHT_WORD, Completion, Kind, ThinkingEngine

ONCE = APIConnectOptions(max_retry=0, timeout=10)
HIGH: dict[str, Any] = {"reasoning_effort": "high"}
ANSWER_TEXT = "".join(ANSWER)
LIMIT = 1.0
EARLIEST = LIMIT - 0.01
LATEST = 4.0
TURN_BOUND = 8.0
GEMMA = "google/gemma-4-31B-it"
LLAMA_GEMMA = "unsloth/gemma-4-31b-it-GGUF:Q4_K_M"


@dataclass
class Heard:
    """One turn as a voice agent hears it."""

    text: str
    first_word: float | None
    """Seconds from ``chat()`` to the first text heard."""
    stream: LLMStream
    written_at_first_word: int | None = None
    """Answer parts the stand-in had written when the first text was heard."""


async def hear(
    model: hosted.LLM,
    ctx: llm.ChatContext | None = None,
    *,
    engine: ThinkingEngine | None = None,
    **chat: Any,
) -> Heard:
    """One turn, read chunk by chunk; bounded by ``TURN_BOUND``."""
    parts: list[str] = []
    first: float | None = None
    written: int | None = None
    start = time.monotonic()
    stream: LLMStream = model.chat(
        chat_ctx=ctx or user_ctx("What is it?"), conn_options=ONCE, **chat
    )
    async with asyncio.timeout(TURN_BOUND), stream:
        async for chunk in stream:
            if chunk.delta is not None and chunk.delta.content:
                if first is None:
                    first = time.monotonic() - start
                    if engine is not None:
                        written = len(engine.completions[-1].answer)
                parts.append(chunk.delta.content)
    return Heard("".join(parts), first, stream, written)


def after_tool_result() -> llm.ChatContext:
    """A context ending with a tool result: where Gemma 4's template opens a thought when
    thinking is on."""
    ctx = user_ctx("What is the weather?")
    ctx.insert(
        [
            llm.FunctionCall(call_id="c1", name="get_weather", arguments="{}"),
            llm.FunctionCallOutput(call_id="c1", name="get_weather", output="18", is_error=False),
        ]
    )
    return ctx


class Models:
    def __init__(self) -> None:
        self.made: list[hosted.LLM] = []

    def __call__(self, engine: ThinkingEngine, model: str = GEMMA, **kw: Any) -> hosted.LLM:
        made = hosted.LLM.self_hosted(model, base_url=engine.url, backend=engine.kind, **kw)
        self.made.append(made)
        return made


@pytest.fixture
async def models() -> AsyncIterator[Models]:
    made = Models()
    yield made
    for model in made.made:
        await model.aclose()


def continued(c: Completion) -> bool:
    return c.mode == "continued"


# -- item 2: the rendering probe ------------------------------------------------------------------


@pytest.mark.parametrize("status", [503, 429, 408, 403, 400, 200])
async def test_a_failed_probe_is_asked_again(models: Models, status: int) -> None:
    """vLLM's ``/tokenize`` answers 503 (or a rate limit, a proxy's timeout, refusal or 400, or
    a 200 without counts, as a proxy's page) the first time: that turn asks again with thinking
    off, and the next turn probes again and continues from the thought (a failure is not taken
    for a template that drops it, for the LLM's life)."""
    async with ThinkingEngine("vllm", tokenize_fails=2, tokenize_status=status) as engine:
        model = models(engine, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        first = await hear(model)
        second = await hear(model)
    assert first.text == second.text == ANSWER_TEXT
    assert [c.mode for c in engine.completions] == ["think", "answer", "think", "continued"]
    assert len(engine.tokenizes) == 4


async def test_the_probe_is_asked_before_the_deadline(models: Models) -> None:
    """The rendering probe is sent with the request, not after the cut: its round trip is not
    on the first word's path."""
    async with ThinkingEngine("vllm") as engine:
        model = models(engine, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        heard = await hear(model)
    assert heard.text == ANSWER_TEXT
    cut = engine.completions[0]
    assert cut.hung_up_at is not None and engine.tokenizes
    assert engine.tokenizes[0].at < cut.hung_up_at
    assert continued(engine.completions[1])


# -- item 3: when the thought ended; a control task that fails ------------------------------------


async def test_thinking_time_is_when_the_thought_ended(models: Models) -> None:
    """llama-server ends the thought 0.8 s after answering the control request: thinking_time
    is stamped when the answer began, not when the control request was sent."""
    async with ThinkingEngine("llama.cpp", control_lag=0.8) as engine:
        model = models(engine, LLAMA_GEMMA, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        heard = await hear(model)
    assert heard.text == ANSWER_TEXT
    stream = heard.stream
    assert stream.thought_ended_by == "max_thinking_time"
    assert stream.thinking_time is not None and stream.thinking_time >= LIMIT + 0.7
    assert heard.first_word is not None and stream.thinking_time <= heard.first_word


async def test_a_control_request_that_raises_falls_back(models: Models) -> None:
    """The control request fails with an exception httpx does not raise itself (a hook of the
    caller's client): the stream is stopped and continued from the thought, on time."""

    async def hook(request: httpx.Request) -> None:
        if request.url.path.endswith("/control"):
            raise RuntimeError("refused by the caller's hook")

    async with (
        ThinkingEngine("llama.cpp") as engine,
        httpx.AsyncClient(event_hooks={"request": [hook]}) as client,
    ):
        model = models(
            engine, LLAMA_GEMMA, extra_kwargs=HIGH, max_thinking_time=LIMIT, http_client=client
        )
        heard = await hear(model)
    assert heard.text == ANSWER_TEXT
    assert heard.first_word is not None and EARLIEST <= heard.first_word < LATEST
    assert [c.mode for c in engine.completions] == ["think", "continued"]
    assert heard.stream.thought_ended_by == "max_thinking_time"


# -- item 4: a control request that said yes ------------------------------------------------------


async def test_a_thought_that_runs_on_after_the_control_request_is_stopped(
    models: Models,
) -> None:
    """llama-server answers ``success: true`` and keeps thinking: after the grace the stream is
    stopped and continued from the thought, long before first_token_timeout."""
    async with ThinkingEngine("llama.cpp", control_lies=True) as engine:
        model = models(engine, LLAMA_GEMMA, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        heard = await hear(model)
    assert heard.text == ANSWER_TEXT
    assert heard.first_word is not None and EARLIEST <= heard.first_word < LATEST
    assert [c.mode for c in engine.completions] == ["think", "continued"]
    assert len(engine.controls) == 1 and engine.controls[0].answer == {"success": True}


async def test_a_server_slow_to_answer_after_the_control_request_is_waited_for(
    models: Models,
) -> None:
    """llama-server agreed and its thought stopped, but its answer takes 2.5 s (a busy server):
    no thought grows meanwhile, so the stream is not stopped; one request, the answer heard."""
    async with ThinkingEngine("llama.cpp", control_lag=2.5) as engine:
        model = models(engine, LLAMA_GEMMA, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        heard = await hear(model)
    assert heard.text == ANSWER_TEXT
    assert [c.mode for c in engine.completions] == ["think"]
    assert engine.completions[0].ended_by == "control"
    stream = heard.stream
    assert stream.thinking_time is not None and stream.thinking_time >= LIMIT + 2.4


# -- items 5, 6, 14: a thought Gemma 4's prompt opened --------------------------------------------


async def test_a_thought_the_prompt_opened_is_cut(models: Models) -> None:
    """vLLM without a reasoning parser, after a tool result: the template opened the thought,
    so no start marker comes; it is still ended at the deadline and continued from."""
    async with ThinkingEngine("vllm", reasoning_parser=False, prompt_opens=True) as engine:
        model = models(engine, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        heard = await hear(model, after_tool_result())
    assert heard.text == ANSWER_TEXT and THOUGHT_WORD not in heard.text
    assert heard.first_word is not None and EARLIEST <= heard.first_word < LATEST
    assert heard.stream.thought_ended_by == "max_thinking_time"
    follow = engine.completions[-1]
    assert continued(follow)
    given = follow.body["messages"][-1]["reasoning"]
    assert given.startswith(f"{THOUGHT_WORD}1 ") and "<" not in given


async def test_the_answer_after_asking_again_streams(models: Models) -> None:
    """The same thought, with a template that drops a thought given back: asked again with
    thinking off, whose prompt opens no thought, so the answer is heard as it streams (its
    first part before the stand-in wrote the last)."""
    async with ThinkingEngine(
        "vllm", reasoning_parser=False, prompt_opens=True, renders=False, answer_step=0.3
    ) as engine:
        model = models(engine, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        heard = await hear(model, after_tool_result(), engine=engine)
    assert heard.text == ANSWER_TEXT
    assert engine.completions[-1].mode == "answer"
    assert heard.written_at_first_word is not None
    assert heard.written_at_first_word < len(ANSWER)


async def test_raw_thought_once_does_not_hold_later_answers(models: Models) -> None:
    """One turn's raw thought markers teach that thinking is on there; a later turn after a
    tool result that switches thinking off is still heard as it streams."""
    async with ThinkingEngine(
        "vllm", reasoning_parser=False, think_for=0.1, answer_step=0.3
    ) as engine:
        model = models(engine)
        thought = await hear(model, extra_kwargs=HIGH)
        assert thought.text == ANSWER_TEXT
        later = await hear(
            model, after_tool_result(), engine=engine, extra_kwargs={"reasoning_effort": "none"}
        )
    assert later.text == ANSWER_TEXT
    assert later.written_at_first_word is not None
    assert later.written_at_first_word < len(ANSWER)


# -- item 12: models that always think ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["vllm", "llama.cpp"])
async def test_a_model_that_always_thinks_is_watched(models: Models, kind: str) -> None:
    """DeepSeek-R1 thinks whatever the request says (its template opens the thought): with
    nothing asked about thinking, its thought is still ended at the deadline."""
    r1 = "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"
    async with ThinkingEngine(kind, thinks_unasked=True, model=r1) as engine:  # type: ignore[arg-type]
        model = models(engine, r1, max_thinking_time=LIMIT)
        heard = await hear(model)
    assert heard.text == ANSWER_TEXT
    assert heard.first_word is not None and EARLIEST <= heard.first_word < LATEST
    assert heard.stream.thought_ended_by == "max_thinking_time"


# -- item 9: a cancel while the deadline waits for its control task -------------------------------


async def test_aclose_while_the_control_request_is_abandoned_is_not_lost(
    models: Models,
) -> None:
    """``aclose()`` lands while the attempt's end waits for a control request that is slow to
    cancel: the stream closes at once, and no attempt is sent after the close."""
    cancelling, release, done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def hook(request: httpx.Request) -> None:
        if not request.url.path.endswith("/control"):
            return
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelling.set()
            await release.wait()  # a transport that takes its time to give up
            done.set()
            raise

    retry = APIConnectOptions(max_retry=1, retry_interval=0.1, timeout=10)
    # every reply starts 1 s late: the continuation that follows the control request given up
    # on cannot answer within first_token_timeout, so the attempt ends while it is abandoned
    async with (
        ThinkingEngine("llama.cpp", prompt_for=1.0) as engine,
        httpx.AsyncClient(event_hooks={"request": [hook]}) as client,
    ):
        model = models(
            engine,
            LLAMA_GEMMA,
            extra_kwargs=HIGH,
            max_thinking_time=LIMIT,
            first_token_timeout=2.5,
            http_client=client,
        )
        stream = model.chat(chat_ctx=user_ctx(), conn_options=retry)

        async def read() -> None:
            async for _ in stream:
                pass

        reader = asyncio.create_task(read())
        try:
            async with asyncio.timeout(TURN_BOUND):
                await cancelling.wait()  # the first attempt ended and abandons the control
            sent = len(engine.completions)  # the first request, and its continuation
            async with asyncio.timeout(3.0):
                await stream.aclose()
            assert len(engine.completions) == sent
        finally:
            release.set()
            async with asyncio.timeout(5.0):
                await done.wait()
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        assert len(engine.completions) == sent


# -- item 10: a closed LLM before the second request ----------------------------------------------


async def test_a_closed_llm_before_the_second_request_is_an_api_error() -> None:
    """The LLM is closed while the cut turn waits for its rendering probe: the second request
    is not sent, and the turn ends in the framework's APIError, not a RuntimeError."""
    hold = asyncio.Event()
    async with ThinkingEngine("vllm", tokenize_hold=hold) as engine:
        model = hosted.LLM.self_hosted(
            GEMMA, base_url=engine.url, backend="vllm", extra_kwargs=HIGH, max_thinking_time=LIMIT
        )
        turn = asyncio.create_task(hear(model))
        try:
            await engine.wait_hung_up(1)
            await engine.wait(lambda: bool(engine.tokenizes), within=5.0, what="the probe")
            await model.aclose()
        finally:
            hold.set()
        with pytest.raises(APIError) as info:
            await turn
    assert isinstance(info.value, APIConnectionError)
    assert "closed" in str(info.value)
    assert len(engine.completions) == 1


# -- a control request or a probe that hangs -----------------------------------------------------


class _ControlHangs(ThinkingEngine):
    """llama-server whose control endpoint takes the request and never answers."""

    async def _control(self, request: web.Request) -> web.Response:
        await request.read()
        self._note()
        await asyncio.sleep(TURN_BOUND)
        return web.json_response({"success": True})


async def test_a_control_request_that_hangs_is_given_up_on(models: Models) -> None:
    """The control request is never answered: the first word waited its whole timeout (2 s)
    past the deadline. Now the reading stops after the grace and the thought is continued."""
    async with _ControlHangs("llama.cpp") as engine:
        model = models(engine, LLAMA_GEMMA, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        heard = await hear(model)
    assert heard.text == ANSWER_TEXT
    assert heard.first_word is not None
    assert heard.first_word < LIMIT + deadline.CONTROL_GRACE + 0.75 < LIMIT + CONTROL_TIMEOUT
    assert [c.mode for c in engine.completions] == ["think", "continued"]


async def test_a_probe_that_hangs_is_not_waited_for(models: Models) -> None:
    """vLLM's ``/tokenize`` never answers: at the deadline the first word waited for the probe's
    whole timeout (2 s from the request). Now it waits the grace at most, then asks again with
    thinking off."""
    short = 0.3
    hold = asyncio.Event()
    async with ThinkingEngine("vllm", tokenize_hold=hold) as engine:
        model = models(engine, extra_kwargs=HIGH, max_thinking_time=short)
        try:
            heard = await hear(model)
        finally:
            hold.set()
    assert heard.text == ANSWER_TEXT
    assert heard.first_word is not None
    assert heard.first_word < short + deadline.CONTROL_GRACE + 0.5 < CONTROL_TIMEOUT
    assert [c.mode for c in engine.completions] == ["think", "answer"]


class _SlowControl(ThinkingEngine):
    """llama-server whose control answer takes 0.5 s (a busy server)."""

    async def _control(self, request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return await super()._control(request)


async def test_a_thought_the_model_ended_after_the_deadline_is_the_models(
    models: Models,
) -> None:
    """The model closes its thought by itself just after the deadline, while the control
    request is on its way: ``thought_ended_by`` said ``max_thinking_time`` whenever a control
    request was sent. It says the model ended it (``None``), as the span does."""
    async with _SlowControl("llama.cpp", think_for=LIMIT + 0.15) as engine:
        model = models(engine, LLAMA_GEMMA, extra_kwargs=HIGH, max_thinking_time=LIMIT)
        heard = await hear(model)
    assert heard.text == ANSWER_TEXT
    (completion,) = engine.completions
    assert completion.ended_by == "time"  # the stand-in's thought ended by itself
    assert heard.stream.thought_ended_by is None
    assert heard.stream.thinking_time is not None and heard.stream.thinking_time >= LIMIT


# -- a stray close marker is not a template that opens thoughts when thinking is off ------------


async def test_a_stray_close_marker_holds_no_answer_with_thinking_off() -> None:
    """``reasoning_effort="none"``: one reply with a stray ``</think>`` taught that this server's
    prompts open thoughts, and every later answer was held to its end (first word 2 s instead
    of at once). A request that switches thinking off streams its answer as it comes."""
    async with Gateway(verify_jwt=False) as gw:
        gw.replies.append(Reply.text("Okay let me think.</think>", "Hello", " there"))
        late = ["Hello", " there", " friend", "."]
        gw.replies.append(Reply.text(*late, delay_between=0.8))
        model = hosted.LLM.self_hosted(
            "my-model",
            base_url=gw.url,
            backend="vllm",
            extra_kwargs={"reasoning_effort": "none"},
        )
        try:
            first = await hear(model)
            second = await hear(model)
        finally:
            await model.aclose()
    assert "</think>" not in first.text
    assert second.text == "".join(late)
    # the reply takes 3 s to finish; its first word is out before its second part is sent
    assert second.first_word is not None and second.first_word < 0.7


# -- models that think unasked --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["llama.cpp", "vllm", "ollama"])
@pytest.mark.parametrize("name", ["Qwen/Qwen3-8B", "openai/gpt-oss-20b"])
async def test_a_model_that_thinks_unasked_is_watched(
    models: Models, kind: Kind, name: str
) -> None:
    """Qwen3 and gpt-oss think when the request says nothing about thinking: the thought ran
    its whole 5 s and ``max_thinking_time`` was silently ignored. It ends at the deadline."""
    async with ThinkingEngine(kind, thinks_unasked=True, think_for=5.0, model=name) as engine:
        model = models(engine, name, max_thinking_time=LIMIT, first_token_timeout=20)
        heard = await hear(model)
    assert heard.text == ANSWER_TEXT
    assert heard.first_word is not None and EARLIEST <= heard.first_word < LATEST
    assert heard.stream.thought_ended_by == "max_thinking_time"
    assert engine.completions[0].ended_by != "time"


# -- a model that thinks whatever the request says, after the deadline ---------------------------


R1 = "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"


async def test_a_model_that_always_thinks_is_answered_in_time_after_the_reask(
    models: Models,
) -> None:
    """vLLM with a template that drops the thought given back: the turn is asked again with
    thinking off, and DeepSeek-R1 thought again, unwatched, for its whole 5 s. The second
    request carries a thinking budget of none, so the answer comes in time, and
    ``thinking_time`` is when the thought ended."""
    async with ThinkingEngine(
        "vllm", renders=False, think_for=5.0, model=R1, always_thinks=True
    ) as engine:
        model = models(engine, R1, max_thinking_time=LIMIT, first_token_timeout=20)
        heard = await hear(model)
    assert heard.text == ANSWER_TEXT
    assert heard.first_word is not None and EARLIEST <= heard.first_word < LATEST
    _cut, again = engine.completions
    assert again.body["thinking_token_budget"] == 0 and again.thought == []
    stream = heard.stream
    assert stream.thought_ended_by == "max_thinking_time"
    assert stream.thinking_time is not None and stream.thinking_time <= heard.first_word


async def test_a_model_that_thinks_again_without_a_budget_ends_in_an_error(
    models: Models,
) -> None:
    """Ollama takes no budget: a model that thinks again when asked to answer is stopped
    shortly past the deadline, and the turn ends in an APIError that says why (nothing was
    said: a retry or a fallback may answer), not in a wait for the whole thought."""
    async with ThinkingEngine("ollama", think_for=6.0, model=R1, always_thinks=True) as engine:
        model = models(engine, R1, max_thinking_time=LIMIT, first_token_timeout=20)
        start = time.monotonic()
        with pytest.raises(APIError, match="thought again") as raised:
            await hear(model)
        took = time.monotonic() - start
    assert raised.value.retryable
    assert took < LATEST
    assert len(engine.completions) == 2


async def test_the_answer_after_a_parsed_opened_thought_is_not_held() -> None:
    """DeepSeek-R1 on vLLM with a reasoning parser: the prompt opens the thought, the server
    sends it in ``reasoning`` and the answer in ``content`` (never a ``</think>``). The answer
    was held to its end, taken for the inside of the thought; it streams as it comes."""
    async with ThinkingEngine(
        "vllm", model=R1, always_thinks=True, think_for=0.3, answer_step=1.0
    ) as engine:
        model = hosted.LLM.self_hosted(R1, base_url=engine.url, backend="vllm")
        try:
            heard = await hear(model)
        finally:
            await model.aclose()
    assert heard.text == ANSWER_TEXT
    # the answer's four parts take 3 s; its first is heard before the second is sent
    assert heard.first_word is not None and heard.first_word < 0.3 + 0.9
