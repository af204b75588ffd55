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
from .pyscan import MODULE, calls_declared, ident, skip, stmt_end, string_end, uncommented
from .values import Bare, Malformed, Schemas

__all__ = ["read_code"]

_SEP = WS + ";"
_Got = tuple[str, dict[str, object]] | None  # a call read (its name and arguments), or none
# a statement that decides whether, or how often, the calls after it run
_FLOW = frozenset((
    "if", "elif", "else", "for", "while", "def", "class", "with", "try", "except", "finally",
    "async", "match", "case", "lambda", "return", "yield", "raise", "assert", "exit", "quit",
))  # fmt: skip
_EXITS = frozenset(("exit", "quit", "_exit", "abort"))  # a call that ends the program


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
        i = skip(code, i, _SEP)
        if i >= n:
            if ran >= 0:
                return out[:ran], lost + len(out) - ran
            return out, lost
        start = i
        end = stmt_end(code, start)
        if ran < 0 and code[i : ident(code, i)] in _FLOW:
            ran = len(out)
        if meter is not None:
            meter.n += 3 * (end - start)  # found, its sealed strings rewritten, parsed
        try:
            got, stops = _statement(code[start:end], names)
            if ran < 0 and stops:
                ran = len(out)
            _add(out, got, schemas)
        except Malformed:
            if calls_declared(code[start:end], schemas):
                lost += 1  # a declared tool's call, never run
        i = end


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
        and func.value.id == MODULE[:-1]
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
            i = string_end(src, i, n)
        else:
            i += 1
    out.append(src[at:])
    return "".join(out)
