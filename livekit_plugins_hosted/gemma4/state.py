"""The reading state a Gemma 4 reply's states share: what is said, kept and held back.

:class:`Base` holds the fields and the small moves every state makes (speak, keep a thought,
hold a marker's beginning, hand over a call); :mod:`.tools` adds the states that read calls
and code, :mod:`.stream` the answer, the thought and the public face. Nothing here scans text.
"""

from __future__ import annotations

from . import lexer as lx
from .body import BODY_CAP, Body
from .calls import Meter, ToolCall
from .code import Code
from .lead import (
    CONTINUES,
    Columns,
    braces_after,
    condition_line,
    deeper,
    indentation,
    leads,
    mid_header,
    region,
    starts_condition,
    then_blocks,
    under,
)
from .lexer import WS
from .values import Schemas

_ANSWER, _THOUGHT, _LABEL, _BARE, _HEAD, _CALL, _BLOCK, _CODE, _ENDED, _DONE = range(10)
_LABEL_MAX = 16
_ANSWER_LABELS = frozenset({"response", "final", "answer", "default"})
_THOUGHT_LABEL = "thought\n"
REPLY_CALLS = 64
"""The most calls one reply runs: past it, more are dropped (and counted in ``dropped``),
never spoken, never held."""
_HELD_CAP = 256  # a bare call's or a <tool_call> head's held text
_THOUGHT_CAP = BODY_CAP  # an undecided thought (in_thought) kept to release if never closed
_MARK = ">"  # what a dropped marker leaves as "the last character": not a space
_FENCE = "```tool_code"
_TRIGGERS = ("tool_code", "print(")  # code at a line start
_PRINT = "print("  # code anywhere else: a call if it names a tool
LINE_KEPT, HEAD_KEPT = 128, 32  # an answer line's end and its start past its indentation,
# kept to judge it (_track)
_PIECES = 16  # the pieces of a line kept before they are joined
_JOINED = ("and ", "or ", "&&", "||")  # a line led that starts so goes on with its condition


class Base:
    """The fields of one reply's reading and the moves every state makes."""

    __slots__ = (
        "_after", "_bad", "_block", "_body", "_braces", "_buf", "_busy", "_calls", "_closers",
        "_code", "_code_lead", "_code_nested", "_cols", "_cont", "_doubt", "_dropped", "_ends",
        "_explicit", "_fast", "_fence", "_first", "_glue", "_head", "_held", "_held_len",
        "_held_name", "_hname", "_hword", "_in_lead", "_label", "_last", "_line", "_lost_tried",
        "_meter", "_ncalls", "_no_calls", "_out", "_pending", "_plain", "_pos", "_repaired",
        "_reread", "_resume", "_schemas", "_seg_start", "_spoke", "_state", "_then", "_thought",
        "_thought_len", "_tool_names", "_under", "_under_next", "_watch", "_work", "saw_thought",
    )  # fmt: skip

    def __init__(self, *, in_thought: bool = False, schemas: Schemas | None = None) -> None:
        self._state = _THOUGHT if in_thought else _ANSWER
        self._schemas = schemas
        self._tool_names = tuple(sorted(schemas)) if schemas else ()  # (for a name's start)
        self._buf = ""  # input not yet decided: at most a few dozen characters
        self._seg_start = True  # an answer segment with nothing spoken yet
        self._spoke = False
        self._ncalls = 0
        self._dropped = 0  # calls the model wrote that will never run
        self.saw_thought = False
        """A thought marker came in the text: the server passes Gemma 4's raw thought through."""
        self._last = ""  # the last answer character consumed (_MARK after a dropped marker)
        self._fast = 0  # answer under way, nothing held: a plain chunk goes straight out (2: on a
        # line whose calls are looked for, unless it ends in what may begin a tool's name)
        self._glue = 0  # a marker ended the last input: how many "|" or ">" may still be glued
        self._first = not in_thought  # the reply's very start (a bare "thought\n" is possible)
        self._explicit = False  # the current thought was opened in the reply
        self._thought: list[str] = []  # an implicit thought's text, released if never closed
        self._thought_len = 0
        self._label = ""  # a channel's label read so far
        self._held_name = False  # ``_buf`` holds only what may begin a declared tool's name
        self._held: list[str] | None = []  # a bare call's / head's text (None: past its cap)
        self._held_len = 0
        self._hname = ""  # the name read so far in a bare call or a <tool_call> head
        self._hword = 0  # <tool_call> head: 0 before a word, 1 in it, 2 after it
        self._body = Body()
        self._code = Code()
        self._pending: list[ToolCall] = []  # calls of the open <|tool_call> block
        self._bad = False  # the open block holds something that is no call: all dropped
        self._block = False  # the current body is inside a <|tool_call> block
        self._after = _ANSWER  # where a completed call leads
        self._resume = _ANSWER  # where a bare call or head that is none goes back to
        self._no_calls = False  # reading text after a repaired string: no call runs from it
        self._repaired = False
        self._plain = False  # reading text code left as prose: no code starts in it
        self._reread = False  # a string never closed was read again with its quote as text
        self._lost_tried = False  # a marker was read as a lost opener's string text
        self._under: Columns | None = None  # a line of prose led what follows as a block's
        # header would (``if user confirms:``, ``if raining then``): a call on a line
        # indented more than it (these columns) is under it, and lost (:func:`.lead.leads`)
        self._under_next = False  # and so is one on the very next line, at its indentation
        self._braces = self._ends = 0  # blocks ``{`` or ``then`` opened, not yet closed
        # (:func:`.lead.region`): a call on a line in one is under it, whatever its indent
        self._cont = 0  # the last line's condition goes on on the next: its brackets open
        # (-1: none, ``if a and``)
        self._fence: Columns | None = None  # the blocks open where a ```` ``` ```` fence of
        # prose opened (a snippet's blocks end with it: ``if (x) {`` cut off in one)
        self._then: Columns | None = None  # a ``then`` line's, until the line after it: one
        # indented deeper makes its block one of indentation (no ``end`` closes it)
        self._line: list[str] = []  # the answer's current line: pieces (its end, bounded)
        self._head = ""  # its first HEAD_KEPT characters past its indentation
        self._cols: Columns = (0, 0)  # its indentation's columns (:func:`.lead.columns`)
        self._in_lead = True  # nothing but indentation on it so far
        self._busy = False  # a call or code was read on it (a line, though nothing was said)
        self._code_lead: Columns | None = None  # the indentation of code begun on it
        self._code_nested = False  # that code was under a line that led it
        self._closers = False  # a condition's body read on it: the brackets after it unheard
        # it starts with a header's word: its calls are looked for (None: not known yet)
        self._watch: bool | None = None if schemas else False
        self._doubt = False  # such text passed its cap: no call from here on runs (dropped)
        self._pos: dict[str, int] = {}  # look-aheads in the input being read
        self._work = 0
        self._meter = Meter()  # the call reader's scans, counted into ``work``
        self._out: list[str] = []
        self._calls: list[ToolCall] = []

    def _next(self, data: str, i: int, what: str) -> int:
        """Where ``what`` next occurs in ``data`` at or after ``i`` (``len(data)`` if nowhere).
        Cached for the input :meth:`_run` is reading (it clears the cache): ``i`` only grows
        within one input, so no stretch is searched twice."""
        p = self._pos.get(what, -1)
        if p < i:
            k = data.find(what, i)
            p = len(data) if k < 0 else k
            self._work += p - i
            self._pos[what] = p
        return p

    def _token(self, data: str, k: int) -> tuple[int, int]:
        """The token at ``data[k]`` (:func:`.lexer.token`); one that ends the input may take
        glue from the next (see :meth:`_unglue`)."""
        kind, length, glued = lx.glued_token(data, k)
        if k + length == len(data) and kind not in (lx.LITERAL, lx.PARTIAL, lx.QUOTE):
            # what this input already glued on counts: a split must not glue on more
            self._glue = lx.TAIL_MAX - glued
        return kind, length

    def _unglue(self, data: str) -> int:
        """Where the next input's reading begins: past what was glued to a marker that ended
        the last one (still glued on if that input held nothing else)."""
        i = lx.glue(data, 0, self._glue)
        self._glue = self._glue - i if i == len(data) else 0
        return i

    def _take(self) -> tuple[str, list[ToolCall]]:
        out = self._out
        text = out[0] if len(out) == 1 else "".join(out)
        if out:
            self._out = []
        calls = self._calls
        if not calls:
            return text, []  # never the parser's own list: the caller may keep what it gets
        self._calls = []
        return text, calls

    def _end(self) -> None:
        self._state = _ENDED
        self._buf = ""

    def _to_answer(self) -> None:
        self._state = _ANSWER
        self._seg_start = True

    def _emit(self, text: str) -> None:
        if not text:
            return
        if self._schemas:  # (what a line leads matters only to tools' calls)
            self._track(text)
        if self._seg_start:
            text = text.lstrip(WS)
            if not text:
                return
            self._seg_start = False
            self._first = False
            if self._spoke and self._last not in WS:
                self._out.append(" ")  # a segment after a thought or a call: words stay apart
        self._spoke = True
        self._last = text[-1]
        self._out.append(text)

    def _track(self, text: str) -> None:
        """Keep the answer's current line's indentation, start and end, and judge each line
        ``text`` ends: what it leads (:meth:`_line_ended`)."""
        k = text.find("\n")
        if k < 0:
            if len(text) > LINE_KEPT:
                self._fold(text)
            else:
                self._line.append(text)
                if len(self._line) > _PIECES:
                    self._fold()
            return
        start = 0
        while k >= 0:
            self._fold(text[start:k])
            self._line_ended()
            start, k = k + 1, text.find("\n", k + 1)
        self._fold(text[start:])

    def _fold(self, more: str = "") -> None:
        """The current line's pieces (and ``more``) as one: its indentation counted
        (:func:`.lead.columns`), its first :data:`HEAD_KEPT` characters past it kept apart,
        and its last :data:`LINE_KEPT` (held text stays bounded)."""
        line = "".join(self._line) + more if self._line else more
        if self._in_lead:
            self._cols, k = indentation(line, self._cols)
            if k == len(line):
                self._line = []  # only its indentation so far: counted
                return
            self._in_lead = False
            line = line[k:]
        if len(self._head) < HEAD_KEPT:
            self._head = line[:HEAD_KEPT]  # (the line is whole in its pieces until then)
        self._line = [line if len(line) <= HEAD_KEPT else line[-LINE_KEPT:]]

    def _new_line(self) -> None:
        self._line, self._head, self._cols, self._in_lead = [], "", (0, 0), True
        self._busy, self._code_lead, self._code_nested = False, None, False
        self._watch = None if self._schemas else False

    def _line_ended(self) -> None:
        """A line of the answer ended: one back at the indentation of a line that led a block
        ends what that led; one like a header (:func:`.lead.leads`) leads the lines after
        it. A line that held only a call or code is a line too (it ends what led it, if back
        at its indentation, and leads nothing)."""
        busy, code_lead, words = self._busy, self._code_lead, not self._in_lead
        nested = self._code_nested  # (code on it was judged under what led it)
        at = code_lead if code_lead is not None else self._cols
        tail = self._line[0][-LINE_KEPT:] if self._line else ""
        head = self._head
        self._new_line()
        if not words and not busy:
            return  # a blank line changes nothing
        end = tail.rstrip(WS)
        top = before = self._under
        if top is not None and not deeper(at, top):
            top = None  # back at the header's indentation: what it led is over
        # (under what led it: a ``{`` it ends with opens a block, as one alone does)
        led = top is not None or self._under_next or nested or (before is not None and end == "{")
        self._under_next = False
        if end.endswith(":"):
            self._work += len(tail)  # (its header words are read, and Python may be asked)
        cont, self._cont = self._cont, 0
        if led and words and head.startswith(_JOINED):
            cont = cont or -1  # (``if approved`` then ``  and not cancelled then``)
        kind = leads(head, end) if words else 0
        if cont and words:  # the condition goes on here (``if raining or`` then ``snowing:``)
            kind = kind or leads("if " + head, end)
            depth = max(cont, 0) + end.count("(") - end.count(")")
            if depth > 0 and not end.endswith((".", "!", "?")):
                # (``if (`` then ``raining`` then ``) {``: its brackets open; a sentence
                # or a line of code ends it all the same)
                kind, self._cont = 2, depth
        if kind == 2 and not self._cont and end.endswith(CONTINUES):
            self._cont = max(end.count("(") - end.count(")"), 0) or -1  # (-1: one line)
        if kind:
            top = at if top is None else top
            self._under_next = kind == 2
        self._under = top
        self._indented_then(at)
        if words and head.startswith("```"):
            if self._fence is None:
                self._fence = (self._braces, self._ends)
            else:
                (self._braces, self._ends), self._fence = self._fence, None
            return
        if words:
            ends = self._ends
            self._braces, self._ends = region(
                self._braces, self._ends, head, end, kind, led, whole=LINE_KEPT, cont=bool(cont)
            )
            if self._ends > ends:
                self._then = at

    def _indented_then(self, at: Columns) -> None:
        """The first line after a ``then`` line (at ``at``): one indented deeper makes its
        block one of indentation, over where a line is back at its indentation (what it
        led, :attr:`_under`); one that is not goes on to its ``end``."""
        then, self._then = self._then, None
        if then is not None and deeper(at, then):
            self._ends = max(self._ends - 1, 0)

    def _regions(self, code: str) -> None:
        """Lines of ``code`` read as code close and open blocks ``{`` and ``then`` opened
        (``} else { f(…) }`` closes one and opens one it closes; :func:`.lead.region`)."""
        start, first = 0, True
        braces = self._braces
        while start < len(code):
            k = code.find("\n", start)
            k = len(code) if k < 0 else k
            at = start
            while at < k and code[at] in " \t":
                at += 1
            head, end = code[at : min(k, at + HEAD_KEPT)], code[max(at, k - LINE_KEPT) : k]
            end = end.rstrip(WS)
            self._work += k - start
            kind = leads(head, end) if "{" in code[at:k] or end.endswith(" then") else 0
            if first:  # (its first line says whether its braces open blocks)
                braces = braces_after(code, braces, bool(braces or self._ends or kind))
                self._work += len(code)
            first = False
            self._ends = then_blocks(self._ends, head, end, kind, True)
            start = k + 1
        self._braces = braces

    def _line_so_far(self, before: str) -> tuple[Columns, str, str]:
        """The answer's current line so far (``before``: its text not yet spoken): its
        indentation (that of code begun on it, if any), its start past that, and its end
        (the last :data:`LINE_KEPT` characters)."""
        line = "".join(self._line) + before
        at = self._cols
        if self._in_lead:
            at, k = indentation(line, at)
            line = line[k:]
        head = self._head if len(self._head) >= HEAD_KEPT else line[:HEAD_KEPT]
        if self._code_lead is not None:
            at = self._code_lead
        return at, head, line[-LINE_KEPT:]

    def _led(self, before: str) -> bool:
        """What follows on the answer's line (``before`` its text not yet spoken) is under a
        condition: the line is under a line that led it (or code on it was), or starts with
        a condition's word (``if it rains, print(…)``), or ends in a header after a ``;``
        (``Okay; if rain:``)."""
        if self._code_nested or self._braces or self._ends:
            return True
        at, head, tail = self._line_so_far(before)
        self._work += len(tail)
        if under(at, self._under, next_line=self._under_next):
            return True
        end = tail.rstrip(WS)
        # (``when approved: <|tool_call>…; f(…)``, ``while waiting: …; f(…)``: the header's
        # line, its body after the ``:``)
        closed = end.rstrip(" \t;})]")  # (the brackets after a call on it)
        return starts_condition(head) or mid_header(end) or condition_line(head, closed)

    def _say(self, text: str) -> None:
        """Text in the current reading state: spoken in an answer, kept in a thought."""
        if self._state == _THOUGHT:
            self._keep(text)
        elif text:
            self._emit(text)

    def _hold(self, data: str, k: int, final: bool) -> str:
        """A possible marker's beginning at ``data[k:]``: held until the next delta decides;
        at the end of the stream, what of it is speakable."""
        if not final:
            self._buf = data[k:]
            return ""
        return data[k:] if lx.speakable_at_end(data[k:]) else ""

    def _add(self, call: ToolCall | None) -> None:
        self._busy = True
        if call is None or self._no_calls:
            return
        if self._doubt:
            self._dropped += 1
            return
        if self._ncalls >= REPLY_CALLS:
            self._dropped += 1  # more calls than any turn makes: the first ones run
            return
        self._ncalls += 1
        self._calls.append(call)

    def _lose(self, count: int) -> None:
        """``count`` calls the model wrote will never run (text a quote swallowed is none)."""
        self._busy = True
        if not self._no_calls:
            self._dropped += count

    def _open_channel(self) -> None:
        self.saw_thought = True
        self._first = False
        self._label = ""
        self._state = _LABEL

    def _keep(self, text: str) -> None:
        if text and not self._explicit and self._thought_len <= _THOUGHT_CAP:
            self._thought_len += len(text)
            self._thought.append(text)

    def _leave_thought(self) -> int:
        """Where a call opened inside the current thought leads: back into the thought if the
        reply opened it (only ``<channel|>`` ends that one), else to the answer."""
        after = _THOUGHT if self._explicit else _ANSWER
        self._thought = []
        self._thought_len = 0
        self._explicit = False
        return after

    def _call_done(self) -> None:
        if self._after == _THOUGHT:
            self._state = _THOUGHT
            self._explicit = True
            self._thought = []
        else:
            self._to_answer()
            self._closers = True  # (``print(<|tool_call>…<tool_call|>)``: its ``)`` unheard)


def call_prefix(data: str, i: int) -> int:
    """How many characters at the end of ``data[i:]`` could still begin ``call:``."""
    for t in (4, 3, 2, 1):
        if len(data) - t >= i and data.endswith("call"[:t]):
            return t
    return 0


def print_prefix(data: str, i: int) -> int:
    """How many characters at the end of ``data[i:]`` could still begin ``print(``."""
    for t in (5, 4, 3, 2, 1):
        if len(data) - t >= i and data.endswith(_PRINT[:t]):
            return t
    return 0


_NATIVE = ("<|tool_call>", "<tool_call>", "call:")  # the model's own call openers


def native_after(data: str, at: int, final: bool) -> bool | None:
    """``data[at:]``, after a mid-line ``print(``, is the model's own call (``print(
    <|tool_call>…``; spaces before it, up to 16): the ``print(`` only wraps it. None while
    undecided."""
    j = at
    while j < len(data) and j - at < 16 and data[j] in " \t":
        j += 1
    rest = data[j : j + 12]
    if any(rest.startswith(opener) for opener in _NATIVE):
        return True
    if final or j - at >= 16 or len(data) - j >= 12:
        return False
    return None if any(opener.startswith(rest) for opener in _NATIVE) else False


def fence_prefix(data: str, i: int) -> int:
    """How many characters at the end of ``data[i:]`` could still begin a code fence."""
    tail = data[max(i, len(data) - len(_FENCE) + 1) :]
    k = tail.find("`")
    while k >= 0:
        if _FENCE.startswith(tail[k:]):
            return len(tail) - k
        k = tail.find("`", k + 1)
    return 0
