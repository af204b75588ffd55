"""Argument values typed from the tool's JSON schema, as vLLM types them (issue 15).

A bare ``12345`` for a ``string`` parameter keeps its exact text (``"02134"`` stays
``"02134"``), ``<|"|>5<|"|>`` for an ``integer`` parameter is ``5``. Without a schema a bare
scalar is read as JSON would read it (``02134`` is ``2134``). Every check here is a bounded look
at one scalar's text: no pattern runs over a whole reply, and a number is recognised by one
left-to-right walk (:func:`number`), no regular expression.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["DECIMAL", "INTEGER", "NOT_NUMBER", "Bare", "Malformed", "Schemas", "number", "typed"]

Schemas = Mapping[str, Mapping[str, Any]]
"""Tool name → that tool's JSON-schema ``parameters`` object."""
WS = " \t\r\n"

NOT_NUMBER, INTEGER, DECIMAL = 0, 1, 2


def number(text: str) -> tuple[int, int]:
    """What number ``text`` is, read in one walk: ``(kind, characters examined)``.

        integer := ["-"] digit+
        decimal := ["-"] (digit+ "." digit* | "." digit+ | digit+) [("e"|"E") ["+"|"-"] digit+]

    A digit is a Unicode decimal digit (what ``int`` and ``float`` read). Each character is
    examined once at most, so the cost is linear in the scalar however it is made."""
    n = len(text)
    i = 1 if n and text[0] == "-" else 0
    start = i
    while i < n and text[i].isdecimal():
        i += 1
    whole = i > start
    if i == n:
        return (INTEGER if whole else NOT_NUMBER), n
    if text[i] == ".":
        i += 1
        frac = i
        while i < n and text[i].isdecimal():
            i += 1
        if not whole and i == frac:
            return NOT_NUMBER, i
    elif not whole:
        return NOT_NUMBER, i + 1
    if i < n and text[i] in "eE":
        i += 1
        if i < n and text[i] in "+-":
            i += 1
        exp = i
        while i < n and text[i].isdecimal():
            i += 1
        if i == exp:
            return NOT_NUMBER, i
    return (DECIMAL if i == n else NOT_NUMBER), min(i + 1, n)


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


class Malformed(ValueError):
    """A call body the grammar cannot read: the call is dropped, never guessed."""


class Bare(str):
    """A bare scalar's exact text, typed once the schema (if any) is known."""

    __slots__ = ()


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # past Python's 4,300-digit limit: no number a tool takes
        raise Malformed("integer too long") from None


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: JSON has no infinity
        raise Malformed("not a finite number")
    return value


def _default(raw: str) -> object:
    """A bare scalar with no schema to say otherwise: as JSON would read it, else text."""
    if raw in _SCALARS:
        return _SCALARS[raw]
    if raw.lower() in ("null", "none", "nil"):  # NONE, NIL: any case, as vLLM reads them
        return None
    kind, _ = number(raw)
    try:
        if kind == INTEGER:
            return _int(raw)
        if kind == DECIMAL:
            return _float(raw)
    except Malformed:
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
    """Text read as the first of the schema's non-string types it fits; ``Malformed`` if none."""
    if "boolean" in types and text in ("true", "false"):
        return text == "true"
    if "null" in types and text == "null":
        return None
    kind, _ = number(text)
    if ("integer" in types or "number" in types) and kind == INTEGER:
        return _int(text)
    if "number" in types and kind == DECIMAL:
        return _float(text)
    if "integer" in types and kind == DECIMAL and _float(text).is_integer():
        return int(_float(text))
    raise Malformed("does not fit the schema")


def typed(value: object, schema: Mapping[str, Any] | None) -> object:
    """``value`` with bare scalars resolved, typed from ``schema`` where it says how."""
    types = _types(schema)
    if isinstance(value, Bare):
        raw = str(value)
        if not types:
            return _default(raw)
        try:
            return _as(raw, types - {"string"})
        except Malformed:
            return raw if "string" in types else _default(raw)
    if isinstance(value, str):
        if types and "string" not in types:
            try:
                return _as(value.strip(WS), types)
            except Malformed:
                pass
        return value
    if isinstance(value, dict):
        props = schema.get("properties") if schema else None
        extra = schema.get("additionalProperties") if schema else None
        return {
            k: typed(v, _sub(props.get(k) if isinstance(props, Mapping) else None, extra))
            for k, v in value.items()
        }
    if isinstance(value, list):
        items = schema.get("items") if schema else None
        return [typed(v, items if isinstance(items, Mapping) else None) for v in value]
    return value


def _sub(schema: object, fallback: object) -> Mapping[str, Any] | None:
    if isinstance(schema, Mapping):
        return schema
    return fallback if isinstance(fallback, Mapping) else None
