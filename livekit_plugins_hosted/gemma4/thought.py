"""The thought states of a Gemma 4 reply: a channel's label, a thought, and an implicit
thought (``in_thought``) that turns out to have been the answer.

    thought := <|channel> LABEL … (<channel|> | a call | <|channel>)   LABEL "thought" or other
    answer  := <|channel> ("response" | "final" | "answer" | "default") … [<channel|>]

A thought is kept, never spoken; only a call in it leaves it (and runs).
"""

from __future__ import annotations

from . import lexer as lx
from .codestate import CodeStates
from .lexer import WS
from .state import (
    _ANSWER,
    _ANSWER_LABELS,
    _LABEL_MAX,
    _THOUGHT,
    _THOUGHT_CAP,
    _THOUGHT_LABEL,
    call_prefix,
)

__all__ = ["LOST_OPENERS", "ThoughtStates"]

LOST_OPENERS = ("channel>", "|channel>")  # <|channel> with its start lost, at the reply's start


class ThoughtStates(CodeStates):
    __slots__ = ()

    def _settle(self) -> None:
        raise NotImplementedError  # the reply's end (:mod:`.stream`)

    def _in_label(self, data: str, i: int, final: bool) -> int:
        n = len(data)
        j = i
        while (
            j < n
            and j - i + len(self._label) <= _LABEL_MAX
            and data[j].isascii()
            and (data[j].isalpha())
        ):
            j += 1
        self._label += data[i:j]
        if j == n and not final and len(self._label) <= _LABEL_MAX:
            return n
        if self._label.lower() in _ANSWER_LABELS:
            self._thought = []  # ``<|channel>response``: the answer's own channel
            self._thought_len = 0
            self._explicit = False
            self._to_answer()
        else:
            self._thought = []
            self._thought_len = 0
            self._state = _THOUGHT
            self._explicit = True
        return j

    def _release_thought(self) -> None:
        """An implicit thought never closed: it was the answer; read it as one (so code in it
        is a call, never spoken), unless it grew past its cap: then the turn ends in an error,
        never in half an answer."""
        text = "".join(self._thought).lstrip(WS)
        over = self._thought_len > _THOUGHT_CAP
        self._thought = []
        self._thought_len = 0
        for lost in LOST_OPENERS:
            if text.startswith(lost):
                text = text[len(lost) :]
                j = 0
                while j <= _LABEL_MAX and j < len(text) and text[j].isascii() and text[j].isalpha():
                    j += 1
                if text[:j].lower() in _ANSWER_LABELS:
                    text = text[j:]  # ``channel>response``: the answer's own channel
                break
        if text.startswith(_THOUGHT_LABEL):
            text = text[len(_THOUGHT_LABEL) :]
        self._seg_start = True
        self._state = _ANSWER
        if not over and text:
            self._work += len(text)  # read once more, as the answer
            self._run(text, final=True)

    def _in_thought(self, data: str, i: int, final: bool) -> int:
        n = len(data)
        k = self._next(data, i, "<")
        c = self._next(data, i, "call:")
        if c < k:
            self._keep(data[i:c])
            self._start_bare(_THOUGHT)
            return c + 5
        if k == n:
            t = 0 if final else call_prefix(data, i)
            self._keep(data[i : n - t])
            if t:
                self._buf = data[n - t :]
            return n
        self._keep(data[i:k])
        kind, length = self._token(data, k)
        if kind == lx.LITERAL:
            self._keep("<")
            return k + 1
        if kind == lx.PARTIAL:
            self._keep(self._hold(data, k, final))
            return n
        end = k + length
        if kind == lx.CH_CLOSE:
            self.saw_thought = True
            self._leave_thought()
            self._to_answer()
        elif kind == lx.TC_OPEN:
            self._start_block(self._leave_thought())
        elif kind == lx.XML_OPEN:
            self._start_head(_THOUGHT)
        elif kind == lx.CH_OPEN:
            self._open_channel()
        elif kind == lx.END:
            if not self._explicit:
                self._settle()
            self._end()
            return n
        return end
