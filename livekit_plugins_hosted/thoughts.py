"""Thought in raw text: kept out of speech as it streams (:class:`ThinkFilter`), and the open
thought of a reply (:func:`open_thought`). Pure, linear in the text, every held buffer capped."""

from __future__ import annotations

from collections.abc import Sequence


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest end of ``text`` that is a proper beginning of ``marker``."""
    for k in range(min(len(text), len(marker) - 1), 0, -1):
        if text.endswith(marker[:k]):
            return k
    return 0


THOUGHT_KEPT = 256 * 1024
"""Characters of a thought kept to continue from (a few minutes of fast thinking): a longer
one is not given back (the question is asked again with thinking off instead), so a server
cannot grow the process by thinking fast."""


class ThinkFilter:
    """Removes thought blocks from streamed text, markers split across chunks included.

    ``markers`` are (start, end) pairs; a block opened by one start ends at that pair's end.
    Text that might be the beginning of a marker is held back until the next chunk shows
    whether it is one; an unterminated thought at the end is dropped, never spoken.

    ``opened``: the prompt itself opened a thought (templates of the DeepSeek-R1 kind end with
    ``<think>\\n``), so the reply starts inside it and only that pair's end marker tells thought
    from answer. If it never comes, the model answered directly: the text is released at the
    end. An end marker with no start before it is never spoken either (:attr:`stray_close`).
    """

    __slots__ = (
        "_buffer",
        "_end",
        "_ends",
        "_held",
        "_implicit",
        "_kept",
        "_leads",
        "_learn",
        "_pairs",
        "stray_close",
    )

    def __init__(
        self,
        markers: Sequence[tuple[str, str]],
        *,
        opened: tuple[str, str] | None = None,
        learn: str | None = None,
    ) -> None:
        if not markers:
            raise ValueError("ThinkFilter needs at least one (start, end) marker pair")
        self._pairs = tuple(markers)
        self._ends = tuple(dict.fromkeys(end for _, end in self._pairs))
        self._leads = "".join(sorted({m[0] for pair in self._pairs for m in pair}))
        self._buffer = ""
        self._end: str | None = opened[1] if opened else None
        """The end marker awaited while inside a thought."""
        self._implicit = opened is not None
        """Inside a thought the prompt opened: kept, released if it never closes."""
        self._kept: list[str] = []
        self._held = 0  # characters in _kept
        self._learn = learn
        self.stray_close = False
        """The ``learn`` end marker came with no start before it: the prompt had opened a
        thought (any stray end marker is dropped; only this one is learned from)."""

    def _hold(self, text: str) -> None:
        """Keep text of a thought the prompt opened, to release if it never closes; past
        :data:`THOUGHT_KEPT` characters it is taken for a thought (dropped, never spoken), so
        a server cannot grow the process by never closing it."""
        self._held += len(text)
        if self._held > THOUGHT_KEPT:
            self._implicit = False
            self._kept = []
        else:
            self._kept.append(text)

    @property
    def held(self) -> int:
        """Characters held to release if the thought the prompt opened never closes."""
        return sum(len(t) for t in self._kept)

    def _plain(self, text: str) -> bool:
        if len(self._leads) == 1:  # every known marker starts with "<": one substring test
            return self._leads not in text
        return not any(c in text for c in self._leads)

    @property
    def inside(self) -> bool:
        """Inside a thought block (one the prompt opened included)."""
        return self._end is not None

    def feed(self, text: str, *, final: bool = False) -> str:
        """The visible part of ``text`` (and of what was held back, when ``final``)."""
        if not self._buffer and self._end is None and not final and self._plain(text):
            return text  # the common case: plain text, nothing held back
        buf = self._buffer + text
        out: list[str] = []
        while buf:
            if self._end is not None:
                i = buf.find(self._end)
                if self._implicit:
                    starts = [j for start, _ in self._pairs if (j := buf.find(start)) >= 0]
                    if starts and (i < 0 or min(starts) < i):
                        # the model opened its own thought inside the one the prompt opened:
                        # it is a thought for certain, never released
                        self._implicit = False
                        self._kept = []
                if i < 0:
                    keep = _partial_suffix(buf, self._end)
                    if self._implicit:  # a start marker split across chunks is held too
                        keep = max(keep, *(_partial_suffix(buf, st) for st, _ in self._pairs))
                        self._hold(buf[: len(buf) - keep])
                    buf = buf[len(buf) - keep :]
                    break
                buf = buf[i + len(self._end) :]
                self._end = None
                self._implicit = False
                self._kept = []
                continue
            found = min(
                ((i, start, end) for start, end in self._pairs if (i := buf.find(start)) >= 0),
                default=None,
            )
            stray = min(((i, end) for end in self._ends if (i := buf.find(end)) >= 0), default=None)
            if stray is not None and (found is None or stray[0] < found[0]):
                i, end = stray
                out.append(buf[:i])
                buf = buf[i + len(end) :]
                self.stray_close = self.stray_close or end == self._learn
                continue
            if found is not None:
                i, start, end = found
                out.append(buf[:i])
                buf = buf[i + len(start) :]
                self._end = end
                continue
            keep = max(_partial_suffix(buf, m) for pair in self._pairs for m in pair)
            out.append(buf[: len(buf) - keep])
            buf = buf[len(buf) - keep :]
            break
        if final:
            if self._end is None:
                out.append(buf)
            elif self._implicit:
                # the thought the prompt opened never closed: the model answered directly
                out.append("".join(self._kept).lstrip() + buf)
            buf, self._end, self._implicit, self._kept = "", None, False, []
        self._buffer = buf
        return "".join(out)


def open_thought(raw: str, markers: Sequence[tuple[str, str]]) -> str:
    """The thought in ``raw`` reply text that has not closed yet, its markers left out: the text
    after the last start marker (all of it when the prompt opened the thought)."""
    found = max(((raw.rfind(start), start) for start, _ in markers), default=(-1, ""))
    at, start = found
    text = raw[at + len(start) :] if at >= 0 else raw
    for _, end in markers:
        text = text.replace(end, "")
    return text.strip()
