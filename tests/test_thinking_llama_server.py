"""``max_thinking_time`` and the token-limit continuation on a real llama-server.

The server runs Gemma 4's official chat template (from llama.cpp's own source, see ``.ci/run``)
over the Gemma 3 270M GGUF served under the Gemma 4 id, so its own Gemma 4 handling (the
reasoning parser, the budget sampler, the control endpoint) is what is exercised. The 270M
model does not think by itself, so the test's transport opens a thought it goes on with: the
first request of a turn gets an assistant message holding a thought and
``continue_final_message: "reasoning_content"`` (the model then "thinks" until stopped).

What the model writes is not an answer (the 270M echoes markers), so these tests hold the
protocol, read off the wire beside the plugin: the fields are accepted, the control request
names the streamed completion and ends the thought in the same response, the continuation
gives the thought back and streams an answer, and whatever the plugin makes of the output
keeps the voice invariant (speech without markup, or an ``APIError``).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
import pytest
import pytest_asyncio
from livekit.agents import APIConnectOptions, APIError, llm

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted import deadline, thinking
from livekit_plugins_hosted.backends import REASONING_BUDGETS
from tests.gemma4_server import MODEL_ID, TEMPLATE, LlamaServer, render

pytestmark = pytest.mark.asyncio(loop_scope="module")

OPENED = "Let me think about this carefully."
PATIENT = 20.0
"""Seconds the plugin waits for the control request, and for the thought to end after it,
in the test of what the server does with it (it answers in tens of milliseconds)."""
ONE_TRY = APIConnectOptions(max_retry=0, timeout=60)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LlamaServer]:
    log = tmp_path_factory.mktemp("llama-server-thinking") / "server.log"
    async with LlamaServer(log, template=TEMPLATE, alias=MODEL_ID, slots=1) as srv:
        yield srv


@dataclass
class Exchange:
    """One request seen on the wire: its path and body, when it went, and for a completion the
    stream's events as they arrived (seconds from the start of the turn)."""

    path: str
    body: dict[str, Any]
    at: float
    status: int = 0
    answer: Any = None
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def deltas(self, kind: str) -> list[tuple[float, str]]:
        """(arrival, text) of the stream's ``content`` or ``reasoning_content`` deltas."""
        out = []
        for at, event in self.events:
            for choice in event.get("choices") or []:
                text = (choice.get("delta") or {}).get(kind)
                if text:
                    out.append((at, text))
        return out


class _Tee(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, exchange: Exchange, start: float) -> None:
        self._inner, self._exchange, self._start = inner, exchange, start
        self._buffer = b""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._buffer += chunk
            while b"\n\n" in self._buffer:
                frame, self._buffer = self._buffer.split(b"\n\n", 1)
                data = frame.removeprefix(b"data: ")
                if data and data != b"[DONE]":
                    at = time.monotonic() - self._start
                    self._exchange.events.append((at, json.loads(data)))
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class Wire(httpx.AsyncBaseTransport):
    """Loopback transport that records every exchange and opens a thought for the model."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.start = time.monotonic()
        self.exchanges: list[Exchange] = []

    def of(self, path: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.path.endswith(path)]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path.endswith("/chat/completions") and "continue_final_message" not in body:
            # the thought the model goes on with (the plugin's own requests never say this)
            body["messages"].append(
                {"role": "assistant", "content": "", "reasoning_content": OPENED}
            )
            body["continue_final_message"] = "reasoning_content"
            body["add_generation_prompt"] = False
            headers = [(k, v) for k, v in request.headers.items() if k.lower() != "content-length"]
            request = httpx.Request(
                request.method,
                request.url,
                headers=headers,
                content=json.dumps(body).encode(),
                extensions=request.extensions,
            )
        exchange = Exchange(request.url.path, body, time.monotonic() - self.start)
        self.exchanges.append(exchange)
        response = await self._inner.handle_async_request(request)
        exchange.status = response.status_code
        if request.url.path.endswith("/control"):
            content = await response.aread()
            exchange.answer = json.loads(content)
            return httpx.Response(response.status_code, headers=response.headers, content=content)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Tee(response.stream, exchange, self.start)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class Turn:
    wire: Wire
    heard: str
    error: APIError | None
    stream: hosted.LLMStream | None
    chunk_ids: set[str]


async def _turn(server: LlamaServer, **kw: Any) -> Turn:
    """One turn through the plugin, thinking on, the model kept thinking by the wire."""
    wire = Wire()
    params = {"reasoning_effort": "high", "temperature": 0.0, **kw.pop("params", {})}
    heard: list[str] = []
    ids: set[str] = set()
    error: APIError | None = None
    stream: hosted.LLMStream | None = None
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="What is 2+2? Answer briefly.")
    async with httpx.AsyncClient(transport=wire) as client:
        model = hosted.LLM.self_hosted(
            MODEL_ID,
            base_url=server.base_url,
            backend="llama.cpp",
            http_client=client,
            first_token_timeout=30.0,
            extra_kwargs=params,
            **kw,
        )
        try:
            async with model.chat(chat_ctx=ctx, conn_options=ONE_TRY) as stream:
                async for chunk in stream:
                    ids.add(chunk.id)
                    if chunk.delta and chunk.delta.content:
                        heard.append(chunk.delta.content)
        except APIError as e:
            error = e
        finally:
            await model.aclose()
    return Turn(wire, "".join(heard), error, stream, ids)


def _keeps_the_invariant(turn: Turn) -> None:
    """Speech without markup, or an APIError that a retry may act on (nothing was said)."""
    if turn.error is not None:
        assert turn.heard == "" and turn.error.retryable, turn.error
    else:
        assert turn.heard.strip(), "a turn without an error said nothing"
        assert not any(m in turn.heard for m in ("<|", "|>", "<channel", "<turn")), turn.heard


async def test_the_control_request_ends_the_thought_in_the_same_response(
    server: LlamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At max_thinking_time the plugin asks llama-server to end the running thought: the
    request named the streamed completion, the server agreed, the thought stopped and the
    answer began in the same response (the model, left alone, thinks through all 160 tokens
    and says nothing).

    What the server did is the subject, so the plugin is made patient: on a busy 2-core
    machine its grace (0.75 s) and the control request's timeout (2 s) can run out before the
    server answers, and the plugin then gives up and continues in a new request, which would
    leave nothing to check (that path has its own tests on loopback). Every bound is generous.

    The 270M's "answer" is markers (``<|turn>model``), which are never spoken, so its turn then
    ends in the token limit with nothing said: the plugin's one further request is the
    continuation after the thought (a real model has spoken by then)."""
    monkeypatch.setattr(deadline, "CONTROL_GRACE", PATIENT)
    monkeypatch.setattr(thinking, "CONTROL_TIMEOUT", PATIENT)
    turn = await _turn(server, max_thinking_time=1.0, params={"max_completion_tokens": 160})
    completion, *further = turn.wire.of("/chat/completions")
    (control,) = turn.wire.of("/chat/completions/control")
    assert completion.status == 200
    assert completion.body["reasoning_control"] is True
    assert completion.body["thinking_budget_tokens"] == REASONING_BUDGETS["high"]
    streamed_ids = {event.get("id") for _, event in completion.events}
    assert (
        control.body
        == {
            "id": streamed_ids.pop(),
            "action": "reasoning_end",
            "model": MODEL_ID,
        }
        and not streamed_ids
    )
    # not before the deadline, which runs from when the plugin sent the request: the proxy
    # records it a few ms later (the send's own time on a busy machine)
    assert control.at >= completion.at + 1.0 - 0.1
    # the server agreed, and did it: the thought it was streaming stopped and content began,
    # in the same response, after the request
    assert control.answer == {"success": True}
    thought, answer = completion.deltas("reasoning_content"), completion.deltas("content")
    assert thought and thought[0][0] < control.at  # it was thinking when asked
    assert answer, "no content in the response after the thought was ended"
    assert control.at <= answer[0][0] < control.at + PATIENT
    _keeps_the_invariant(turn)
    if further:
        (follow,) = further
        assert follow.body["continue_final_message"] == "content", follow.body
    elif turn.error is None:
        assert turn.stream is not None and turn.stream.thought_ended_by == "max_thinking_time"
        assert turn.stream.thinking_time is not None and turn.stream.thinking_time >= 1.0


async def test_a_thought_that_used_up_the_token_limit_is_continued_to_an_answer(
    server: LlamaServer,
) -> None:
    """The model thinks until max_completion_tokens runs out (finish "length", thought only):
    the plugin gives the thought back in a second request to continue after it, and the server
    streams the answer after it, where the turn used to end in an error."""
    turn = await _turn(server, params={"max_completion_tokens": 20})
    sent = turn.wire.of("/chat/completions")
    # on failure, say what the one request streamed and how the turn ended
    assert len(sent) == 2, (turn.error, turn.heard, [e for _, e in sent[0].events][-3:])
    first, follow = sent
    finishes = [c.get("finish_reason") for _, e in first.events for c in e.get("choices") or []]
    assert "length" in finishes
    assert first.deltas("reasoning_content") and not first.deltas("content")
    streamed = "".join(text for _, text in first.deltas("reasoning_content")).strip()
    final = follow.body["messages"][-1]
    assert final == {"role": "assistant", "content": "", "reasoning_content": streamed}
    assert follow.body["continue_final_message"] == "content"
    assert follow.body["add_generation_prompt"] is False
    assert "thinking_budget_tokens" not in follow.body
    assert follow.status == 200
    # the response begins with the answer (the 270M then writes a thought marker of its own,
    # which the server parses as a new thought: never spoken)
    answer, thought = follow.deltas("content"), follow.deltas("reasoning_content")
    assert answer and (not thought or answer[0][0] <= thought[0][0])
    _keeps_the_invariant(turn)
    if turn.stream is not None and turn.error is None:
        assert turn.stream.thought_ended_by == "token_limit"


async def test_the_continuation_renders_after_the_closed_thought(server: LlamaServer) -> None:
    """The continuation the plugin sends renders, with the official template on llama-server,
    as the model's turn with the thought closed: what follows is the answer."""
    turn = await _turn(server, params={"max_completion_tokens": 20})
    follow = turn.wire.of("/chat/completions")[1].body
    thought = follow["messages"][-1]["reasoning_content"]
    prompt = await render(server, follow)
    assert prompt.rstrip().endswith(f"{thought}<channel|>") or prompt.rstrip().endswith(
        f"{thought}\n<channel|>"
    ), prompt[-300:]
