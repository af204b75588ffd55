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

import ast
import functools
import textwrap

from . import lexer as lx
from .codeend import Ending, parsed, unfinished
from .lexer import IDENT as _IDENT
from .pyscan import calls_declared, opens_call
from .values import Schemas

__all__ = [
    "CONDITIONS",
    "Block",
    "Columns",
    "columns",
    "compound",
    "deeper",
    "indentation",
    "leads",
    "mid_header",
    "opens_block",
    "starts_condition",
    "under",
]

# what a line of code starts with: a block's header, its kin, ``await``
_HEADERS = (
    "if", "for", "while", "with", "try", "def", "class", "async", "match", "await", "elif",
    "else", "except", "finally",
)  # fmt: skip
_AFTER = " \t:([\"'"  # what follows one of them in code (``if(x)``, ``if"a"in s``)
_GO_ON = ("elif", "else", "except", "finally")
_BEFORE = {"elif": "if 1: pass\n", "else": "if 1: pass\n", "except": "try: pass\n"}
_BEFORE["finally"] = _BEFORE["except"]
_KEYWORDS = frozenset(
    ("if", "for", "while", "with", "try", "def", "class", "async", "match", *_GO_ON)
)
_COMPOUND = (
    ast.If, ast.For, ast.While, ast.With, ast.Try, ast.FunctionDef, ast.ClassDef,
    ast.AsyncFunctionDef, ast.AsyncFor, ast.AsyncWith, ast.Match,
)  # fmt: skip
HEADER, WHOLE, DECORATOR = 1, 2, 3
# what may finish a header cut anywhere (``if a and``, ``a.``, ``def long_na``, ``for c``)
_ENDS = (":", " x:", "x:", "():", " in x:")
_HEAD_LINE = 256  # a line's start that says whether it opens a declared tool's call
_FIRST_BOUND, _LAST_BOUND = 64, 2048  # a first line that starts as code, judged at


def opens_block(data: str, at: int, schemas: Schemas | None, *, final: bool) -> bool | None:
    """``data[at:]``, at a line's start, begins as a block's header does (``if x:``,
    ``try:``, ``for(``), or with ``await`` or a decorator (``@retry``): its line is read as
    code, which Python's parser then judges; None while undecided. Only with tools
    declared: a block's calls are what it would hide."""
    if not schemas or at >= len(data):
        return False if final or at < len(data) else None
    if data[at] == "@":
        if at + 1 >= len(data):
            return False if final else None
        return data[at + 1] in _IDENT and not data[at + 1].isdigit()
    for word in _HEADERS:
        end = at + len(word)
        if data.startswith(word, at) and end < len(data):
            if data[end] in _AFTER:
                return True
        elif not final and word.startswith(data[at : at + len(word)]) and end >= len(data):
            return None
    return False


@functools.lru_cache(maxsize=16)  # (a line read again as code is judged once)
def compound(code: str) -> int:
    """What the statement ``code`` is to Python's parser (parsed, never run): a block's
    header (:data:`HEADER`: ``if x:``, a comment after it, its condition over lines), a whole
    compound statement on its line (:data:`WHOLE`: ``if x: f()``, ``else: g()``), a
    decorator (:data:`DECORATOR`), or none (0: ``if you like, I can…``, ``match = 1``)."""
    s = code.strip(lx.WS)
    if s.startswith("@"):
        return DECORATOR if parsed(s + "\ndef f(): pass") is not None else 0
    word = _first_word(s)
    if word not in _KEYWORDS or ":" not in s:
        return 0  # (no parser needed: every compound statement has its ``:``)
    before = _BEFORE.get(word, "")
    after = "\nfinally: pass" if word == "try" else ""
    body = "\n case _:\n  pass" if word == "match" else "\n pass" + after
    colon = s.endswith(":")
    if (colon or "#" in s) and _compound(before + s + body):
        return HEADER
    if (not colon or "#" in s) and _compound(before + s + after):
        return WHOLE
    return 0


Columns = tuple[int, int]


def columns(lead: str, start: Columns = (0, 0)) -> Columns:
    """The column the spaces and tabs ``lead`` reach (from ``start``), a tab counted as one
    column and as reaching the next multiple of 8: Python compares indentation both ways
    (and refuses a block where they disagree), so a line is deeper than another if either
    says so."""
    one, eight = start
    for c in lead:
        one += 1
        eight = eight + 1 if c == " " else (eight // 8 + 1) * 8
    return one, eight


def indentation(line: str, start: Columns = (0, 0)) -> tuple[Columns, int]:
    """The columns ``line``'s leading spaces and tabs reach (from ``start``; a CRLF line's
    ``\r`` is blank, and counts nothing), and where its words begin."""
    k = 0
    while k < len(line) and line[k] in " \t\r":
        k += 1
    return (columns(line[:k].replace("\r", ""), start) if k else start), k


def deeper(a: Columns, b: Columns) -> bool:
    """A line indented to ``a`` is deeper than one at ``b``, as either count says."""
    return a[0] > b[0] or a[1] > b[1]


def under(lead: Columns, top: Columns | None, *, next_line: bool) -> bool:
    """A line indented to ``lead`` is under a line at ``top`` that led it: deeper, or the
    very next line (``next_line``) at its indentation, or where the two counts disagree
    (a tab against spaces: Python refuses such a block; its calls never run)."""
    if top is None:
        return False
    return deeper(lead, top) or (next_line and not (lead[0] < top[0] and lead[1] < top[1]))


# the words of a condition: a line of prose starting so (``if raining then``, ``else if
# sunny:``) leads the lines indented under it, and, ending as a header does, the very next
# line too; what follows it on its own line is under it (``if it rains, print(…)``)
CONDITIONS = frozenset(("if", "elif", "else", "except", "elseif", "elsif", "catch"))
_LEAD_AFTER = _AFTER + "{"  # what follows such a word (``else{``)
_OPENED = (":", "{", " then", " do")  # how a header-like line ends that leads the next one too
_MID_TRIED = 3  # the header words nearest a line's end tried as a header's start


def leads(head: str, tail: str) -> int:
    """What a line of prose leads, as a block's header would (its lines' calls are under a
    condition: they never run): 0 nothing; 1 the lines indented more than it; 2 those and
    the next line at its own indentation. A line starting with a condition's word,
    lowercase, leads 1 (``if raining then``), and 2 if it ends as a header does (``:``,
    ``{``, ``then``, ``do``: ``if (raining) {``, ``else if sunny:``); one starting with
    another header's word leads 1 if it ends in ``:`` or ``{`` (``for each city:``; not
    ``with pleasure!``, nor ``while we wait:`` the next line); one ending in a condition
    Python reads after a ``;`` leads 2 (``Okay; if rain:``; not ``Let me try something
    else:``). ``head`` is its start past its indentation, ``tail`` its end (its last 128
    characters at most)."""
    end = tail.rstrip(lx.WS)
    word = _leading_word(head, end.endswith("{"))
    if word in CONDITIONS:
        return 2 if end.endswith(_OPENED) else 1
    if word in _KEYWORDS:
        return 1 if end.endswith((":", "{")) else 0
    return 2 if mid_header(end) else 0


def _leading_word(head: str, opens: bool = False) -> str:
    """The header's or condition's word ``head`` starts with, past the ``}`` that closes a
    block before a branch (``} else {``), as code goes on after it (``else{``, ``if(``);
    ``""`` if none. ``catch`` counts only after a ``}``, before ``(`` or on a line that
    ``opens`` a brace (``catch (e) {``; ``catch you later`` is a sentence)."""
    k = 0
    while k < len(head) and head[k] in "} \t":
        k += 1
    braced = "}" in head[:k]
    head = head[k:] if braced else head
    word = _first_word(head)
    if word == "catch" and not (braced or opens or head.startswith(("catch (", "catch("))):
        return ""
    return word if len(head) == len(word) or head[len(word)] in _LEAD_AFTER else ""


def starts_condition(head: str) -> bool:
    """The line ``head`` starts (past its indentation) with a condition's word, lowercase
    (``if it rains, …``)."""
    return _leading_word(head) in CONDITIONS


def mid_header(text: str) -> bool:
    """``text`` ends in ``:`` and, from a condition's word after a ``;`` (a statement's end,
    as code writes it), reads as a header: ``Okay; if rain:``."""
    if not text.endswith(":"):
        return False
    found = []
    for word in CONDITIONS:
        k = text.find(word)
        while k >= 0:
            end = k + len(word)
            if end < len(text) and text[end] in _AFTER and _after_semicolon(text, k):
                found.append(k)
            k = text.find(word, end)
    found.sort()
    return any(compound(text[k:]) == HEADER for k in found[-_MID_TRIED:])


def _after_semicolon(text: str, k: int) -> bool:
    """``text[k]`` follows a ``;`` and spaces (up to 8)."""
    j = k - 1
    while j >= 0 and k - j <= 8 and text[j] in " \t":
        j -= 1
    return j >= 0 and text[j] == ";"


def _first_word(s: str) -> str:
    """The name ``s`` starts with, as far as a header's word goes (8 characters)."""
    j = 0
    while j < len(s) and j < 8 and s[j] in _IDENT:
        j += 1
    return s[:j]


def _compound(code: str) -> bool:
    tree = parsed(code)
    return tree is not None and isinstance(tree.body[-1] if tree.body else None, _COMPOUND)


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
        for word in _GO_ON:
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
        return parsed(_BEFORE.get(_first_word(text), "") + text) is not None

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
            elif not kind and self._sentence_line(text):
                self.said = self.broken = True

    def _sentence_line(self, stmt: str) -> bool:
        """The first line ``stmt``, no compound statement, is a sentence: always, unless it
        starts with ``await`` and is Python or a declared tool's call as code writes one
        (``await get_weather(…)``; not ``await search (results), then…``)."""
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
        to 2 KB; else it is a sentence."""
        if calls_declared(seen, self._schemas, spaced=False):
            self.header = False
            return True
        if self._bound >= _LAST_BOUND:
            return False
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
        if not s.startswith("@") and _first_word(s) not in _KEYWORDS:
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
