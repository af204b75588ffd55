"""Where text opens, or names, a declared tool's call in the Python form: read in one pass.

    opens   := ["print("] ["await"] [NAME [":" TYPE] "="] [MODULE "."] TOOL "("
    names   := TOOL "(" outside strings (``x = str(get_weather(…))``), or inside them

These readers decide, on a bounded head of the text (:data:`_INLINE_HEAD` characters, a
type annotation of 48 at most), whether a line or ``print(`` opens a declared tool's call
and so is code: None while the text so far cannot tell. :mod:`.pyform` then reads the
calls themselves with Python's parser. Strings are skipped as Python's lexer reads them, and
``<|"|>`` is sealed.
"""

from __future__ import annotations

from .lexer import IDENT as _IDENT
from .lexer import QUOTE_TOKEN, WS
from .values import Schemas

__all__ = [
    "MODULE",
    "calls_declared",
    "ident",
    "opens_assign",
    "opens_bare",
    "opens_call",
    "opens_inline",
    "skip",
    "stmt_end",
    "string_end",
    "uncommented",
]

_MORE, _NOT = -1, -2  # an annotation the text ends in, or none (:func:`_annotated`)
_ANNOTATION = 48  # the longest type annotation read (``dict[str, list[int]] | None``)
MODULE = "default_api."  # the module a Gemini-style call names its tools from
_SPACING = 16  # spaces and line breaks before the call: any layout a model writes
_INLINE_HEAD = 160  # more than ``print(`` needs before a declared tool's name and its ``(``


def skip(s: str, i: int, chars: str = " \t") -> int:
    n = len(s)
    while i < n and s[i] in chars:
        i += 1
    return i


def ident(s: str, i: int) -> int:
    n = len(s)
    j = i
    while j < n and j - i <= 128 and s[j] in _IDENT:
        j += 1
    return j


def uncommented(code: str) -> str:
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
            i = string_end(code, i, n)
        else:
            i += 1
    out.append(code[at:])
    return "".join(out)


def _line_end(s: str, i: int) -> int:
    j = s.find("\n", i)
    return len(s) if j < 0 else j


def opens_call(text: str, schemas: Schemas | None) -> bool | None:
    """``text`` (a statement's start) opens a call of a declared tool: ``print(f(``,
    ``x = f(``, ``f(``, ``default_api.f(``, spaces before each ``(``; None while ``text``
    ends before that is decided."""
    if not schemas:
        return False
    i = skip(text, 0, WS)
    j = ident(text, i)
    k = skip(text, j, WS)
    if k >= len(text):
        return None
    word = text[i:j]
    if word and text[k] == ":" and not text.startswith(":=", k):
        k = _annotated(text, k + 1)  # ``result: dict = f(``
        if k < 0:
            return None if k == _MORE else False
    if (word == "print" and text[k] == "(") or (
        word and text.startswith("=", k) and not text.startswith("==", k)
    ):
        i = skip(text, k + 1, WS)  # the call is the argument or the value
    if (got := _past_await(text, i, WS)) is None:
        return None
    i, module = got, False
    while True:
        j = ident(text, i)
        k = skip(text, j, WS)
        if k >= len(text):
            return None
        if j == i or j - i > 128:
            return False
        if text[k] == "(":
            return text[i:j] in schemas
        if text[k] != "." or module or text[i:j] != MODULE[:-1]:
            return False  # ``requests.get(``: another module's function, no tool
        module = True
        i = skip(text, k + 1, WS)


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


def opens_assign(data: str, at: int, schemas: Schemas | None, *, final: bool) -> bool | None:
    """``data[at:]``, at a line's start, assigns a declared tool's call to a name
    (``result = get_weather(``, ``weather = default_api.get_weather(``); None while
    undecided. Only a name as code writes one is held to decide (its first letter lowercase
    or ``_``): a capitalised word, as a sentence starts, is no code and never waits."""
    if not schemas or at >= len(data) or not (data[at] == "_" or "a" <= data[at] <= "z"):
        return False
    text = data[at : at + _INLINE_HEAD]
    j = ident(text, 0)
    k = skip(text, j)
    if k < len(text) and text[k] == ":" and not text.startswith(":=", k) and j <= _ANNOTATION:
        k = _annotated(text, k + 1)  # ``result: dict = get_weather(`` (a name as code writes)
        if k == _NOT:
            return False
    got: bool | None
    if k >= len(text) or k == _MORE:
        got = None  # the name, or spaces after it, so far
    elif text[k] != "=" or text.startswith("==", k):
        return False
    else:
        got = _opens_inline(text[k + 1 :], schemas, lines=False) if k + 1 < len(text) else None
    return False if got is None and (final or len(data) - at >= _INLINE_HEAD) else got


def _past_await(text: str, i: int, spaces: str) -> int | None:
    """Past ``await`` and ``spaces`` at ``text[i]`` (``await f(``: the same call), else ``i``
    (``awaiting``, ``await(``); None while the text ends in it or its start."""
    if not text.startswith("await", i):
        return None if len(text) - i < 5 and "await".startswith(text[i:]) else i
    k = skip(text, i + 5, spaces)
    return None if k >= len(text) else k if k > i + 5 else i


def _annotated(text: str, i: int) -> int:
    """Past a type annotation from ``text[i]`` (``dict``, ``list[str] | None``,
    ``typing.Any``) and the spaces after it: where its ``=`` should be; :data:`_MORE` if the
    text ends first, :data:`_NOT` if it is none (``Note: the weather…``)."""
    n = min(len(text), i + _ANNOTATION)
    while True:
        i = skip(text, i)
        j = i
        while j < n and (text[j] in _IDENT or text[j] == "."):
            j += 1
        if j == i:
            return _MORE if j >= len(text) else _NOT
        if j < n and text[j] == "[":
            depth = 0
            while j < n:
                depth += (text[j] == "[") - (text[j] == "]")
                j += 1
                if depth == 0:
                    break
            if depth:
                return _MORE if j >= len(text) else _NOT
        k = skip(text, j)
        if k >= len(text):
            return _MORE
        if k >= n:
            return _NOT  # past the bound: no annotation code writes
        if text[k] != "|":
            return k
        i = k + 1


def _opens_inline(text: str, schemas: Schemas | None, *, lines: bool = True) -> bool | None:
    if not schemas:
        return False
    n = len(text)
    i = skip(text, 0, WS if lines else " \t")  # spaces, line breaks (``print(\n\n  f(``)
    if i > _SPACING:
        return False
    if i >= n:
        return None
    if (got := _past_await(text, i, " \t")) is None:
        return None
    i = j = got
    while j < n and (text[j] in _IDENT or text[j] == "."):
        j += 1
    word = text[i:j]
    if not word:
        return None if j >= n else False  # no name starts here (a line break, a bracket)
    if not any(t.startswith(word) or (MODULE + t).startswith(word) for t in schemas):
        return False
    # after ``print(`` spaces may come before the call's ``(``; a line that is the call has
    # none (``search (it's quick) for you.`` is a sentence)
    k = skip(text, j, WS) if lines else j
    if k >= n:
        return None
    return text[k] == "(" and word.removeprefix(MODULE) in schemas


def calls_declared(
    code: str, schemas: Schemas | None, *, spaced: bool = True, strings: bool = False
) -> bool:
    """``code`` names a declared tool before a ``(`` outside its strings
    (``x = str(get_weather(…))``; not ``s = "get_weather(x)"``, unless ``strings``;
    ``spaced``: spaces between them too, as Python reads ``search (x)``; a sentence writes
    that)."""
    if not schemas:
        return False
    i, end = 0, len(code)
    while i < end:
        c = code[i]
        if not strings and (
            (c in "\"'" and "f" not in code[max(i - 2, 0) : i].lower())
            or code.startswith(QUOTE_TOKEN, i)
        ):
            i = string_end(code, i, end)  # an f-string's braces are code: read on in it
        elif c in _IDENT and (i == 0 or code[i - 1] not in _IDENT):
            j = min(ident(code, i), end)
            dotted = i > 0 and code[i - 1] == "."
            if (
                code[i:j] in schemas
                and code.startswith("(", skip(code, j, WS) if spaced else j)
                and (not dotted or code.endswith(MODULE, 0, i))
                and not (dotted and i > len(MODULE) and code[i - len(MODULE) - 1] in _IDENT)
            ):
                return True  # ``f(`` or ``default_api.f(``; ``requests.get(`` is no tool
            i = j
        else:
            i += 1
    return False


def string_end(code: str, i: int, end: int) -> int:
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


def stmt_end(code: str, i: int) -> int:
    """Where the statement at ``code[i]`` ends: a ``;`` or line break outside its brackets
    and strings (Python's strings, and ``<|"|>`` sealed), or the code's end."""
    n = len(code)
    depth = 0
    while i < n:
        c = code[i]
        if c in "\"'" or code.startswith(QUOTE_TOKEN, i):
            i = string_end(code, i, n)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c in "\n;" and depth <= 0:
            return i
        i += 1
    return n
