"""Loopback stand-ins for the three engines ``max_thinking_time`` works on, as they think.

:class:`ThinkingEngine` plays the HTTP side of llama.cpp's ``llama-server``, vLLM or Ollama for a
model that thinks: a completion asked to think streams thought deltas every ``step`` seconds
until ``think_for`` has passed, the engine's control request ends it (llama-server, only for a
request that carried ``"reasoning_control": true``), the request's own thinking-token budget
is used up, or its token limit is (``finish_reason: "length"`` with thought only); then it
streams the answer. A request that gives the thought back to continue from (llama-server's
``continue_final_message: "content"``, vLLM's ``continue_final_message: true`` with a template
that renders it) or asks with thinking off streams the answer only.

Each engine's own shape, as its code and documentation write it:

* llama-server: thought in ``reasoning_content``; the completion id in every chunk (the first
  arrives with the first token); no ``completion_tokens_details`` in usage; the budget in
  ``thinking_budget_tokens`` (or ``reasoning_budget_tokens``); ``POST
  /v1/chat/completions/control`` ``{"id", "action": "reasoning_end"}`` answers ``200
  {"success": true}`` and the answer follows in the same stream about 0.1 s later, or ``200
  {"success": false, "message": ...}`` (an unknown id; a completion without
  ``reasoning_control``); ``GET /v1/models`` says ``owned_by: "llamacpp"``.
* vLLM: thought in ``reasoning`` with a ``--reasoning-parser``; without one the Gemma 4 markers
  arrive raw in ``content`` (``<|channel>thought\\n`` ... ``<channel|>``) and a streaming request
  carrying ``thinking_token_budget`` is answered 200 with an error event, then ``[DONE]``;
  ``POST /tokenize`` at the server root counts a chat prompt's tokens (a template that drops a
  thought given back counts it as nothing); ``owned_by: "vllm"``.
* Ollama: thought in ``reasoning``; no budget, no continuation (``reasoning_effort: "none"``
  switches thinking off); only ``max_tokens`` is read; ``GET /api/version`` at the root.

Everything is recorded (path, JSON body, ``time.monotonic()`` of arrival), control calls and
clients hanging up included; tests wait for what they expect with :meth:`ThinkingEngine.wait`
(event-based, bounded), never with sleeps.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from multidict import CIMultiDict

from tests.gateway import serve

Kind = Literal["llama.cpp", "vllm", "ollama"]

ANSWER: tuple[str, ...] = ("The", " answer", " is", " forty-two.")
"""The answer every stand-in gives, one part per delta."""

THOUGHT_WORD = "pondering"
"""Each thought delta is ``pondering<n> `` (never a word of the answer)."""

CONTROL_LAG = 0.1
"""Seconds from a successful ``reasoning_end`` to the answer (llama-server: about 0.1 s)."""

VLLM_BUDGET_ERROR = (
    "thinking_token_budget is set but reasoning_config is not configured. Please set "
    "--reasoning-parser and/or --reasoning-config to use thinking_token_budget."
)
"""vLLM's words for a budget it cannot honour (no reasoning parser)."""

NO_COMPLETION = "no active completion for this id"
NOT_ENABLED = "reasoning control not enabled for this completion"

GEMMA_OPEN, GEMMA_CLOSE = "<|channel>thought\n", "<channel|>"

_EFFORTS = ("low", "medium", "high")
_OWNED_BY: dict[str, str] = {"llama.cpp": "llamacpp", "vllm": "vllm", "ollama": "library"}
_BUDGET_FIELDS: dict[str, tuple[str, ...]] = {
    "llama.cpp": ("reasoning_budget_tokens", "thinking_budget_tokens"),
    "vllm": ("thinking_token_budget",),
    "ollama": (),
}
_LIMIT_FIELDS: dict[str, tuple[str, ...]] = {
    "llama.cpp": ("max_completion_tokens", "max_tokens"),
    "vllm": ("max_completion_tokens", "max_tokens"),
    "ollama": ("max_tokens",),
}
_PROMPT_TOKENS = 17

Mode = Literal["think", "answer", "continued", "refused"]
"""How the stand-in answered a completion request: thought then answer; the answer only
(thinking off); the answer only after a thought given back; the budget refused (vLLM)."""

EndedBy = Literal["time", "control", "budget", "length"]


@dataclass
class Seen:
    """One request as it arrived."""

    method: str
    path: str
    headers: CIMultiDict[str]
    """Case-insensitive, as HTTP headers are."""
    body: Any
    at: float
    """``time.monotonic()`` on arrival."""


@dataclass
class Completion:
    """One ``POST /v1/chat/completions`` and what the stand-in streamed for it."""

    request: Seen
    id: str
    mode: Mode
    reasoning_control: bool
    budget: int | None
    """The thinking-token budget the request set (in deltas), if the engine reads one."""
    limit: int | None
    """The token limit the request set (in deltas), if the engine reads one."""
    thought: list[str] = field(default_factory=list)
    """The thought deltas written, in order (raw markers excluded)."""
    answer: list[str] = field(default_factory=list)
    """The answer deltas written, in order."""
    tokens: int = 0
    """Completion tokens written (one per delta, markers included)."""
    ended_by: EndedBy | None = None
    """What ended the thought (``None``: it did not end, or there was none)."""
    finish_reason: str | None = None
    """The finish reason written (``None``: the stream did not finish)."""
    hung_up_at: float | None = None
    """``time.monotonic()`` when the client hung up before the stream finished."""
    end: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by a successful ``reasoning_end``."""
    held: list[bytes] | None = None
    """Events written but held back, to leave in one write (``burst``)."""

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.request.body
        return body

    @property
    def thought_text(self) -> str:
        return "".join(self.thought)


@dataclass
class Control:
    """One ``POST /v1/chat/completions/control`` and the stand-in's answer."""

    request: Seen
    answer: dict[str, Any]


def _thinking_asked(body: dict[str, Any]) -> bool | None:
    effort = body.get("reasoning_effort")
    template = body.get("chat_template_kwargs")
    switch = template.get("enable_thinking") if isinstance(template, dict) else None
    if effort == "none" or switch is False:
        return False
    if effort in _EFFORTS or switch is True:
        return True
    return None


def _words(text: object) -> int:
    return len(text.split()) if isinstance(text, str) else 0


def _final_assistant(body: dict[str, Any]) -> dict[str, Any] | None:
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        last: dict[str, Any] = messages[-1]
        if last.get("role") == "assistant":
            return last
    return None


class ThinkingEngine:
    """A thinking engine of ``kind`` on a free loopback port; ``async with`` it.

    ``think_for``: seconds a thought runs by itself (from the request's arrival); ``step``:
    seconds between thought deltas (the first is written at once); ``answer``: the answer's
    deltas, ``answer_step`` seconds apart; ``reasoning_parser`` (vLLM): thought in
    ``reasoning``, else raw Gemma 4 markers in ``content`` and a budget refused;
    ``renders`` (vLLM): the chat template renders a thought given back in a continued final
    assistant message (else it drops it: ``/tokenize`` counts it as nothing, and a
    continuation starts a new thought); ``control_works`` (llama.cpp): ``reasoning_end`` ends
    a thought (else it is answered ``success: false``, ``NOT_ENABLED``); ``thinks_unasked``:
    a request that says nothing about thinking thinks (llama-server's ``--reasoning auto``
    with a model that thinks by default), else it answers at once; ``always_thinks``: the
    template opens a thought whatever the request says (DeepSeek-R1, QwQ; only the request's
    thinking-token budget ends it); ``prompt_for``: seconds
    before the first token of every completion (prompt processing); ``burst``: the thought and
    the answer's first part leave in one write, as they reach a client behind a buffering
    proxy, or one that has fallen behind a fast engine (the rest of the answer follows
    ``answer_step`` apart); ``control_lag`` (llama.cpp): seconds from a successful
    ``reasoning_end`` to the answer; ``control_lies`` (llama.cpp): ``reasoning_end`` is
    answered ``success: true`` and the thought runs on; ``tokenize_fails`` (vLLM): the first
    so many ``/tokenize`` requests are answered ``tokenize_status`` (503: overloaded);
    ``tokenize_hold`` (vLLM): ``/tokenize`` answers only once this event is set;
    ``prompt_opens`` (vLLM without a reasoning parser): after a tool result the prompt opens
    the thought, so no ``<|channel>thought`` is streamed
    (the official template's shape); ``pad``: characters added to each thought delta;
    ``pause_after``: after this many thought deltas the thought pauses (until the control
    request or ``think_for``), so a test knows how much thought was sent before its deadline.
    """

    def __init__(
        self,
        kind: Kind,
        *,
        think_for: float = 6.0,
        step: float = 0.05,
        answer: Sequence[str] = ANSWER,
        answer_step: float = 0.0,
        reasoning_parser: bool = True,
        renders: bool = True,
        control_works: bool = True,
        thinks_unasked: bool = False,
        always_thinks: bool = False,
        prompt_for: float = 0.0,
        burst: bool = False,
        control_lag: float = CONTROL_LAG,
        control_lies: bool = False,
        tokenize_fails: int = 0,
        tokenize_status: int = 503,
        tokenize_hold: asyncio.Event | None = None,
        prompt_opens: bool = False,
        pad: int = 0,
        pause_after: int | None = None,
        model: str = "google/gemma-4-31B-it",
    ) -> None:
        self.kind: Kind = kind
        self.think_for = think_for
        self.step = step
        self.answer_parts = tuple(answer)
        self.answer_step = answer_step
        self.reasoning_parser = reasoning_parser
        self.renders = renders
        self.control_works = control_works
        self.thinks_unasked = thinks_unasked
        self.always_thinks = always_thinks
        self.prompt_for = prompt_for
        self.burst = burst
        self.control_lag = control_lag
        self.control_lies = control_lies
        self.tokenize_fails = tokenize_fails
        self.tokenize_status = tokenize_status
        self.tokenize_hold = tokenize_hold
        self.prompt_opens = prompt_opens
        self.pad = pad
        self.pause_after = pause_after
        self.model = model
        self.requests: list[Seen] = []
        """Every request, in order of arrival."""
        self.completions: list[Completion] = []
        self.controls: list[Control] = []
        self.tokenizes: list[Seen] = []
        self.url = ""
        """The OpenAI API root (``.../v1``)."""
        self.root = ""
        """The server root (where vLLM's ``/tokenize`` and Ollama's ``/api/version`` are)."""
        self._active: dict[str, Completion] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._closing = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> ThinkingEngine:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        if self.kind == "llama.cpp":
            app.router.add_post("/v1/chat/completions/control", self._control)
        if self.kind == "vllm":
            app.router.add_post("/tokenize", self._tokenize)
        if self.kind == "ollama":
            app.router.add_get("/api/version", self._version)
        # handler_cancellation: a client hanging up cancels the handler, as an engine notices
        # the disconnect and stops generating
        self._runner, self.url = await serve(app, handler_cancellation=True)
        self.root = self.url.removesuffix("/v1")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        self._closing = True
        for c in self._active.values():
            c.end.set()  # a stream still thinking (a test that failed) ends at once
        await self._runner.cleanup()

    # -- what tests read -----------------------------------------------------------------------

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The completion requests' bodies, in order."""
        return [c.body for c in self.completions]

    @property
    def hung_up(self) -> list[Completion]:
        """The completions whose client hung up before they finished."""
        return [c for c in self.completions if c.hung_up_at is not None]

    async def wait(self, predicate: Callable[[], bool], *, within: float, what: str) -> None:
        """Until ``predicate`` holds (checked whenever the stand-in records something);
        ``TimeoutError`` naming ``what`` after ``within`` seconds."""
        try:
            async with asyncio.timeout(within):
                while True:
                    self._changed.clear()
                    if predicate():
                        return
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"not within {within}s: {what}") from None

    async def wait_hung_up(self, n: int = 1, *, within: float = 5.0) -> None:
        """Until clients have hung up on ``n`` completions."""
        await self.wait(lambda: len(self.hung_up) >= n, within=within, what=f"{n} hang-ups")

    def _note(self) -> None:
        self._changed.set()

    def _seen(self, request: web.Request, body: Any) -> Seen:
        seen = Seen(
            request.method, request.path, CIMultiDict(request.headers), body, time.monotonic()
        )
        self.requests.append(seen)
        self._note()
        return seen

    # -- GET endpoints -------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        self._seen(request, None)
        card: dict[str, Any] = {
            "id": self.model,
            "object": "model",
            "created": 1_700_000_000,
            "owned_by": _OWNED_BY[self.kind],
        }
        if self.kind == "llama.cpp":
            card["meta"] = {"n_vocab": 262144, "n_ctx_train": 131072}
        if self.kind == "vllm":
            card.update(root=self.model, parent=None, max_model_len=8192)
        return web.json_response({"object": "list", "data": [card]})

    async def _version(self, request: web.Request) -> web.Response:
        self._seen(request, None)
        return web.json_response({"version": "0.13.0"})

    # -- llama-server's control ----------------------------------------------------------------

    async def _control(self, request: web.Request) -> web.Response:
        body = await request.json()
        seen = self._seen(request, body)
        if not isinstance(body, dict) or body.get("action") != "reasoning_end":
            answer: dict[str, Any] = {"success": False, "message": "unknown action"}
            self.controls.append(Control(seen, answer))
            return web.json_response(answer, status=400)
        completion = self._active.get(str(body.get("id")))
        if completion is None:
            answer = {"success": False, "message": NO_COMPLETION}
        elif not completion.reasoning_control or not self.control_works:
            answer = {"success": False, "message": NOT_ENABLED}
        else:
            if not self.control_lies:
                completion.end.set()
            answer = {"success": True}
        self.controls.append(Control(seen, answer))
        self._note()
        return web.json_response(answer)

    # -- vLLM's tokenizer ----------------------------------------------------------------------

    async def _tokenize(self, request: web.Request) -> web.Response:
        body = await request.json()
        seen = self._seen(request, body)
        self.tokenizes.append(seen)
        if self.tokenize_hold is not None:
            await self.tokenize_hold.wait()
        if len(self.tokenizes) <= self.tokenize_fails:
            self._note()
            error = {"error": {"message": "overloaded"}}
            return web.json_response(error, status=self.tokenize_status)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return web.json_response({"error": {"message": "messages required"}}, status=400)
        if body.get("continue_final_message") and body.get("add_generation_prompt", True):
            return _bad_request(
                "Cannot set both `continue_final_message` and `add_generation_prompt` to True."
            )
        count = 2  # <bos> and the generation prompt's first token
        for message in body["messages"]:
            if isinstance(message, dict):
                count += 3 + _words(message.get("content"))
        final = _final_assistant(body)
        if self.renders and final is not None and body.get("continue_final_message"):
            count += 2 + _words(final.get("reasoning"))
        self._note()
        return web.json_response(
            {
                "count": count,
                "max_model_len": 8192,
                "tokens": list(range(count)),
                "token_strs": None,
            }
        )

    # -- completions ---------------------------------------------------------------------------

    def _plan(self, body: dict[str, Any]) -> tuple[Mode, int | None, int | None]:
        """How to answer ``body``: the mode, the budget and the token limit (in deltas)."""
        limit = next(
            (v for name in _LIMIT_FIELDS[self.kind] if type(v := body.get(name)) is int), None
        )
        budget = next(
            (v for name in _BUDGET_FIELDS[self.kind] if type(v := body.get(name)) is int), None
        )
        if self.kind == "vllm" and not self.reasoning_parser and "thinking_token_budget" in body:
            return "refused", None, limit
        final = _final_assistant(body)
        if final is not None and final.get("content") == "":
            if (
                self.kind == "llama.cpp"
                and body.get("continue_final_message") == "content"
                and final.get("reasoning_content")
            ):
                return "continued", None, limit
            if (
                self.kind == "vllm"
                and body.get("continue_final_message") is True
                and final.get("reasoning")
                and self.renders
            ):
                return "continued", None, limit
        asked = _thinking_asked(body)
        if asked or (asked is None and self.thinks_unasked) or self.always_thinks:
            return "think", budget, limit
        return "answer", None, limit

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen = self._seen(request, body)
        if not isinstance(body, dict) or body.get("stream") is not True:
            return _bad_request("the stand-in streams only")
        if body.get("continue_final_message") is True and body.get("add_generation_prompt", True):
            return _bad_request(
                "Cannot set both `continue_final_message` and `add_generation_prompt` to True."
            )
        mode, budget, limit = self._plan(body)
        cid = f"chatcmpl-{self.kind.replace('.', '')}-{len(self.completions) + 1}"
        completion = Completion(
            request=seen,
            id=cid,
            mode=mode,
            reasoning_control=body.get("reasoning_control") is True,
            budget=budget,
            limit=limit,
        )
        self.completions.append(completion)
        self._active[cid] = completion
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            await self._stream(response, completion)
        except (ConnectionResetError, asyncio.CancelledError):
            if not self._closing:
                completion.hung_up_at = time.monotonic()
                self._note()
            raise
        finally:
            self._active.pop(cid, None)
        return response

    async def _stream(self, response: web.StreamResponse, c: Completion) -> None:
        if self.prompt_for:
            await asyncio.sleep(self.prompt_for)
        if self.burst:
            c.held = []
        if c.mode == "refused":
            error = {"message": VLLM_BUDGET_ERROR, "type": "BadRequestError", "param": None}
            await self._event(response, c, {"error": {**error, "code": 400}})
            await self._flush(response, c)
            await response.write(b"data: [DONE]\n\n")
            return
        raw = self.kind == "vllm" and not self.reasoning_parser
        opened = raw and self.prompt_opens and _after_tool(c.body)
        if c.mode == "think":
            if raw and not opened:
                await self._delta(response, c, {"role": "assistant", "content": GEMMA_OPEN})
            await self._think(response, c, raw=raw)
            if raw and c.ended_by != "length":
                await self._delta(response, c, {"content": GEMMA_CLOSE})
        if c.ended_by != "length":
            for i, part in enumerate(self.answer_parts):
                if c.limit is not None and c.tokens >= c.limit:
                    break
                if i and self.answer_step:
                    await asyncio.sleep(self.answer_step)
                await self._delta(response, c, {"content": part})
                c.answer.append(part)
                await self._flush(response, c)
                self._note()
        spent = c.limit is not None and c.tokens >= c.limit
        c.finish_reason = "length" if spent else "stop"
        await self._event(
            response, c, self._chunk(c, {"index": 0, "delta": {}, "finish_reason": c.finish_reason})
        )
        options = c.body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            usage = {
                "prompt_tokens": _PROMPT_TOKENS,
                "completion_tokens": c.tokens,
                "total_tokens": _PROMPT_TOKENS + c.tokens,
            }
            await self._event(response, c, {**self._chunk(c, None), "choices": [], "usage": usage})
        await self._flush(response, c)
        await response.write(b"data: [DONE]\n\n")
        self._note()

    async def _think(self, response: web.StreamResponse, c: Completion, *, raw: bool) -> None:
        key = "reasoning_content" if self.kind == "llama.cpp" else "reasoning"
        start = time.monotonic()
        while True:
            if c.limit is not None and c.tokens >= c.limit:
                c.ended_by = "length"
                return
            if c.budget is not None and len(c.thought) >= c.budget:
                c.ended_by = "budget"
                return
            word = f"{THOUGHT_WORD}{len(c.thought) + 1}{'.' * self.pad} "
            delta: dict[str, Any] = {"content": word} if raw else {key: word}
            if not c.thought and not raw:
                delta = {"role": "assistant", "content": None, **delta}
            await self._delta(response, c, delta)
            c.thought.append(word)
            self._note()
            left = self.think_for - (time.monotonic() - start)
            if left <= 0:
                c.ended_by = "time"
                return
            paused = self.pause_after is not None and len(c.thought) >= self.pause_after
            try:
                async with asyncio.timeout(left if paused else min(self.step, left)):
                    await c.end.wait()
            except TimeoutError:
                continue
            c.ended_by = "control"
            self._note()
            await asyncio.sleep(self.control_lag)
            return

    def _chunk(self, c: Completion, choice: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "id": c.id,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": self.model,
            "choices": [] if choice is None else [choice],
        }

    async def _flush(self, response: web.StreamResponse, c: Completion) -> None:
        """Write what ``burst`` held back, in one write; from then on events leave one by one."""
        if c.held is not None:
            held, c.held = c.held, None
            await response.write(b"".join(held))

    async def _event(
        self, response: web.StreamResponse, c: Completion, obj: dict[str, Any]
    ) -> None:
        data = f"data: {json.dumps(obj)}\n\n".encode()
        if c.held is not None:
            c.held.append(data)
        else:
            await response.write(data)

    async def _delta(
        self, response: web.StreamResponse, c: Completion, delta: dict[str, Any]
    ) -> None:
        c.tokens += 1
        await self._event(
            response, c, self._chunk(c, {"index": 0, "delta": delta, "finish_reason": None})
        )


def _after_tool(body: dict[str, Any]) -> bool:
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    return isinstance(last, dict) and last.get("role") == "tool"


def _bad_request(message: str) -> web.Response:
    error = {"message": message, "type": "BadRequestError", "param": None, "code": 400}
    return web.json_response({"error": error}, status=400)
