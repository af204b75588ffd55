"""The states that read code out of a Gemma 4 reply, and what starts them.

* at a line start: ``print(``, ``tool_code``, a declared tool's call, or a name given one's
  result (``result = get_weather(``), read to its end by :class:`.code.Code`;
* mid-line: ``print(`` before a declared tool's call, or a declared tool's name then ``(``
  (``I will run get_weather(city="Paris")``). A word at a delta's end that may begin a
  declared name is held to see (:func:`.pyform.name_tail`); each ``(`` is looked back from
  over at most a name and a few spaces (:func:`.pyform.call_start`).

What code turns out to be prose is heard, and read again from its first marker once.
"""

from __future__ import annotations

from .calls import NAME_CHARS
from .code import Code
from .pyform import call_start, name_tail, opens_assign, opens_bare
from .state import _ANSWER, _CODE, _TRIGGERS
from .tools import Tools

__all__ = ["CodeStates"]

_LOOK_BACK = 160  # a bounded look back from a ``(`` or a delta's end over a name


class CodeStates(Tools):
    __slots__ = ()

    def _call_at(self, data: str, i: int, stop: int) -> int:
        """Where a declared tool's call next begins mid-line in ``data[i:stop]`` (its name,
        starting a word, then ``(``), else ``len(data)``: found from each ``(`` by a bounded
        look back (only spaces and the name lie between, so its ``(`` is before ``stop``
        too). What was searched is kept for the input, as :meth:`_next` keeps it."""
        n = len(data)
        if not self._schemas:
            return n
        got = self._pos.get("name(", -1)
        if got >= i:
            return got if got < stop else n
        at = max(i, self._pos.get("name(to", 0))
        while at < stop:
            p = data.find("(", at, stop)
            if p < 0:
                self._work += stop - at
                at = stop
                break
            self._work += 1 + p - at + min(p - at, _LOOK_BACK)  # the look back: what was passed
            got = call_start(data, i, p, self._schemas, self._last)
            if got >= 0:
                self._pos["name("] = got
                return got
            at = p + 1
        self._pos["name(to"] = at
        return n

    def _name_tail(self, data: str, i: int) -> int:
        """How much of ``data[i:]``'s end may still begin a declared tool's call: held."""
        if not self._schemas:
            return 0
        held, looked = name_tail(data, i, self._heads, self._schemas)
        self._work += looked
        return held

    def _start_inline(self, *, name: bool) -> None:
        """Code mid-line from here: ``print(`` or (``name``) a declared tool's name."""
        self._code = Code(inline=True, schemas=self._schemas)
        # ``blueprint(get_weather(…))``, ``str(get_weather(…))``: its result goes to a
        # function not known, so it never runs (counted lost)
        self._code.nested = self._last == "(" if name else self._last in NAME_CHARS
        self._state = _CODE

    def _line_code(self, data: str, i: int, final: bool) -> int | None:
        """Code at a line's start (``print(``, ``tool_code``, a declared tool's call):
        where reading goes on, or None if the line is no code."""
        for trig in _TRIGGERS:
            if data.startswith(trig, i):
                break
        else:
            if not final and len(data) - i < 12 and any(t.startswith(data[i:]) for t in _TRIGGERS):
                self._buf = data[i:]
                return len(data)
            bare = opens_bare(data, i, self._schemas, final=final)
            if bare is False:  # ``result = get_weather(``: a name the call's result is given
                bare = opens_assign(data, i, self._schemas, final=final)
            if bare is None:
                # the start of a declared tool's name, or of a name given one's result (a
                # lowercase word and what follows it, to its first other character): held,
                # bounded
                self._buf = data[i:]
                return len(data)
            if not bare:
                return None
        self._code = Code(schemas=self._schemas)
        self._state = _CODE
        return i

    def _in_code(self, data: str, i: int, final: bool) -> int:
        k, held = self._code.feed(data, i, final)
        if held:
            self._buf = held
        if self._code.done:
            again, plain = self._code_done()
            if again:  # it is read again only once
                return self._again(again, data, k, final, plain=plain)
        return k

    def _code_done(self) -> tuple[str, bool]:
        """The code is over: its calls run; if it was prose, what it read up to its first
        marker is heard. Returned: the rest, to be read again as the reply, and whether it
        is plain (no code may start in it: it was read as code once)."""
        code = self._code
        self._code = Code()
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
            # is never prose (its text is read a second time at most)
            return again, not starts_code
        self._lose(code.unread)  # declared tools' calls cut off or unreadable: never run
        self._to_answer()
        return tail, True
