"""The real local engine: llama.cpp (llama-cpp-python's server) running Gemma 3 270M.

These run in CI (the ``local`` extra is installed there); outside CI they skip when the extra
is missing. One engine serves the whole module.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from livekit.agents import Agent, APIConnectOptions, APIError, llm
from livekit.agents.voice.run_result import ChatMessageEvent

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted import Session
from livekit_plugins_hosted.local import (
    LOCAL_MODEL_ID,
    LocalEngine,
    local_engine_available,
    start_local_engine,
)
from tests.waits import MetricsSeen

if not local_engine_available():
    if os.environ.get("CI"):
        raise RuntimeError('CI must run the real-engine tests: install ".[dev,local]"')
    pytest.skip("the local extra is not installed", allow_module_level=True)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ONE_TRY = APIConnectOptions(max_retry=0, timeout=30)
FIRST_WORD = 60.0
"""The first-word deadline here: a real engine on a busy 2-core machine can take longer than
the default 10 s over a cold prompt, and these tests are about the engine, not the deadline
(tests/test_first_word.py tests that)."""
PROMPT = "The three primary colors are"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine() -> AsyncIterator[LocalEngine]:
    async with LocalEngine(progress=None) as eng:
        yield eng


def _llm(engine: LocalEngine, **params: Any) -> hosted.LLM:
    return hosted.LLM.self_hosted(
        LOCAL_MODEL_ID,
        base_url=engine.base_url,
        backend="llama-cpp-python",
        first_token_timeout=FIRST_WORD,
        extra_kwargs=params,
    )


def _ctx(text: str = PROMPT) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content=text)
    return ctx


async def _reply(model: hosted.LLM, **per_call: Any) -> tuple[str, int]:
    """The reply text and how many content deltas (tokens) it came in."""
    parts: list[str] = []
    async with model.chat(chat_ctx=_ctx(), conn_options=ONE_TRY, extra_kwargs=per_call) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                parts.append(chunk.delta.content)
    return "".join(parts), len(parts)


async def test_max_completion_tokens_bounds_the_reply(engine: LocalEngine) -> None:
    """max_completion_tokens=5 gives at most 5 tokens (the built-in LLM got thousands)."""
    model = _llm(engine, max_completion_tokens=5, temperature=0.0)
    text, tokens = await _reply(model)
    assert 1 <= tokens <= 5, text
    await model.aclose()


async def test_same_seed_same_text(engine: LocalEngine) -> None:
    """Sampling with the same seed twice gives the same reply; another seed may differ."""
    model = _llm(engine, max_completion_tokens=12, temperature=1.0, seed=1234)
    first, _ = await _reply(model)
    second, _ = await _reply(model)
    assert first and first == second
    await model.aclose()


async def test_temperature_zero_is_deterministic(engine: LocalEngine) -> None:
    """Greedy decoding gives the same reply every time."""
    model = _llm(engine, max_completion_tokens=12, temperature=0.0)
    replies = {(await _reply(model))[0] for _ in range(3)}
    assert len(replies) == 1 and next(iter(replies))
    await model.aclose()


async def test_stop_sequence_ends_the_reply(engine: LocalEngine) -> None:
    """A stop string taken from the greedy reply cuts it right before that string."""
    model = _llm(engine, max_completion_tokens=24, temperature=0.0)
    full, _ = await _reply(model)
    words = full.split()
    assert len(words) >= 3, full
    # a word whose first occurrence has text before it: a reply cut to nothing is not a
    # reply (the plugin raises an APIError for an empty completion)
    stop = next(w for w in words[len(words) // 2 :] if full[: full.find(w)].strip())
    cut, _ = await _reply(model, stop=[stop])
    assert stop not in cut
    assert full.startswith(cut) and len(cut) < len(full)
    await model.aclose()


async def test_cancel_mid_generation_frees_the_engine(engine: LocalEngine) -> None:
    """Interrupting a long reply stops generation: the next request is served at once.

    At once: within 15 s plus five times the same small request on the idle engine, measured
    first (a busy machine slows both); the engine left generating would take about a minute.
    """
    model = _llm(engine, temperature=0.8, seed=1)
    start = time.monotonic()
    assert (await asyncio.wait_for(_reply(model, max_completion_tokens=3), timeout=30))[0]
    idle = time.monotonic() - start
    long_stream = model.chat(
        chat_ctx=_ctx(), conn_options=ONE_TRY, extra_kwargs={"max_completion_tokens": 1500}
    )
    async for chunk in long_stream:
        if chunk.delta and chunk.delta.content:
            break
    await long_stream.aclose()
    start = time.monotonic()
    text, _ = await asyncio.wait_for(_reply(model, max_completion_tokens=3), timeout=60)
    elapsed = time.monotonic() - start
    assert text
    # 1500 tokens at this machine's ~25 tokens/s would take about a minute
    bound = 15 + 5 * idle
    assert elapsed < bound, f"next request waited {elapsed:.1f}s (idle {idle:.1f}s): still busy"
    await model.aclose()


async def test_agent_session_turn_on_the_local_engine(engine: LocalEngine) -> None:
    """A full Session text turn completes against the real model."""
    model = _llm(engine, max_completion_tokens=16, temperature=0.0)
    async with Session(llm=model) as session:
        await session.start(Agent(instructions="Answer briefly."))
        result = await session.run(user_input="Name a color.")
    replies = [
        ev.item.text_content
        for ev in result.events
        if isinstance(ev, ChatMessageEvent) and ev.item.role == "assistant"
    ]
    assert replies and replies[0]
    await model.aclose()


async def test_metrics_without_server_usage(engine: LocalEngine) -> None:
    """The engine streams no usage, yet the metrics carry a token count and tokens/s."""
    model = _llm(engine, max_completion_tokens=6, temperature=0.0)
    seen = MetricsSeen(model)
    await _reply(model)
    metrics = await seen.first()
    assert metrics.completion_tokens >= 1 and metrics.tokens_per_second > 0
    assert metrics.ttft > 0
    await model.aclose()


@pytest.mark.parametrize(
    "params",
    [
        {"n": 2},
        {"continue_final_message": True},
        {"add_generation_prompt": False},
        {"reasoning_effort": "low"},
        {"temperature": 3},
    ],
)
async def test_bad_parameters_refused_before_sending(
    engine: LocalEngine, params: dict[str, Any]
) -> None:
    """What this engine cannot honour fails with ValueError at construction and per call."""
    field = next(iter(params))
    with pytest.raises(ValueError, match=field):
        _llm(engine, **params)
    model = _llm(engine)
    with pytest.raises(ValueError, match=field):
        model.chat(chat_ctx=_ctx(), extra_kwargs=params)
    await model.aclose()


async def test_engine_stops_without_orphans() -> None:
    """The context manager starts a second engine and leaves no process behind."""
    async with start_local_engine(
        progress=None, extra_kwargs={"max_completion_tokens": 2}, first_token_timeout=FIRST_WORD
    ) as m:
        engine_url = m.base_url
        text, _ = await _reply(m)
        assert text
    # the port no longer answers: the process is gone
    reader_writer = None
    try:
        host, port = engine_url.removeprefix("http://").removesuffix("/v1").split(":")
        reader_writer = await asyncio.open_connection(host, int(port))
    except OSError:
        pass
    else:
        pytest.fail("the engine still listens after the context exited")
    finally:
        if reader_writer is not None:
            reader_writer[1].close()


async def test_backend_detected_and_token_limit_honoured(engine: LocalEngine) -> None:
    """With no backend named, the server is found to be llama-cpp-python and
    max_completion_tokens=8 bounds the reply (the default profile used to send a field this
    server ignores, and the reply ran on for hundreds of characters)."""
    model = hosted.LLM.self_hosted(
        LOCAL_MODEL_ID,
        base_url=engine.base_url,
        first_token_timeout=FIRST_WORD,
        extra_kwargs={"max_completion_tokens": 8, "temperature": 0.0},
    )
    assert model.provider == "auto"
    seen = MetricsSeen(model)
    text, tokens = await _reply(model)
    assert model.provider == "llama-cpp-python"
    assert 1 <= tokens <= 8, text
    assert 1 <= (await seen.first()).completion_tokens <= 8
    await model.aclose()


async def test_detected_profile_refuses_before_sending(engine: LocalEngine) -> None:
    """After detection, what this engine cannot honour is refused before the request, as on
    the turn that detected it: a ValueError that is also a non-retryable APIError, raised by
    the turn's stream (the framework acts on it)."""
    model = hosted.LLM.self_hosted(LOCAL_MODEL_ID, base_url=engine.base_url)
    await model._prewarm_impl()  # the framework calls this when a session starts
    assert model.provider == "llama-cpp-python"
    with pytest.raises(ValueError, match="add_generation_prompt") as raised:
        stream = model.chat(chat_ctx=_ctx(), extra_kwargs={"add_generation_prompt": False})
        await stream.collect()
    assert isinstance(raised.value, APIError) and not raised.value.retryable
    await model.aclose()
