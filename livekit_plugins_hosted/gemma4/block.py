"""A Python block outside a fence, as line-start code reads it (:class:`.code.Code`).

    block  := compound "\\n" line*      compound: a statement Python's parser reads as a
                                       block's header (``if x:``, ``for c in (a,\\n b):``,
                                       ``def f():  # c``) or as a whole compound statement
                                       on its line (``if x: f()``), decorators before it
    line   := indented | blank | "#"…  | kin      kin: ``elif``, ``else``, ``except`` or
                                       ``finally`` going on the statement (Python's parser
                                       says so at its line's end; a sentence that starts so,
                                       ``except for Rome, …``, is no part of it)

The first line that is none ends the block (a ``#`` line just before it is heard: a heading,
not the block's comment). A block's lines are read by indentation alone: brackets and
one-line strings end with their line, so nothing but a triple-quoted or ``<|"|>`` string
carries a block past a line that is not indented. A Gemma marker or ``call:`` outside a
string ends it too. What it is, :mod:`.codestate` decides at its end: a block calling a
declared tool is code (its calls are lost: whether they run is not known), one that calls
none is prose, read again as the reply.

With tools declared, a line starting with a header's word (or ``await``, ``@``) is read as
code; a sentence can start so too, so its first line is judged at 256 characters (and
twice as far, up to 2 KB, while it still reads as Python's start): no Python, no declared
call, it is heard.
"""

from __future__ import annotations

import textwrap

from . import lexer as lx
from .codeend import Ending, code_line, parsed, unfinished
from .header import (
    BEFORE,
    DECORATOR,
    GO_ON,
    HEADER,
    KEYWORDS,
    WHOLE,
    compound,
    first_word,
    opens_block,
)
from .lead import CONDITIONS, Columns, condition_call, leading_word, plural
from .pyscan import calls_declared, opens_call

__all__ = ["DECORATOR", "HEADER", "Block"]

# what may finish a header cut anywhere (``if a and``, ``a.``, ``def long_na``, ``for c``)
_ENDS = (":", " x:", "x:", "():", " in x:")
_HEAD_LINE = 256  # a line's start that says whether it opens a declared tool's call
_FIRST_BOUND, _LAST_BOUND = 64, 2048  # a first line that starts as code, judged at


class Block(Ending):
    """The reading of a block: where its lines go on and where it ends."""

    __slots__ = (
        "_body",
        "_bol",
        "_bound",
        "_kin",
        "_note_at",
        "header",
        "indent",
        "keyword",
        "led",
        "nested",
        "said",
    )  # fmt: skip

    def __init__(self) -> None:
        self._bol = False  # at a line's start in a block
        self._kin = -1  # where a line going on the block's statement (``else:``) began
        self._note_at = -1  # where the ``#`` lines just before this line began
        self.header = False  # its first line starts as a header does: a bound applies
        self._bound = _FIRST_BOUND
        self.keyword = False  # its first statement started so (until its line ends)
        self.said = False  # that statement was a sentence (read again as the reply)
        self.led = False  # it is a line under a line that led it: Python, or a sentence
        self.indent: Columns = (0, 0)  # its first line's (a block's lines are deeper)
        self._body = False  # a line of the block's own came

    def _block_goes_on(self, data: str, j: int, final: bool) -> bool | None:
        """A block goes on over a line that starts ``data[j:]``: one indented more than its
        first, blank or a comment, one that goes on its statement (``else:``, ``except
        ValueError:``), or a declared tool's call right under a header with no line of its
        own yet (``if x:`` then ``get_weather(…)``: the model's block, its indentation
        lost); None while that is undecided."""
        at = self._len  # (the line's offset: what came before it is taken)
        n = len(data)
        k = j
        one = eight = 0  # its columns so far (:func:`columns`)
        top_one, top_eight = self.indent
        while k < n and one <= top_one and eight <= top_eight and data[k] in " \t":
            one += 1
            eight = eight + 1 if data[k] == " " else (eight // 8 + 1) * 8
            k += 1
        if one > top_one or eight > top_eight:
            self._note_at, self._body = -1, True  # indented: ``#`` lines before it are its
            return True
        if k >= n:
            return None if not final else True
        c = data[k]
        if c in "\r\n":
            return True
        if c == "#":
            if self._note_at < 0:
                self._note_at = at
            return True
        if one < top_one or eight < top_eight:
            return False
        if not self._body:  # (at the header's own indentation)
            got = opens_call(data[k : k + _HEAD_LINE], self._schemas)
            if got is None and not final and n - k < _HEAD_LINE:
                return None
            if got:
                self._body = True
                return True
        j = k
        for word in GO_ON:
            end = j + len(word)
            if data.startswith(word, j) and end < len(data):
                if data[end] in " \t:(":
                    self._kin, self._note_at = at, -1
                    self._body = False  # (``else:`` then a call right under it: its body)
                    return True
                return False
            if not final and word.startswith(data[j:end]) and end >= len(data):
                return None
        return False

    def _joined(self, data: str, i: int, j: int) -> bool:
        """The line break at ``data[j]`` follows a backslash (before a ``\\r`` too): Python
        joins the next line to this one."""
        before = data[max(i, j - 2) : j]
        parts = self._parts or ()
        k = len(parts)
        while len(before) < 2 and k > 0:  # (the characters before it taken already)
            k -= 1
            before = parts[k][-2:] + before
        return before.rstrip("\r").endswith("\\")

    def python(self) -> bool:
        """The block is Python as its parser reads it (never run; its first line's spaces
        taken off each line, ``if 1: pass`` before an ``else:``)."""
        text = textwrap.dedent(self._unsealed("".join(self._parts or ()), 0))
        self.compiled += len(text)
        return parsed(BEFORE.get(first_word(text), "") + text) is not None

    def close(self) -> None:
        """The code is over where no line break ended its last line (the reply's end, a
        marker, ``<turn|>``): a line begun as ``else:`` is checked, ``#`` lines at its end
        are heard, and a first line that started as a header does is judged."""
        if self._parts is None:
            return
        text = "".join(self._parts)
        if self.block:
            if self._kin >= 0 and compound(text[self._kin :]) not in (HEADER, WHOLE):
                self._cut_at = self._kin  # ``except for Rome, all good.``: a sentence
            self.compiled += len(text) - max(self._kin, 0)
            self._kin = -1
            if not self._cut_at and self._note_at >= 0:
                self._cut_at = self._note_at
        elif self.keyword and not self.broken:
            self.keyword = False
            kind = self._statement_kind(text)
            if kind in (HEADER, WHOLE):
                self.block = True  # ``if x: get_weather(…)`` at the reply's end
            elif not kind and not self._under_itself(text) and self._sentence_line(text):
                self.said = self.broken = True

    def _under_itself(self, stmt: str) -> bool:
        """The first statement ``stmt``, no Python, is code under its own header all the
        same: it starts with a condition's word (or a header's, braces after it) and calls
        a declared tool as code does, no space before its ``(`` (``if (raining) {
        get_weather(…) }``, ``} catch (e) { end_call() }``, ``while (x) { f(…) }``, ``if it
        rains, get_weather(…)``). It is never heard, and its calls are lost
        (:attr:`nested`): whether they run is not known. The call follows what ends a
        condition (``{``, ``)``, ``then``, ``,``, ``:``) with no sentence's end before it
        (``if you want, I can check. get_weather(…)`` is a sentence, then a word)."""
        word = leading_word(stmt.lstrip(lx.WS)[:_HEAD_LINE])
        if word not in CONDITIONS and (word not in KEYWORDS or "{" not in stmt):
            return False  # (``with pleasure! print(f(…))``: a sentence, then code)
        self.compiled += len(stmt)
        if not calls_declared(stmt, self._schemas, spaced=False):
            return False
        line = stmt.lstrip(lx.WS)
        first = self._first_call(line)
        if first >= len(line):
            return False  # (``if you want, I can run the search(es) again.``: a word)
        before = line[:first]
        if not condition_call(before[:_HEAD_LINE], before):
            return False  # (``if you want, I can check. f(…)``: a sentence, then a word)
        self.block = self._bol = self._body = self.nested = True
        return True

    def _first_call(self, stmt: str) -> int:
        """Where the first declared tool's name before ``(`` stands in ``stmt`` (no part of
        a longer name, ``check_search(``, nor a plural, ``search(es)``); its length if
        none."""
        first = len(stmt)
        for name in self._schemas or ():
            k = stmt.find(name + "(")
            while 0 <= k < first and (
                (k > 0 and stmt[k - 1] in lx.IDENT) or plural(stmt, k + len(name) + 1)
            ):
                k = stmt.find(name + "(", k + 1)
            if 0 <= k < first:
                first = k
        return first

    def _sentence_line(self, stmt: str) -> bool:
        """The first line ``stmt``, no compound statement, is a sentence: always, unless it
        starts with ``await`` and is Python or a declared tool's call as code writes one
        (``await get_weather(…)``; not ``await search (results), then…``), or it is
        :attr:`led` and code as written (:func:`.codeend.code_line`: ``r.save()``)."""
        if self.led:  # (under a line that led it: code as written is never heard)
            self.compiled += len(stmt)
            return not code_line(self._unsealed(stmt, self._len - len(stmt)))
        if not stmt.lstrip(lx.WS).startswith("await"):
            return True
        self.compiled += len(stmt)
        python = parsed(self._unsealed(stmt, self._len - len(stmt)).strip(lx.WS)) is not None
        return not (python or calls_declared(stmt, self._schemas, spaced=False))

    def _line_done(self, stmt: str) -> bool:
        """A block's line ended (its text ``stmt``): False if it only began as a kin does
        (``except for Rome, …``): the block ends before it, and it is read again."""
        kin, self._kin = self._kin, -1
        if kin < 0:
            return True
        self.compiled += len(stmt)
        if compound(stmt) in (HEADER, WHOLE):
            return True
        self._cut_at = kin
        return False

    def _ends_block(self) -> int:
        """Where the block's text ends when it is over: before the ``#`` lines that came
        just before the line that ended it (a heading, heard), else at its end."""
        return self._note_at if self._note_at > 0 else self._len

    def _first_line(self, seen: str) -> bool:
        """The first line of code that started with a header's word is past its bound with
        ``seen`` its text so far: it goes on if it calls a declared tool, or still reads as
        the start of Python (an unfinished statement, or a header once ``:`` is added), up
        to 2 KB; else it is a sentence. A line under a leader goes on to its end (up to 2
        KB): code as written may come anywhere on it. (One starting with a condition's word
        does not: a sentence starting so is heard within 64 characters.)"""
        if calls_declared(seen, self._schemas, spaced=False):
            self.header = False
            return True
        if self._bound >= _LAST_BOUND:
            return False
        if self.led:
            self._bound *= 2
            return True
        text = self._checkable(seen, 0).strip(lx.WS)
        cuts, k = [text], len(text)
        for _ in range(2):  # (and cut at its last spaces: a bound falls inside a word)
            k = text.rfind(" ", 0, k)
            if k <= 0:
                break
            cuts.append(text[:k].rstrip(lx.WS))
        self.compiled += 4 * sum(map(len, cuts))
        for cut in cuts:
            if unfinished(cut) or any(compound(cut + end) == HEADER for end in _ENDS):
                self._bound *= 2
                return True
        return False

    def _statement_kind(self, stmt: str) -> int:
        """:func:`compound` of the statement ``stmt`` just read (its ``<|"|>`` strings read
        as ``""``)."""
        s = stmt.lstrip(lx.WS)
        if not s.startswith("@") and first_word(s) not in KEYWORDS:
            return 0
        text = self._unsealed(stmt, self._len - len(stmt))
        self.compiled += len(text)
        return compound(text)

    def _opens_block(self, line: str) -> bool:
        """``line`` (its first 256 characters) starts as a header does and is one, or a
        whole compound statement, as Python's parser reads it, or calls a declared tool
        (``if x: get_weather(…)``): prose is read again from it as code."""
        if not opens_block(line, 0, self._schemas, final=True):
            return False
        self.compiled += len(line)
        return compound(line) in (HEADER, WHOLE) or calls_declared(line, self._schemas)
