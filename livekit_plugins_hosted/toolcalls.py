"""Tool calls the server parsed, gathered from their streamed fragments (pure).

An OpenAI-style stream sends each call as fragments under an ``index`` (some servers send
every call at index 0, each with a new ``id``): the name once, the arguments piece by piece.
A server's stream is hostile: the calls and each one's arguments are capped, and past a cap
the stream is a fault (the call is not run, and no memory grows with the stream).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livekit.agents import llm

from . import shape
from .sse import StreamError

__all__ = ["EXTRA_KEPT", "NAME_KEPT", "TOOL_ARGUMENTS_KEPT", "TOOL_CALLS_KEPT", "ServerToolCalls"]

TOOL_ARGUMENTS_KEPT = 256 * 1024
"""Characters of one call's arguments (a voice agent's tool takes a few hundred)."""
TOOL_CALLS_KEPT = 64
"""Calls in one reply (more than any turn makes), however many finish reasons it sends."""
NAME_KEPT = 256
"""Characters of a tool's name (OpenAI's limit is 64)."""
EXTRA_KEPT = 64 * 1024
"""Characters of a call's ``extra_content`` as JSON (a thought signature is a few KB)."""


@dataclass
class _Call:
    id: str
    name: str
    parts: list[str]  # the arguments' fragments, joined once (appending to a str copies it)
    size: int
    extra: dict[str, Any] | None


class ServerToolCalls:
    """The calls of one reply under way, until :meth:`take` hands them over."""

    __slots__ = ("_by_index", "_calls", "_taken")

    def __init__(self) -> None:
        self._calls: list[_Call] = []
        self._by_index: dict[int, _Call] = {}
        self._taken = 0  # calls handed over already: the cap is the reply's

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, tc: dict[str, Any]) -> None:
        """One ``delta.tool_calls`` entry; ``StreamError`` past a cap."""
        index = tc.get("index")
        if not isinstance(index, int):
            index = len(self._calls)
        fn = shape.obj(tc.get("function"))
        call = self._by_index.get(index)
        new_id = shape.text(tc.get("id"), "tool call id")
        # a new id at a used index is a new call: some servers send every call at index 0
        name = shape.text(fn.get("name"), "tool name")
        if name and len(name) > NAME_KEPT:
            raise StreamError(f"a tool name past {NAME_KEPT} characters", retryable=False)
        if call is None or (new_id and call.id != new_id):
            if self._taken + len(self._calls) >= TOOL_CALLS_KEPT:
                raise StreamError(
                    f"more than {TOOL_CALLS_KEPT} tool calls in one reply", retryable=False
                )
            extra = None if (ex := tc.get("extra_content")) is None else shape.obj(ex)
            if extra and len(json.dumps(extra)) > EXTRA_KEPT:
                raise StreamError(
                    f"a tool call's extra_content past {EXTRA_KEPT // 1024} KB", retryable=False
                )
            call = _Call(
                id=new_id or f"call_{uuid.uuid4().hex[:24]}",
                name=name or "",
                parts=[],
                size=0,
                extra=extra,
            )
            self._calls.append(call)
            self._by_index[index] = call
        elif name and not call.name:
            call.name = name
        if args := fn.get("arguments"):
            text = args if isinstance(args, str) else json.dumps(args)
            call.size += len(text)
            if call.size > TOOL_ARGUMENTS_KEPT:
                raise StreamError(
                    f"a tool call's arguments passed {TOOL_ARGUMENTS_KEPT // 1024} KB; "
                    "it was not run",
                    retryable=False,
                )
            call.parts.append(text)

    def take(self, call_id: Callable[[str], str] = str) -> list[llm.FunctionToolCall]:
        """The named calls gathered so far (a call without a name cannot run); ``call_id``
        gives the id the framework is handed for the server's."""
        calls = [
            llm.FunctionToolCall(
                name=c.name,
                arguments="".join(c.parts) or "{}",
                call_id=call_id(c.id),
                extra=c.extra,
            )
            for c in self._calls
            if c.name
        ]
        self._taken += len(self._calls)
        self._calls.clear()
        self._by_index.clear()
        return calls
