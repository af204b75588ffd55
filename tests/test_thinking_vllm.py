"""``max_thinking_time`` on vLLM, held against vLLM's own request model and renderer.

At the deadline the plugin closes the stream and either continues from the thought so far
(given back in the final assistant message's ``reasoning``, ``continue_final_message: true``)
or, where the server's chat template drops such a thought, asks again with thinking off. It
finds out which once per LLM, with vLLM's ``POST /tokenize``.

Here a loopback stand-in plays vLLM's HTTP side, and vLLM 0.32 itself (``vllm_oracle.py`` in
its own venv) judges everything the plugin sent: the budget field, the continuation and the
re-ask pass its request model, and each prompt is rendered by its renderer with Gemma 4's
official template (the copy in llama.cpp's source, see ``.ci/run``). The stand-in's
``/tokenize`` answers with the counts of vLLM's own rendering of the plugin's probe bodies, so
the plugin's choice is made on what vLLM would render.

That official copy renders a thought only on a message with tool calls: it drops the thought
given back, and the plugin must ask again. Newer copies keep it; none is on PyPI, so the
"keeps the thought" case uses the same template with that one condition lifted for the final
message (``_keeping_template``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from livekit.agents import APIConnectOptions, llm

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted import thinking
from livekit_plugins_hosted.backends import REASONING_BUDGETS, VLLM
from tests.gateway import serve

ROOT = Path(__file__).resolve().parent.parent
ORACLE = ROOT / "tests" / "engines" / "vllm_oracle.py"
PYTHON = Path(os.environ.get("VLLM_PYTHON") or ROOT / ".venv-vllm" / "bin" / "python")
TEMPLATE = ROOT / "tests" / "engines" / "templates" / "google-gemma-4-31B-it.jinja"

if not PYTHON.exists() or not TEMPLATE.exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the vLLM thinking checks (see .ci/run)")
    pytest.skip("no vLLM venv or no Gemma 4 template (see .ci/run)", allow_module_level=True)

pytestmark = pytest.mark.asyncio(loop_scope="module")

GEMMA = "google/gemma-4-31B-it"
ANSWER = ["Four", " is", " the", " answer."]
THOUGHT_WORD = "pondering "
ONCE = APIConnectOptions(max_retry=0, timeout=20)
# the official copy renders reasoning only on an assistant message with tool calls
GUARD = "and message.get('tool_calls') -%}"


def _keeping_template(directory: Path) -> Path:
    """The official template, but a final assistant message's thought is rendered too."""
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.count(GUARD) == 1, "the template's thought condition moved: update GUARD"
    path = directory / "gemma4-keeps-final-thought.jinja"
    path.write_text(
        text.replace(GUARD, "and (message.get('tool_calls') or loop.last) -%}"), encoding="utf-8"
    )
    return path


async def _render(template: Path, requests: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """vLLM's rendering of each (kind, body): one oracle run."""
    given = {"render": str(template), "requests": [{"kind": k, "body": b} for k, b in requests]}
    done = await asyncio.to_thread(
        subprocess.run,
        [str(PYTHON), str(ORACLE)],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    assert isinstance(results, list)
    return results


def _key(body: Any) -> str:
    return json.dumps(body, sort_keys=True)


@dataclass
class StandIn:
    """vLLM's HTTP side: thinks in ``reasoning`` deltas until the client hangs up (or 6 s),
    answers a continuation or a request with thinking off at once; ``/tokenize`` answers the
    counts vLLM's renderer gave for those exact bodies."""

    counts: dict[str, int]
    bodies: list[dict[str, Any]] = field(default_factory=list)
    tokenized: int = 0
    thought: list[str] = field(default_factory=list)
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/tokenize", self._tokenize)
        app.router.add_post("/v1/chat/completions", self._completions)
        return app

    async def _models(self, _request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": GEMMA, "object": "model", "owned_by": "vllm"}]})

    async def _tokenize(self, request: web.Request) -> web.Response:
        self.tokenized += 1
        count = self.counts.get(_key(await request.json()))
        if count is None:
            return web.json_response({"error": {"message": "unexpected body"}}, status=400)
        return web.json_response(
            {"count": count, "max_model_len": 262144, "tokens": [], "token_strs": None}
        )

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        last = body["messages"][-1]
        continued = body.get("continue_final_message") is True and "reasoning" in last
        thinks = not continued and body.get("reasoning_effort") not in (None, "none")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {"id": "chatcmpl-v", "choices": [{"index": 0, "delta": delta}]}
            chunk["choices"][0]["finish_reason"] = finish
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        if thinks:
            ends = time.monotonic() + 6.0
            while time.monotonic() < ends:  # bounded: 6 s at most
                await send({"reasoning": THOUGHT_WORD})
                self.thought.append(THOUGHT_WORD)
                await asyncio.sleep(0.05)
        for word in ANSWER:
            await send({"content": word})
        await send({}, finish="stop")
        await response.write(b"data: [DONE]\n\n")
        return response


@dataclass
class Case:
    stand_in: StandIn
    heard: str
    first_word: float
    stream: hosted.LLMStream
    renders: bool
    rendered: list[dict[str, Any]]
    """vLLM's verdict on each body sent, in order."""
    given_back: dict[str, Any]
    """vLLM's rendering of the continuation that gives the thought back (sent or not)."""


async def _turn(stand_in: StandIn, model: hosted.LLM) -> tuple[str, float, hosted.LLMStream]:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="What is two plus two?")
    heard: list[str] = []
    first = 0.0
    start = time.monotonic()
    async with model.chat(chat_ctx=ctx, conn_options=ONCE) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                if not heard:
                    first = time.monotonic() - start
                heard.append(chunk.delta.content)
    return "".join(heard), first, stream


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cases(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[dict[str, tuple[Case, Path]]]:
    """One turn per template (official; keeping the final thought), plus a second turn on the
    same LLM: the probe's counts come from vLLM's renderer."""
    keeping = _keeping_template(tmp_path_factory.mktemp("templates"))
    assert VLLM.continuation is not None
    short, long = thinking.probe_bodies(GEMMA, VLLM.continuation)
    out: dict[str, tuple[Case, Path]] = {}
    for name, template in (("official", TEMPLATE), ("keeping", keeping)):
        rendered = await _render(template, [("tokenize", short), ("tokenize", long)])
        assert all(r["ok"] for r in rendered), rendered
        counts = {
            _key(b): len(r["prompt"].split()) for b, r in zip((short, long), rendered, strict=True)
        }
        stand_in = StandIn(counts)
        runner, stand_in.url = await serve(stand_in.app(), handler_cancellation=True)
        model = hosted.LLM.self_hosted(
            GEMMA,
            base_url=stand_in.url,
            backend="vllm",
            max_thinking_time=1.0,
            extra_kwargs={"reasoning_effort": "high"},
        )
        try:
            heard, first, stream = await _turn(stand_in, model)
            again = await _turn(stand_in, model)
        finally:
            await model.aclose()
            await runner.cleanup()
        assert again[0] == heard
        renders = counts[_key(long)] > counts[_key(short)]
        assert VLLM.continuation is not None
        thought = "".join(stand_in.thought).strip()
        continued = thinking.continuation(
            stand_in.bodies[0], VLLM, thought=thought, family="gemma-4", given_back=True
        )
        *rendered, given_back = await _render(
            template, [*(("chat", b) for b in stand_in.bodies), ("chat", continued)]
        )
        out[name] = (
            Case(stand_in, heard, first, stream, renders, rendered, given_back),
            template,
        )
    yield out


async def test_the_official_copy_drops_the_thought_and_the_plugin_asks_again(
    cases: dict[str, tuple[Case, Path]],
) -> None:
    """vLLM renders the official copy's continuation without the thought (the model would start
    thinking again from nothing): the plugin asks again with thinking off instead, and that
    request renders Gemma 4's empty closed thought."""
    case, _ = cases["official"]
    assert not case.renders
    first, follow = case.stand_in.bodies[:2]
    assert follow["reasoning_effort"] == "none" and follow.get("thinking_token_budget", 0) == 0
    assert follow["messages"] == first["messages"] and "continue_final_message" not in follow
    dropped, asked = case.given_back, case.rendered[1]
    assert dropped["ok"] and THOUGHT_WORD.strip() not in dropped["prompt"], dropped
    assert asked["ok"] and asked["prompt"].endswith("<|channel>thought\n<channel|>"), asked


async def test_a_template_that_keeps_the_thought_is_continued_from_it(
    cases: dict[str, tuple[Case, Path]],
) -> None:
    """Where the template keeps it, the second request gives back the thought streamed so far;
    vLLM renders it closed at the very end of the prompt, so the model goes on to answer."""
    case, _ = cases["keeping"]
    assert case.renders
    follow = case.stand_in.bodies[1]
    final = follow["messages"][-1]
    thought = "".join(case.stand_in.thought).strip()
    assert final == {"role": "assistant", "content": "", "reasoning": final["reasoning"]}
    # what was streamed before the cut (the stand-in may have sent a word more than was read)
    assert final["reasoning"] and thought.startswith(final["reasoning"])
    assert follow["continue_final_message"] is True and follow["add_generation_prompt"] is False
    assert "thinking_token_budget" not in follow
    rendered = case.rendered[1]
    assert rendered["ok"], rendered
    assert rendered["prompt"].endswith(f"<|channel>thought\n{final['reasoning']}\n<channel|>")


@pytest.mark.parametrize("name", ["official", "keeping"])
async def test_the_budget_and_every_request_pass_vllms_request_model(
    cases: dict[str, tuple[Case, Path]], name: str
) -> None:
    """reasoning_effort 'high' reaches vLLM as its thinking_token_budget; every body sent is
    accepted and rendered."""
    case, _ = cases[name]
    results = case.rendered
    assert all(r["ok"] for r in results), results
    assert results[0]["thinking_token_budget"] == REASONING_BUDGETS["high"]


@pytest.mark.parametrize("name", ["official", "keeping"])
async def test_the_answer_is_heard_once_soon_after_the_deadline(
    cases: dict[str, tuple[Case, Path]], name: str
) -> None:
    """The caller hears the answer, once and no thought, about 1 s after asking (the stand-in
    would think for 6 s); the probe ran once for the LLM's two turns."""
    case, _ = cases[name]
    assert case.heard == "".join(ANSWER)
    assert 1.0 <= case.first_word < 4.0
    assert case.stream.thought_ended_by == "max_thinking_time"
    assert case.stream.thinking_time is not None and 1.0 <= case.stream.thinking_time < 4.0
    assert case.stand_in.tokenized == 2
    assert len(case.stand_in.bodies) == 4
