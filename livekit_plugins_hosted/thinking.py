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

from .backends import Backend, Continuation
from .log import logger

CONTROL_TIMEOUT = 2.0
"""Seconds for the control request and the rendering probe (both answer in milliseconds)."""

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
            response = await http.post(url, json=body, headers=headers, follow_redirects=False)
            answer = _json(response.content)
    except (httpx.HTTPError, TimeoutError) as e:
        return f"the control request failed ({type(e).__name__})"
    if response.status_code != 200:
        return f"the control request was answered {response.status_code}"
    if not isinstance(answer, dict) or answer.get("success") is not True:
        message = answer.get("message") if isinstance(answer, dict) else None
        return f"the server did not end the thought ({str(message)[:200] or 'no reason given'})"
    return None


async def renders(
    http: httpx.AsyncClient,
    base_url: str,
    headers: Mapping[str, str],
    *,
    model: str,
    way: Continuation,
) -> bool:
    """Whether the server's chat template renders a thought given back in a continued final
    assistant message: vLLM's ``POST /tokenize`` (at the server's root) counts the prompt's
    tokens with a short and a long thought; a template that drops the thought counts the
    same. Anything but two clear answers is a no."""
    root = base_url.removesuffix("/").removesuffix("/v1")
    short_body, long_body = probe_bodies(model, way)

    async def count(body: dict[str, Any]) -> int | None:
        response = await http.post(
            f"{root}/tokenize", json=body, headers=headers, follow_redirects=False
        )
        answer = _json(response.content) if response.status_code == 200 else None
        n = answer.get("count") if isinstance(answer, dict) else None
        return n if type(n) is int else None

    try:
        async with asyncio.timeout(CONTROL_TIMEOUT):
            short, long = await asyncio.gather(count(short_body), count(long_body))
    except (httpx.HTTPError, TimeoutError) as e:
        logger.debug("rendering probe failed", extra={"error": type(e).__name__})
        return False
    return short is not None and long is not None and long - short >= 10


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
) -> dict[str, Any]:
    """The second request of a turn whose thought was ended: ``body`` (the first request's)
    with the thought given back to continue after (``given_back``: the engine has a
    :attr:`Backend.continuation` that renders), else asked again with thinking off."""
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
    return fields


def _json(content: bytes) -> object:
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None
