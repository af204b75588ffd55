"""Gemma 4's raw output grammar, parsed as it streams: only the answer is ever released.

A server that does not parse Gemma 4 (vLLM without ``--reasoning-parser gemma4
--tool-call-parser gemma4``, a llama.cpp or Ollama build that does not know the model, a gateway
passing the markers through) puts the model's own grammar in ``delta.content``. A voice agent
speaks ``content``, so :class:`Gemma4Parser` turns that text back into what may be spoken plus
the tool calls. It is pure (stdlib only, no I/O) and holds back only what the grammar requires.

The grammar, as vLLM reads it (``vllm/parser/gemma4.py``, ``vllm/reasoning/gemma4_*``,
``vllm/tool_parsers/gemma4_tool_parser.py``, ``examples/tool_chat_template_gemma4.jinja``):

* thought: ``<|channel>thought\\n…<channel|>`` then the answer. The text inside a channel is
  never spoken, whatever its label.
* a tool call: ``<|tool_call>call:NAME{key:<|"|>text<|"|>,n:2,o:{…},a:[…]}<tool_call|>``;
  ``<|"|>`` quotes strings, numbers, ``true``/``false`` and ``null`` are bare, keys are bare (or
  quoted), calls follow each other with no separator. Also accepted, as vLLM does: the bare
  opener ``<|tool_call>:NAME{…}``, arguments in parentheses ``call:NAME(…)``, a new
  ``<|tool_call>`` or a turn boundary closing the previous call, a call opened straight out of a
  thought (no ``<channel|>``), and a bare ``call:NAME{…}`` (no ``<|tool_call>``) inside a
  thought or at the start of an answer (only there: mid-sentence it is spoken like any text).
  The arguments become a JSON object with ``json.dumps``. A malformed body is dropped, never
  spoken (a half-understood call could run a function with wrong arguments; the transcript
  shows no call, which the agent can recover from).
* turn boundaries: ``<|turn>``, ``<turn|>``, ``<|tool_response>``, ``<tool_response|>``,
  ``<eos>`` (and Gemma 3's ``<start_of_turn>``/``<end_of_turn>``) end the reply: nothing after
  them is spoken and :attr:`Gemma4Parser.ended` turns true.
* any other special token (``<|"|>`` outside a call, ``<|think|>``, ``<|image|>``, a stray
  ``<channel|>`` or ``<tool_call|>``, ``<bos>``, ``<pad>``, anything shaped ``<|x>``, ``<x|>``
  or ``<|x|>``) is dropped, and so is a ``<|`` that starts none (only special tokens start so).
  Other angle brackets (``3 < 5``, ``<b>``) are spoken.

What is held back, and for how long:

* In an answer, only a ``<`` that could still begin a marker (``<``, ``<|tool_ca``…), at most
  35 characters, until the next character decides. A chunk with no ``<`` in an answer already
  under way costs one ``in`` test (the fast path).
* At the start of each answer segment (the reply's start, after ``<channel|>``, after a call),
  leading whitespace is dropped and a start that could still be ``call:NAME{`` is held
  (``c``, ``ca``… only while it matches; a reply starting "Sure" is released at once). At the
  reply's start, a start that could still be ``thought\\n`` is held too: vLLM treats a reply
  that begins with the bare label as a thought whose ``<|channel>`` the server lost.
* ``in_thought=True``: the prompt ends inside an open thought. The official Gemma 4 templates
  end the prompt with ``<|channel>thought\\n`` after a tool result when thinking is on (vLLM
  issues #45834, #49717; vLLM's own ``examples/`` template writes nothing there, and a closed
  empty ``<|channel>thought\\n<channel|>`` when thinking is off). So pass it only for that
  prompt shape: elsewhere it would only delay a direct answer. The reply starts inside the
  thought. A thought body has no prefix of its own (its label is
  already in the prompt), so only the next marker tells thought from answer: ``<channel|>``
  (the text was thought: dropped, the answer follows and streams), ``<|tool_call>`` or
  ``call:NAME{`` (thought: dropped), ``<|channel>`` (the model opened its own thought). If
  none comes before a turn boundary or the end of the stream, the model answered directly
  without closing the channel (#49717): the whole text is released then, so a direct answer
  is heard, but only once the reply is complete. That is the grammar's price: the first word
  of a direct answer waits for the whole reply; a thought followed by ``<channel|>`` costs
  nothing extra. Only a thought opened by an explicit ``<|channel>`` in the reply, or one that
  begins with the bare label ``thought\\n`` (a server that dropped the ``<|channel>`` token), is
  known to be a thought, so only those are dropped when they never close: speaking a thought
  is the one outcome a caller must never hear.

``finish()`` releases what is still held if it is speakable: a cut-off marker (one with ``|``,
or a known marker's beginning such as ``<tool_ca`` or ``<eo``) or ``call:…`` is dropped, a
lone ``<``, ``<3`` or ``thou`` is spoken; an unterminated
explicit thought is dropped; an unterminated call is parsed if its body is complete (a server
may stop on ``<tool_call|>`` and strip it) and dropped otherwise (truncated arguments).

Not handled: a server that strips the special tokens themselves (``skip_special_tokens``)
leaves no markers to find, so a thought there cannot be told from the answer.
"""

from __future__ import annotations

import re

from .gemma4_calls import NAME, QUOTE_TOKEN, WS, ToolCall, parse_call

__all__ = ["Gemma4Parser", "ToolCall", "parse_call"]


# Parser states.
_ANSWER = 0
_THOUGHT = 1
_CALL = 2
_ENDED = 3
_DONE = 4  # finish() was called

# What a complete ``<…>`` token means.
_LITERAL = 0  # not a marker: the ``<`` is text
_DROP = 1  # a special token with no meaning here: dropped
_CH_OPEN = 2
_CH_CLOSE = 3
_TC_OPEN = 4
_TC_CLOSE = 5
_QUOTE = 6
_END = 7
_PARTIAL = -1  # could still become a marker: hold it

_MARKERS = {
    "<|channel>": _CH_OPEN,
    "<channel|>": _CH_CLOSE,
    "<|tool_call>": _TC_OPEN,
    "<tool_call|>": _TC_CLOSE,
    QUOTE_TOKEN: _QUOTE,
    "<|turn>": _END,
    "<turn|>": _END,
    "<|tool_response>": _END,
    "<tool_response|>": _END,
    "<eos>": _END,
    "<start_of_turn>": _END,
    "<end_of_turn>": _END,
    "<bos>": _DROP,
    "<pad>": _DROP,
}
# Every marker is ``<`` + optional ``|`` + a short name + optional ``|`` + ``>``.
_TOKEN_RE = re.compile(r'<(\|?)([A-Za-z0-9_"]{1,32})(\|?)>')
_TOKEN_PARTIAL_RE = re.compile(r'<\|?[A-Za-z0-9_"]{0,32}\|?\Z')

_BARE_CALL_RE = re.compile(r"call:" + NAME + r"{1,128}\{")
_BARE_CALL_PARTIAL_RE = re.compile(r"(?:c|ca|cal|call|call:" + NAME + r"{0,128})\Z")
_CALL_SCAN_RE = re.compile(r"[<{}\[\]]")
_LABEL = "thought\n"


def _speakable_at_end(held: str) -> bool:
    """A possible marker's beginning left at the end of the stream: is it text to speak?"""
    return "|" not in held and not (len(held) > 1 and any(m.startswith(held) for m in _MARKERS))


def _token(data: str, k: int) -> tuple[int, int]:
    """What the ``<`` at ``data[k]`` starts: ``(kind, length)``."""
    m = _TOKEN_RE.match(data, k)
    if m is not None:
        kind = _MARKERS.get(m.group(0))
        if kind is None:
            kind = _DROP if (m.group(1) or m.group(3)) else _LITERAL
        return kind, m.end() - k
    if _TOKEN_PARTIAL_RE.match(data, k) is not None:
        return _PARTIAL, 0
    if data.startswith("<|", k):
        return _DROP, 2  # only special tokens start so: never speech
    if data.startswith("<<|", k):
        return _DROP, 1  # a "<" glued to a special token: dropping either must not make "<|"
    if k == len(data) - 2 and data[-1] == "<":
        return _PARTIAL, 0  # "<<" at the end: the second may begin "<|"
    return _LITERAL, 1


class Gemma4Parser:
    """Streaming parser of one Gemma 4 reply: ``feed`` each text delta, then ``finish``.

    Each call returns the text that may be spoken now (possibly ``""``) and the tool calls
    completed now. See the module docstring for the grammar and what is held back.
    """

    __slots__ = (
        "_bare",
        "_buf",
        "_call",
        "_calls",
        "_depth",
        "_explicit",
        "_fast",
        "_first",
        "_in_str",
        "_out",
        "_seg_start",
        "_spoke",
        "_state",
        "_tail_ws",
        "_thought",
        "saw_thought",
    )

    def __init__(self, *, in_thought: bool = False, schemas: object = None) -> None:
        # in_thought=True: the prompt ended with a tool result (an open thought channel), so the
        # reply may start inside a thought.
        self._state = _THOUGHT if in_thought else _ANSWER
        self._buf = ""  # input not yet decided (a possible marker's beginning)
        self._seg_start = True  # an answer segment with nothing spoken yet
        self._spoke = False  # anything of the reply was released
        self.saw_thought = False
        """A thought marker came in the text: the server passes Gemma 4's raw thought through."""
        self._tail_ws = False  # the last released character was whitespace
        self._fast = False  # answer under way, nothing held: a chunk without "<" goes straight out
        self._first = not in_thought  # the reply's very start (a bare "thought\n" is possible)
        self._explicit = False  # the current thought was opened by <|channel> in the reply
        self._thought: list[str] = []  # an implicit thought's text, released if never closed
        self._call: list[str] = []  # the current call's raw body
        self._bare = False  # the current call had no <|tool_call> opener
        self._depth = 0
        self._in_str = False
        self._out: list[str] = []
        self._calls: list[ToolCall] = []

    @property
    def ended(self) -> bool:
        """A turn-boundary token was seen; later input is ignored."""
        return self._state == _ENDED

    def feed(self, text: str) -> tuple[str, list[ToolCall]]:
        """Take one text delta; return the speakable text released now and calls completed."""
        if self._fast and "<" not in text:
            if text:
                self._tail_ws = text[-1] in WS
            return text, []
        if self._state >= _ENDED:
            return "", []
        data = self._buf + text if self._buf else text
        self._buf = ""
        self._run(data, final=False)
        self._fast = self._state == _ANSWER and not self._buf and not self._seg_start
        return self._take()

    def finish(self) -> tuple[str, list[ToolCall]]:
        """End of stream: release what is held if speakable, close or drop an open call."""
        if self._state >= _ENDED:
            return "", []
        data, self._buf = self._buf, ""
        if data:
            self._run(data, final=True)
        if self._state == _THOUGHT:
            if not self._explicit:
                self._release_thought()
        elif self._state == _CALL:
            self._close_call()
        if self._state != _ENDED:
            self._state = _DONE
        self._fast = False
        return self._take()

    # -- machinery -------------------------------------------------------------------------

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

    def _run(self, data: str, *, final: bool) -> None:
        i, n = 0, len(data)
        while i < n:
            state = self._state
            if state == _ANSWER:
                i = self._answer(data, i, final)
            elif state == _THOUGHT:
                i = self._in_thought(data, i, final)
            elif state == _CALL:
                i = self._in_call(data, i, final)
            else:
                return

    def _end(self) -> None:
        self._state = _ENDED
        self._buf = ""

    def _to_answer(self) -> None:
        self._state = _ANSWER
        self._seg_start = True

    def _emit(self, text: str) -> None:
        if self._seg_start:
            text = text.lstrip(WS)
            if not text:
                return
            self._seg_start = False
            self._first = False
            self._join()
        self._spoke = True
        self._tail_ws = text[-1] in WS
        self._out.append(text)

    def _join(self) -> None:
        """A segment after a thought or a call begins: the words either side stay apart."""
        if self._spoke and not self._tail_ws:
            self._out.append(" ")
            self._tail_ws = True

    # -- answer ----------------------------------------------------------------------------

    def _answer(self, data: str, i: int, final: bool) -> int:
        n = len(data)
        if self._seg_start:
            j = i
            while j < n and data[j] in WS:
                j += 1
            if j == n:
                return n  # only whitespace so far: nothing to say yet
            i = j
            if data[j] != "<":
                if self._first:
                    if data.startswith(_LABEL, j):
                        # a thought whose <|channel> the server dropped: its label says what
                        # it is, so it is never spoken, closed or not
                        self.saw_thought = True
                        self._first = False
                        self._state = _THOUGHT
                        self._explicit = True
                        return j + len(_LABEL)
                    if not final and _LABEL.startswith(data[j:]):
                        self._buf = data[j:]
                        return n
                if _BARE_CALL_RE.match(data, j) is not None:
                    self._start_call(bare=True)
                    return j
                if _BARE_CALL_PARTIAL_RE.match(data, j) is not None:
                    if not final:
                        self._buf = data[j:]
                        return n
                    if "call:" in data[j:]:
                        return n  # a call's name cut off by the end: tool syntax, not speech
                self._seg_start = False
                self._first = False
                self._join()
        k = data.find("<", i)
        if k < 0:
            self._emit(data[i:])
            return n
        if k > i:
            self._emit(data[i:k])
        kind, length = _token(data, k)
        if kind == _LITERAL:
            self._emit("<")
            return k + 1
        if kind == _PARTIAL:
            if not final:
                self._buf = data[k:]
            elif _speakable_at_end(data[k:]):
                self._emit(data[k:])
            return n
        end = k + length
        if kind == _CH_OPEN:
            self.saw_thought = True
            self._state = _THOUGHT
            self._explicit = True
            self._first = False
        elif kind == _TC_OPEN:
            self._start_call(bare=False)
        elif kind == _END:
            self._end()
            return n
        elif kind in (_CH_CLOSE, _TC_CLOSE):
            self._seg_start = True  # a stray closer: what follows starts afresh (as in vLLM)
            self._tail_ws = True  # but it removed no words, so it adds no space
        return end

    # -- thought ---------------------------------------------------------------------------

    def _keep(self, text: str) -> None:
        if text and not self._explicit:
            self._thought.append(text)

    def _release_thought(self) -> None:
        """An implicit thought never closed: it was the answer; speak it."""
        text = "".join(self._thought).lstrip(WS)
        self._thought = []
        if text.startswith(_LABEL):
            text = text[len(_LABEL) :]
        self._seg_start = True
        self._emit(text)

    def _in_thought(self, data: str, i: int, final: bool) -> int:
        n = len(data)
        while i < n:
            k = data.find("<", i)
            stop = n if k < 0 else k
            c = data.find("call:", i, stop)
            if c >= 0:
                self._keep(data[i:c])
                if _BARE_CALL_RE.match(data, c) is not None:
                    self._thought = []
                    self._start_call(bare=True)
                    return c
                if not final and _BARE_CALL_PARTIAL_RE.match(data, c) is not None:
                    self._buf = data[c:]
                    return n
                self._keep("call:")
                i = c + 5
                continue
            if k < 0:
                if not final:
                    for t in (4, 3, 2, 1):
                        if data.endswith("call"[:t]) and n - t >= i:
                            self._keep(data[i : n - t])
                            self._buf = data[n - t :]
                            return n
                self._keep(data[i:])
                return n
            self._keep(data[i:k])
            kind, length = _token(data, k)
            if kind == _LITERAL:
                self._keep("<")
                i = k + 1
                continue
            if kind == _PARTIAL:
                if not final:
                    self._buf = data[k:]
                elif _speakable_at_end(data[k:]):
                    self._keep(data[k:])
                return n
            i = k + length
            if kind == _CH_CLOSE:
                self.saw_thought = True
                self._thought = []
                self._explicit = False
                self._to_answer()
                return i
            if kind == _TC_OPEN:
                self._thought = []
                self._explicit = False
                self._start_call(bare=False)
                return i
            if kind == _CH_OPEN:
                self._thought = []
                self._explicit = True
            elif kind == _END:
                if not self._explicit:
                    self._release_thought()
                self._end()
                return n
        return n

    # -- tool call -------------------------------------------------------------------------

    def _start_call(self, *, bare: bool) -> None:
        self._state = _CALL
        self._bare = bare
        self._call = []
        self._depth = 0
        self._in_str = False
        self._first = False

    def _close_call(self) -> None:
        body = "".join(self._call)
        self._call = []
        call = parse_call(body)
        if call is not None:
            self._calls.append(call)

    def _in_call(self, data: str, i: int, final: bool) -> int:
        n = len(data)
        body = self._call
        while i < n:
            if self._in_str:
                k = data.find("<", i)
            else:
                m = _CALL_SCAN_RE.search(data, i)
                k = -1 if m is None else m.start()
            if k < 0:
                body.append(data[i:])
                return n
            if k > i:
                body.append(data[i:k])
            ch = data[k]
            if ch != "<":
                body.append(ch)
                i = k + 1
                if ch == "{" or ch == "[":
                    self._depth += 1
                else:
                    self._depth -= 1
                    if self._bare and self._depth == 0 and ch == "}":
                        self._close_call()
                        self._to_answer()
                        return i
                continue
            kind, length = _token(data, k)
            if kind == _PARTIAL:
                if not final:
                    self._buf = data[k:]
                return n  # at the end, a cut-off marker adds nothing to the body
            if kind == _LITERAL:
                body.append("<")
                i = k + 1
                continue
            end = k + length
            if kind == _QUOTE:
                self._in_str = not self._in_str
                body.append(QUOTE_TOKEN)
            elif kind == _TC_CLOSE:
                self._close_call()
                self._to_answer()
                return end
            elif kind == _END:
                self._close_call()
                self._end()
                return n
            elif kind == _TC_OPEN:
                self._close_call()
                self._start_call(bare=False)
                body = self._call
            else:
                body.append(data[k:end])  # no place in a call: the body will not parse
            i = end
        return n
