"""The stream state: one Gemma 4 reply read as it arrives, only the answer ever released.

    reply   := segment* [END]
    segment := text | thought | block | bare-call | code | token
    thought := <|channel> LABEL … (<channel|> | a call | <|channel>)   LABEL "thought" or other
    answer  := <|channel> ("response" | "final" | "answer" | "default") … [<channel|>]
    block   := <|tool_call> body ([ws , ;] body)* <tool_call|>       (bodies: .body, .calls)
    bare-call := (call:)+ NAME ( "{" | "(" ) …                        anywhere, never speech
    xml     := (<tool_call> | <call>) [ : | call: ] NAME ( "{" | "(" ) … [</tool_call>]
    code    := at a line start: ```tool_code … ``` | print( … ) | tool_code = …
                                | NAME ( … | name = NAME ( …          (.codestate, .pyscan)
                                | ```python | if x: … | await …     (tools declared)
             | mid-line: print( NAME ( …       NAME declared; any other print( is a word
             | mid-line: NAME ( …              on a line a header's word starts, past its
                                               condition, or in a block: lost, never heard

Each state reads its input with ``str.find`` and single-character-class searches, and hands
on at most a small, capped held-back piece to the next delta (a marker's beginning up to 39
characters, ``call`` up to 4, a line start's ``tool_co`` up to 12,
``print(`` and a declared tool's name up to 160); the bare-call and
``<tool_call>`` heads are matched incrementally, never re-scanned. So each character is looked
at a bounded number of times and the work grows linearly with the reply.
"""

from __future__ import annotations

from . import lexer as lx
from .body import Body
from .calls import NAME_CHARS, ToolCall, repair
from .code import Code
from .lead import NAME_MAX, plural, starts_name
from .lexer import IDENT, WS
from .pyscan import opens_inline
from .state import (
    _ANSWER,
    _BARE,
    _BLOCK,
    _CALL,
    _CODE,
    _DONE,
    _ENDED,
    _FENCE,
    _HEAD,
    _LABEL,
    _MARK,
    _PRINT,
    _THOUGHT,
    _THOUGHT_LABEL,
    call_prefix,
    fence_prefix,
    native_after,
    print_prefix,
)
from .thought import LOST_OPENERS, ThoughtStates

__all__ = ["Gemma4Parser"]

_HELD_AT_START = (_THOUGHT_LABEL, *LOST_OPENERS)
_IDENT_CHARS = "".join(sorted(IDENT))  # (a name's characters, for ``str.strip``)
_JOIN = 64  # input read with what a re-read left held: more than any held piece needs


class Gemma4Parser(ThoughtStates):
    """Streaming parser of one Gemma 4 reply: ``feed`` each text delta, then ``finish``.

    Each call returns the text that may be spoken now (possibly ``""``) and the tool calls
    completed now. ``schemas`` maps tool names to their JSON-schema ``parameters``: a known
    tool's argument values are typed from it, and only a declared tool is called from code.
    """

    __slots__ = ()

    @property
    def ended(self) -> bool:
        """A turn-boundary token was seen; later input is ignored."""
        return self._state == _ENDED

    @property
    def thinking(self) -> bool:
        """Inside a thought the model opened with its marker."""
        return (self._state == _THOUGHT and self._explicit) or self._state == _LABEL

    @property
    def work(self) -> int:
        """Characters examined so far, counting every re-reading (held text read again, a
        look-ahead, a body read by the call reader): the reply's cost, which tests and
        benchmarks compare as the input grows. A plain chunk on the fast path is not counted
        (four substring tests look at it)."""
        return self._work + self._meter.n

    @property
    def called(self) -> int:
        """Tool calls returned so far."""
        return self._ncalls

    @property
    def dropped(self) -> int:
        """Calls the model wrote that will never run: malformed, past a cap (a body's
        32 KB, a block's or a reply's 64 calls), cut off by the reply's end, or in a block
        one of those spoiled. Never spoken either. After speech ("Let me check.") a dropped
        call leaves the caller waiting for a tool that never runs: the stream layer should
        end such a turn in an error, as it does a silent one."""
        return self._dropped

    @property
    def silent(self) -> bool:
        """The reply is over and gave neither speech nor a call: the stream layer reports it."""
        return self._state >= _ENDED and not self._spoke and not self._ncalls

    def feed(self, text: str) -> tuple[str, list[ToolCall]]:
        """Take one text delta; return the speakable text released now and calls completed."""
        if (
            self._fast
            and "<" not in text
            and "call:" not in text
            and "\n" not in text
            and "`" not in text
            and "(" not in text  # "print(" (one character is the cheaper test)
            and len(text) <= 128  # (LINE_KEPT: a piece of the line kept whole is bounded)
        ):
            if not text:
                return "", []
            last = text[-1]
            # else it may end in "c"…"call" or "p"…"print", or a "|" glued to a marker
            if (
                last != "|"
                and (
                    last not in "calprint"
                    or (
                        ("c" not in text[-4:] or last not in "cal")
                        and ("p" not in text[-5:] or last not in "print")
                    )
                )
                and (self._fast == 1 or last not in IDENT or not self._name_at_end(text))
            ):
                self._last = last
                if self._schemas:  # (what a line leads matters only to tools' calls)
                    line = self._line  # the line's pieces (:meth:`_track`), a few at most
                    line.append(text)
                    if len(line) > 16:  # (_PIECES)
                        self._fold()
                return text, []
        if self._state >= _ENDED:
            return "", []
        if self._held_name and text and not text.strip(_IDENT_CHARS):
            # a declared tool's name held (``get_wea``) and more of a name: still held,
            # never read again (``crm_lookup_…`` one character at a time)
            word = self._buf + text
            self._work += len(text)
            if len(word) <= NAME_MAX and starts_name(self._tool_names, word):
                self._buf = word
                return "", []
        self._held_name = False
        data = self._buf + text if self._buf else text
        self._buf = ""
        if self._glue:
            data = data[self._unglue(data) :]
        self._run(data, final=False)
        fast = (
            self._state == _ANSWER
            and not self._buf
            and not self._seg_start
            and self._last != "\n"
            and not self._glue
            and self._watch is not None
        )
        # (on a line a header's word starts, or in a block, its calls are looked for: a
        # delta ending in what may begin a declared tool's name is read, and held)
        self._fast = 0 if not fast else 2 if self._watch or self._blocked() else 1
        return self._take()

    def finish(self) -> tuple[str, list[ToolCall]]:
        """End of stream: release what is held if speakable, close or drop an open call."""
        if self._state >= _ENDED:
            return "", []
        data, self._buf = self._buf, ""
        if data:
            self._run(data, final=True)
        self._glue = 0  # what the reply's end makes read again is no next input
        self._settle()
        if self._state != _ENDED:
            self._state = _DONE
        self._fast = 0
        return self._take()

    def _settle(self) -> None:
        """The reply is over: release an undecided thought, close or drop an open call."""
        while self._state < _ENDED:
            state = self._state
            if state == _THOUGHT and not self._explicit:
                self._release_thought()
                continue
            elif state == _HEAD:
                self._state = self._resume
                if self._held is None or ":" in self._held or self._meant():
                    # ``<call>call:name`` or ``<tool_call>name`` cut off by the reply's end:
                    # tool syntax, never spoken
                    self._held = []
                    self._lose(1)
                    if self._resume == _ANSWER:
                        self._last = _MARK
                else:
                    self._replay()
                continue
            elif state == _CALL and self._body.lost >= 0:
                # no <|"|> came: the marker read as a string's text was a marker after all
                again = self._body.replay()
                assert again is not None
                self._body, text = again
                self._work += len(text)
                self._lost_tried = True  # nor is any marker after it: no <|"|> follows
                self._run(text, final=True)
                continue
            elif state == _CALL and self._body.in_str and not self._repaired:
                self._repaired = True
                text = self._body.text()
                self._work += 2 * len(text)
                fixed = repair(text, self._schemas, self._meter)
                self._body = Body()
                if fixed is not None:
                    if self._block:
                        if fixed.call is not None:
                            self._pending.append(fixed.call)
                    else:
                        self._add(fixed.call)
                    self._release()
                    self._no_calls = True  # text a quote swallowed runs nothing
                    self._call_done()
                    self._run(fixed.rest, final=True)
                    continue
                self._lose(1)
                self._release()  # the cut-off call stays unread; whole ones before it run
            elif state == _CALL and not self._reread and (again := self._body.reread()) is not None:
                # once per reply: re-reading each later body left open costs the square
                self._reread = True
                if self._body.py:  # ``call:f(text="buy milk`` cut off: lost (whole calls
                    self._release()  # before it in its block still run)
                    self._lose(1)
                self._body, text = again
                self._work += len(text)
                self._no_calls = True  # text a quote swallowed runs nothing
                self._run(text, final=True)
                continue
            elif state == _CALL:
                self._close_body(cut=True)  # complete without its closing token, or cut off
                self._release()
            elif state == _BLOCK:
                self._release()
            elif state == _CODE:
                rest, plain = self._code_done()
                if rest:
                    was, self._plain = self._plain, plain or self._plain  # as in :meth:`_run`
                    self._work += len(rest)
                    self._run(rest, final=True)
                    self._plain = was
                    continue
            elif state == _BARE and self._hname:
                if self._held is not None and not self._meant():
                    self._state = self._resume  # ``call:tomorrow``: prose, naming no tool
                    self._replay()
                    continue
                self._lose(1)  # ``call:name`` cut off: a call meant, never run (never spoken)
            break

    def _run(self, data: str, *, final: bool, no_lost: int = 0) -> None:
        """Read ``data``; ``no_lost``: no marker before that index is a lost opener's text.

        Text a state queues to be read again (:meth:`_again`) is read here, before the input
        goes on from where it was: a stack of inputs, never a recursion (one re-read per unit
        of a long delta would otherwise nest one level deeper each, past Python's limit)."""
        frames: list[tuple[str, int, bool, dict[str, int], int, bool]] = []
        i, n = 0, len(data)
        self._pos = {}  # a new input (even the same string again): no look-ahead holds
        self._lost_from = no_lost
        while True:
            while i < n and self._state < _ENDED:
                i = self._step(data, i, final)
                if self._queued is not None:
                    text, lost, plain = self._queued
                    self._queued = None
                    self._work += len(text)
                    frames.append((data, i, final, self._pos, self._lost_from, self._plain))
                    data, final = text, final and i >= n
                    i, n = 0, len(text)
                    self._pos, self._lost_from = {}, lost
                    self._plain = plain or self._plain  # no re-read in plain text starts code
            if not frames:
                return
            data, i, final, self._pos, self._lost_from, self._plain = frames.pop()
            n = len(data)
            if self._buf and i < n and self._state < _ENDED:
                # what the text read again left held joins the input's next characters: a
                # bounded piece of them, so no stretch of the input is copied twice
                end = min(n, i + _JOIN)
                piece, self._buf = self._buf + data[i:end], ""
                frames.append((data, end, final, self._pos, self._lost_from, self._plain))
                data, final = piece, final and end >= n
                i, n = 0, len(piece)
                self._pos, self._lost_from = {}, 0
            elif self._glue and i < n:
                i = lx.glue(data, i, self._glue)  # a marker ended that piece: its glue
                self._glue = 0

    def _step(self, data: str, i: int, final: bool) -> int:
        start = i
        state = self._state
        if state == _ANSWER:
            i = self._answer(data, i, final)
        elif state == _THOUGHT:
            i = self._in_thought(data, i, final)
        elif state == _LABEL:
            i = self._in_label(data, i, final)
        elif state == _BARE:
            i = self._in_bare(data, i, final)
        elif state == _HEAD:
            i = self._in_head(data, i, final)
        elif state == _CALL:
            i = self._in_call(data, i, final)
        elif state == _BLOCK:
            i = self._in_block(data, i, final)
        else:
            i = self._in_code(data, i, final)
        self._work += 1 + i - start
        return i

    def _answer(self, data: str, i: int, final: bool) -> int:
        n = len(data)
        if self._closers:
            # the brackets after a call its line's condition led, or after the model's own
            # call (``print(<|tool_call>…<tool_call|>)``): never heard; what follows them is
            # read as after the call (code there is judged by what leads its line)
            j = i
            while j < n and data[j] in " \t;})]":
                j += 1
            self._track(data[i:j])  # (never heard; the line's braces, counted)
            if j == n:
                return n
            self._closers = False
            i = j
        if self._seg_start:
            j = i
            while j < n and data[j] in WS:
                j += 1
            if self._schemas and j > i:
                # (the line a call or code took may end here, and the next one's
                # indentation is its own: never heard, but counted)
                self._track(data[i:j])
            if j == n:
                return n  # only whitespace so far: nothing to say yet
            i = j
            if self._first and data[j] != "<":
                for lost in LOST_OPENERS:
                    if data.startswith(lost, j):
                        # <|channel> whose "<|" (or "<") the server dropped: a channel's label
                        self._open_channel()
                        return j + len(lost)
                if data.startswith(_THOUGHT_LABEL, j):
                    # a thought whose <|channel> the server dropped: its label says what it is
                    self.saw_thought = True
                    self._first = False
                    self._state = _THOUGHT
                    self._explicit = True
                    return j + len(_THOUGHT_LABEL)
                if not final and any(p.startswith(data[j:]) for p in _HELD_AT_START):
                    self._buf = data[j:]
                    return n
        if (self._seg_start or self._last == "\n") and not self._plain:
            i = self._past_deep_indent(data, i)
            code = self._line_code(data, i, final)
            if code is not None:
                return code
        k = self._next(data, i, "<")
        c = self._next(data, i, "call:")
        f = self._next(data, i, _FENCE)  # a fence is code wherever it opens
        line = self._next(data, i, "\n")
        p = n if self._plain else self._next(data, i, _PRINT)
        # on a line starting with a header's word, a declared tool's call (``if (x) {
        # get_weather(…) }``, past where the line was judged as a header's)
        w = self._declared_at(data, i) if self._schemas and self._watching(data, i, line) else n
        if line < k and line < c and line < f and line < p and line < w:
            self._emit(data[i : line + 1])
            return line + 1
        if w < k and w < c and w < f and w < p:
            if plural(data, data.find("(", w) + 1) is None and not final:
                self._emit(data[i:w])
                self._buf = data[w:]  # (``search(e`` at the delta's end: ``search(es)``?)
                return n
            if not self._condition_call(data, i, w):
                self._emit(data[i : w + 1])  # (a word in a sentence: heard)
                return w + 1
            self._emit(data[i:w])
            self._start_inline(True)  # the condition's body: never heard, its call lost
            self._closers = True  # (and the ``}`` or ``;`` after it on its line)
            return w
        if p < k and p < c and p < f:
            # code only if a declared tool's call follows (``print(get_weather(``)
            opens = opens_inline(data, p + len(_PRINT), self._schemas, final=final)
            if opens is None:
                self._emit(data[i:p])
                self._buf = data[p:]  # ``print(get_wea`` at the delta's end: held, bounded
                return n
            if not opens:
                wraps = native_after(data, p + len(_PRINT), final)
                if wraps is None:
                    self._emit(data[i:p])
                    self._buf = data[p:]  # ``print(<|tool`` at the delta's end: held, bounded
                    return n
                # ``print(<|tool_call>…``: the model's own call, its wrapper never heard
                self._emit(data[i : p if wraps else p + len(_PRINT)])
                return p + len(_PRINT)  # (else a word in a sentence: no code, no strings)
            # a name before ``print(`` (``blueprint(get_weather(…))``): the call's result goes
            # to a function not known, so it never runs (counted lost); nor does it after a
            # header on its line (``Okay; if rain: print(…)``: under a condition)
            nested = (data[p - 1] if p > i else self._last) in NAME_CHARS or self._led(data[i:p])
            self._emit(data[i:p])
            self._start_inline(nested)
            return p
        if f < k and f < c:
            nested = bool(self._schemas) and self._led(data[i:f])  # (under ``if x:``: lost)
            self._emit(data[i:f])
            self._code = Code(fenced=True, schemas=self._schemas)
            self._code.nested = nested
            self._state = _CODE
            return f + len(_FENCE)
        if c < k:
            self._emit(data[i:c])
            self._start_bare(_ANSWER)
            return c + 5
        if k == n:
            t = 0
            if not final:
                t = max(call_prefix(data, i), fence_prefix(data, i))
                if not self._plain:
                    t = max(t, print_prefix(data, i))
                    if self._watch is not False or self._blocked():
                        named = self._name_prefix(data, i)
                        self._held_name = named >= t and named > 0  # (all it holds)
                        t = max(t, named)
                if not t and n > i and data[-1] == "|":
                    t = 1  # a "|" glued before a marker the next delta may bring
            self._emit(data[i : n - t])
            if t:
                self._buf = data[n - t :]
            return n
        kind, length = self._token(data, k)
        if k > i and data[k - 1] == "|" and kind != lx.LITERAL:
            if kind == lx.PARTIAL and final:
                self._emit(data[i:k])  # "a |<b" at the end: a cut-off marker may be text
            else:
                self._emit(data[i : k - 1])  # a "|" glued before a marker: its markup
                if kind == lx.PARTIAL:
                    self._buf = data[k - 1 :]
                    return n
        else:
            self._emit(data[i:k])
        return self._answer_token(data, k, final, kind, length)

    def _answer_token(self, data: str, k: int, final: bool, kind: int, length: int) -> int:
        if kind == lx.LITERAL:
            self._emit("<")
            return k + 1
        if kind == lx.PARTIAL:
            if held := self._hold(data, k, final):
                self._emit(held)
            return len(data)
        if kind == lx.CH_OPEN:
            self._open_channel()
        elif kind == lx.TC_OPEN:
            self._start_block(_ANSWER)
        elif kind == lx.XML_OPEN:
            self._start_head(_ANSWER)
        elif kind == lx.END:
            self._end()
            return len(data)
        else:
            self._last = _MARK  # dropped: what follows may start a word, but glues on
        return k + length
