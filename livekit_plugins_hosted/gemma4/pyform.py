"""The Python call form small Gemma 4 models write instead of the native grammar.

    code  := (stmt (newline | ";"))*
    stmt  := "print(" expr ")" | IDENT "=" expr | IDENT | expr
    expr  := (IDENT ".")* NAME "(" members ")"      (members as in :mod:`.calls`, with "=")
           | IDENT                                   (a name assigned before: ``tool_code``)

as it comes in a ```` ```tool_code ```` fence, as ``tool_code = f(…)`` then
``print(tool_code)``, or as ``print(f(…))``. A call becomes a tool call only if its name is a
tool the request declared; code naming no declared tool is never a call (and, being code, is
never spoken either). A statement that is none of these (``city = "Paris"``) is skipped to
its end; a call whose argument is no literal (a variable, an expression) is lost, never run
with a guess, as are the calls of code with control flow (``if``, ``for``, ``def``). One
pass, left to right; every argument is read by the same reader as
the native form's, so values are typed from the tool's schema the same way.
"""

from __future__ import annotations

import ast

from .calls import NAME_CHARS, Meter, ToolCall, make_call, read_args
from .lexer import QUOTE_TOKEN, WS
from .values import NOT_NUMBER, Bare, Malformed, Schemas, number

__all__ = ["opens_bare", "opens_call", "opens_inline", "read_code"]

_IDENT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_SEP = WS + ";"
_Got = tuple[str, dict[str, object]] | None  # a call read (its name and arguments), or none
# a statement that decides whether, or how often, the calls after it run
_FLOW = frozenset((
    "if", "elif", "else", "for", "while", "def", "class", "with", "try", "except", "finally",
    "async", "match", "case", "lambda", "return", "yield", "raise", "assert", "exit", "quit",
))  # fmt: skip
_NUMBER_MAX = 64  # a number Python reads another way (``0x10``) is read by Python, if this short
_HEAD = 256  # a statement's start that says whether it opens a declared tool's call
_SPACING = 16  # spaces and line breaks before the call: any layout a model writes
_INLINE_HEAD = 160  # more than ``print(`` needs before a declared tool's name and its ``(``


def _skip(s: str, i: int, chars: str = " \t") -> int:
    n = len(s)
    while i < n and s[i] in chars:
        i += 1
    return i


def _ident(s: str, i: int) -> int:
    n = len(s)
    j = i
    while j < n and j - i <= 128 and s[j] in _IDENT:
        j += 1
    return j


def _import_end(s: str, i: int) -> int:
    """Where the ``import``/``from`` statement at ``s[i]`` ends: its ``;`` or its line's end
    (Python's rule: ``import os; f(…)`` is two statements); a bracketed name list spans lines."""
    n = len(s)
    depth = 0
    while i < n:
        c = s[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == ";" or (c == "\n" and depth <= 0):
            return i
        i += 1
    return n


def _uncomment(code: str) -> str:
    """``code`` with each ``#`` comment (outside a string, as Python's lexer reads strings:
    ``"…"`` and ``'…'`` end at their line, triple quotes span lines, ``<|"|>`` ends only at
    ``<|"|>``) cut to its line's end, so one inside a call's brackets hides no argument."""
    out: list[str] = []
    i, at, n = 0, 0, len(code)
    while i < n:
        c = code[i]
        if c == "#":
            out.append(code[at:i])
            i = at = _line_end(code, i)
        elif c in "\"'" or code.startswith(QUOTE_TOKEN, i):
            i = _string_end(code, i, n)
        else:
            i += 1
    out.append(code[at:])
    return "".join(out)


def _line_end(s: str, i: int) -> int:
    j = s.find("\n", i)
    return len(s) if j < 0 else j


def opens_call(text: str, schemas: Schemas | None) -> bool | None:
    """``text`` (a statement's start) opens a call of a declared tool: ``print(f(``,
    ``x = f(``, ``f(``, a module before ``f``, spaces before each ``(``; None while
    ``text`` ends before that is decided."""
    if not schemas:
        return False
    i = _skip(text, 0, WS)
    j = _ident(text, i)
    k = _skip(text, j, WS)
    if k >= len(text):
        return None
    word = text[i:j]
    if (word == "print" and text[k] == "(") or (
        word and text.startswith("=", k) and not text.startswith("==", k)
    ):
        i = _skip(text, k + 1, WS)  # the call is the argument or the value
    while True:
        j = _ident(text, i)
        k = _skip(text, j, WS)
        if k >= len(text):
            return None
        if j == i or j - i > 128:
            return False
        if text[k] == "(":
            return text[i:j] in schemas
        if text[k] != ".":
            return False
        i = _skip(text, k + 1, WS)


def opens_inline(data: str, at: int, schemas: Schemas | None, *, final: bool) -> bool | None:
    """``data[at:]``, after a mid-line ``print(``, opens a declared tool's call
    (``get_weather(``, ``default_api.get_weather(``, any spaces and line breaks before each,
    up to :data:`_SPACING`); None
    while it is still the start of one and more may come. Rejected at the first character
    that can start none, so what a stream holds back to decide is as short as a tool's name."""
    got = _opens_inline(data[at : at + _INLINE_HEAD], schemas)
    return False if got is None and (final or len(data) - at >= _INLINE_HEAD) else got


def opens_bare(data: str, at: int, schemas: Schemas | None, *, final: bool) -> bool | None:
    """``data[at:]``, at a line's start, is a declared tool's call with no ``print(``
    (``get_weather(city="Paris")``, ``default_api.get_weather(``); None while undecided."""
    got = _opens_inline(data[at : at + _INLINE_HEAD], schemas, lines=False)
    return False if got is None and (final or len(data) - at >= _INLINE_HEAD) else got


def _opens_inline(text: str, schemas: Schemas | None, *, lines: bool = True) -> bool | None:
    if not schemas:
        return False
    n = len(text)
    i = _skip(text, 0, WS if lines else " \t")  # spaces, line breaks (``print(\n\n  f(``)
    if i > _SPACING:
        return False
    if i >= n:
        return None
    j = i
    while j < n and (text[j] in _IDENT or text[j] == "."):
        j += 1
    word = text[i:j]
    if not word:
        return None if j >= n else False  # no name starts here (a line break, a bracket)
    if not any(t.startswith(word) or f"default_api.{t}".startswith(word) for t in schemas):
        return False
    k = _skip(text, j, WS)
    if k >= n:
        return None
    return text[k] == "(" and word.removeprefix("default_api.") in schemas


def read_code(
    code: str, schemas: Schemas | None, meter: Meter | None = None
) -> tuple[list[ToolCall], int]:
    """The calls of declared tools in ``code``, and how many calls of declared tools could not
    be made (lost: cut off, malformed, an argument that is no literal, such as a variable).
    A statement that is none of the forms above (``city = "Paris"``, ``x += 1``) is skipped
    to its end, as is one that cannot be read. Code with control flow (``if``, ``for``,
    ``def``…) makes no call: which of its calls would run is not known, so each is lost."""
    out: list[ToolCall] = []
    lost = 0
    flow = False
    names: dict[str, _Got] = {}
    code = _uncomment(code)
    if meter is not None:
        meter.n += len(code)  # comments cut
    i, n = 0, len(code)
    while True:
        i = _skip(code, i, _SEP)
        if i >= n:
            if flow:
                return [], lost + len(out)
            return out, lost
        start = i
        flow = flow or code[i : _ident(code, i)] in _FLOW
        try:
            i, got = _statement(code, i, schemas, names, meter)
            i = _skip(code, i)
            if i < n and code[i] not in "\n;":
                raise Malformed("more on the line")
            _add(out, got, schemas)
        except (Malformed, IndexError, RecursionError):
            end = _stmt_end(code, start)
            if meter is not None:
                meter.n += 2 * (end - start)  # skipped to its end, its names looked at
            if _calls_declared(code, start, end, schemas):
                lost += 1  # a declared tool's call, never run
            i = end


def _calls_declared(code: str, i: int, end: int, schemas: Schemas | None) -> bool:
    """``code[i:end]`` names a declared tool before a ``(`` outside its strings
    (``x = str(get_weather(…))``; not ``s = "get_weather(x)"``)."""
    if not schemas:
        return False
    while i < end:
        c = code[i]
        if (c in "\"'" and "f" not in code[max(i - 2, 0) : i].lower()) or code.startswith(
            QUOTE_TOKEN, i
        ):
            i = _string_end(code, i, end)  # an f-string's braces are code: read on in it
        elif c in _IDENT and (i == 0 or code[i - 1] not in _IDENT):
            j = min(_ident(code, i), end)
            if code[i:j] in schemas and code.startswith("(", _skip(code, j, WS)):
                return True
            i = j
        else:
            i += 1
    return False


def _string_end(code: str, i: int, end: int) -> int:
    """Past the string opening at ``code[i]``, within ``end``, read as Python's lexer reads
    it (``"…"`` and ``'…'`` end at their line, triple quotes span lines, a backslash escapes
    the next character) or as Gemma's (``<|"|>`` ends only at ``<|"|>``, no escapes)."""
    q = QUOTE_TOKEN if code.startswith(QUOTE_TOKEN, i) else code[i] * 3
    if not code.startswith(q, i):
        q = code[i]
    i += len(q)
    while i < end:
        if code[i] == "\\" and q != QUOTE_TOKEN:
            i += 2
        elif code.startswith(q, i):
            return i + len(q)
        elif code[i] == "\n" and len(q) == 1:
            return i + 1  # Python's one-line string ends with its line (the break with it)
        else:
            i += 1
    return end


def _statement(
    code: str,
    i: int,
    schemas: Schemas | None,
    names: dict[str, _Got],
    meter: Meter | None,
) -> tuple[int, _Got]:
    """Read the statement at ``code[i]``: the index past it, and the call it makes."""
    n = len(code)
    j = _ident(code, i)
    word = code[i:j]
    k = _skip(code, j)
    if word in ("import", "from"):
        return _import_end(code, j), None  # ``import default_api``: no call
    if word == "print" and code.startswith("(", k):
        # inside its brackets a line may break: ``print(\n  f(…)\n)``
        got, i = _expr(code, _skip(code, k + 1, WS), names, meter)
        i = _skip(code, i, WS)
        if not code.startswith(")", i):
            raise Malformed("print( not closed")
        return i + 1, got
    if word and code.startswith("=", k) and not code.startswith("==", k):
        names[word] = None  # what it held before is gone
        if opens_call(code[k + 1 : k + 1 + _HEAD], schemas) is False:
            end = _stmt_end(code, k + 1)  # ``city = "Paris"``: no call
            if _calls_declared(code, k + 1, end, schemas):
                raise Malformed("a declared call inside")  # ``x = str(f(…))``: lost
            return end, None
        # ``tool_code = f(…)`` calls ``f`` (``print(tool_code)`` then calls nothing)
        got, i = _expr(code, k + 1, names, meter)
        return i, got
    if word and (k >= n or code[k] in "\n;"):
        return k, None  # a bare name (``tool_code`` on its own line, as Gemini writes it)
    got, i = _expr(code, i, names, meter)
    return i, got


def _stmt_end(code: str, i: int) -> int:
    """Where the statement at ``code[i]`` ends: a ``;`` or line break outside its brackets
    and strings (Python's strings, and ``<|"|>`` sealed), or the code's end."""
    n = len(code)
    depth = 0
    while i < n:
        c = code[i]
        if c in "\"'" or code.startswith(QUOTE_TOKEN, i):
            i = _string_end(code, i, n)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c in "\n;" and depth <= 0:
            return i
        i += 1
    return n


def _add(out: list[ToolCall], got: _Got, schemas: Schemas | None) -> None:
    if got is None or not schemas or got[0] not in schemas:
        return  # no declared tool: never a call
    call = make_call(got[0], got[1], schemas)
    if call is None:
        raise Malformed("no JSON form")  # a declared tool's call that cannot run: lost
    out.append(call)


def _literal(value: object) -> object:
    """``value`` as read, if every bare scalar in it is a Python literal (a number, written
    any way Python reads one: ``1_000``, ``0x10``, ``+1``; or ``True``, ``False``, ``None``);
    a name (a variable: ``city=city``) or an expression (``-x``, ``user.city``) is
    ``Malformed``, never sent as its own text."""
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    if not isinstance(value, Bare) or value in ("True", "False", "None"):
        return value
    if value.isascii() and number(value)[0] != NOT_NUMBER:
        return value
    if value.isascii() and len(value) <= _NUMBER_MAX:
        try:
            got = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            got = None
        if isinstance(got, int | float) and not isinstance(got, bool):
            return Bare(repr(got))
    raise Malformed("no literal")  # ``none`` or ``١٢٣`` too: a name, no Python literal


def _expr(
    code: str,
    i: int,
    names: dict[str, _Got],
    meter: Meter | None,
) -> tuple[_Got, int]:
    i = _skip(code, i)
    start = i
    n = len(code)
    while True:
        j = i
        while j < n and j - i <= 128 and code[j] in NAME_CHARS and code[j] != ".":
            j += 1
        if j == i:
            raise Malformed("no name")
        if j < n and code[j] == ".":
            i = j + 1  # ``default_api.f``: the module is not part of the tool's name
            continue
        name = code[i:j]
        k = _skip(code, j)
        if code.startswith("(", k):
            args, end = read_args(code, k + 1, ")", meter)
            return (name, {key: _literal(value) for key, value in args.items()}), end
        if i == start and name in names:
            return names[name], j
        raise Malformed("not a call")
