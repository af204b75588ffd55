"""Gemma 4's native tool-call bodies: ``call:NAME{key:<|"|>text<|"|>,n:2}`` to JSON arguments.

The argument grammar, as vLLM reads it (``vllm/tool_parsers/gemma4_tool_parser.py``):
``<|"|>`` quotes strings; numbers, ``true``/``false`` and ``null`` are bare; keys are bare (or
quoted); objects and arrays nest. Pure: used by :mod:`.gemma4`'s streaming parser.

Read as tolerantly as the most tolerant peers (vLLM, Ollama ``model/parsers/gemma4.go``) read
what a model plausibly meant, and nothing further:

* a stray colon in the head (``:call:NAME{``, as vLLM's fallback tier reads it);
* a string whose closing ``<|"|>`` is missing before the body's own closing brace(s)
  (``{command:<|"|>ls}``: the model really writes this, Ollama issue 15315); with no closing
  brace at all the body was cut off and stays unread;
* a single-quoted value (``pattern:'abc'``) is the string ``abc``, and a dangling ``<|"|>``
  right after it is dropped (Ollama's repairs of issue 15315);
* a value quoted like JSON (``"…"``) is read as JSON.

With the tool's JSON schema (``schemas``: tool name → its ``parameters`` object), values are
typed as vLLM types them: a bare ``12345`` for a ``string`` parameter keeps its exact text
(``"02134"`` stays ``"02134"``), ``<|"|>5<|"|>`` for an ``integer`` parameter is ``5``. Without
a schema a bare scalar is read as JSON would read it (``02134`` is ``2134``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MARKERS", "NAME", "QUOTE_TOKEN", "WS", "Schemas", "ToolCall", "parse_call", "token"]

QUOTE_TOKEN = '<|"|>'
"""Gemma 4's string quote."""
NAME = r"[A-Za-z0-9_.\-]"
"""One character of a tool name."""
WS = " \t\r\n"

Schemas = Mapping[str, Mapping[str, Any]]
"""Tool name → that tool's JSON-schema ``parameters`` object."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One complete tool call: its name and its arguments as a JSON object in text."""

    name: str
    arguments: str


# -- special tokens ------------------------------------------------------------------------

# What a complete ``<…>`` token means.
LITERAL = 0  # not a marker: the ``<`` is text
DROP = 1  # a special token with no meaning here: dropped
CH_OPEN = 2
CH_CLOSE = 3
TC_OPEN = 4
TC_CLOSE = 5
QUOTE = 6
END = 7
XML_OPEN = 8  # ``<call>`` / ``<tool_call>``: a call only if tool syntax follows
PARTIAL = -1  # could still become a marker: hold it

MARKERS = {
    "<|channel>": CH_OPEN,
    "<channel|>": CH_CLOSE,
    "<|tool_call>": TC_OPEN,
    "<tool_call|>": TC_CLOSE,
    "</tool_call>": TC_CLOSE,
    "</call>": TC_CLOSE,
    "<tool_call>": XML_OPEN,
    "<call>": XML_OPEN,
    QUOTE_TOKEN: QUOTE,
    "<|turn>": END,
    "<turn|>": END,
    "<|tool_response>": END,
    "<tool_response|>": END,
    "<eos>": END,
    "<start_of_turn>": END,
    "<end_of_turn>": END,
    # the same markers with their pipes lost (a small or damaged model writes them as text,
    # seen from the Gemma 3 270M on llama-server): a thought opened, a turn ended, never speech
    "<channel>": CH_OPEN,
    "<turn>": END,
    # Gemma's tokenizer specials without a pipe (Gemma 3/3n, as google-ai-edge/LiteRT-LM names
    # its boi/eoi/boa/eoa tokens): never speech.
    "<bos>": DROP,
    "<pad>": DROP,
    "<unk>": DROP,
    "<mask>": DROP,
    "<start_of_image>": DROP,
    "<end_of_image>": DROP,
    "<image_soft_token>": DROP,
    "<start_of_audio>": DROP,
    "<end_of_audio>": DROP,
    "<audio_soft_token>": DROP,
}
"""Every marker is ``<`` + optional ``|`` or ``/`` + a short name + optional ``|`` + ``>``."""
_TOKEN_RE = re.compile(r'<(\|?)/?([A-Za-z0-9_"]{1,32})(\|?)>')
_TOKEN_PARTIAL_RE = re.compile(r'<\|?/?[A-Za-z0-9_"]{0,32}\|?\Z')


def token(data: str, k: int) -> tuple[int, int]:
    """What the ``<`` at ``data[k]`` starts: ``(kind, length)``."""
    m = _TOKEN_RE.match(data, k)
    if m is not None:
        kind = MARKERS.get(m.group(0))
        if kind is None:
            kind = DROP if (m.group(1) or m.group(3)) else LITERAL
        return kind, m.end() - k
    if _TOKEN_PARTIAL_RE.match(data, k) is not None:
        return PARTIAL, 0
    if data.startswith("<|", k):
        return DROP, 2  # only special tokens start so: never speech
    if data.startswith("<<|", k):
        return DROP, 1  # a "<" glued to a special token: dropping either must not make "<|"
    if k == len(data) - 2 and data[-1] == "<":
        return PARTIAL, 0  # "<<" at the end: the second may begin "<|"
    return LITERAL, 1


def speakable_at_end(held: str) -> bool:
    """A possible marker's beginning left at the end of the stream: is it text to speak?"""
    return "|" not in held and not (len(held) > 1 and any(m.startswith(held) for m in MARKERS))


# -- call bodies ---------------------------------------------------------------------------

# ``call:NAME{``, ``:NAME{``, a stray colon or a repeated ``call:`` before the name.
_HEAD_RE = re.compile(
    r"\s*(?::\s*(?:call\s*:\s*)*|(?:call\s*:\s*)+)(" + NAME + r"{1,128})\s*([{(])"
)
_INT_RE = re.compile(r"-?\d+\Z")
_FLOAT_RE = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?\Z")
_TAIL_CLOSERS_RE = re.compile(r"[\s})\]]*\Z")
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


class _Bare(str):
    """A bare scalar's exact text, typed once the schema (if any) is known."""

    __slots__ = ()


def parse_call(body: str, schemas: Schemas | None = None) -> ToolCall | None:
    """A call body (what follows ``<|tool_call>``) as a :class:`ToolCall`; None if malformed.

    ``call:NAME{key:value,…}`` (or ``:NAME{…}``, or ``call:NAME(key:value,…)``), nothing but
    whitespace after the closing brace. ``schemas`` maps tool names to their JSON-schema
    ``parameters``: a known tool's values are typed from it.
    """
    m = _HEAD_RE.match(body)
    if m is None:
        return None
    name = m.group(1)
    args = _arguments(body, m.end(), "}" if m.group(2) == "{" else ")")
    if args is None:
        return None
    schema = schemas.get(name) if schemas else None
    typed = _typed(args, schema if isinstance(schema, Mapping) else None)
    try:
        return ToolCall(name=name, arguments=json.dumps(typed, ensure_ascii=False, allow_nan=False))
    except ValueError:  # no JSON form: never a call to run
        return None


def _arguments(body: str, start: int, closer: str) -> dict[str, object] | None:
    parsed = _complete(body, start, closer)
    if parsed is None and body.count(QUOTE_TOKEN) % 2:
        # A string left open: close it before one of the closing braces the body ends with
        # (innermost first), never at a body that just stops (that one was cut off).
        tail = len(body) - len(_TAIL_CLOSERS_RE.search(body, start).group())  # type: ignore[union-attr]
        for k in range(len(body), tail - 1, -1):
            if k < len(body) and body[k] not in "})]":
                continue
            parsed = _complete(body[:k] + QUOTE_TOKEN + body[k:], start, closer)
            if parsed is not None:
                break
    return parsed


def _complete(body: str, start: int, closer: str) -> dict[str, object] | None:
    try:
        args, i = _members(body, start, closer, 0)
    except (ValueError, IndexError):  # _Malformed, json.JSONDecodeError, running off the end
        return None
    return None if body[i:].strip(WS) else args


_JSON = json.JSONDecoder()


def _json_string(s: str, i: int) -> tuple[str, int]:
    """A JSON ``"…"`` string at ``s[i]`` (a model may quote so instead of ``<|"|>``)."""
    value, end = _JSON.raw_decode(s, i)
    if not isinstance(value, str):
        raise _Malformed("not a string")
    return value, end


def _single_quoted(s: str, i: int, closer: str) -> tuple[str, int]:
    """``'text'`` at ``s[i]``: the quote that ends it is followed by a separator (or by a
    dangling ``<|"|>``, dropped)."""
    j = i + 1
    while True:
        e = s.find("'", j)
        if e < 0:
            raise _Malformed("unterminated single quote")
        k = _skip(s, e + 1)
        if s.startswith(QUOTE_TOKEN, k):
            return s[i + 1 : e], k + _QLEN
        if k == len(s) or s[k] in ",}])" or s[k] == closer:
            return s[i + 1 : e], e + 1
        j = e + 1


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
            if not key or any(c in key for c in "{}[],<>\"'"):
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
    if c == "'":
        return _single_quoted(s, i, closer)
    # A bare scalar runs to the next separator; its text is kept for the schema.
    j = i
    n = len(s)
    while j < n and s[j] != "," and s[j] != closer and s[j] not in "}]":
        j += 1
    raw = s[i:j].strip(WS)
    if not raw or any(c in raw for c in '<{[:"'):
        raise _Malformed("bad scalar")  # ":" most likely a missing comma before the next key
    return _Bare(raw), j


# -- types ---------------------------------------------------------------------------------


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # past Python's 4,300-digit limit: no number a tool takes
        raise _Malformed("integer too long") from None


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: JSON has no infinity
        raise _Malformed("not a finite number")
    return value


def _default(raw: str) -> object:
    """A bare scalar with no schema to say otherwise: as JSON would read it, else text."""
    if raw in _SCALARS:
        return _SCALARS[raw]
    try:
        if _INT_RE.match(raw):
            return _int(raw)
        if _FLOAT_RE.match(raw):
            return _float(raw)
    except _Malformed:
        pass
    return raw


def _types(schema: Mapping[str, Any] | None) -> set[str]:
    if not schema:
        return set()
    t = schema.get("type")
    out = {t} if isinstance(t, str) else {x for x in t if isinstance(x, str)} if t else set()
    for key in ("anyOf", "oneOf"):
        for alt in schema.get(key) or ():
            if isinstance(alt, Mapping):
                out |= _types(alt)
    enum = schema.get("enum")
    if not out and enum and all(isinstance(v, str) for v in enum):
        out = {"string"}  # an untyped enum of strings: its values are strings
    return out


def _as(text: str, types: set[str]) -> object:
    """Text read as the first of the schema's non-string types it fits; ``_Malformed`` if none."""
    if "boolean" in types and text in ("true", "false"):
        return text == "true"
    if "null" in types and text == "null":
        return None
    if ("integer" in types or "number" in types) and _INT_RE.match(text):
        return _int(text)
    if "number" in types and _FLOAT_RE.match(text):
        return _float(text)
    if "integer" in types and _FLOAT_RE.match(text) and float(text).is_integer():
        return int(_float(text))
    raise _Malformed("does not fit the schema")


def _typed(value: object, schema: Mapping[str, Any] | None) -> object:
    """``value`` with bare scalars resolved, typed from ``schema`` where it says how."""
    types = _types(schema)
    if isinstance(value, _Bare):
        raw = str(value)
        if not types:
            return _default(raw)
        try:
            return _as(raw, types - {"string"})
        except _Malformed:
            return raw if "string" in types else _default(raw)
    if isinstance(value, str):
        if types and "string" not in types:
            try:
                return _as(value.strip(WS), types)
            except _Malformed:
                pass
        return value
    if isinstance(value, dict):
        props = schema.get("properties") if schema else None
        extra = schema.get("additionalProperties") if schema else None
        return {
            k: _typed(v, _sub(props.get(k) if isinstance(props, Mapping) else None, extra))
            for k, v in value.items()
        }
    if isinstance(value, list):
        items = schema.get("items") if schema else None
        return [_typed(v, items if isinstance(items, Mapping) else None) for v in value]
    return value


def _sub(schema: object, fallback: object) -> Mapping[str, Any] | None:
    if isinstance(schema, Mapping):
        return schema
    return fallback if isinstance(fallback, Mapping) else None
