"""The Python call form small Gemma 4 models write instead of the native grammar.

    code  := (stmt (newline | ";"))*
    stmt  := "print(" expr ")" | NAME [":" TYPE] "=" expr | NAME | expr | import …
    expr  := ["await"] (NAME ".")* TOOL "(" (NAME "=" literal ",")* ")"
           | NAME                                    (a name assigned before: ``tool_code``)

as it comes in a ```` ```tool_code ```` fence, as ``tool_code = f(…)`` then
``print(tool_code)``, as ``print(f(…))``, or as a line that is the call. A call becomes a tool
call only if its name is a tool the request declared; code naming no declared tool is never a
call (and, being code, is never spoken either). The code is cut into statements in one pass
(brackets counted, strings skipped as Python's lexer reads them, ``<|"|>`` sealed); each is
parsed by Python's own parser (never run) and each argument read by ``ast.literal_eval``, so
what counts as a literal (``u"x"``, ``"a" "b"``, ``0x10``, ``("x")``) is Python's, not a copy
of it. A statement that is none of these forms (``city = "Paris"``) is skipped; a declared
tool's call that is no Python, or whose argument is no literal (a variable, an expression, a
set), is lost, never run with a guess, as are the calls of code from its first control flow
on (``if``, ``for``, ``def``, ``exit()``: the calls before it run). Numbers and
``True``/``False``/``None`` are typed from the tool's schema as the native form's bare
values are.
"""

from __future__ import annotations

import ast
import math
import warnings

from .calls import Meter, ToolCall, make_call
from .lexer import QUOTE_TOKEN, WS
from .values import Bare, Malformed, Schemas

__all__ = ["calls_declared", "opens_assign", "opens_bare", "opens_call", "opens_inline",
           "read_code", "uncommented"]  # fmt: skip

_IDENT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_SEP = WS + ";"
_Got = tuple[str, dict[str, object]] | None  # a call read (its name and arguments), or none
# a statement that decides whether, or how often, the calls after it run
_FLOW = frozenset((
    "if", "elif", "else", "for", "while", "def", "class", "with", "try", "except", "finally",
    "async", "match", "case", "lambda", "return", "yield", "raise", "assert", "exit", "quit",
))  # fmt: skip
_EXITS = frozenset(("exit", "quit", "_exit", "abort"))  # a call that ends the program
_HEAD = 256  # a statement's start that says whether it opens a declared tool's call
_MORE, _NOT = -1, -2  # an annotation the text ends in, or none (:func:`_annotated`)
_ANNOTATION = 48  # the longest type annotation read (``dict[str, list[int]] | None``)
_MODULE = "default_api."  # the module a Gemini-style call names its tools from
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
    ``x = f(``, ``f(``, ``default_api.f(``, spaces before each ``(``; None while ``text``
    ends before that is decided."""
    if not schemas:
        return False
    i = _skip(text, 0, WS)
    j = _ident(text, i)
    k = _skip(text, j, WS)
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
        i = _skip(text, k + 1, WS)  # the call is the argument or the value
    if (got := _past_await(text, i, WS)) is None:
        return None
    i, module = got, False
    while True:
        j = _ident(text, i)
        k = _skip(text, j, WS)
        if k >= len(text):
            return None
        if j == i or j - i > 128:
            return False
        if text[k] == "(":
            return text[i:j] in schemas
        if text[k] != "." or module or text[i:j] != _MODULE[:-1]:
            return False  # ``requests.get(``: another module's function, no tool
        module = True
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


def opens_assign(data: str, at: int, schemas: Schemas | None, *, final: bool) -> bool | None:
    """``data[at:]``, at a line's start, assigns a declared tool's call to a name
    (``result = get_weather(``, ``weather = default_api.get_weather(``); None while
    undecided. Only a name as code writes one is held to decide (its first letter lowercase
    or ``_``): a capitalised word, as a sentence starts, is no code and never waits."""
    if not schemas or at >= len(data) or not (data[at] == "_" or "a" <= data[at] <= "z"):
        return False
    text = data[at : at + _INLINE_HEAD]
    j = _ident(text, 0)
    k = _skip(text, j)
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
    k = _skip(text, i + 5, spaces)
    return None if k >= len(text) else k if k > i + 5 else i


def _annotated(text: str, i: int) -> int:
    """Past a type annotation from ``text[i]`` (``dict``, ``list[str] | None``,
    ``typing.Any``) and the spaces after it: where its ``=`` should be; :data:`_MORE` if the
    text ends first, :data:`_NOT` if it is none (``Note: the weather…``)."""
    n = min(len(text), i + _ANNOTATION)
    while True:
        i = _skip(text, i)
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
        k = _skip(text, j)
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
    i = _skip(text, 0, WS if lines else " \t")  # spaces, line breaks (``print(\n\n  f(``)
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
    if not any(t.startswith(word) or (_MODULE + t).startswith(word) for t in schemas):
        return False
    # after ``print(`` spaces may come before the call's ``(``; a line that is the call has
    # none (``search (it's quick) for you.`` is a sentence)
    k = _skip(text, j, WS) if lines else j
    if k >= n:
        return None
    return text[k] == "(" and word.removeprefix(_MODULE) in schemas


def read_code(
    code: str, schemas: Schemas | None, meter: Meter | None = None
) -> tuple[list[ToolCall], int]:
    """The calls of declared tools in ``code``, and how many calls of declared tools could not
    be made (lost: cut off, malformed, an argument that is no literal, such as a variable).
    A statement that is none of the forms above (``city = "Paris"``, ``x += 1``) is skipped
    to its end, as is one that cannot be read. From its first control flow (``if``, ``for``,
    ``def``, ``exit()``…) code makes no call: which of its calls would run is not known, so
    each is lost; the calls before it run, as Python would make them."""
    out: list[ToolCall] = []
    lost = 0
    ran = -1  # how many calls came before its first control flow (-1: none came yet)
    names: dict[str, _Got] = {}
    code = uncommented(code)
    if meter is not None:
        meter.n += len(code)  # comments cut
    i, n = 0, len(code)
    while True:
        i = _skip(code, i, _SEP)
        if i >= n:
            if ran >= 0:
                return out[:ran], lost + len(out) - ran
            return out, lost
        start = i
        end = _stmt_end(code, start)
        if ran < 0 and code[i : _ident(code, i)] in _FLOW:
            ran = len(out)
        if meter is not None:
            meter.n += 3 * (end - start)  # found, its sealed strings rewritten, parsed
        try:
            got, stops = _statement(code[start:end], names)
            if ran < 0 and stops:
                ran = len(out)
            _add(out, got, schemas)
        except Malformed:
            if _calls_declared(code, start, end, schemas):
                lost += 1  # a declared tool's call, never run
        i = end


def calls_declared(code: str, schemas: Schemas | None, *, spaced: bool = True) -> bool:
    """``code`` names a declared tool before a ``(`` outside its strings (``spaced``:
    spaces between them too, as Python reads ``search (x)``; a sentence writes that)."""
    return _calls_declared(code, 0, len(code), schemas, spaced=spaced)


def _calls_declared(
    code: str, i: int, end: int, schemas: Schemas | None, *, spaced: bool = True
) -> bool:
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
            dotted = i > 0 and code[i - 1] == "."
            if (
                code[i:j] in schemas
                and code.startswith("(", _skip(code, j, WS) if spaced else j)
                and (not dotted or code.endswith(_MODULE, 0, i))
                and not (dotted and i > len(_MODULE) and code[i - len(_MODULE) - 1] in _IDENT)
            ):
                return True  # ``f(`` or ``default_api.f(``; ``requests.get(`` is no tool
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


def _statement(src: str, names: dict[str, _Got]) -> tuple[_Got, bool]:
    """The call the one statement ``src`` makes, read by Python's own parser (never run), and
    whether it stops the program (``exit()``, ``sys.exit()``, ``os._exit(0)``: the calls
    after it would never run). ``Malformed`` if it is no Python or makes no call this form
    reads: ``print(f(…))``, ``NAME = f(…)`` (``NAME: T = f(…)``), ``f(…)``, each with
    ``await`` before ``f`` or not, a module before ``f``, keyword
    arguments only, each a literal as Python reads one (``u"x"``, ``"a" "b"``, ``0x10``,
    ``("x")``; not a variable, an expression, a set)."""
    py = _pythonized(src)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an invalid escape in a string is still Python
            tree = ast.parse(py)
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
        raise Malformed("no Python") from None
    if len(tree.body) != 1:
        raise Malformed("not one statement")
    node = tree.body[0]
    stops = any(isinstance(n, ast.Call) and _callee(n.func) in _EXITS for n in ast.walk(node))
    if stops or isinstance(node, ast.Import | ast.ImportFrom):
        return None, stops  # ``import default_api``: no call; ``exit()`` calls no tool either
    value: ast.expr
    if isinstance(node, ast.Assign) or (isinstance(node, ast.AnnAssign) and node.value):
        for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
            if isinstance(target, ast.Name):
                names[target.id] = None  # what it held before is gone
        assert node.value is not None
        value = node.value  # ``tool_code = f(…)`` calls ``f``; ``print(tool_code)`` nothing
    elif isinstance(node, ast.Expr):
        value = _awaited(node.value)
        if isinstance(value, ast.Call) and _is_print(value):
            value = value.args[0]
    else:
        raise Malformed("no call")
    value = _awaited(value)  # ``await f(…)``, ``x = await f(…)``: the same call
    if isinstance(value, ast.Name) and value.id in names:
        return names[value.id], stops  # a name assigned before (``print(tool_code)``)
    if not isinstance(value, ast.Call):
        raise Malformed("no call")
    name = _tool(value.func)
    if not name or value.args or any(k.arg is None for k in value.keywords):
        raise Malformed("not keyword arguments")
    args: dict[str, object] = {}
    for keyword in value.keywords:
        assert keyword.arg is not None
        if keyword.arg in args:
            raise Malformed("a keyword given twice")  # Python's SyntaxError (its compiler's)
        try:
            args[keyword.arg] = _json(ast.literal_eval(keyword.value))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise Malformed("no literal") from None
    return (name, args), stops


def _awaited(value: ast.expr) -> ast.expr:
    return value.value if isinstance(value, ast.Await) else value


def _is_print(call: ast.Call) -> bool:
    return (
        isinstance(call.func, ast.Name)
        and call.func.id == "print"
        and len(call.args) == 1
        and not call.keywords
    )


def _tool(func: ast.expr) -> str:
    """The tool a call names: ``f`` or ``default_api.f``; ``""`` for any other callee
    (``requests.get`` is no tool ``get``)."""
    if isinstance(func, ast.Name):
        return func.id
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == _MODULE[:-1]
    ):
        return func.attr
    return ""


def _callee(func: ast.expr) -> str:
    """The name a call is made by: ``f``, or ``sys.exit`` (any module path) read as
    ``exit``; ``""`` for anything else (a call's result, a subscript)."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        inner = func.value
        while isinstance(inner, ast.Attribute):
            inner = inner.value
        return func.attr if isinstance(inner, ast.Name) else ""
    return ""


def _json(value: object) -> object:
    """A Python literal's value as the call reader gives values (numbers and ``True``,
    ``False``, ``None`` as bare scalars, typed from the schema later); ``Malformed`` for one
    JSON has no form of (a set, bytes, a complex number, infinity, a key that is no string)."""
    if value is None or isinstance(value, bool):
        return Bare(repr(value))
    if isinstance(value, int):
        try:
            return Bare(str(value))
        except ValueError:  # past Python's digit limit: no number a tool takes
            raise Malformed("integer too long") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Malformed("not a finite number")
        return Bare(repr(value))
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json(v) for k, v in value.items()}
    raise Malformed("no JSON form")


def _pythonized(src: str) -> str:
    """``src`` with each ``<|"|>…<|"|>`` string written as the Python string it stands for
    (Python's own strings are left as they are); ``Malformed`` if one is left open."""
    out: list[str] = []
    i, at, n = 0, 0, len(src)
    while i < n:
        if src.startswith(QUOTE_TOKEN, i):
            end = src.find(QUOTE_TOKEN, i + len(QUOTE_TOKEN))
            if end < 0:
                raise Malformed("a string left open")
            out.append(src[at:i])
            out.append(repr(src[i + len(QUOTE_TOKEN) : end]))
            i = at = end + len(QUOTE_TOKEN)
        elif src[i] in "\"'":
            i = _string_end(src, i, n)
        else:
            i += 1
    out.append(src[at:])
    return "".join(out)
