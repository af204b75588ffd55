"""Python code in a reply, read to its end: a ```` ```tool_code ```` fence or bare statements.

    fenced   := "```tool_code" … "```"         (a fence left open ends with the reply;
                                               at a line start, with tools declared,
                                               "```python" or "```py" and a line break)
    unfenced := stmt ("\\n" stmt)* [block]     at a line start; a statement that assigns
                                               (``tool_code = f(…)``) or names a variable
                                               (``tool_code``) is followed by another one;
                                               one left open past its line goes on
                                               while Python's compiler reads it as
                                               unfinished: naming no declared tool, for at
                                               most 32 lines, 2 KB (then heard); opening a
                                               declared tool's call, for as long (a line
                                               break in its one-line string read on), else
                                               its first line is a call lost and the rest
                                               is read again (:mod:`.codeend`)
    block    := compound "\\n" line*            a statement Python reads as a block's
                                               header (``if x:``) or a whole compound one
                                               (``if x: f()``), then each line indented,
                                               blank, a comment or its kin's (``else:``),
                                               read by indentation alone (:mod:`.block`);
                                               calling a declared tool, its calls are lost
    inline   := "print(" NAME "(" … ")"        mid-line, NAME a declared tool (the stream
                                               decides: any other ``print(`` is a word);
                                               ends where its bracket closes (lines may
                                               break inside, as above); a ``<``, a backtick
                                               or ``call:`` outside a string first make it
                                               prose; cut off by the reply's end or
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

from . import lexer as lx
from .block import DECORATOR, HEADER, Block
from .calls import Meter, ToolCall
from .codeend import continues, unfinished
from .pyform import read_code
from .pyscan import calls_declared, opens_call
from .values import Schemas

__all__ = ["CODE_CAP", "Code"]

CODE_CAP = 16 * 1024
_GOES_ON, _ENDS, _HOLD, _MARKED, _CUT = range(5)  # code at a character that may end it as prose
_HEAD = 256  # a statement's start that says whether it opens a declared tool's call
_LINE, _LINES = 2048, 32  # how far unfinished Python naming no declared tool goes on


class Code(Block):
    __slots__ = (
        "_lines", "_names", "_stmt_len", "closed", "esc", "note", "opener",
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
        self._stmt_len = 0
        self._names: set[str] = set()  # the names its statements assigned
        self._breaks: list[int] = []  # where a declared call's lines end
        self._starts: list[int] = []  # where each statement after the first began
        self._first_break = 0  # where its first line ended
        self._cut_at = 0  # a declared call cut at its first line: what follows is read again
        self._spans: list[int] = []  # line breaks inside a declared call's one-line strings
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
        self.block = False  # a compound statement (``if x:``) was read: a block (.block)
        self.trailing = 0  # inline code's bracket closed: 1 spaces after it, 2 its comment
        self.opener = ""  # a ```` ```python ```` fence's opening line (else ``""``)
        self.closed = False  # its fence was closed
        Block.__init__(self)

    def _put(self, text: str) -> None:
        if self._parts is None or not text:
            return
        self._len += len(text)
        if self._len > CODE_CAP:
            self._parts = None
            self._stmt = []
            self._stmt_len = 0
            return
        self._parts.append(text)
        if not self.fenced:
            self._stmt.append(text)
            self._stmt_len += len(text)

    @property
    def size(self) -> int:
        return self._len

    def text(self) -> str | None:
        """The code read (None past its cap)."""
        return None if self._parts is None else "".join(self._parts)

    def calls(self, meter: Meter | None = None) -> list[ToolCall]:
        """The declared tools' calls the code makes (:attr:`unread` counts those it meant
        and cannot make: cut off, malformed, an argument naming an unknown variable)."""
        if self._parts is None or self.said:
            return []  # (a sentence that started as a header does: read again)
        text = "".join(self._parts)
        if self.broken and not calls_declared(text, self._schemas):
            return []  # prose naming no declared tool: Python's parser is not needed
        calls, self.unread = read_code(text, self._schemas, meter)
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
            if self.keyword and (
                (self.led and (self.depth > 0 or self.q))
                or (self.depth > 0 and not self.q and self._brace_ends(data, i, j))
            ):
                # a line under a leader is judged alone; a header's line ending in ``{``
                # opens a block of braces: a sentence, its lines read afresh (.lead.region)
                self.broken = True
                return _ENDS
            # a one-line string open at its line's end (no backslash before the break)
            one_line = len(self.q) == 1 and not self.esc
            if one_line and not (self.inline or self._declared(data[i:j])):
                self.broken = True  # no Python: a sentence (``it's``)
                return _ENDS
            if self.depth > 0 or self.q:
                if one_line:  # in a declared tool's call (``text="Line one`` then a break):
                    self._spans.append(self._len + j - i)  # read on, as the model meant
                goes = self._opens_call(data[i:j])
                if goes is None:
                    # a declared tool's call Python cannot read on (``get_weather(city="x"``
                    # then a sentence): lost; the lines after it are read again
                    return _CUT
                if not goes:
                    # left open past its line and no declared tool's call: a sentence, and
                    # the next line is read afresh (a fence, code or markup there is not its
                    # text)
                    self.broken = True
                    return _ENDS
            return _GOES_ON
        if self.note and self.inline:
            # a comment inside a mid-line call: its backticks, ``call:`` and ``<`` are its
            # text; a Gemma marker there still ends the code (:meth:`feed`)
            return _GOES_ON
        if c == "`":
            return _ENDS if self.inline and not self.q else _GOES_ON
        if c == "c":
            if data.startswith("call:", j):
                return _ENDS if self.inline and not self.q else _MARKED
            return _HOLD if not final and "call:".startswith(data[j:]) else _GOES_ON
        kind, _ = lx.token(data, j)
        if kind == lx.QUOTE and not self.q:
            # a Gemma string opens: sealed (read on; never heard as prose); in a comment it
            # is the comment's text, and where prose is read again from
            return _MARKED if self.note else _GOES_ON
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

    def _opens_call(self, line: str) -> bool | None:
        """The statement under way (``line`` its text not yet taken) is code that goes on
        past this line break: it opens a declared tool's call, or Python's compiler reads
        it, so far, as unfinished (``print(foo(``: its ``<|"|>`` strings read as empty
        ones), for at most :data:`_LINES` lines and :data:`_LINE` characters (past them it
        is heard: English can read as unfinished Python, and a sentence is never held for
        good). The compiler is asked at its 1st, 2nd, 4th, 8th… line break: words that only
        begin like Python are found out within twice the lines they took. A declared tool's
        call goes on as long as Python reads it as unfinished, asked the same way; None when
        it cannot be (a bracket never closed, a sentence after it)."""
        declared = self._declared(line) if not self.inline else True
        if declared is None or self._parts is None:
            return True  # ``print(`` alone: the next line decides; past the cap: no text
        self._lines += 1
        taken = self._stmt_len if not self.inline else self._len
        if self._lines == 1:
            self._first_break = self._len + len(line) + 1
        if declared:
            self._breaks.append(self._len + len(line))  # where each of its lines ends
        elif self._lines > _LINES or taken + len(line) > _LINE:
            return False  # words Python happens to read on (``print(\nIt is sunny…``): heard
        if self._lines & (self._lines - 1) or (self.keyword and self._lines == 1):
            # asked again at its 1st, 2nd, 4th, 8th… line break only (a header's words at
            # its 2nd: ``if (a and`` goes on, and two lines tell as well as one)
            return True
        text = "".join(self._parts or ()) if self.inline else "".join(self._stmt)
        base = self._len - taken
        stmt = self._checkable(text + line, base)
        self.compiled += len(stmt)
        spanned = bool(self._spans) and self._spans[-1] >= base
        if unfinished(stmt.lstrip(" \t")) and not (spanned and self._lines > _LINES):
            return True  # (a string over more than 32 lines: never closed, the rest its text)
        if declared:
            self._cut_at = self._last_line(text + line, base, self._lines // 2)
            return None
        return False

    def _last_line(self, text: str, base: int, known: int) -> int:
        """Where the lines after a declared call end: the statement ``text`` (from offset
        ``base``) is unfinished Python up to its ``known``-th line break, and no longer up to
        its last; the longest run of its lines that still is, found by halving (Python asked
        a few times more), never ending inside a string. Returns the next line's offset."""
        lo, hi = max(known, 1), len(self._breaks)  # the first line is the call's, always
        while hi - lo > 1:
            mid = (lo + hi) // 2
            end = self._breaks[mid - 1]
            if end in self._spans:
                hi = mid  # a line break inside a string: no place to cut
                continue
            prefix = self._unsealed(text[: end - base], base)
            self.compiled += len(prefix)
            if unfinished(prefix.lstrip(" \t")):
                lo = mid
            else:
                hi = mid
        return self._breaks[lo - 1] + 1

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

    def _checkable(self, text: str, base: int) -> str:
        """:meth:`_unsealed`, with a one-line string left open closed: what Python's
        compiler judges (``get_weather(city="Par`` is an unfinished call)."""
        if len(self.q) != 1:
            return self._unsealed(text, base)
        # (a backslash at the line's end continues the string on the next line)
        return self._unsealed(text, base) + ("\n" if self.esc else "") + self.q

    def _unsealed(self, text: str, base: int) -> str:
        """``text`` (the code's characters from offset ``base``) with each ``<|"|>`` string
        read as ``""`` and each line break inside a declared call's one-line string as
        ``\\n``, so that Python's compiler can judge the rest."""
        end = base + len(text)
        spans = []
        for a, b in reversed(self._seals):  # in order: only the last ones are the text's
            if a < base:
                break
            if a < end:
                spans.append((a, b, '""'))
        if self.q == lx.QUOTE_TOKEN and base <= self._seal < end:
            spans.append((self._seal, end, '""'))
        for a in reversed(self._spans):
            if a < base:
                break
            if a < end:
                spans.append((a, a + 1, "\\n"))
        spans.sort()
        out, at = [], 0
        for a, b, put in spans:
            out.append(text[at : a - base])
            out.append(put)
            at = b - base
        out.append(text[at:])
        return "".join(out)

    def feed(self, data: str, i: int, final: bool) -> tuple[int, str]:
        """Take ``data[i:]`` up to the code's end: (index past what was taken, text to hold
        back until the next delta)."""
        if self.trailing:
            return self._trail(data, i, final)
        n = len(data)
        j = i
        limit = i + self._bound - self._len if self.header else -1  # its first line's bound
        while j < n:
            c = data[j]
            if j == limit:
                if not self._first_line("".join(self._parts or ()) + data[i:j]):
                    self._put(data[i:j])  # a sentence that began as a header does
                    self.said = self.broken = self.done = True
                    return j, ""
                limit = i + self._bound - self._len if self.header else -1
            if self._bol:
                goes = self._block_goes_on(data, j, final)
                if goes is None:
                    self._put(data[i:j])
                    return n, data[j:]
                if not goes:  # a line not indented: the block is over
                    self._put(data[i:j])
                    self._cut_at = self._ends_block()
                    self.done = True
                    return j, ""
                self._bol = False
            if (
                self.block
                and c in "\n<c"
                and not (c == "c" and (self.q or self.note or self._in_word(data, j)))
            ):
                if c == "\n" and len(self.q) < 3:
                    # a block's line is over, its brackets and one-line strings with it
                    self.depth, self.q, self.esc, self.note = 0, "", False, False
                    self._put(data[i : j + 1])
                    i = j + 1
                    stmt = "".join(self._stmt)
                    self._stmt, self._stmt_len = [], 0
                    if not self._line_done(stmt):
                        self.done = True  # it only began as ``else:`` does: read again
                        return i, ""
                    # (a backslash at its end goes on its statement on the next line)
                    self._bol = not stmt.rstrip("\r\n").endswith("\\")
                    j += 1
                    continue
                if c != "\n":
                    at = self._at(data, i, j, final)
                    if at == _HOLD:
                        self._put(data[i:j])
                        return n, data[j:]
                    if at == _MARKED:  # a Gemma marker or ``call:``: the block is over
                        self._put(data[i:j])
                        self._cut_at = self._ends_block()
                        self.done = True
                        return j, ""
            elif not self.fenced and c in "\n<`c":
                at = self._at(data, i, j, final)
                if at == _HOLD:
                    self._put(data[i:j])
                    return n, data[j:]
                if at in (_ENDS, _CUT):
                    self._put(data[i:j])  # prose after all, or a declared call cut off
                    self.broken = at == _ENDS  # (what follows is the stream's)
                    self.done = True
                    return j, ""
                if at == _MARKED and self.mark < 0:
                    self.mark = self._len + j - i
            was_note = self.note
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
                elif (
                    c == "\n"
                    and len(self.q) == 1
                    and not (self._spans and self._spans[-1] == self._len + j - i)
                ):
                    self.q = ""  # a one-line string open at its line's end: closed
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
                    self.trailing = 1  # a comment may follow it on its line
                    return self._trail(data, j + 1, final)
            elif c == "<":
                kind, length = lx.token(data, j)
                if kind == lx.QUOTE and not self.note:
                    self.q = lx.QUOTE_TOKEN  # only <|"|> ends it: sealed
                    self._seal = self._len + j - i
                    j += length
                    continue
                if (
                    kind == lx.END
                    or (
                        # a Gemma marker ends a ```` ```python ```` fence (the model's own token)
                        self.opener and kind not in (lx.LITERAL, lx.PARTIAL, lx.QUOTE)
                    )
                    or (
                        # the model's own token ends line-start code in a comment, after its
                        # statement (``f(q=1)<|channel>``) or, a thought, anywhere outside its
                        # strings (``<|"|>`` and ``call:`` in a comment are the comment's)
                        (self.note or (not self.inline and (self.depth <= 0 or kind == lx.CH_OPEN)))
                        and not self.fenced
                        and kind not in (lx.LITERAL, lx.PARTIAL, lx.QUOTE)
                    )
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
                    self.done = self.closed = True
                    return j + 3, ""
                if not final and "```".startswith(data[j:]):
                    self._put(data[i:j])
                    return n, data[j:]
            elif (
                c == "\n"
                and not self.fenced
                and self.depth <= 0
                and (was_note or not self._joined(data, i, j))  # (``\\`` goes on its line)
            ):
                self.header = False  # (its line is over)
                limit = -1
                self._put(data[i : j + 1])
                stmt = "".join(self._stmt)
                self._stmt = []
                self._stmt_len = 0
                self._opens = None
                self._lines = 0
                self._first_break = 0
                self._breaks = []
                kind = self._statement_kind(stmt)
                first, self.keyword = self.keyword, False
                if kind == DECORATOR:
                    self._starts.append(self._len)  # what it decorates follows
                elif kind:
                    self.block = self._bol = True  # the lines after it are its block
                    self._body = kind != HEADER  # (``if x: f()`` has its own)
                elif first and self._under_itself(stmt):  # (``if (x) { f(…) }``)
                    pass
                elif first and self._sentence_line(stmt):
                    # a sentence that starts as a header does (``if you like, …``)
                    self.said = self.broken = self.done = True
                    return j + 1, ""
                elif self.nested or not continues(stmt, self._names):
                    # (code under a line that led it ends with its line: each line after
                    # it is judged on its own, and one back at the leader's is free)
                    self.done = True
                    return j + 1, ""
                else:
                    self._starts.append(self._len)
                i = j + 1
            j += 1
        self._put(data[i:n])
        return n, ""
