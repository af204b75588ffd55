"""The states that read tool calls out of a Gemma 4 reply.

* after ``call:`` (anywhere) and after ``<tool_call>``/``<call>``: the head is matched one
  character at a time, keeping state between deltas (never re-scanned); a head that is no
  call goes back as text once, and past its cap is dropped;
* a call body (:mod:`.body`) until its brackets close, or a ``<|tool_call>`` block's bodies
  until ``<tool_call|>``.

Code (the Python form) is read by :mod:`.codestate`.
"""

from __future__ import annotations

from . import lexer as lx
from .body import CLOSED, DOUBT, MARKER, WRONG, Body
from .calls import NAME_CHARS, parse_call
from .lexer import WS
from .state import (
    _ANSWER,
    _BARE,
    _BLOCK,
    _CALL,
    _HEAD,
    _HELD_CAP,
    _MARK,
    _THOUGHT,
    Base,
)
from .values import Schemas

__all__ = ["Tools"]

_BLOCK_CALLS = 64
"""The most calls one ``<|tool_call>`` block may hold (each is held until the block ends).
A whole reply may run as many (:data:`.state.REPLY_CALLS`)."""


class Tools(Base):
    __slots__ = ("_lost_from", "_queued")

    _lost_from: int  # no marker before this index of the input is a lost opener's text
    _queued: tuple[str, int, bool] | None  # text to read again before the input goes on

    def __init__(self, *, in_thought: bool = False, schemas: Schemas | None = None) -> None:
        super().__init__(in_thought=in_thought, schemas=schemas)
        self._queued = None

    def _start_bare(self, resume: int) -> None:
        self._resume = resume
        self._state = _BARE
        self._held = ["call:"]
        self._held_len = 5
        self._hname = ""
        self._hword = 0  # 2: spaces after the name (only a bracket may follow)

    def _start_head(self, resume: int) -> None:
        self._resume = resume
        self._state = _HEAD
        self._held = []
        self._held_len = 0
        self._hname = ""
        self._hword = 0

    def _hold_text(self, text: str) -> None:
        if self._held is not None:
            self._held_len += len(text)
            if self._held_len > _HELD_CAP:
                self._held = None  # markup held past its cap: never spoken
            else:
                self._held.append(text)

    def _run(self, data: str, *, final: bool, no_lost: int = 0) -> None:
        raise NotImplementedError  # the stream's reading loop (:mod:`.stream`)

    def _replay(self) -> None:
        """A head that is no call: its text goes back to where it came from, once."""
        held = "".join(self._held) if self._held is not None else ""
        self._held = []
        if self._resume == _ANSWER:
            self._last = _MARK
        self._say(held)

    def _glued_call(self) -> None:
        """The word read so far ends in ``call`` and a ``:`` follows: a bare call begins
        inside the word. What the head held before it is tool syntax glued to a call
        (``call:calmcall:f{``): dropped, never spoken."""
        resume = self._resume
        self._state = resume
        if resume == _ANSWER:
            self._last = _MARK
        self._start_bare(resume)

    def _names(self, data: str, i: int) -> int:
        n = len(data)
        j = i
        room = 129 - len(self._hname)
        while j < n and j - i < room and data[j] in NAME_CHARS:
            j += 1
        if j > i:
            self._hname += data[i:j]
            self._hold_text(data[i:j])
        return j

    def _in_bare(self, data: str, i: int, final: bool) -> int:
        """After ``call:``: ``(call:)*NAME{`` makes a call, anything else was text."""
        n = len(data)
        while True:
            j = self._names(data, i) if self._hword < 2 else i
            if j == n or len(self._hname) > 128:
                if j == n and len(self._hname) <= 128:
                    return n
                break
            ch = data[j]
            if ch in " \t" and self._hname:
                # ``call:name {``: spaces before the bracket, as a head allows (kept as one,
                # however the deltas cut them, in case it is prose after all)
                while j < n and data[j] in " \t":
                    j += 1
                if self._hword < 2:
                    self._hword = 2
                    self._hold_text(" ")
                i = j
                continue
            if self._hword == 2 and (ch not in "{(<" or (ch == "(" and not self._meant())):
                break  # ``call:tomorrow at noon``: prose
            if ch == ":" and self._hname == "call":
                self._hname = ""
                self._hold_text(":")
                i = j + 1
                continue
            if ch in "{(" and self._hname:
                self._start_call(self._hname, ch, self._resume_after())
                return j + 1
            if ch == "<" and (not self._hname or self._meant()):
                self._state = self._resume  # ``call:NAME`` cut by a marker: tool syntax
                if self._hname:
                    self._lose(1)  # a call meant, never run (as when the reply ends there)
                return j
            if ch == ":" and self._hname.endswith("call"):
                self._glued_call()  # ``call:calmcall:f{``: a call begins inside the word
                i = j + 1
                continue
            break
        self._state = self._resume
        self._replay()
        return j

    def _meant(self) -> bool:
        """The head's name so far, cut off (by the reply's end or a marker), could still have
        become a call: it is ``call`` or begins it (``call:`` may follow), or begins a declared
        tool's name (any name, when the request's tools are not known). ``call:tomorrow``
        names no tool: prose, as it is when a space follows it."""
        name = self._hname.rpartition(".")[2]
        if not name or "call".startswith(name) or self._schemas is None:
            return bool(name)
        return any(tool.startswith(name) for tool in self._schemas)

    def _resume_after(self) -> int:
        return self._leave_thought() if self._resume == _THOUGHT else _ANSWER

    def _in_head(self, data: str, i: int, final: bool) -> int:
        """After ``<tool_call>``/``<call>``: a call only if ``[:|call:]NAME{`` follows."""
        n = len(data)
        while i < n:
            ch = data[i]
            if ch in WS:
                j = i + 1
                while j < n and data[j] in WS:
                    j += 1
                if not (self._held and self._held[-1] == " "):
                    self._hold_text(" ")  # a run of spaces is one, however the deltas cut it
                if self._hword == 1:
                    self._hword = 2
                i = j
                continue
            if ch in NAME_CHARS and self._hword < 2:
                i = self._names(data, i)
                self._hword = 1
                if len(self._hname) > 128:
                    break
                continue
            if ch == ":" and self._hname in ("", "call"):
                self._hname = ""
                self._hword = 0
                self._hold_text(":")
                i += 1
                continue
            if ch in "{(" and self._hname:
                after = self._leave_thought() if self._resume == _THOUGHT else _ANSWER
                self._start_call(self._hname, ch, after)
                return i + 1
            if ch == ":" and self._hname.endswith("call"):
                self._glued_call()
                return i + 1
            if ch in "{[" and not self._hname:
                # a JSON block in a tool tag: markup, read to its closer and dropped
                after = self._leave_thought() if self._resume == _THOUGHT else _ANSWER
                self._start_block(after)
                self._bad = True
                self._lose(1)  # a call in another syntax: meant, never run
                self._state = _BLOCK
                return i
            break
        else:
            return n
        self._state = self._resume
        self._replay()
        return i

    # -- calls -----------------------------------------------------------------------------

    def _start_call(self, name: str, bracket: str, after: int) -> None:
        """A bare call (or one after ``<tool_call>``): it ends when its brackets close."""
        self._after = after
        self._first = False
        self._pending = []
        self._bad = False
        self._body = Body(f"call:{name}{bracket}", depth=1, py=bracket == "(")
        self._state = _CALL
        self._block = False

    def _start_block(self, after: int) -> None:
        """``<|tool_call>``: one or more bodies until ``<tool_call|>``."""
        self._after = after
        self._first = False
        self._pending = []
        self._bad = False
        self._body = Body()
        self._state = _CALL
        self._block = True

    def _close_body(self, *, cut: bool = False) -> None:
        """A body is over; ``cut``: by the reply's end (it spoils none of the whole calls
        before it in its block)."""
        body = self._body
        self._body = Body()
        text = body.text()
        self._work += len(text)  # read once more, by the call reader
        if not body.overflow and not text.strip(WS):
            return
        # a body past its cap is no call: it spoils its block as a malformed one does
        call = None if body.overflow else parse_call(text, self._schemas, self._meter)
        if not self._block:
            if call is None:
                self._lose(1)
            self._add(call)
        elif self._bad:
            if call is not None:
                self._lose(1)  # a whole call in a spoiled block; what is no call is its junk
        elif call is None and cut:
            self._lose(1)
        elif call is None or len(self._pending) >= _BLOCK_CALLS:
            # something in the block is no call, or more calls than any turn makes: the
            # block runs nothing, and none is kept
            self._lose(1 + len(self._pending))
            self._pending = []
            self._bad = True
        else:
            self._pending.append(call)

    def _release(self) -> None:
        """The block is over: its calls run, unless something in it was no call."""
        if self._bad:
            self._lose(len(self._pending))
        else:
            for call in self._pending:
                self._add(call)
        self._pending = []
        self._bad = False

    def _in_call(self, data: str, i: int, final: bool) -> int:
        body = self._body
        stop, k, held = body.feed(data, i, final)
        if stop == WRONG:
            return self._not_lost(data, k, final)
        if stop == DOUBT:
            # a lost opener's string reached the cap with no <|"|>: what it holds is read as
            # markup, but no call in it runs (it may be quoted text): each is dropped instead.
            # So for the rest of the reply: a call opened in that text may close past it, and
            # whether later text is still the string's cannot be known without holding it all
            again = body.replay()
            assert again is not None
            self._body, text = again
            self._doubt = True
            return self._again(text, data, k, final)
        if held:
            self._buf = held
        if stop == CLOSED:
            self._close_body()
            if self._block:
                self._state = _BLOCK
            else:
                self._call_done()
            return k
        if stop != MARKER:
            return k
        kind, length = self._token(data, k)
        if kind == lx.PARTIAL:
            self._hold(data, k, final)  # at the end, a cut-off marker adds nothing
            return len(data)
        if kind == lx.LITERAL:
            body.text_char("<")
            return k + 1
        if kind == lx.QUOTE:
            body.quote()
        elif (
            kind in (lx.TC_CLOSE, lx.TC_OPEN, lx.XML_OPEN)
            # never in text a failed guess is read again: no <|"|> there fits it either
            and not (self._lost_tried or self._doubt or k < self._lost_from)
            and body.maybe_lost_opener(data[k : k + length])
        ):
            # the string's text if a <|"|> closes it, else read again as a marker; as text it
            # takes no glue from the next delta (fed whole, a "|" after it is the string's)
            self._glue = 0
        elif kind in (lx.TC_CLOSE, lx.END, lx.TC_OPEN, lx.XML_OPEN):
            self._close_body()
            self._release()
            if kind == lx.END:
                self._end()
                return len(data)
            if kind == lx.TC_CLOSE:
                self._call_done()
            elif kind == lx.TC_OPEN:
                self._start_block(self._after)
            else:
                self._head_after_call()
        else:
            body.put(data[k : k + length])  # no place in a call: the body will not parse
        return k + length

    def _not_lost(self, data: str, k: int, final: bool) -> int:
        """The ``<|"|>`` at ``data[k]`` opens a later value, so the marker read as a lost
        opener's string text was a marker: the body is read again from its start, with no
        guess in that span (each <|"|> in it would be the same one), then on from ``k``."""
        again = self._body.replay()
        assert again is not None
        self._body, text = again
        return self._again(text, data, k, final, no_lost=len(text))

    def _again(
        self, text: str, data: str, k: int, final: bool, *, no_lost: int = 0, plain: bool = False
    ) -> int:
        """Read ``text`` (already read once, and now otherwise) as the reply, then ``data`` on
        from ``k``; ``no_lost`` and ``plain`` say what may not start in ``text`` (a guess, or
        code), which is what keeps it from being read again a second time. :meth:`_run` reads
        it before going on (never by recursion: a re-read inside one is queued the same way),
        and a re-read inside plain text is plain too, so no re-read starts code again."""
        self._queued = (text, no_lost, plain)
        return k

    def _head_after_call(self) -> None:
        """``<tool_call>`` right after a call: if no call follows it, its words go where the
        call led (back into a thought the reply opened: never spoken)."""
        if self._after == _THOUGHT:
            self._state = _THOUGHT
            self._explicit = True
            self._thought = []
            self._start_head(_THOUGHT)
        else:
            self._start_head(_ANSWER)

    def _in_block(self, data: str, i: int, final: bool) -> int:
        """Between the bodies of a ``<|tool_call>`` block: separators, another call, or its
        end. Anything else makes the block no call (dropped to its end)."""
        n = len(data)
        while i < n and (data[i] in WS or data[i] in ",;|"):  # "|": glued to the next marker
            i += 1
        if i == n:
            return n
        if data[i] == "<":
            kind, length = self._token(data, i)
            if kind == lx.PARTIAL:
                self._hold(data, i, final)
                return n
            if kind in (lx.TC_CLOSE, lx.END, lx.TC_OPEN, lx.XML_OPEN, lx.CH_OPEN):
                self._release()
                if kind == lx.END:
                    self._end()
                    return n
                if kind == lx.TC_CLOSE:
                    self._call_done()
                elif kind == lx.TC_OPEN:
                    self._start_block(self._after)
                elif kind == lx.XML_OPEN:
                    self._head_after_call()
                else:
                    self._open_channel()
                return i + length
            if kind == lx.QUOTE:
                # a string between calls: no call, but sealed (read as a body, the block
                # skipped to its end), so the markup it quotes starts nothing
                self._bad = True
                self._body = Body()
                self._state = _CALL
                return i
            if kind != lx.DROP:
                self._bad = True
            return i + max(length, 1)
        if not (data.startswith("call:", i) or data[i] == ":"):
            if "call:".startswith(data[i:]):
                if not final:
                    self._buf = data[i:]
                return n  # at the end: the next call cut off, which spoils none before it
            self._bad = True
        # a call, or something that is none (the block then runs nothing): read as a body
        # either way, so its strings stay sealed while the block is skipped to its end
        self._body = Body()
        self._state = _CALL
        return i
