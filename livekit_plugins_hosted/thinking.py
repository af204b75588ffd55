"""Ending a thought on time: the engine's means, for ``max_thinking_time``.

The stream decides *when* (a thought still running at the deadline, or one that used up the
token limit with nothing said); the engine's profile (:attr:`Backend.ends_thought`,
:attr:`Backend.continuation`) says *how*, and this module speaks it:

* llama-server: :func:`end_reasoning` asks the running completion to close its thought; the
  answer follows in the same stream.
* a continuation (llama-server, vLLM): :func:`continuation` is the second request, the thought
  so far given back in the final assistant message for the server to continue after it;
  vLLM renders that only with a template that keeps such a thought, which :func:`renders`
  asks the server once.
* anything else (Ollama, or a template that drops the thought): :func:`continuation` asks
  again with thinking off.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import httpx2 as httpx

from . import redact
from .backends import Backend, Continuation
from .endpoints import sent_credentials
from .log import logger
from .sse import read_capped
from .transport import Connection, count_reads

CONTROL_TIMEOUT = 2.0
"""Seconds for the control request and the rendering probe (both answer in milliseconds)."""

ANSWER_LIMIT = 64 * 1024
"""Bytes read of a control or probe answer (each is a few dozen): a server cannot grow the
process by answering more."""

_PROBE_WORDS = "seven blue herons crossed the quiet river before dawn " * 3


async def end_reasoning(
    http: httpx.AsyncClient,
    base_url: str,
    headers: Mapping[str, str],
    *,
    completion_id: str,
    model: str,
) -> str | None:
    """llama-server's ``POST /v1/chat/completions/control`` ``reasoning_end`` for a running
    completion; ``None`` when it was done, else why not (to fall back on)."""
    url = f"{base_url}/chat/completions/control"
    body = {"id": completion_id, "action": "reasoning_end", "model": model}
    try:
        async with asyncio.timeout(CONTROL_TIMEOUT):
            status, answer, sent = await _post(http, url, body, headers)
    except (httpx.HTTPError, TimeoutError) as e:
        return f"the control request failed ({type(e).__name__})"
    if status != 200:
        return f"the control request was answered {status}"
    if not isinstance(answer, dict) or answer.get("success") is not True:
        message = answer.get("message") if isinstance(answer, dict) else None
        # the server's words may echo this request's own credentials (a client's auth that
        # signs each request): masked here, the stream's and the endpoint's by the caller
        said = redact.scrub(str(message)[:200], sent)
        return f"the server did not end the thought ({said or 'no reason given'})"
    return None


async def renders(
    http: httpx.AsyncClient,
    base_url: str,
    headers: Mapping[str, str],
    *,
    model: str,
    way: Continuation,
) -> bool | None:
    """Whether the server's chat template renders a thought given back in a continued final
    assistant message: vLLM's ``POST /tokenize`` (at the server's root) counts the prompt's
    tokens with a short and a long thought; a template that drops the thought counts the
    same. Only a definite answer is an answer: two counts, or a server that has no such
    endpoint (404, 405) is a no; anything else (a timeout, a 5xx, a 429, a proxy's
    400/401/403/408, a page that is not the tokenizer's, a broken connection) is ``None``: not
    known yet, asked again later. Neither half outlives the call: when one fails or the time
    is up, the other is cancelled (its request closed) before this returns."""
    root = base_url.removesuffix("/").removesuffix("/v1")
    short_body, long_body = probe_bodies(model, way)

    async def count(body: dict[str, Any]) -> int | None:
        status, answer, _ = await _post(http, f"{root}/tokenize", body, headers)
        if status in _NO_ENDPOINT:
            return None
        n = answer.get("count") if status == 200 and isinstance(answer, dict) else None
        if type(n) is not int:
            # busy, rate limited, a proxy's refusal or its page: nothing said about the template
            raise _Unanswered(f"answered {status}")
        return n

    failed: BaseException | None = None
    try:
        # a task group: the first half to fail cancels the other, and both are over on exit
        async with asyncio.timeout(CONTROL_TIMEOUT), asyncio.TaskGroup() as group:
            short = group.create_task(count(short_body))
            long = group.create_task(count(long_body))
    except* (httpx.HTTPError, TimeoutError, _Unanswered, RuntimeError) as e:
        # RuntimeError: the client was closed meanwhile
        failed = e.exceptions[0]
    if failed is not None:
        logger.debug("rendering probe failed", extra={"error": type(failed).__name__})
        return None
    shorter, longer = short.result(), long.result()
    return shorter is not None and longer is not None and longer - shorter >= 10


_NO_ENDPOINT = frozenset({404, 405})
"""Statuses that say the server has no ``/tokenize`` (not vLLM, or one behind a proxy that
exposes only the API): a definite no, kept for the LLM's life. A 400 or 422 may be a proxy's
refusal of the moment, so it is not."""


class _Unanswered(Exception):
    """The server failed to answer the probe (asked again later)."""


async def _post(
    http: httpx.AsyncClient, url: str, body: Mapping[str, Any], headers: Mapping[str, str]
) -> tuple[int, object, tuple[str, ...]]:
    """A small JSON request's status, JSON answer (``None`` if it is not JSON), reading
    at most :data:`ANSWER_LIMIT` bytes of it (more is no answer), and the credentials it
    carried."""
    # traced: a completion request that reuses this connection can tell a server's idle close
    trace = {"trace": Connection()}
    request = http.build_request("POST", url, json=body, headers=headers, extensions=trace)
    response = await http.send(request, stream=True, follow_redirects=False)
    count_reads(response)
    try:
        content, truncated = await read_capped(response, ANSWER_LIMIT)
    finally:
        await response.aclose()
    answer = None if truncated else _json(content)
    return response.status_code, answer, sent_credentials(response.request)


def probe_bodies(model: str, way: Continuation) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two ``/tokenize`` bodies of :func:`renders`: a continued final assistant message
    with a one-word thought, and with a thought of some thirty words."""

    def body(thought: str) -> dict[str, Any]:
        return {
            "model": model,
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "", way.reasoning_key: thought},
            ],
            **way.fields,
            # /tokenize reads no reasoning_effort: the template's own switch, as a chat with
            # thinking on renders
            "chat_template_kwargs": {"enable_thinking": True},
        }

    return body("ok"), body(_PROBE_WORDS.strip())


def continuation(
    body: Mapping[str, Any],
    backend: Backend,
    *,
    thought: str,
    family: str | None,
    given_back: bool,
    budget: bool = False,
) -> dict[str, Any]:
    """The second request of a turn whose thought was ended: ``body`` (the first request's)
    with the thought given back to continue after (``given_back``: the engine has a
    :attr:`Backend.continuation` that renders), else asked again with thinking off; there,
    ``budget`` (the server reads the engine's thinking-token budget) adds a budget of none,
    so that a model whose template thinks whatever the request says (DeepSeek-R1, QwQ)
    answers at once all the same."""
    fields = dict(body)
    if backend.budget_field:
        fields.pop(backend.budget_field, None)
    fields.pop("reasoning_control", None)
    way = backend.continuation
    if given_back and way is not None:
        fields["messages"] = [
            *body["messages"],
            {"role": "assistant", "content": "", way.reasoning_key: thought},
        ]
        fields.update(way.fields)
        return fields
    fields.pop("reasoning_effort", None)
    template = fields.get("chat_template_kwargs")
    if isinstance(template, Mapping) and "enable_thinking" in template:
        fields["chat_template_kwargs"] = {**template, "enable_thinking": False}
    off = backend.thinking_off.get(family) if family else None
    fields.update(off or {"reasoning_effort": "none"})
    if budget and backend.budget_field:
        fields[backend.budget_field] = 0
    return fields


def _json(content: bytes) -> object:
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None
