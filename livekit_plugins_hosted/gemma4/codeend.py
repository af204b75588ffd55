"""What line-start code read to its end turns out to be, as Python's own compiler says.

* code, whose calls run (or are lost);
* code, then a sentence (:meth:`Ending.tail`): ``x = get_weather(…)`` then ``It is sunny.``,
  or a declared call cut at its first line (its bracket never closed): the rest is heard;
* prose (:meth:`Ending.prose`): heard up to its first marker, fence or line that opens a
  declared tool's call, and read again from there (:meth:`Ending.split`).

Python is asked (``ast``, ``codeop``; never run) at most a bounded number of times per
character: each statement once, and the whole once.
"""

from __future__ import annotations

import ast
import codeop
import functools
import itertools
import warnings

from . import lexer as lx
from .calls import ToolCall
from .lexer import IDENT as _IDENT
from .pyscan import calls_declared, opens_call
from .values import Schemas

__all__ = ["CODE_MARKS", "Ending", "code_line", "continues", "parsed", "unfinished"]

_HEAD = 256  # a statement's start that says whether it opens a declared tool's call
_SPACES = 16  # spaces read past inline code for a comment after it


def _statements(code: str) -> bool:
    """``code`` is Python (parsed, never run; its size is capped at :data:`CODE_CAP`)."""
    return parsed(code) is not None


def parsed(code: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an invalid escape in a string is still Python
            return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _sentence(tree: ast.Module | None, names: set[str]) -> bool:
    """A statement after code (``tree``, None if no Python) is a sentence Python happens to
    read (``Okay``, ``Paris is sunny``): an expression that is no call and no name the code
    assigned (``names``: ``tool_code``), or no Python at all."""
    if tree is None or len(tree.body) != 1:
        return tree is None
    node = tree.body[0]
    if isinstance(node, ast.AnnAssign) and node.value is None:
        return True  # ``Result: sunny``: a label, not a declaration code makes
    if not isinstance(node, ast.Expr):
        return False  # an assignment, an import, control flow: code
    value = node.value
    if isinstance(value, ast.Call):
        # ``Checking (Paris)``: a capitalised word is no function code calls alone
        return isinstance(value.func, ast.Name) and value.func.id[:1].isupper()
    return not (isinstance(value, ast.Name) and value.id in names)


_CODE_VALUES = (ast.Call, ast.Attribute, ast.Subscript, ast.Await)
CODE_MARKS = "(.[=\"'"  # what a line of code as written holds, one at least (no words do)


@functools.lru_cache(maxsize=16)  # (a line repeated under a leader is parsed once)
def code_line(line: str) -> bool:
    """``line`` is code as written, no sentence: Python reads it as statements, each an
    assignment or an expression that calls (no space before its ``(``: ``Paris (France)``
    is words; nor a capitalised name alone, ``Checking(Paris)``), takes an attribute or an
    index (``r.save()``, ``x = f(y)``, ``items[0]``), or another statement with one of
    :data:`CODE_MARKS` in it (``return r.data``, not ``return home``); never a word or
    words Python happens to read (``Okay``, ``not sure``, ``pass``, ``global warming``,
    ``Result: sunny``)."""
    s = line.strip(lx.WS)
    if not any(c in s for c in CODE_MARKS):
        return False
    tree = parsed(s)
    if tree is None or not tree.body:
        return False
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and node.value is None:
            return False  # ``Result: sunny``: a label
        if isinstance(node, ast.Expr):
            value = node.value
            if not isinstance(value, _CODE_VALUES) or (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id[:1].isupper()
            ):
                return False
    k = s.find("(")
    return not (isinstance(tree.body[0], ast.Expr) and k > 0 and s[k - 1] in lx.WS)


def _assigned(tree: ast.Module | None, names: set[str]) -> None:
    for statement in tree.body if tree is not None else ():
        if isinstance(statement, ast.Assign):
            names.update(t.id for t in statement.targets if isinstance(t, ast.Name))


@functools.lru_cache(maxsize=16)  # (the same text asked again: ``print(`` alone)
def unfinished(code: str) -> bool:
    """``code`` is Python that goes on past its end (``print(foo(``, an open triple quote),
    as Python's own ``codeop`` decides; never run."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return codeop.compile_command(code, "<reply>", "exec") is None
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
        return False


def continues(stmt: str, names: set[str]) -> bool:
    """``tool_code = …`` (its name joins ``names``), or a lone ``tool_code`` or name the
    code assigned: the code goes on to use it. A lone word it did not (``Okay``) is a
    sentence's, and ends it."""
    s = stmt.strip()
    j = 0
    while j < len(s) and j < 130 and s[j] in _IDENT:
        j += 1
    if j == 0:
        return False
    rest = s[j:].lstrip()
    if not rest:
        return s == "tool_code" or s in names
    if rest.startswith("=") and not rest.startswith("=="):
        names.add(s[:j])
        return True
    return False


def _outside(text: str, what: str, seals: list[tuple[int, int]], end: int) -> int:
    """Where ``what`` first occurs in ``text`` before ``end``, outside the sealed strings
    ``seals`` (in order); else ``end``."""
    at = text.find(what, 0, end)
    for a, b in seals:
        if at < 0 or at < a:
            break
        if at < b:
            at = text.find(what, b, end)
    return end if at < 0 else at


class Ending:
    """The end of :class:`.code.Code`: whether it was code, where a sentence after it
    begins, and what of it is heard if it was prose."""

    __slots__ = (
        "_breaks", "_cut_at", "_first_break", "_len", "_opens", "_parts", "_schemas", "_seal",
        "_seals", "_spans", "_starts", "_stmt", "block", "broken", "compiled", "depth", "done",
        "fenced", "inline", "mark", "q", "trailing", "unread",
    )  # fmt: skip

    # the fields (set by :class:`.code.Code`)
    led: bool  # (:class:`.block.Block`'s: a line under a line that led it)
    _parts: list[str] | None
    _len: int
    _seals: list[tuple[int, int]]
    _seal: int
    _spans: list[int]
    _starts: list[int]
    _stmt: list[str]
    _first_break: int
    _breaks: list[int]
    _cut_at: int
    _opens: bool | None
    _schemas: Schemas | None
    q: str
    mark: int
    broken: bool
    block: bool
    depth: int
    fenced: bool
    inline: bool
    unread: int
    compiled: int
    done: bool
    trailing: int

    def _brace_ends(self, data: str, i: int, j: int) -> bool:
        """The statement's text before ``data[j]`` ends in ``{`` (past spaces)."""
        k = j
        while k > i and data[k - 1] in " \t\r":
            k -= 1
        if k > i:
            return data[k - 1] == "{"
        for part in reversed(self._stmt):
            part = part.rstrip(" \t\r")
            if part:
                return part[-1] == "{"
        return False

    def _in_word(self, data: str, j: int) -> bool:
        """``data[j]`` follows a name's character (``recall:``, ``if should_end_call:``): a
        ``call:`` there is the code's text, not the marker."""
        if j > 0:
            return data[j - 1] in _IDENT
        last = self._parts[-1] if self._parts else ""
        return bool(last) and last[-1] in _IDENT

    def _cut(self) -> bool:
        raise NotImplementedError

    def _declared(self, line: str) -> bool | None:
        raise NotImplementedError

    def _checkable(self, text: str, base: int) -> str:
        raise NotImplementedError

    def _unsealed(self, text: str, base: int) -> str:
        raise NotImplementedError

    def _last_line(self, text: str, base: int, known: int) -> int:
        raise NotImplementedError

    def _opens_block(self, line: str) -> bool:
        raise NotImplementedError

    def _trail(self, data: str, i: int, final: bool) -> tuple[int, str]:
        """Past inline code's closing bracket, at ``data[i]``: a ``#`` comment after it on
        its line (``print(get_weather(…))  # done``, up to 16 spaces before it, a space or
        the line's end after ``#``) is the code's, never heard; it ends at its line's end, a
        ``<`` or a backtick. Returns what :meth:`.code.Code.feed` does."""
        n = len(data)
        if self.trailing == 1:
            s = i
            while s < n and s - i < _SPACES and data[s] in " \t":
                s += 1
            if s >= n and not final and s - i < _SPACES:
                return n, data[i:]  # spaces at the delta's end: held, bounded
            if s + 1 >= n and s < n and data[s] == "#" and not final:
                return n, data[i:]  # ``#`` at the delta's end: what follows it decides
            if s >= n or data[s] != "#" or (s + 1 < n and data[s + 1] not in " \t\r\n"):
                # no comment (``#1 tip``: Python's comment has a space after ``#``): the
                # spaces and what follows are heard
                self.trailing, self.done = 0, True
                return i, ""
            self.trailing, i = 2, s
        e = i
        while e < n and data[e] not in "\n<`":
            e += 1
        self.compiled += e - i  # (read once, never kept)
        if e < n or final:
            self.trailing, self.done = 0, True
        return e, ""

    @property
    def cut(self) -> bool:
        """A declared tool's call was cut at its first line (what followed is read again)."""
        return bool(self._cut_at)

    def tail(self) -> str:
        """Line-start code whose statements are Python up to its last one, which is none and
        names no declared tool (``x = get_weather(…)`` then ``It is sunny.``): that last one
        is a sentence. It is cut off the code and returned, to be heard (read again as the
        reply); ``""`` if there is none."""
        if self.block:  # what follows where it was cut (``#`` lines, ``except for…``) is heard
            text = "".join(self._parts or ())
            return self._keep(text, self._cut_at) if 0 < self._cut_at < len(text) else ""
        if (
            not self._cut_at
            and self._first_break
            and self._parts is not None
            and not self.fenced
            and self._cut()
            and (self.inline or self._opens)
        ):
            # a declared call the reply's end cut off after its first line: if Python cannot
            # read its lines as one unfinished call, they were no part of it
            stmt = "".join(self._parts) if self.inline else "".join(self._stmt)
            base = 0 if self.inline else self._len - len(stmt)
            self.compiled += len(stmt)
            spanned = len(self.q) == 1 and self._spans and self._spans[-1] >= base
            if spanned or not unfinished(self._checkable(stmt, base).lstrip(" \t")):
                # (a string over lines never closed: cut before its first line that Python
                # cannot read as the call's, never inside the string)
                self._breaks.append(base + len(stmt))  # its end: where it stops being Python
                self._cut_at = self._last_line(stmt, base, 0)
        if self._cut_at and self._parts is not None:
            # a declared call cut at its first line: what followed it is read again
            text = "".join(self._parts)
            return self._keep(text, self._cut_at) if self._cut_at < len(text) else ""
        if self.fenced or self.inline or self._parts is None or not self._starts:
            return ""
        text = "".join(self._parts)
        whole = self._unsealed(text, 0)
        self.compiled += len(whole)
        # each statement's place in ``whole``, where each sealed string before it is ``""``
        # (and each line break in a string ``\\n``)
        bounds, s, r, shrink = [], 0, 0, 0
        for at in (0, *self._starts):
            while s < len(self._seals) and self._seals[s][1] <= at:
                shrink += self._seals[s][1] - self._seals[s][0] - 2
                s += 1
            while r < len(self._spans) and self._spans[r] < at:
                shrink -= 1
                r += 1
            bounds.append((at, at - shrink))
        bounds.append((len(text), len(whole)))
        names: set[str] = set()
        lone = False  # the statement before is a lone name (a bracket may go on from it)
        for (a, x), (b, y) in itertools.pairwise(bounds):
            stmt = whole[x:y].strip(lx.WS)
            tree = parsed(stmt)
            if (
                a
                and not (lone and stmt[:1] in "([.")
                and not opens_call(stmt[:_HEAD].split("\n", 1)[0], self._schemas)
                and _sentence(tree, names)
                and not calls_declared(text[a:b], self._schemas)
            ):
                return self._keep(text, a)
            _assigned(tree, names)
            lone = tree is not None and any(
                isinstance(s, ast.Expr) and isinstance(s.value, ast.Name) for s in tree.body[-1:]
            )
        return ""

    def _keep(self, text: str, at: int) -> str:
        """Keep the code's ``text`` up to ``at``; return the rest."""
        self._parts = [text[:at]]
        self._len = at
        self._seals = [(a, b) for a, b in self._seals if a < at]
        self.q = ""
        self.mark = self.mark if self.mark < at else -1
        self.broken = False
        self.depth = 0
        return text[at:]

    def split(self) -> tuple[str, str, bool]:
        """Prose's text: what is heard, what is read again as the reply, and whether code may
        start where that begins. It is read again from the first marker or ``call:`` (a quote
        in prose is no string, so none hides one), fence, or line that opens a declared
        tool's call (``print(`` then English lines, then ``get_weather(…)``: the call is
        read as it would have been); what comes before is not heard if Python reads it as
        code the markup cut off (``print(foo(`` before ``<|tool_call>``)."""
        text = "".join(self._parts or ())
        mark = self.mark if 0 <= self.mark < len(text) else len(text)
        seals = list(self._seals)
        if self.q == lx.QUOTE_TOKEN:
            seals.append((self._seal, len(text)))
        fence = _outside(text, "```", seals, mark)
        line, code = self._declared_line(text, seals, min(mark, fence)), False
        if line < min(mark, fence):
            mark, code = line, True  # only code starts there: none of it is read again
        mark = min(mark, fence)
        # a ``<|"|>`` string before the mark is sealed code: never heard (and no mark falls
        # inside one, so none is read again from its middle); what follows the mark is read
        # again whole, as the reply, where its strings are sealed too
        heard, at = [], 0
        for start, end in seals:
            if start >= mark:
                break
            heard.append(text[at:start])
            at = end
        heard.append(text[at:mark])
        said = "".join(heard)
        if mark < len(text) and not self.fenced and not self.inline:
            self.compiled += mark
            if unfinished(self._unsealed(text[:mark], 0)):
                said = ""  # code the markup cut off: never heard
        return said, text[mark:], code

    def _declared_line(self, text: str, seals: list[tuple[int, int]], end: int) -> int:
        """Where the first line after the first (outside a sealed string) that opens a
        declared tool's call or a Python block (``if x:``) begins, before ``end``; else
        ``end``. Each line's start is read once, within the line."""
        if not self._schemas:
            return end
        at = text.find("\n", 0, end)
        s = 0
        while 0 <= at < end - 1:
            while s < len(seals) and seals[s][1] <= at:
                s += 1  # the seals before this line break (each passed once)
            line_end = text.find("\n", at + 1, end)
            stop = end if line_end < 0 else line_end
            sealed = s < len(seals) and seals[s][0] <= at
            head = text[at + 1 : min(stop, at + 1 + _HEAD)]
            if not sealed and (opens_call(head, self._schemas) or self._opens_block(head)):
                return at + 1
            at = line_end
        return end

    def prose(self, calls: list[ToolCall]) -> bool:
        """The code, read to its end, called nothing and was no code: a sentence to hear
        (from its start up to :attr:`mark`). Inline, ``print(`` naming no tool is prose;
        at a line start, text that is no Python statement (``print() writes to the
        console.``, a contraction's apostrophe opening a string the line never closes) is;
        code cut off by the reply's end inside its brackets is not."""
        if self.fenced or calls or self._parts is None or (self.inline and self.unread):
            return False  # a confirmed declared call, cut off (by a marker too) or unreadable
        if self.broken:
            return True
        if self.inline:  # a declared tool's call cut off by the reply's end is no sentence
            return not self._cut()
        code = self._unsealed("".join(self._parts), 0)
        if self.led:
            return not code_line(code)  # a line under a leader, judged alone (indented)
        if _statements(code) or opens_call(code[:_HEAD].split("\n", 1)[0], self._schemas):
            return False  # Python, or a declared tool's call: code (its calls run or are lost)
        # no Python: a sentence, unless it was a declared tool's call or Python cut off (with
        # no marker in it: the model's own tokens are markup even in a Python string)
        return not (
            self._cut()
            and (self._declared("") is not False or (self.mark < 0 and unfinished(code)))
        )
