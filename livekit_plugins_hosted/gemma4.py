"""Gemma 4's raw output grammar, parsed as it streams: only the answer is ever released.

A server that does not parse Gemma 4 (vLLM without ``--reasoning-parser gemma4
--tool-call-parser gemma4``, a llama.cpp or Ollama build that does not know the model, a gateway
passing the markers through) puts the model's own grammar in ``delta.content``. A voice agent
speaks ``content``, so :class:`Gemma4Parser` turns that text back into what may be spoken plus
the tool calls. It is pure (stdlib only, no I/O) and holds back only what the grammar requires.
The invariant: a reply ends in speech with no markup, in tool calls, or (``silent``) in nothing
the caller can hear, which the stream layer reports as an error; never markup or thought spoken.

The grammar, as vLLM reads it (``vllm/parser/gemma4.py``, ``vllm/reasoning/gemma4_*``,
``vllm/tool_parsers/gemma4_tool_parser.py``, ``examples/tool_chat_template_gemma4.jinja``),
read as tolerantly as the most tolerant peer (vLLM's fallback tier, Ollama's repairs):

* thought: ``<|channel>thought\\n…<channel|>`` then the answer. The text inside a channel is
  never spoken, whatever its label.
* a tool call: ``<|tool_call>call:NAME{key:<|"|>text<|"|>,n:2,o:{…},a:[…]}<tool_call|>`` (the
  body grammar and its repairs: :mod:`.gemma4_calls`). Also read as calls: the bare opener
  ``<|tool_call>:NAME{…}``, a stray colon (``<|tool_call>:call:NAME{…}``), a new
  ``<|tool_call>`` or a turn boundary closing the previous call, a call opened straight out of
  a thought, a bare ``call:NAME{…}`` (no ``<|tool_call>``) anywhere (in a thought, at the
  start of an answer, mid-reply: ``call:NAME{`` is never speech), and the fragments a
  regressing model writes: ``<call>NAME{…}`` and
  ``<tool_call>NAME{…}</tool_call>`` (only if call syntax follows the tag; plain words after
  it are spoken, a ``{``/``[`` block is dropped). A body that cannot be read is dropped, never
  spoken (a half-understood call could run a function with wrong arguments).
* turn boundaries: ``<|turn>``, ``<turn|>``, ``<|tool_response>``, ``<tool_response|>``,
  ``<eos>`` (and Gemma 3's ``<start_of_turn>``/``<end_of_turn>``, and ``<turn>`` with its pipes
  lost; ``<channel>`` so is a thought's start) end the reply: nothing after
  them is spoken and :attr:`Gemma4Parser.ended` turns true.
* any other special token (``<|"|>`` outside a call, ``<|think|>``, ``<|image|>``, a stray
  ``<channel|>``, ``<tool_call|>`` or ``</tool_call>``, ``<bos>``, ``<pad>``, ``<unk>``,
  ``<mask>``, ``<start_of_image>``, ``<end_of_audio>``…, anything shaped ``<|x>``, ``<x|>`` or
  ``<|x|>``) is dropped, and so is a ``<|`` that starts none. A dropped token removes no words
  and adds no space (``sunny<channel|> in`` is heard ``sunny in``). Other angle brackets
  (``3 < 5``, ``<b>``) are spoken.

What is held back, and for how long:

* In an answer, only a ``<`` that could still begin a marker (``<``, ``<|tool_ca``…, at most 35
  characters) and what could still begin ``call:NAME{`` (a final ``c``, ``ca``…,
  ``call:get_wea``, only while it matches), until the next characters decide. A chunk with no
  ``<`` and no ``call:`` in an answer under way that cannot end in ``c``…``call`` goes straight
  out (the fast path: two substring tests and a look at the last character).
* At the start of each answer segment (the reply's start, after ``<channel|>``, after a call),
  leading whitespace is dropped. At the reply's start, a start that could still be
  ``thought\\n`` is held: vLLM treats a reply that begins with the bare label as a thought whose
  ``<|channel>`` the server lost.
* ``in_thought=True``: the prompt ends inside an open thought (the official templates end it
  with ``<|channel>thought\\n`` after a tool result when thinking is on: vLLM issues #45834,
  #49717), so pass it only for that prompt shape. Only the next marker tells thought from
  answer: ``<channel|>`` (thought: dropped, the answer streams), a call (thought: dropped),
  ``<|channel>``. If none comes before a turn boundary or the end, the model answered directly
  without closing the channel (#49717): the text is released then, whole. A thought opened by
  ``<|channel>`` in the reply, or begun by the bare label ``thought\\n``, is known to be one and
  is dropped even if it never closes: speaking a thought is never acceptable.

``finish()`` releases what is still held if it is speakable: a cut-off marker (one with ``|``,
or a known marker's beginning such as ``<tool_ca``) or ``call:…`` is dropped, a lone ``<``,
``<3`` or ``thou`` is spoken; an unterminated call is parsed if its body is complete (a server
may stop on ``<tool_call|>`` and strip it) and dropped otherwise (truncated arguments).

Not handled: a server that strips the special tokens themselves (``skip_special_tokens``)
leaves no markers to find, so a thought there cannot be told from the answer.
"""

from __future__ import annotations

import re

from . import gemma4_calls as g
from .gemma4_calls import NAME, QUOTE_TOKEN, WS, Schemas, ToolCall, parse_call

__all__ = ["Gemma4Parser", "ToolCall", "parse_call"]


# Parser states.
_ANSWER = 0
_THOUGHT = 1
_CALL = 2
_ENDED = 3
_DONE = 4  # finish() was called

# What a bare ``call:`` at a word start turns out to be.
_NO_CALL = 0
_CALL_STARTS = 1
_MAYBE_CALL = 2  # could still become one: hold it
_CUT_CALL = 3  # a call's name cut off (by the end or a marker): tool syntax, dropped

_BARE_CALL_RE = re.compile(r"(?:call:)+" + NAME + r"{1,128}\{")
_CALL_NAME_RE = re.compile(r"(?:call:)+" + NAME + r"{0,128}")
_BARE_CALL_PARTIAL_RE = re.compile(r"(?:c|ca|cal|call|(?:call:)+" + NAME + r"{0,128})\Z")
# After <call> / <tool_call>: call syntax (the prefix, if any, says whether "call:" is there).
_XML_HEAD_RE = re.compile(r"\s*(:?\s*(?:call\s*)?:\s*)?" + NAME + r"{1,128}\s*[{(]")
_XML_HEAD_PARTIAL_RE = re.compile(
    r"\s*:?\s*" + NAME + r"{0,128}(?:\s*:\s*" + NAME + r"{0,128})?\s*\Z"
)
_CALL_SCAN_RE = re.compile(r"[<{}\[\]]")
_LABEL = "thought\n"
_MARK = ">"  # what a dropped marker leaves as "the last character": not a space


class Gemma4Parser:
    """Streaming parser of one Gemma 4 reply: ``feed`` each text delta, then ``finish``.

    Each call returns the text that may be spoken now (possibly ``""``) and the tool calls
    completed now. ``schemas`` maps tool names to their JSON-schema ``parameters`` (as OpenAI
    tool definitions carry them): a known tool's argument values are typed from it. See the
    module docstring for the grammar and what is held back.
    """

    __slots__ = (
        "_after",
        "_bare",
        "_buf",
        "_call",
        "_calls",
        "_depth",
        "_explicit",
        "_fast",
        "_first",
        "_head",
        "_in_str",
        "_last",
        "_ncalls",
        "_out",
        "_resume",
        "_schemas",
        "_seg_start",
        "_spoke",
        "_state",
        "_thought",
        "saw_thought",
    )

    def __init__(self, *, in_thought: bool = False, schemas: Schemas | None = None) -> None:
        # in_thought=True: the prompt ended with a tool result (an open thought channel), so the
        # reply may start inside a thought.
        self._state = _THOUGHT if in_thought else _ANSWER
        self._schemas = schemas
        self._buf = ""  # input not yet decided (a possible marker's or call's beginning)
        self._seg_start = True  # an answer segment with nothing spoken yet
        self._spoke = False  # anything of the reply was released
        self._ncalls = 0
        self.saw_thought = False
        """A thought marker came in the text: the server passes Gemma 4's raw thought through."""
        self._last = ""  # the last answer character consumed (_MARK after a dropped marker)
        self._fast = False  # answer under way, nothing held: a plain chunk goes straight out
        self._first = not in_thought  # the reply's very start (a bare "thought\n" is possible)
        self._explicit = False  # the current thought was opened by <|channel> in the reply
        self._thought: list[str] = []  # an implicit thought's text, released if never closed
        self._call: list[str] = []  # the current call's raw body
        self._bare = False  # the current call closes with its braces (no closing token needed)
        self._head = False  # after <call>/<tool_call>: call syntax not seen yet
        self._after = _ANSWER  # where a completed call goes: back into an explicit thought
        self._resume = _ANSWER  # where a <call>/<tool_call> that is no call goes back to
        self._depth = 0
        self._in_str = False
        self._out: list[str] = []
        self._calls: list[ToolCall] = []

    @property
    def ended(self) -> bool:
        """A turn-boundary token was seen; later input is ignored."""
        return self._state == _ENDED

    @property
    def thinking(self) -> bool:
        """Inside a thought the model opened with its marker (one the prompt may have opened
        is not counted: the model may be answering in it)."""
        return self._state == _THOUGHT and self._explicit

    @property
    def silent(self) -> bool:
        """The reply is over (``finish()`` or a turn boundary) and gave neither speech nor a call.

        A voice turn must never end so without an error: the stream layer reports it."""
        return self._state >= _ENDED and not self._spoke and not self._ncalls

    def feed(self, text: str) -> tuple[str, list[ToolCall]]:
        """Take one text delta; return the speakable text released now and calls completed."""
        if self._fast and "<" not in text and "call:" not in text:
            if not text:
                return "", []
            last = text[-1]
            if last not in "cal" or "c" not in text[-4:]:  # else it may end in "c"…"call"
                self._last = last
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
            if self._spoke and self._last not in WS:
                # a segment after a thought or a call: the words either side stay apart
                self._out.append(" ")
        self._spoke = True
        self._last = text[-1]
        self._out.append(text)

    def _hold(self, data: str, k: int, final: bool) -> str:
        """A possible marker's beginning at ``data[k:]`` (the end of the input): held until the
        next delta decides; at the end of the stream, what of it is speakable."""
        if not final:
            self._buf = data[k:]
            return ""
        return data[k:] if g.speakable_at_end(data[k:]) else ""

    def _bare_call(self, data: str, i: int, stop: int, final: bool) -> tuple[int, int]:
        """The first bare ``call:NAME{`` in ``data[i:stop]``, or its beginning at the end of
        the input. Anywhere, even glued to a word: ``call:NAME{`` is never speech, and a
        rule that looked at the previous word would hear a split stream differently."""
        n = len(data)
        c = data.find("call:", i, stop)
        while c >= 0:
            if _BARE_CALL_RE.match(data, c) is not None:
                return c, _CALL_STARTS
            if stop == n and _BARE_CALL_PARTIAL_RE.match(data, c) is not None:
                return c, _CUT_CALL if final else _MAYBE_CALL
            if stop < n and _CALL_NAME_RE.fullmatch(data, c, stop) is not None:
                return c, _CUT_CALL  # "call:NAME" cut by a marker: tool syntax all the same
            c = data.find("call:", c + 1, stop)
        if stop == n and not final:
            for t in (4, 3, 2, 1):
                if n - t >= i and data.endswith("call"[:t]):
                    return n - t, _MAYBE_CALL
        return -1, _NO_CALL

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
            if self._first and data[j] != "<":
                if data.startswith(_LABEL, j):
                    # a thought whose <|channel> the server dropped: its label says what it
                    # is, so it is never spoken, closed or not
                    self.saw_thought = True
                    self._first = False
                    self._state = _THOUGHT
                    self._explicit = True
                    return j + len(_LABEL)
                if not final and _LABEL.startswith(data[j:]):
                    self._buf = data[j:]
                    return n
        k = data.find("<", i)
        stop = n if k < 0 else k
        c, found = self._bare_call(data, i, stop, final)
        if found:
            if c > i:
                self._emit(data[i:c])
            if found == _CALL_STARTS:
                self._start_call(bare=True)
                return c
            if found == _MAYBE_CALL:
                self._buf = data[c:]
                return n
            return stop
        if k < 0:
            self._emit(data[i:])
            return n
        if k > i:
            self._emit(data[i:k])
        kind, length = g.token(data, k)
        if kind == g.LITERAL:
            self._emit("<")
            return k + 1
        if kind == g.PARTIAL:
            if held := self._hold(data, k, final):
                self._emit(held)
            return n
        if kind == g.CH_OPEN:
            self.saw_thought = True
            self._state = _THOUGHT
            self._explicit = True
            self._first = False
        elif kind == g.TC_OPEN or kind == g.XML_OPEN:
            self._start_call(bare=kind == g.XML_OPEN, head=kind == g.XML_OPEN)
        elif kind == g.END:
            self._end()
            return n
        else:
            self._last = _MARK  # dropped: what follows may start a word, but glues on
        return k + length

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

    def _leave_thought(self) -> None:
        self._thought = []
        self._explicit = False

    def _in_thought(self, data: str, i: int, final: bool) -> int:
        n = len(data)
        while i < n:
            k = data.find("<", i)
            stop = n if k < 0 else k
            c, found = self._bare_call(data, i, stop, final)
            if found:
                self._keep(data[i:c])
                if found == _CALL_STARTS:
                    after = self._thought_after_call()
                    self._leave_thought()
                    self._start_call(bare=True, after=after)
                    return c
                if found == _MAYBE_CALL:
                    self._buf = data[c:]
                    return n
                i = stop
                continue
            if k < 0:
                self._keep(data[i:])
                return n
            self._keep(data[i:k])
            kind, length = g.token(data, k)
            if kind == g.LITERAL:
                self._keep("<")
                i = k + 1
                continue
            if kind == g.PARTIAL:
                self._keep(self._hold(data, k, final))
                return n
            i = k + length
            if kind == g.CH_CLOSE:
                self.saw_thought = True
                self._leave_thought()
                self._to_answer()
                return i
            if kind == g.TC_OPEN:
                after = self._thought_after_call()
                self._leave_thought()
                self._start_call(bare=False, after=after)
                return i
            if kind == g.XML_OPEN:
                after = self._thought_after_call()
                self._start_call(bare=True, head=True, resume=_THOUGHT, after=after)
                return i
            if kind == g.CH_OPEN:
                self._thought = []
                self._explicit = True
            elif kind == g.END:
                if not self._explicit:
                    self._release_thought()
                self._end()
                return n
        return n

    # -- tool call -------------------------------------------------------------------------

    def _thought_after_call(self) -> int:
        """Where a call opened inside the current thought leads once complete: back into the
        thought if the reply opened it (only ``<channel|>`` ends that one: what follows the
        call is still thought, never spoken), else to the answer."""
        return _THOUGHT if self._explicit else _ANSWER

    def _call_done(self) -> None:
        if self._after == _THOUGHT:
            self._state = _THOUGHT
            self._explicit = True
            self._thought = []
        else:
            self._to_answer()

    def _start_call(
        self, *, bare: bool, head: bool = False, resume: int = _ANSWER, after: int = _ANSWER
    ) -> None:
        self._state = _CALL
        self._bare = bare
        self._head = head
        self._resume = resume
        self._after = after
        self._call = []
        self._depth = 0
        self._in_str = False
        self._first = False

    def _close_call(self) -> None:
        body = "".join(self._call)
        self._call = []
        call = parse_call(body, self._schemas)
        if call is not None:
            self._ncalls += 1
            self._calls.append(call)

    def _check_head(self, data: str, i: int, final: bool) -> int:
        """After ``<call>``/``<tool_call>``: a call only if call syntax follows the tag."""
        n = len(data)
        m = _XML_HEAD_RE.match(data, i)
        if m is not None:
            self._head = False
            if self._resume == _THOUGHT:
                self._leave_thought()
            if not m.group(1):
                self._call.append("call:")  # ``<call>NAME{…}``: the tag stood for "call:"
            return i
        if not final and _XML_HEAD_PARTIAL_RE.match(data, i) is not None:
            self._buf = data[i:]
            return n
        self._head = False
        j = i
        while j < n and data[j] in WS:
            j += 1
        if j < n and data[j] in "{[":
            self._bare = False  # a JSON block in a tool tag: markup, read to its closer, dropped
            return i
        self._state = self._resume  # words after a tag: the tag was markup, the words are not
        self._last = _MARK
        return i

    def _in_call(self, data: str, i: int, final: bool) -> int:
        if self._head:
            i = self._check_head(data, i, final)
            if self._state != _CALL or self._head:
                return i
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
                        self._call_done()
                        return i
                continue
            kind, length = g.token(data, k)
            if kind == g.PARTIAL:
                self._hold(data, k, final)  # at the end, a cut-off marker adds nothing
                return n
            if kind == g.LITERAL:
                body.append("<")
                i = k + 1
                continue
            end = k + length
            if kind == g.QUOTE:
                self._in_str = not self._in_str
                body.append(QUOTE_TOKEN)
            elif kind == g.TC_CLOSE:
                self._close_call()
                self._call_done()
                return end
            elif kind == g.END:
                self._close_call()
                self._end()
                return n
            elif kind == g.TC_OPEN or kind == g.XML_OPEN:
                self._close_call()
                self._start_call(
                    bare=kind == g.XML_OPEN, head=kind == g.XML_OPEN, after=self._after
                )
                return end
            else:
                body.append(data[k:end])  # no place in a call: the body will not parse
            i = end
        return n
