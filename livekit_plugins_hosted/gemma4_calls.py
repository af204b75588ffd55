"""Gemma 4's native tool-call bodies: ``call:NAME{key:<|"|>text<|"|>,n:2}`` to JSON arguments.

The argument grammar, as vLLM reads it (``vllm/tool_parsers/gemma4_tool_parser.py``):
``<|"|>`` quotes strings; numbers, ``true``/``false`` and ``null`` are bare; keys are bare (or
quoted); objects and arrays nest. Pure: used by :mod:`.gemma4`'s streaming parser.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["NAME", "QUOTE_TOKEN", "WS", "ToolCall", "parse_call"]

QUOTE_TOKEN = '<|"|>'
"""Gemma 4's string quote."""
NAME = r"[A-Za-z0-9_.\-]"
"""One character of a tool name."""
WS = " \t\r\n"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One complete tool call: its name and its arguments as a JSON object in text."""

    name: str
    arguments: str


# -- call bodies ---------------------------------------------------------------------------

_HEAD_RE = re.compile(r"\s*(?:call)?:\s*(" + NAME + r"{1,128})\s*([{(])")
_INT_RE = re.compile(r"-?\d+\Z")
_FLOAT_RE = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?\Z")
_SCALARS: dict[str, object] = {
    "true": True,
    "True": True,
    "false": False,
    "False": False,
    "null": None,
    "Null": None,
    "NULL": None,
    "None": None,
    "none": None,
    "nil": None,
}
_MAX_DEPTH = 64
_QLEN = len(QUOTE_TOKEN)


class _Malformed(ValueError):
    pass


def parse_call(body: str) -> ToolCall | None:
    """A call body (what follows ``<|tool_call>``) as a :class:`ToolCall`; None if malformed.

    ``call:NAME{key:value,…}`` (or ``:NAME{…}``, or ``call:NAME(key:value,…)``), nothing but
    whitespace after the closing brace.
    """
    m = _HEAD_RE.match(body)
    if m is None:
        return None
    closer = "}" if m.group(2) == "{" else ")"
    try:
        args, i = _members(body, m.end(), closer, 0)
    except (ValueError, IndexError):  # _Malformed, json.JSONDecodeError, running off the end
        return None
    if body[i:].strip(WS):
        return None
    return ToolCall(name=m.group(1), arguments=json.dumps(args, ensure_ascii=False))


_JSON = json.JSONDecoder()


def _json_string(s: str, i: int) -> tuple[str, int]:
    """A JSON ``"…"`` string at ``s[i]`` (a model may quote so instead of ``<|"|>``)."""
    value, end = _JSON.raw_decode(s, i)
    if not isinstance(value, str):
        raise _Malformed("not a string")
    return value, end


def _skip(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i] in WS:
        i += 1
    return i


def _members(s: str, i: int, closer: str, depth: int) -> tuple[dict[str, object], int]:
    """``key:value`` pairs up to ``closer``; returns the object and the index past it."""
    if depth > _MAX_DEPTH:
        raise _Malformed("too deep")
    out: dict[str, object] = {}
    while True:
        i = _skip(s, i)
        if s[i] == closer:
            return out, i + 1
        if s.startswith(QUOTE_TOKEN, i):
            e = s.find(QUOTE_TOKEN, i + _QLEN)
            if e < 0:
                raise _Malformed("unterminated key")
            key = s[i + _QLEN : e]
            i = e + _QLEN
        elif s[i] == '"':
            key, i = _json_string(s, i)
        else:
            e = s.find(":", i)
            if e < 0:
                raise _Malformed("no colon")
            key = s[i:e].strip(WS)
            if not key or any(c in key for c in '{}[],<>"'):
                raise _Malformed("bad key")
            i = e
        i = _skip(s, i)
        if s[i] != ":":
            raise _Malformed("no colon")
        value, i = _value(s, i + 1, closer, depth)
        out[key] = value
        i = _skip(s, i)
        if s[i] == ",":
            i += 1
        elif s[i] != closer:
            raise _Malformed("no separator")


def _items(s: str, i: int, depth: int) -> tuple[list[object], int]:
    if depth > _MAX_DEPTH:
        raise _Malformed("too deep")
    out: list[object] = []
    while True:
        i = _skip(s, i)
        if s[i] == "]":
            return out, i + 1
        value, i = _value(s, i, "]", depth)
        out.append(value)
        i = _skip(s, i)
        if s[i] == ",":
            i += 1
        elif s[i] != "]":
            raise _Malformed("no separator")


def _value(s: str, i: int, closer: str, depth: int) -> tuple[object, int]:
    i = _skip(s, i)
    if s.startswith(QUOTE_TOKEN, i):
        e = s.find(QUOTE_TOKEN, i + _QLEN)
        if e < 0:
            raise _Malformed("unterminated string")
        return s[i + _QLEN : e], e + _QLEN
    c = s[i]
    if c == "{":
        return _members(s, i + 1, "}", depth + 1)
    if c == "[":
        return _items(s, i + 1, depth + 1)
    if c == '"':
        return _json_string(s, i)
    # A bare scalar runs to the next separator.
    j = i
    n = len(s)
    while j < n and s[j] != "," and s[j] != closer and s[j] not in "}]":
        j += 1
    raw = s[i:j].strip(WS)
    if not raw or any(c in raw for c in '<{[:"'):
        raise _Malformed("bad scalar")  # ":" most likely a missing comma before the next key
    if raw in _SCALARS:
        return _SCALARS[raw], j
    if _INT_RE.match(raw):
        return int(raw), j
    if _FLOAT_RE.match(raw):
        return float(raw), j
    return raw, j
