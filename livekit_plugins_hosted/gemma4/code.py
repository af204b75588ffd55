"""Python code in a reply, read to its end: a ```` ```tool_code ```` fence or bare statements.

    fenced   := "```tool_code" … "```"         (a fence left open ends with the reply)
    unfenced := stmt ("\\n" stmt)*             at a line start; a statement that assigns
                                               (``tool_code = f(…)``) or names a variable
                                               (``tool_code``) is followed by another one;
                                               one left open past its line goes on if it
                                               opens a declared tool's call, or while
                                               Python's compiler reads it as unfinished
                                               (at most 32 lines, 2 KB)
    inline   := "print(" NAME "(" … ")"        mid-line, NAME a declared tool (the stream
                                               decides: any other ``print(`` is a word);
                                               ends where its bracket closes (lines may
                                               break inside); a ``<``, a backtick or
                                               ``call:`` outside a string first make it
                                               prose, as does a newline in a one-line
                                               string; cut off by the reply's end or
                                               ``<turn|>``, it is a call lost (never re-read)

In code ``<|"|>`` opens a sealed string: only ``<|"|>`` ends it, nothing in it is markup, and
if the code turns out prose the string is never heard nor read again.

Brackets are counted and Python strings skipped as Python's lexer reads them (``"…"`` and
``'…'`` end at their line, triple-quoted ones span lines; in a fence a ``#`` comment runs to
its line's end and its quotes open nothing), so a newline, a fence, a ``<`` or
``call:`` inside a declared call's arguments does not end it; a turn's end outside a string
does. The text is capped (:data:`CODE_CAP`); past it the code still ends where it ends but
calls nothing. Code is never spoken: :mod:`.pyform` reads the calls of declared tools from
it. What turns out to be no code is prose, and heard: a line that is no Python statement
(``print() writes to the console.``), or one that leaves a bracket or ``'''`` open past its
end that Python cannot read on (the next line is then read afresh; one that opens a
declared tool's call and is cut off by the reply's end is a dropped call). Prose has no
strings: it is read again from its first marker or ``call:``, quoted or not, so that is
never heard and a quote in a sentence hides nothing.
"""

from __future__ import annotations

import ast
import codeop
import warnings

from . import lexer as lx
from .calls import Meter, ToolCall
from .pyform import calls_declared, opens_call, read_code
from .values import Schemas

__all__ = ["CODE_CAP", "Code"]

CODE_CAP = 16 * 1024
_GOES_ON, _ENDS, _HOLD, _MARKED = range(4)  # code at a character that may end it as prose
_HEAD = 256  # a statement's start that says whether it opens a declared tool's call
_LINE, _LINES = 2048, 32  # how far unfinished Python naming no declared tool goes on
_IDENT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _statements(code: str) -> bool:
    """``code`` is Python (parsed, never run; its size is capped at :data:`CODE_CAP`)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an invalid escape in a string is still Python
            ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _unfinished(code: str) -> bool:
    """``code`` is Python that goes on past its end (``print(foo(``, an open triple quote),
    as Python's own ``codeop`` decides; never run."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return codeop.compile_command(code, "<reply>", "exec") is None
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
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


def _continues(stmt: str) -> bool:
    """``tool_code = …`` or a lone ``tool_code``: the code goes on to use it."""
    s = stmt.strip()
    j = 0
    while j < len(s) and j < 130 and s[j] in _IDENT:
        j += 1
    if j == 0:
        return False
    rest = s[j:].lstrip()
    return not rest or (rest.startswith("=") and not rest.startswith("=="))


class Code:
    __slots__ = (
        "_len", "_lines", "_opens", "_parts", "_schemas", "_seal", "_seals", "_stmt", "_stmt_at",
        "broken", "compiled", "depth", "done", "esc", "fenced", "inline", "mark", "nested",
        "note", "q", "unread",
    )  # fmt: skip

    def __init__(
        self, *, fenced: bool = False, inline: bool = False, schemas: Schemas | None = None
    ) -> None:
        self.fenced = fenced
        self.inline = inline  # ``print(`` mid-line, where it opens a declared tool's call
        self.nested = False  # inline ``print(`` ending a longer name (``blueprint(``): its
        # calls' results go to a function not known, so none of them runs (each is lost)
        self._schemas = schemas
        self._parts: list[str] | None = []
        self._len = 0
        self._stmt: list[str] = []  # the statement under way (unfenced), capped with the rest
        self._stmt_at = 0  # where it began (a statement before it goes on into it)
        self.depth = 0
        self.q = ""
        self.esc = False
        self.note = False  # in a fence's ``#`` comment: its quotes and brackets are text
        self.done = False
        self.mark = -1  # the offset of the first marker or ``call:`` read as code's text
        self.broken = False  # its line's end made it prose: no Python, or no declared call
        self._opens: bool | None = None  # the statement under way opens a declared call
        self._lines = 0  # line breaks it has gone on past as unfinished Python
        self._seal = 0  # where the ``<|"|>`` string open now began
        self._seals: list[tuple[int, int]] = []  # closed ones, within CODE_CAP
        self.unread = 0  # declared tools' calls :meth:`calls` could not read: never run
        self.compiled = 0  # characters given to Python's compiler (counted as work)

    def _put(self, text: str) -> None:
        if self._parts is None or not text:
            return
        self._len += len(text)
        if self._len > CODE_CAP:
            self._parts = None
            self._stmt = []
            return
        self._parts.append(text)
        if not self.fenced:
            self._stmt.append(text)

    @property
    def size(self) -> int:
        return self._len

    def text(self) -> str | None:
        """The code read (None past its cap)."""
        return None if self._parts is None else "".join(self._parts)

    def calls(self, meter: Meter | None = None) -> list[ToolCall]:
        """The declared tools' calls the code makes (:attr:`unread` counts those it meant
        and cannot make: cut off, malformed, an argument naming an unknown variable)."""
        if self._parts is None:
            return []
        calls, self.unread = read_code("".join(self._parts), self._schemas, meter)
        if self.nested:
            self.unread += len(calls)
            return []
        return calls

    def _at(self, data: str, i: int, j: int, final: bool) -> int:
        """Unfenced code at ``data[j]`` (a newline, ``<``, a backtick or ``c``): whether it
        ends as prose here, the delta's end must decide, or a marker (or ``call:``) is read as
        code's text: where the reply is read again from if the code turns out prose."""
        c = data[j]
        if self.q == lx.QUOTE_TOKEN and c != "\n":
            return _GOES_ON  # sealed: nothing in it is markup, nor a place to read again from
        if c == "\n":
            if len(self.q) == 1 and not self.esc:  # a backslash before it continues the string
                if self._declared(data[i:j]):
                    return _GOES_ON  # in a declared tool's call: malformed (lost), not heard
                self.broken = True  # a one-line string open at its line's end: no Python
                return _ENDS
            if self.inline:
                return _GOES_ON  # a declared tool's call, confirmed: its brackets say where it ends
            if (self.depth > 0 or self.q) and not self._opens_call(data[i:j]):
                # left open past its line and no declared tool's call: a sentence, and the
                # next line is read afresh (a fence, code or markup there is not its text)
                self.broken = True
                return _ENDS
            return _GOES_ON
        if c == "`":
            return _ENDS if self.inline and not self.q else _GOES_ON
        if c == "c":
            if data.startswith("call:", j):
                return _ENDS if self.inline and not self.q else _MARKED
            return _HOLD if not final and "call:".startswith(data[j:]) else _GOES_ON
        kind, _ = lx.token(data, j)
        if kind == lx.QUOTE and not self.q:
            return _GOES_ON  # a Gemma string opens: sealed (read on; never heard as prose)
        if self.inline and not self.q:
            if kind == lx.PARTIAL:
                return _GOES_ON if final else _HOLD
            # the turn's end cuts the call off (a lost call, as at a line start); other
            # markup makes it prose
            return _GOES_ON if kind == lx.END else _ENDS
        if kind == lx.PARTIAL:
            return _GOES_ON if final else _HOLD
        return _GOES_ON if kind == lx.LITERAL else _MARKED

    def _cut(self) -> bool:
        """Code that ended inside its brackets or a string."""
        return self.depth > 0 or bool(self.q)

    def _opens_call(self, line: str) -> bool:
        """The statement under way (``line`` its text not yet taken) is code that goes on
        past this line break: it opens a declared tool's call, or Python's compiler reads
        it, so far, as unfinished (``print(foo(``: its ``<|"|>`` strings read as empty
        ones), for at most :data:`_LINES` lines and :data:`_LINE` characters (past them it
        is heard: English can read as unfinished Python, and a sentence is never held for
        good). The compiler is asked at its 1st, 2nd, 4th, 8th… line break: words that only
        begin like Python are found out within twice the lines they took."""
        declared = self._declared(line)
        if declared is not False:
            return True  # a declared tool's call, or ``print(`` alone: the next line decides
        self._lines += 1
        taken = sum(len(part) for part in self._stmt)
        if self._lines > _LINES or taken + len(line) > _LINE:
            return False  # words Python happens to read on (``print(\nIt is sunny…``): heard
        if self._lines & (self._lines - 1):
            return True  # asked again at its 1st, 2nd, 4th, 8th… line break only
        stmt = self._unsealed("".join(self._stmt) + line, self._len - taken)
        self.compiled += len(stmt)
        return _unfinished(stmt)

    def _declared(self, line: str) -> bool | None:
        """The statement under way opens a declared tool's call, decided once on its first
        :data:`_HEAD` characters; None while ``print(`` is alone on its line."""
        if self._opens is None:
            head = "".join(self._stmt)[:_HEAD] + line[:_HEAD]
            got = opens_call(head, self._schemas)
            if got is None and len(head) >= _HEAD:
                got = False
            if got is None:
                return None
            self._opens = got
        return self._opens

    def _unsealed(self, text: str, base: int) -> str:
        """``text`` (the code's characters from offset ``base``) with each ``<|"|>`` string
        read as ``""``, so that Python's compiler can judge the rest."""
        spans = []
        for a, b in reversed(self._seals):  # in order: only the last ones are the text's
            if a < base:
                break
            if a < base + len(text):
                spans.append((a, b))
        spans.reverse()
        if self.q == lx.QUOTE_TOKEN and base <= self._seal < base + len(text):
            spans.append((self._seal, base + len(text)))
        out, at = [], 0
        for a, b in spans:
            out.append(text[at : a - base])
            out.append('""')
            at = b - base
        out.append(text[at:])
        return "".join(out)

    def tail(self) -> str:
        """Line-start code whose statements are Python up to its last one, which is none and
        names no declared tool (``x = get_weather(…)`` then ``It is sunny.``): that last one
        is a sentence. It is cut off the code and returned, to be heard (read again as the
        reply); ``""`` if there is none."""
        at = self._stmt_at
        if self.fenced or self.inline or self._parts is None or not at or 0 <= self.mark < at:
            return ""
        text = "".join(self._parts)
        rest = text[at:]
        first = rest.lstrip(lx.WS)[:1]
        if not first or first in "([." or opens_call(rest[:_HEAD].split("\n", 1)[0], self._schemas):
            return ""
        whole = self._unsealed(text, 0)
        head = self._unsealed(text[:at], 0)
        self.compiled += len(whole) + len(head)
        if _statements(whole) or not _statements(head) or calls_declared(rest, self._schemas):
            return ""
        self._parts = [text[:at]]
        self._len = at
        self._seals = [(a, b) for a, b in self._seals if a < at]
        self.q = ""
        self.mark = -1
        self.broken = False
        self.depth = 0
        return rest

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
            if _unfinished(self._unsealed(text[:mark], 0)):
                said = ""  # code the markup cut off: never heard
        return said, text[mark:], code

    def _declared_line(self, text: str, seals: list[tuple[int, int]], end: int) -> int:
        """Where the first line after the first (outside a sealed string) that opens a
        declared tool's call begins, before ``end``; else ``end``. Each line's start is read
        once, within the line."""
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
            if not sealed and opens_call(text[at + 1 : min(stop, at + 1 + _HEAD)], self._schemas):
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
        if _statements(code) or opens_call(code[:_HEAD].split("\n", 1)[0], self._schemas):
            return False  # Python, or a declared tool's call: code (its calls run or are lost)
        # no Python: a sentence, unless it was a declared tool's call or Python cut off (with
        # no marker in it: the model's own tokens are markup even in a Python string)
        return not (
            self._cut()
            and (self._declared("") is not False or (self.mark < 0 and _unfinished(code)))
        )

    def feed(self, data: str, i: int, final: bool) -> tuple[int, str]:
        """Take ``data[i:]`` up to the code's end: (index past what was taken, text to hold
        back until the next delta)."""
        n = len(data)
        j = i
        while j < n:
            c = data[j]
            if not self.fenced and c in "\n<`c":
                at = self._at(data, i, j, final)
                if at == _HOLD:
                    self._put(data[i:j])
                    return n, data[j:]
                if at == _ENDS:
                    self._put(data[i:j])  # prose after all (what follows is the stream's)
                    self.broken = True
                    self.done = True
                    return j, ""
                if at == _MARKED and self.note and c == "c":
                    # ``call:`` in a comment of line-start code: the model's own call syntax
                    # ends the code there, as its special tokens do (never a comment's text)
                    self._put(data[i:j])
                    self.done = True
                    return j, ""
                if at == _MARKED and self.mark < 0:
                    self.mark = self._len + j - i
            if c == "\n":
                self.note = False  # the comment's end; the line break is read on below
            if self.q:
                if self.esc:
                    self.esc = False
                elif c == "\\" and self.q != lx.QUOTE_TOKEN:  # Gemma's strings have no escapes
                    self.esc = True
                elif c == self.q[0] and data.startswith(self.q, j):
                    j += len(self.q) - 1
                    if self.q == lx.QUOTE_TOKEN and self._parts is not None:  # capped with it
                        self._seals.append((self._seal, self._len + j + 1 - i))
                    self.q = ""
                elif c == self.q[0] and not final and self.q.startswith(data[j:]):
                    self._put(data[i:j])  # a triple quote's end cut by the delta's end
                    return n, data[j:]
                elif c == "\n" and len(self.q) == 1 and (self.fenced or not self._opens):
                    self.q = ""  # a one-line string open at its line's end: Python's is closed
            elif self.note and c not in "<`\n":
                pass  # to its line's end (a fence or a turn's end still counts)
            elif c == "#":  # a comment, fenced or not: its quotes and brackets are text
                self.note = True
            elif c == '"' or c == "'":
                if data.startswith(c * 3, j):
                    self.q = c * 3  # spans lines; only the same three quotes end it
                    j += 2
                elif not final and (c * 3).startswith(data[j:]):
                    self._put(data[i:j])  # one quote or two at the delta's end: maybe three
                    return n, data[j:]
                else:
                    self.q = c
            elif c in "([{":
                self.depth += 1
            elif c in ")]}":
                self.depth -= 1
                if self.inline and self.depth <= 0:
                    self._put(data[i : j + 1])
                    self.done = True
                    return j + 1, ""
            elif c == "<":
                kind, length = lx.token(data, j)
                if kind == lx.QUOTE and not self.note:
                    self.q = lx.QUOTE_TOKEN  # only <|"|> ends it: sealed
                    self._seal = self._len + j - i
                    j += length
                    continue
                if kind == lx.END or (
                    # a marker in a comment of line-start code: the model's own token ends
                    # the code there (markup is never a comment's text, nor heard)
                    self.note and not self.fenced and kind not in (lx.LITERAL, lx.PARTIAL)
                ):  # the turn is over, whatever the code left open
                    self._put(data[i:j])
                    self.done = True
                    return j, ""
                if kind == lx.PARTIAL and not final:
                    self._put(data[i:j])
                    return n, data[j:]
            elif c == "`" and self.fenced:
                if data.startswith("```", j):
                    self._put(data[i:j])
                    self.done = True
                    return j + 3, ""
                if not final and "```".startswith(data[j:]):
                    self._put(data[i:j])
                    return n, data[j:]
            elif c == "\n" and not self.fenced and self.depth <= 0:
                self._put(data[i : j + 1])
                stmt = "".join(self._stmt)
                self._stmt = []
                self._opens = None
                self._lines = 0
                if not _continues(stmt):
                    self.done = True
                    return j + 1, ""
                self._stmt_at = self._len
                i = j + 1
            j += 1
        self._put(data[i:n])
        return n, ""
