"""The states that read code out of a Gemma 4 reply, and what starts them.

* at a line start: ``print(``, ``tool_code``, a declared tool's call, a name given one's
  result (``result = get_weather(``), or, with tools declared, a Python block's header
  (``if x:``, ``for c in cities:``, ``def f():``: a block calling a declared tool is code,
  and whether its calls run is not known, so each is lost; :mod:`.block`) or a
  ```` ```python ```` fence, read to its end by :class:`.code.Code`;
* mid-line: ``print(`` before a declared tool's call. A declared tool's name alone mid-line
  is a word: a sentence names a tool (``I can't end_call() myself``, ``the search (results)``)
  far more often than it calls one, and a tool the model did not call must never run.

What code turns out to be prose is heard, and read again from its first marker once.
"""

from __future__ import annotations

from .code import Code
from .codeend import CODE_MARKS, code_line
from .header import opens_block
from .lead import (
    NAME_MAX,
    Columns,
    columns,
    condition_call,
    deeper,
    plural,
    starts_name,
    under,
    watches,
)
from .lexer import IDENT, WS
from .pyscan import calls_declared, opens_assign, opens_bare, uncommented
from .state import _ANSWER, _CODE, _PRINT, _TRIGGERS, HEAD_KEPT
from .tools import Tools

__all__ = ["CodeStates"]


_PY_FENCES = ("```python", "```py")


def _python_fence(data: str, i: int, final: bool) -> int | bool | None:
    """A ```` ```python ```` (or ```` ```py ````) fence's opening line at ``data[i]``: where
    its code begins, False if it is none, None while undecided (at most a few spaces
    before its line break are read)."""
    n = len(data)
    for opener in _PY_FENCES:
        end = i + len(opener)
        if not data.startswith(opener, i):
            if not final and end > n and opener.startswith(data[i:]):
                return None
            continue
        while end < n and end - i < 24 and data[end] in " \t\r":
            end += 1
        if end < n and data[end] == "\n":
            return end + 1
        if end >= n and not final:
            return None
    return False


_CALLED = "\0called"  # (the look-ahead key of :meth:`_declared_at`)
_INDENT = 16  # the most spaces before a block's header read
_WHOLE = 2048  # a line under a leader judged at once if it is whole within this


def _indented(data: str, i: int) -> int:
    """Past the spaces at ``data[i]`` (up to :data:`_INDENT` and one)."""
    j = i
    while j < len(data) and j - i <= _INDENT and data[j] in " \t":
        j += 1
    return j


class CodeStates(Tools):
    __slots__ = ()

    def _start_inline(self, nested: bool) -> None:
        """Code mid-line from here: ``print(`` before a declared tool's call (``nested``
        after a name: ``blueprint(``)."""
        self._code = Code(inline=True, schemas=self._schemas)
        self._code.nested = nested
        self._state = _CODE

    def _watching(self, data: str, i: int, end: int) -> bool:
        """The answer's line (its text so far ``data[i:end]`` not yet taken) starts with a
        header's or condition's word, or may still (:func:`.lead.watches`): a declared
        tool's call on it is looked for (:meth:`_condition_call`)."""
        if self._watch is None:
            _, head, _ = self._line_so_far(data[i : min(end, i + HEAD_KEPT)])
            self._watch = watches(head, whole=end < len(data) or len(head) >= HEAD_KEPT)
            self._work += len(head)
        return (self._watch is not False or self._blocked()) and not self._plain

    def _blocked(self) -> bool:
        """The answer's line may be in a block (``{``, ``then``) or under a line that led it:
        a declared tool's call anywhere on it is under it (:meth:`_condition_call`)."""
        return bool(self._braces or self._ends or self._code_nested) or self._under is not None

    def _declared_at(self, data: str, i: int) -> int:
        """Where the first declared tool's name before ``(`` stands in ``data[i:]`` (not a
        plural's ``(es)``: ``search(es)`` is a word). Each ``(`` is looked at once: the
        answer is kept for the input being read (:meth:`_next`)."""
        n = len(data)
        found = self._pos.get(_CALLED, -1)
        if found >= i:
            return found
        j = i
        while True:
            k = data.find("(", j)
            if k < 0:
                found = n
                break
            s = k
            while s > i and k - s < NAME_MAX and data[s - 1] in IDENT:
                s -= 1
            self._work += k - j
            if s < k and data[s:k] in (self._schemas or ()) and not plural(data, k + 1):
                found = s
                break
            j = k + 1
        self._pos[_CALLED] = found
        return found

    def _condition_call(self, data: str, i: int, w: int) -> bool:
        """The declared tool's call at ``data[w]`` (its name not part of a longer one) is
        the body of the condition its line starts with (:func:`.lead.condition_call`)."""
        if (data[w - 1] if w > i else self._last) in IDENT:
            return False  # (``reget_weather(``: another name)
        at, head, tail = self._line_so_far(data[i:w])
        self._work += len(tail)
        if self._braces or self._ends or self._code_nested:
            return True  # (``when {`` then ``raining -> wire_money(…)``)
        if under(at, self._under, next_line=self._under_next):
            return True
        return bool(self._watch) and condition_call(head, tail)

    def _name_prefix(self, data: str, i: int) -> int:
        """How many characters at the end of ``data[i:]`` could still begin a declared
        tool's name (a name's start, to its ``(``)."""
        j = len(data)
        while j > i and len(data) - j <= NAME_MAX and data[j - 1] in IDENT:
            j -= 1
        word = data[j:]
        if not word or (j > i and data[j - 1] in IDENT):
            return 0
        self._work += len(word)
        return len(word) if starts_name(self._tool_names, word) else 0

    def _name_at_end(self, text: str) -> bool:
        """``text``, a plain delta on a watched line, ends in what may begin a declared
        tool's name (with the line's pieces before it: ``get`` then ``_wea``)."""
        j = len(text)
        while j > 0 and text[j - 1] in IDENT:
            j -= 1
        word = text[j:]
        if not word:
            return False
        if j == 0:  # (the word may have begun in the line's pieces before it)
            for piece in reversed(self._line):
                k = len(piece)
                while k > 0 and len(word) + len(piece) - k <= NAME_MAX and piece[k - 1] in IDENT:
                    k -= 1
                word = piece[k:] + word
                if k > 0 or len(word) > NAME_MAX:
                    break
        self._work += len(word)
        return len(word) <= NAME_MAX and starts_name(self._tool_names, word)

    def _past_deep_indent(self, data: str, i: int) -> int:
        """A line indented past :data:`_INDENT` (at ``data[i]``): the spaces before its last
        :data:`_INDENT` are its own, said as they come (whitespace: nothing is heard) and
        kept for its indentation, and the line is judged from there (a call indented 20
        spaces is code, as one indented 4 is)."""
        if not self._schemas:
            return i
        n = len(data)
        j = i
        while j < n and data[j] in " \t":
            j += 1
        cut = j - _INDENT
        if cut <= i:
            return i
        spaces = data[i:cut]
        self._work += cut - i
        self._track(spaces)
        if not self._seg_start:
            self._out.append(spaces)  # (still at the line's start: ``_last`` is unchanged)
        return cut

    def _line_code(self, data: str, i: int, final: bool) -> int | None:
        """Code at a line's start (``print(``, ``tool_code``, a declared tool's call, a
        block's header): where reading goes on, or None if the line is no code."""
        header: bool | None = False
        led: bool | None = False
        at = _indented(data, i)  # (a fence or a block's header may be indented)
        # its indentation: at a segment's start what was taken already is kept (_track)
        self._fold()
        lead = columns(data[i:at], self._cols) if self._in_lead else self._cols
        if self._schemas and at - i <= _INDENT and at == len(data) and not final:
            self._buf = data[i:]  # spaces so far: what follows them decides
            return len(data)
        if self._schemas and data.startswith("`", at) and at - i <= _INDENT:
            fence = _python_fence(data, at, final)
            if fence is None:
                self._buf = data[i:]  # ````` ```py ```` so far: held, bounded
                return len(data)
            if fence:
                # a ```` ```python ```` fence calling a declared tool is code, as a
                # ```` ```tool_code ```` one is (else it is read again as the reply)
                self._code = Code(fenced=True, schemas=self._schemas)
                self._code.opener = data[i:fence]
                self._lead_code(lead)
                self._state = _CODE
                return fence
        for trig in _TRIGGERS:
            if data.startswith(trig, i):
                break
        else:
            if not final and len(data) - i < 12 and any(t.startswith(data[i:]) for t in _TRIGGERS):
                self._buf = data[i:]
                return len(data)
            header = bare = opens_block(data, at, self._schemas, final=final)
            if bare and at - i > _INDENT:
                header = bare = False
            if bare is False:
                bare = opens_bare(data, i, self._schemas, final=final)
            if bare is False and at - i <= _INDENT:
                # ``result = get_weather(``: a name the call's result is given (indented too)
                bare = opens_assign(data, at, self._schemas, final=final)
            if bare is None:
                # the start of a declared tool's name, or of a name given one's result (a
                # lowercase word and what follows it, to its first other character): held,
                # bounded
                self._buf = data[i:]
                return len(data)
            if not bare:
                led = at - i <= _INDENT and self._led_line(data, at, lead, final)
                if led is None:
                    self._buf = data[i:]  # ``cal`` so far: ``call:`` is the model's marker
                    return len(data)
                if not led:
                    return None
                whole = self._led_whole(data, at, lead)
                if whole is not None:
                    return whole if whole >= 0 else None
                header = True
        self._code = Code(schemas=self._schemas)
        # ``if x:``: a sentence can start so too; its line is held a bounded while
        self._code.header = self._code.keyword = bool(header)
        self._code.led = bool(led)
        self._code.indent = lead if header else (0, 0)
        self._lead_code(lead)
        self._state = _CODE
        return i

    def _led_line(self, data: str, at: int, lead: Columns, final: bool) -> bool | None:
        """The line at ``data[at]`` (indented to ``lead``), starting as a name does, is
        under a line that led it (``if user confirms:`` then ``    r.save()``; in a block
        ``{`` or ``then`` opened): it is read as code, and heard only if it is a sentence
        (:func:`.codeend.code_line`), judged at its end or its bound, alone."""
        if at >= len(data):
            return False  # (only spaces, at the reply's end)
        c = data[at]
        if not (c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z")):
            return False
        if data.startswith("call:", at):
            return False  # the model's own call: read as markup
        if not final and "call:".startswith(data[at:]):
            return None
        if not self._in_lead or self._code_lead is not None:
            return False  # (words or code before it on its line)
        if self._braces or self._ends:
            return True
        return self._under is not None and under(lead, self._under, next_line=self._under_next)

    def _led_whole(self, data: str, at: int, lead: Columns) -> int | None:
        """A line under a leader that is whole in ``data`` (at ``data[at]``, indented to
        ``lead``), with no marker, fence, ``print(`` or declared call in it, is judged at
        once, with no :class:`.code.Code` to read it: -1 if it is a sentence (heard as it
        is), else where the reply goes on past it (code as written: never heard). None if
        :class:`.code.Code` must read it."""
        end = data.find("\n", at, at + _WHOLE)
        if end < 0:
            return None
        line = data[at:end]
        self._work += len(line)
        if not any(c in line for c in CODE_MARKS):
            return -1  # (a word or words: no code as written holds none of these)
        if (
            "<" in line
            or "`" in line
            or "call:" in line
            or _PRINT in line
            or calls_declared(line, self._schemas)
        ):
            return None
        self._work += len(line)  # (Python's parser reads it)
        if not code_line(line):
            return -1
        if self._under is not None:  # (the line is under it: what it led goes on)
            self._under_next = False
        self._indented_then(lead)
        self._regions(line)
        self._new_line()
        self._seg_start = True
        return end + 1

    def _lead_code(self, lead: Columns) -> None:
        """Code starts a line indented to ``lead``: under a line that led it (``if user
        confirms:`` then a call indented under it), its calls are lost; else what that
        line led is over."""
        if self._code_lead is not None or not self._in_lead:
            # after code (a marker ended it) or words on its line: under what led those,
            # or what they lead (``if x: `` then a thought, then a call)
            if self._led(""):
                self._code.nested = True
            if self._code_lead is not None:
                return
        if self._under is not None:
            if under(lead, self._under, next_line=self._under_next):
                self._code.nested = True  # whether it runs is not known (each call lost)
            else:
                self._under = None  # back at that line's indentation: what it led is over
            self._under_next = False
        if self._braces or self._ends:
            self._code.nested = True  # in a block ``{`` or ``then`` opened: under its line
        self._code_lead, self._code_nested = lead, self._code.nested

    def _in_code(self, data: str, i: int, final: bool) -> int:
        k, held = self._code.feed(data, i, final)
        if held:
            self._buf = held
        if self._code.done:
            if self._closers:  # (a condition's body on its line: its braces are the line's)
                self._track(self._code.text() or "")
            again, plain = self._code_done()
            if again:  # it is read again only once
                return self._again(again, data, k, final, plain=plain)
        return k

    def _block_done(self, code: Code) -> tuple[str, bool]:
        """A block (``if x:`` and its lines) is over. If it calls a declared tool, it is
        code: none of it is heard, the calls before its first control flow run and the rest
        are lost (whether they run is not known); else it is prose, read again as the reply
        (no code starts in it: read twice at most). What followed where it was cut (a ``#``
        heading) is read again."""
        tail = code.tail()
        text = code.text()
        self._work += code.size + code.compiled + len(tail)
        self._to_answer()
        if text is None:
            self._lose(1)  # past its cap: what it called never runs, and the turn says so
            self._took_line(code, tail)
            return tail, False
        if calls_declared(uncommented(text), self._schemas, spaced=False) or (
            # Python naming a declared tool's call, if only in a string or spaced
            # (``s = """get_weather(…)"""``): code, never heard
            calls_declared(text, self._schemas, strings=True) and code.python()
        ):
            # what it calls before its first control flow runs (``x = get_weather(…)``
            # then ``if x:``); each call from there is lost
            calls = code.calls(self._meter)
            for call in calls:
                self._add(call)
            self._lose(code.unread if calls or code.unread else 1)
            self._took_line(code, tail)
            # its header leads what is indented under it still (a marker may have ended
            # the block mid-way: ``search(…)<|channel>…`` then an indented call)
            if self._under is None or deeper(self._under, code.indent):
                self._under = code.indent
            self._under_next = False
            if not tail and not text.endswith("\n"):
                # ended mid-line (a marker): the rest of that line is the block's still
                last = text[text.rfind("\n") + 1 :]
                self._code_lead = columns(last[: len(last) - len(last.lstrip(" \t"))])
                self._code_nested = True
            return tail, False
        return text + tail, True  # (``search (online) for deals``: a sentence's)

    def _took_line(self, code: Code, tail: str) -> None:
        """Code at a line's start is over, none of it read again but ``tail`` (a later
        line's): if it took its line's end, that line is over. What led it was judged where
        the code began (:meth:`_lead_code`); the next line is a line of its own."""
        if not self._schemas or code.inline or code.fenced:
            return
        text = code.text()
        if text is not None:
            self._indented_then(self._code_lead or (0, 0))
            self._regions(text)
        if tail or text is None or text.endswith("\n"):
            self._new_line()

    def _sentence(self, code: Code, text: str) -> tuple[str, bool]:
        """A line that started as a block's header does is a sentence (``with pleasure!
        print(get_weather(…))``, ``if user confirms:``): its first word is heard and the
        rest read again as the reply, where code may start mid-line (never at its start: it
        was read so once). What its line leads (a call indented under ``if user
        confirms:``: lost) is judged at its end, as any line's (:meth:`_line_ended`)."""
        self._work += code.size + code.compiled + len(text)
        self._to_answer()
        j = _indented(text, 0)
        j += j < len(text) and text[j] == "@"  # (``@john``: never read as code again)
        while j < len(text) and text[j] in "} \t":  # (``} else {``: its branch's word)
            j += 1
        while j < len(text) and (text[j].isalnum() or text[j] == "_"):
            j += 1
        self._emit(text[:j])  # (what its line leads, :meth:`_line_ended` judges at its end)
        # (lines a backslash joined are read again plain: no code starts in them again)
        return text[j:], "\n" in text.rstrip(WS)

    def _code_done(self) -> tuple[str, bool]:
        """The code is over: its calls run; if it was prose, what it read up to its first
        marker is heard. Returned: the rest, to be read again as the reply, and whether it
        is plain (no code may start in it: it was read as code once)."""
        code = self._code
        self._code = Code()
        code.close()
        if code.block:
            return self._block_done(code)
        if code.said and (said := code.text()) is not None:
            return self._sentence(code, said)
        text = code.text()
        if (
            code.opener
            and text is not None
            and not calls_declared(uncommented(text), self._schemas)
        ):
            # a ```` ```python ```` fence calling no declared tool: read again as the
            # reply, heard as ever (a marker in it ended it, and is markup there)
            self._work += len(text)
            self._to_answer()
            return code.opener + text + ("```" if code.closed else ""), True
        tail = code.tail()  # a sentence after the code's statements: heard
        self._work += code.size + code.compiled + len(tail)
        if code.text() is None:
            self._lose(1)  # past its cap: what it called never runs, and the turn says so
        calls = code.calls(self._meter)
        for call in calls:
            self._add(call)
        prose = code.prose(calls)
        self._work += 2 * code.size  # parsed, and compiled, as Python once at most
        if prose:
            self._state = _ANSWER  # ``print(`` in a sentence naming no tool: prose
            compiled = code.compiled
            heard, again, starts_code = code.split()
            self._work += code.compiled - compiled
            self._emit(heard)
            # from a line that opens a declared tool's call, code starts again: that code
            # is never prose (its text is read a second time at most). What followed a cut
            # (``print(`` then a call, then ``Done.``) follows it, never lost
            return again + tail, not starts_code
        self._lose(code.unread)  # declared tools' calls cut off or unreadable: never run
        self._to_answer()
        # a declared call cut where Python stops reading it: the lines after it may hold
        # the call meant (``Sorry:`` then ``get_weather(city="Rome")``), so code may start
        # in them. They are no more than the lines the call kept (it was cut within twice
        # its length, 32 lines at most), so what is read again stays bounded
        self._took_line(code, tail)
        return tail, not code.cut
