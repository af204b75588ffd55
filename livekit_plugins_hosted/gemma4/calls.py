"""A Gemma 4 call body read by recursive descent: ``call:NAME{key:<|"|>text<|"|>,n:2}``.

    call    := ws [":"] ("call" ws ":" ws)* NAME ws ( "{" members "}" | "(" members ")" ) ws
    members := [ member ("," member)* [","] ]
    member  := key ws (":" | "=") value             ("=" only in the Python form, "(…)")
    key     := IDENT | <|"|>…<|"|> | "json"
    value   := <|"|> sealed text <|"|>              (nothing inside is markup)
             | text <|"|>                            (its opening delimiter lost)
             | "json" | 'text' | { members } | [ values ] | bare scalar

Read as tolerantly as the most tolerant peers (vLLM's fallback tier, Ollama's repairs of issue
15315) read what a model plausibly meant, and nothing further: a stray colon in the head, a
Python call ``call:f(a="b", n=1)``, a single-quoted value, a JSON-quoted value, a string whose
*opening* ``<|"|>`` is missing (``query:weather in Tokyo<|"|>``, commas and all). A string that
is never closed is repaired only when the call or the reply ends (:func:`repair`), never
inside. Every position is examined a bounded number of times: a look-ahead is cached, a
repair re-reads the body once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .lexer import QUOTE_TOKEN, WS
from .values import Bare, Malformed, Schemas, typed

__all__ = ["Meter", "Repaired", "ToolCall", "parse_call", "read_args", "repair"]


class Meter:
    """Characters the call reader examined (every look-ahead and re-scan counted): added to
    the parser's :attr:`~.stream.Gemma4Parser.work`, so a cost test sees the reader's scans."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


_QLEN = len(QUOTE_TOKEN)
_MAX_DEPTH = 64
_NAME_MAX = 128
NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_CLOSER = re.compile(r"[}\])]")  # one character class: linear
_CALL_CLOSERS = ("<tool_call|>", "</tool_call>", "</call>")


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One complete tool call: its name and its arguments as a JSON object in text."""

    name: str
    arguments: str


class _Unclosed(Malformed):
    """A ``<|"|>`` string runs to the end of the body: where it opened, what it sits in."""

    def __init__(self, at: int, stack: tuple[str, ...]) -> None:
        super().__init__("unterminated string")
        self.at = at
        self.stack = stack


def _skip(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i] in WS:
        i += 1
    return i


def head(s: str, i: int = 0) -> tuple[str, int, str] | None:
    """``[:](call:)*NAME{`` or ``…(`` at ``s[i]``: (name, index past the bracket, closer)."""
    i = _skip(s, i)
    prefixed = s.startswith(":", i)
    if prefixed:
        i = _skip(s, i + 1)
    n = len(s)
    while True:
        j = i
        while j < n and j - i <= _NAME_MAX and s[j] in NAME_CHARS:
            j += 1
        name = s[i:j]
        if not name or j - i > _NAME_MAX:
            return None
        k = _skip(s, j)
        if k < n and s[k] == ":" and name == "call":
            i = _skip(s, k + 1)
            prefixed = True
            continue
        if k < n and s[k] in "{(" and prefixed:
            return name, k + 1, "}" if s[k] == "{" else ")"
        return None


def parse_call(
    body: str, schemas: Schemas | None = None, meter: Meter | None = None
) -> ToolCall | None:
    """A call body (what follows ``<|tool_call>``) as a :class:`ToolCall`; None if malformed.

    Nothing but whitespace may follow the closing bracket. ``schemas`` maps tool names to
    their JSON-schema ``parameters``: a known tool's values are typed from it."""
    try:
        return _call(body, schemas, meter)
    except (Malformed, IndexError, RecursionError):
        return None


def _call(body: str, schemas: Schemas | None, meter: Meter | None) -> ToolCall | None:
    h = head(body)
    if h is None:
        return None
    name, i, closer = h
    args, end = read_args(body, i, closer, meter)
    if body[end:].strip(WS):
        return None
    return make_call(name, args, schemas)


def make_call(name: str, args: dict[str, object], schemas: Schemas | None) -> ToolCall | None:
    schema = schemas.get(name) if schemas else None
    value = typed(args, schema if isinstance(schema, Mapping) else None)
    try:
        return ToolCall(name=name, arguments=json.dumps(value, ensure_ascii=False, allow_nan=False))
    except ValueError:  # no JSON form: never a call to run
        return None


def read_args(
    s: str, i: int, closer: str, meter: Meter | None = None
) -> tuple[dict[str, object], int]:
    """The members up to ``closer`` at ``s[i]``; the index past it. ``Malformed`` if broken.
    ``closer`` ``)`` is the Python form: its strings are Python's."""
    reader = _Reader(s, py=closer == ")")
    try:
        return reader.members(i, closer, (closer,))
    finally:
        if meter is not None:
            meter.n += reader.work


@dataclass
class Repaired:
    """A call whose last string was never closed, closed where the peers close it."""

    call: ToolCall | None
    rest: str  # what followed the call's closing token: the reply goes on there


def repair(body: str, schemas: Schemas | None, meter: Meter | None = None) -> Repaired | None:
    """A body whose ``<|"|>`` string never closed, read as Ollama and vLLM read it: the string
    ends right before the closing brackets that end the call (before a ``<tool_call|>`` that
    follows them, or at the body's end). None if the body has no such ending (cut off)."""
    try:
        _call(body, schemas, meter)
        return None
    except _Unclosed as open_string:
        at, stack = open_string.at, open_string.stack
    except (Malformed, IndexError, RecursionError):
        return None
    n = len(body)
    ends = [n]
    for tok in _CALL_CLOSERS:
        k = body.find(tok, at)
        if k >= 0:
            ends.append(k)
    for end in sorted(ends):
        j = end
        for c in stack:  # outermost first, read backwards from the ending
            j -= 1
            while j >= at and body[j] in WS:
                j -= 1
            if j < at or body[j] != c:
                break
        else:
            fixed = body[:j] + QUOTE_TOKEN + body[j:end]
            rest = ""
            if end < n:
                tok = next(t for t in _CALL_CLOSERS if body.startswith(t, end))
                rest = body[end + len(tok) :]
            return Repaired(parse_call(fixed, schemas, meter), rest)
    return None


class _Reader:
    __slots__ = ("_close_at", "_kac", "_last", "_q_at", "py", "s", "work")

    def __init__(self, s: str, py: bool = False) -> None:
        self.s = s
        self.py = py  # the Python form: "…" and '…' are Python string literals
        self.work = 0  # characters examined, look-aheads and re-scans included
        self._q_at = -1  # cached: the next <|"|> at or after some earlier position
        self._close_at = -1  # cached: the next closing bracket
        self._last = (-1, -1)  # cached: (quote, the last non-space before it)
        self._kac = (-1, -1, -1)  # cached: (quote, from, first ``, key:`` in s[from:quote])

    def _next_quote(self, i: int) -> int:
        if self._q_at < i:
            k = self.s.find(QUOTE_TOKEN, i)
            self._q_at = len(self.s) if k < 0 else k
            self.work += self._q_at - i
        return self._q_at

    def _next_close(self, i: int) -> int:
        if self._close_at < i:
            m = _CLOSER.search(self.s, i)
            self._close_at = len(self.s) if m is None else m.start()
            self.work += self._close_at - i
        return self._close_at

    def _before(self, q: int) -> int:
        """The last character before ``s[q]`` that is no space, cached per ``q``: every
        value before the same quote asks."""
        if self._last[0] != q:
            j = q - 1
            while j >= 0 and self.s[j] in WS:
                j -= 1
            self.work += q - j
            self._last = (q, j)
        return self._last[1]

    def _key_after(self, i: int, q: int) -> int:
        """:func:`_key_after_comma` for ``s[i:q]``, cached: every value before the same distant
        quote asks again, and the answer for an earlier start holds unless it lies before
        ``i`` (then the search goes on from ``i``, past where the last one ended)."""
        quote, start, found = self._kac
        if quote == q and start <= i and (found < 0 or found >= i):
            return found
        found, scanned = _key_after_comma(self.s, i, q, ":=" if self.py else ":")
        self.work += scanned
        self._kac = (q, i, found)
        return found

    def members(self, i: int, closer: str, stack: tuple[str, ...]) -> tuple[dict[str, object], int]:
        if len(stack) > _MAX_DEPTH:
            raise Malformed("too deep")
        s = self.s
        out: dict[str, object] = {}
        while True:
            i = _skip(s, i)
            if s[i] == closer:
                return out, i + 1
            if s.startswith(QUOTE_TOKEN, i):
                e = s.find(QUOTE_TOKEN, i + _QLEN)
                if e < 0:
                    raise Malformed("unterminated key")
                key = s[i + _QLEN : e]
                i = e + _QLEN
            elif s[i] == '"':
                key, i = _python_string(s, i) if self.py else _json_string(s, i)
            else:
                j = i
                n = len(s)
                while j < n and s[j] not in ":=" and s[j] not in "{}[](),<>\"'":
                    j += 1
                self.work += j - i
                key = s[i:j].strip(WS)
                if not key or j == n or (s[j] == "=" and closer != ")"):
                    raise Malformed("bad key")
                i = j
            i = _skip(s, i)
            if s[i] != ":" and not (s[i] == "=" and closer == ")"):
                raise Malformed("no colon")
            value, i = self.value(i + 1, closer, stack)
            if self.py and key in out:
                raise Malformed("a keyword given twice")  # Python's SyntaxError: no guess
            out[key] = value
            i = _skip(s, i)
            if s[i] == ",":
                i += 1
            elif s[i] != closer:
                raise Malformed("no separator")

    def items(self, i: int, stack: tuple[str, ...]) -> tuple[list[object], int]:
        if len(stack) > _MAX_DEPTH:
            raise Malformed("too deep")
        s = self.s
        out: list[object] = []
        while True:
            i = _skip(s, i)
            if s[i] == "]":
                return out, i + 1
            value, i = self.value(i, "]", stack)
            out.append(value)
            i = _skip(s, i)
            if s[i] == ",":
                i += 1
            elif s[i] != "]":
                raise Malformed("no separator")

    def value(self, i: int, closer: str, stack: tuple[str, ...]) -> tuple[object, int]:
        s = self.s
        i = _skip(s, i)
        if s.startswith(QUOTE_TOKEN, i):
            e = s.find(QUOTE_TOKEN, i + _QLEN)
            if e < 0:
                raise _Unclosed(i + _QLEN, stack)
            return s[i + _QLEN : e], e + _QLEN
        c = s[i]
        if c == "{":
            return self.members(i + 1, "}", (*stack, "}"))
        if c == "[":
            return self.items(i + 1, (*stack, "]"))
        if c not in "\"'":
            return self._bare(i, closer)
        if self.py:
            text, end = _python_string(s, i)
        elif c == '"':
            text, end = _json_string(s, i)
        else:
            text, end = _single_quoted(s, i, closer)
        self.work += end - i
        return text, end

    def _bare(self, i: int, closer: str) -> tuple[object, int]:
        """A bare scalar, or text whose opening ``<|"|>`` was lost (its closing one follows
        before any closing bracket, and no ``key:`` begins in between)."""
        s = self.s
        q = self._next_quote(i)
        if q < self._next_close(i) and q < len(s):
            j = self._before(q)
            if j >= i and s[j] not in "{[(,:" and self._key_after(i, q) < 0:
                return s[i:q].strip(WS), q + _QLEN
        j = i
        n = len(s)
        while j < n and s[j] != "," and s[j] != closer and s[j] not in "}]":
            j += 1
        self.work += j - i
        raw = s[i:j].strip(WS)
        if not raw or any(c in raw for c in '<{[:"'):
            raise Malformed("bad scalar")  # ":" most likely a missing comma before the next key
        return Bare(raw), j


def _key_after_comma(s: str, i: int, q: int, seps: str = ":") -> tuple[int, int]:
    """The first ``,`` in ``s[i:q]`` that a ``key:`` follows (``key=`` too in the Python
    form: ``seps``), so the value ended there, or -1; and how far it looked."""
    c = s.find(",", i, q)
    while c >= 0:
        j = _skip(s, c + 1)
        k = j
        while k < q and k - j <= _NAME_MAX and s[k] in NAME_CHARS:
            k += 1
        if k > j and _skip(s, k) < q and s[_skip(s, k)] in seps:
            return c, _skip(s, k) - i
        c = s.find(",", max(k, c + 1), q)
    return -1, q - i


_JSON = json.JSONDecoder()


def _json_string(s: str, i: int) -> tuple[str, int]:
    """A JSON ``"…"`` string at ``s[i]`` (a model may quote so instead of ``<|"|>``)."""
    try:
        value, end = _JSON.raw_decode(s, i)
    except ValueError:
        raise Malformed("bad JSON string") from None
    if not isinstance(value, str):
        raise Malformed("not a string")
    return value, end


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v", "\\": "\\", "'": "'", '"': '"', "\n": ""}  # fmt: skip
_HEX = {"x": 2, "u": 4, "U": 8}
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")


def _python_string(s: str, i: int) -> tuple[str, int]:
    """A Python ``"…"`` or ``'…'`` literal (or a triple-quoted one) at ``s[i]``, decoded as
    Python decodes it: it ends at the first unescaped quote (or three) of its kind (as
    :mod:`.body` seals it)."""
    q = s[i] * 3 if s.startswith(s[i] * 3, i) else s[i]  # a triple quote spans lines
    out: list[str] = []
    j = i + len(q)
    n = len(s)
    while True:
        k = j
        while k < n and s[k] != q[0] and s[k] != "\\":
            k += 1
        out.append(s[j:k])
        if k >= n:
            raise Malformed("unterminated string")
        if s.startswith(q, k):
            return "".join(out), k + len(q)
        if s[k] == q[0]:
            out.append(q[0])  # one quote inside a triple-quoted string
            j = k + 1
            continue
        e = s[k + 1 : k + 2]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            j = k + 2
        elif e in _HEX:
            digits = s[k + 2 : k + 2 + _HEX[e]]
            if len(digits) != _HEX[e] or not all(d in _HEXDIGITS for d in digits):
                raise Malformed("bad escape")
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise Malformed("bad escape")  # no character: no JSON form to send
            out.append(chr(code))
            j = k + 2 + _HEX[e]
        else:
            out.append("\\")  # Python keeps an unknown escape's backslash
            j = k + 1


def _single_quoted(s: str, i: int, closer: str) -> tuple[str, int]:
    """``'text'`` at ``s[i]``: the quote that ends it is followed by a separator (or by a
    dangling ``<|"|>``, dropped)."""
    j = i + 1
    while True:
        e = s.find("'", j)
        if e < 0:
            raise Malformed("unterminated single quote")
        k = _skip(s, e + 1)
        if s.startswith(QUOTE_TOKEN, k):
            return s[i + 1 : e], k + _QLEN
        if k == len(s) or s[k] in ",}])" or s[k] == closer:
            return s[i + 1 : e], e + 1
        j = e + 1
