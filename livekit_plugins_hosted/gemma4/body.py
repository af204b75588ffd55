"""A call body as it streams in: where it ends, with its strings sealed.

    body := head ( "{" | "(" ) … matching close     (depth counted outside strings)
    string := <|"|> … <|"|>    (sealed: inside, only <|"|> means anything; every other marker
                                is the string's text)
           |  text <|"|>       (a <|"|> after bare text closes a string whose opener was lost)
           |  "…"              (where a key or value begins: JSON, backslash escapes)
           |  '…'              (where a value begins: ends at a ' that a separator follows)
           |  "…" | '…'        (the Python form, "(…)": Python's rules, wherever they open)

A body is the Python form once its first bracket is ``(``, in a block as well as bare; there
``=`` ends a key as ``:`` does. Every string the call reader accepts is sealed here the same
way, so text the model quotes never ends a call and never begins one.

:class:`Body` only finds the end and keeps the text (capped: past :data:`BODY_CAP` the text is
dropped and the call with it, while the end is still found); :mod:`.calls` reads it once it is
complete. The markers that end a body outside a string (``<tool_call|>``, a turn's end, a new
call) are the stream's business: :meth:`Body.feed` stops at every ``<`` outside a string.
"""

from __future__ import annotations

import re

from .lexer import QUOTE_TOKEN, WS

__all__ = ["BODY_CAP", "Body"]

BODY_CAP = 32 * 1024
"""The most text one call body may hold: a longer one is never run (and never spoken)."""

_SCAN = re.compile(r"[<{}\[\]():,\"']")  # one character class: linear
_SCAN_PY = re.compile(r"[<{}\[\]():,=\"']")
_QLEN = len(QUOTE_TOKEN)

# What feed() stopped at.
MORE = 0  # all taken: the body goes on
CLOSED = 1  # the brackets closed (depth back to 0)
MARKER = 2  # a ``<`` outside a string, at the index returned: the stream decides
WRONG = 3  # the <|"|> at the index returned opens a value: no lost opener's string ends there
DOUBT = 4  # a lost opener's string reached the cap at the index returned: undecidable


def _partial_quote(data: str, i: int) -> int:
    """How many characters at the end of ``data[i:]`` could still begin ``<|"|>``."""
    for t in (4, 3, 2, 1):
        if len(data) - t >= i and data.endswith(QUOTE_TOKEN[:t]):
            return t
    return 0


class Body:
    """One call body's text and reading state."""

    __slots__ = (
        "_len", "_parts", "bare_at", "bare_run", "depth", "doubt", "in_str", "lost", "lost_py",
        "origin", "overflow", "pend", "pesc", "pq", "py", "qat", "skip", "tail",
    )  # fmt: skip

    def __init__(self, start: str = "", depth: int = 0, py: bool = False, skip: int = -1) -> None:
        self.origin = (start, depth, py)  # to read the body again (see :meth:`reread`)
        self.skip = skip  # the offset of a quote to read as text (a string never closed)
        self.qat = -1  # the offset of the open quote-string's opening quote
        self._parts: list[str] = []
        self._len = 0
        self.overflow = False
        self.depth = depth
        self.in_str = False  # inside <|"|>…<|"|>
        self.py = py  # the Python form: "…" and '…' are strings too
        self.pq = ""  # the quote of the Python string we are in
        self.pesc = False
        self.pend = False  # a '…' string (not Python): a ' seen, its end if a separator follows
        self.bare_run = False  # bare text since the last structural character
        self.bare_at = -1  # the offset where that bare text began
        self.lost = -1  # the offset of a marker read as text of a string whose opener was lost
        self.doubt = False  # that string grew past the cap with no <|"|>: undecidable
        self.tail = ""  # that string's last character that is no space
        self.lost_py = False  # in that text, a "(" is open: a later call's Python form
        if start:
            self.put(start)

    def put(self, text: str) -> None:
        if self.overflow or not text:
            return
        self._len += len(text)
        if self.lost >= 0 and self._len > BODY_CAP:
            self._parts.append(text)  # kept to read again (:meth:`replay`): one delta more
            self.doubt = True
            return
        if self._len > BODY_CAP:
            self.overflow = True
            self._parts = []
            return
        self._parts.append(text)

    def text(self) -> str:
        return "" if self.overflow else "".join(self._parts)

    def quote(self) -> None:
        """A ``<|"|>`` outside a string: it opens one, unless bare text precedes it (then it
        closes a string whose opening delimiter the model left out)."""
        self.put(QUOTE_TOKEN)
        if self.bare_run:
            self.bare_run = False
        else:
            self.in_str = True

    def feed(self, data: str, i: int, final: bool) -> tuple[int, int, str]:
        """Take ``data[i:]`` up to the body's end or a marker: (what stopped it, index, text
        to hold back until the next delta)."""
        n = len(data)
        while i < n:
            if self.in_str:
                k = data.find(QUOTE_TOKEN, i)
                end = n - (0 if final or k >= 0 else _partial_quote(data, i)) if k < 0 else k
                if self.lost >= 0 and (self.doubt or self._len + end - i > BODY_CAP):
                    # at the same character however the reply is cut: before a <|"|> in
                    # the same delta is looked at
                    at = i + max(0, BODY_CAP - self._len)
                    self._put_str(data[i:at])
                    self.doubt = True
                    return DOUBT, at, ""
                if k < 0:
                    self._put_str(data[i:end])
                    return MORE, n, data[end:]
                if self.lost >= 0 and self._opens_value(data[i:k]):
                    self.put(data[i:k])
                    return WRONG, k, ""
                self.put(data[i : k + _QLEN])
                self.in_str = False
                self.bare_run = False
                if self.lost >= 0:
                    self._found_opener()
                i = k + _QLEN
                continue
            if self.pq == "'" and not self.py:
                i = self._sq_string(data, i, final)
                if i < 0:
                    return MORE, n, data[-i - 1 :]
                continue
            if self.pq:
                i = self._py_string(data, i, final)
                if i < 0:
                    return MORE, n, data[-i - 1 :]
                continue
            m = (_SCAN_PY if self.py else _SCAN).search(data, i)
            k = n if m is None else m.start()
            if k > i:
                chunk = data[i:k]
                if not self.bare_run and chunk.strip(WS):
                    self.bare_run = True
                    self.bare_at = self._len + len(chunk) - len(chunk.lstrip(WS))
                self.put(chunk)
            if k == n:
                return MORE, n, ""
            ch = data[k]
            if ch == "<":
                return MARKER, k, ""
            if ch in "\"'" and self.py and not final and (ch * 3).startswith(data[k:]):
                return MORE, n, data[k:]  # a quote at the delta's end: maybe three
            self.put(ch)
            i = k + 1
            if ch == "=":
                self.bare_run = False  # the Python form's key=value: a value begins
                continue
            if ch in "\"'" and self._len - 1 != self.skip:
                self.qat = self._len - 1
                if self.py and data.startswith(ch * 2, i):
                    self.pq = ch * 3  # Python's triple-quoted string: it spans lines
                    self.put(ch * 2)
                    i += 2
                elif self.py or not self.bare_run:
                    self.pq = ch  # a JSON (or Python) string where a key or value begins
                else:
                    self.bare_run = True  # a quote inside bare text is text
                continue
            self.bare_run = False
            if ch in "{[(":
                if self.depth <= 0 and ch == "(":
                    self.py = True  # ``call:f(…)`` in a block: the Python form
                self.depth += 1
            elif ch in "}])":
                self.depth -= 1
                if self.depth <= 0:
                    return CLOSED, i, ""
        return MORE, n, ""

    def _put_str(self, text: str) -> None:
        if self.lost >= 0:
            self._note_parens(text)
            if word := text.rstrip(WS):
                self.tail = word[-1]
        self.put(text)

    def _note_parens(self, text: str) -> None:
        opened, closed = text.rfind("("), text.rfind(")")
        if opened != closed:
            self.lost_py = opened > closed

    def _opens_value(self, text: str) -> bool:
        """A ``<|"|>`` after a lost opener's string text ``…text``: it opens a value (it comes
        after ``key:``, a bracket, a comma, or ``key=`` in a Python-form call, this body's or
        a later one's in that text) rather than closing that string. Then the marker read as
        the string's text was a marker, and the call that follows it keeps its own string."""
        self._note_parens(text)
        word = text.rstrip(WS)
        last = word[-1] if word else self.tail
        return last in ":{[(," or (last == "=" and (self.py or self.lost_py))

    def text_char(self, text: str) -> None:
        """Text that is no marker (a lone ``<``): bare text, as a value's words are."""
        if not self.bare_run:
            self.bare_run = True
            self.bare_at = self._len
        self.put(text)

    def maybe_lost_opener(self, marker: str) -> bool:
        """A marker that would end the body comes while a value is bare text: if a ``<|"|>``
        follows, that text was a string whose opening ``<|"|>`` the model left out, and the
        marker is its text. Read on as in such a string (only ``<|"|>`` ends it) and return
        True; the stream reads the span again as markup (:meth:`replay`) if the reply ends
        first. False where no value is open."""
        if self.depth <= 0 or not self.bare_run or self.bare_at < 0 or self.overflow or self.pq:
            return False
        self.lost = self._len
        self.put(marker)
        self.tail = ">"
        self.in_str = True
        return True

    def _found_opener(self) -> None:
        """The ``<|"|>`` closing a lost opener's string came: put the opener back where the
        bare text began, so the call reader reads one sealed string (markers and all)."""
        self.lost = -1
        if not self.overflow:
            text = self.text()
            self._parts = [text[: self.bare_at], QUOTE_TOKEN, text[self.bare_at :]]
            self._len += _QLEN

    def replay(self) -> tuple[Body, str] | None:
        """The reply ended inside a lost opener's string (no ``<|"|>`` came): a fresh body and
        the text to read into it again, the marker now a marker. A quote this body already
        reads as text (:meth:`reread`) stays text: read as a quote again, it would be
        re-read again, and so on forever."""
        if self.lost < 0 or self.overflow:
            return None
        start, depth, py = self.origin
        return Body(start, depth, py, self.skip), "".join(self._parts)[len(start) :]

    def reread(self) -> tuple[Body, str] | None:
        """A ``"…"`` or ``'…'`` string never closed, at the reply's end: a fresh body whose
        opening quote is text, and the text to read into it again (as if that quote were a
        stray apostrophe). None if no such string is open."""
        if not self.pq or self.overflow or self.skip >= 0:
            return None
        start, depth, py = self.origin
        return Body(start, depth, py, skip=self.qat), self.text()[len(start) :]

    def _sq_string(self, data: str, i: int, final: bool) -> int:
        """Inside ``'…'`` of the ``{…}`` form, read as the call reader reads it: a ``'`` ends
        the string only if a separator, a closing bracket or ``<|"|>`` follows it (after
        spaces); backslashes are text. The index to go on from; ``-1 - k`` to hold ``data[k:]``
        (a ``<|"|>`` cut by the delta's end)."""
        n = len(data)
        j = i
        while j < n:
            c = data[j]
            if self.pend:
                if c in WS:
                    j += 1
                    continue
                if c in ",}])" or data.startswith(QUOTE_TOKEN, j):
                    self.put(data[i:j])
                    self.pq = ""
                    self.pend = False
                    self.bare_run = True
                    self.bare_at = -1  # text after a string: no value begins there
                    return j
                if c == "<" and not final and QUOTE_TOKEN.startswith(data[j:]):
                    self.put(data[i:j])
                    return -1 - j
                self.pend = False
            if c == "'":
                self.pend = True
                j += 1
                continue
            k = data.find("'", j)
            j = n if k < 0 else k
        self.put(data[i:n])
        return n

    def _py_string(self, data: str, i: int, final: bool) -> int:
        """Inside a ``"…"`` string (or Python's ``'…'`` or triple-quoted one): the index to go on
        from; ``-1 - k`` to hold ``data[k:]`` (a triple quote cut by the delta's end)."""
        n = len(data)
        q = self.pq
        j = i
        while j < n:
            c = data[j]
            j += 1
            if self.pesc:
                self.pesc = False
            elif c == "\\":
                self.pesc = True
            elif c == q[0] and not data.startswith(q, j - 1):
                if not final and q.startswith(data[j - 1 :]):
                    self.put(data[i : j - 1])
                    return -j
            elif c == q[0]:
                j += len(q) - 1
                self.pq = ""
                self.bare_run = True
                self.bare_at = -1
                break
        self.put(data[i:j])
        return j
