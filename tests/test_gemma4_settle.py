"""The reply's end and the guesses made before it (issue 21, review 21d): a turn always ends,
the same way however the reply is cut.

A string never closed is read again at the reply's end with its quote as text, and a marker
guessed to be a lost opener's string text is read again as markup when no ``<|"|>`` closes
it. Each re-reading has a bound: a body is re-read at most once, and reading it again from
the start never brings back a quote already read as text. Without that a reply could make
``finish()`` spin forever, blocking the event loop so that no timeout fires.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from livekit_plugins_hosted.gemma4 import Gemma4Parser
from tests.test_gemma4 import _feed
from tests.test_gemma4_grammar import TOOLS, Q, _read

ROOT = Path(__file__).parent.parent
HANG = (
    "<|tool_call>call:get_weather(city=it's <tool_call|>Sure, the weather: "
    f"<|tool_call>call:get_weather{{city:{Q}Rome{Q}}}<tool_call|>"
)


class _Spun(Exception):
    pass


def _bounded(pieces: list[str], seconds: float = 5.0) -> tuple[str, int, bool]:
    """Speech, work and whether the turn ended in speech, a call or a reported silence;
    a parser that does not return fails the test (an alarm interrupts it) instead of hanging."""

    def _alarm(*_: object) -> None:
        raise _Spun

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        parser = Gemma4Parser(schemas=TOOLS)
        said, ran = [], 0
        for piece in pieces:
            text, calls = parser.feed(piece)
            said.append(text)
            ran += len(calls)
        text, calls = parser.finish()
        said.append(text)
        ran += len(calls)
        speech = "".join(said)
        return speech, parser.work, bool(speech.strip() or ran) or parser.silent
    except _Spun:
        pytest.fail(f"the parser did not return within {seconds} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize(
    "text",
    [HANG, f"call:f(a=b's <tool_call|>c:{Q}", f"call:f{{a:'b <tool_call|>c:{Q}"],
    ids=["natural", "python-form", "brace-form"],
)
@pytest.mark.parametrize("step", [0, 1], ids=["whole", "by-char"])
def test_a_quote_read_as_text_is_never_read_as_a_quote_again(text: str, step: int) -> None:
    """An apostrophe in a value, then a marker guessed as a lost opener's text that a later
    value's ``<|"|>`` proves wrong: ``finish()`` spun forever (re-reading the body with the
    apostrophe as text, then reading it again from the start with it as a quote). Now the
    turn ends, nothing of the markup is heard, and the work stays a small multiple of the
    reply (each body is re-read a bounded number of times)."""
    pieces = [text] if step == 0 else list(text)
    speech, work, ended = _bounded(pieces)
    assert ended
    assert "<" not in speech and "call:" not in speech
    assert work <= 40 * len(text)


def test_the_llm_turn_ends_after_a_quote_read_as_text() -> None:
    """Through the real LLM stream on the loopback gateway, one character per delta, the
    turn ends (it never did: the blocked loop let no timeout fire). Run in a process of its
    own with a timeout, since a blocked event loop cannot time itself out."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.gemma4_turn", json.dumps(HANG), "1"],
            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("the LLM turn never ended (the parser blocked the event loop)")
    assert done.returncode == 0, done.stderr[-2000:]
    turn = json.loads(done.stdout.strip().splitlines()[-1])
    assert "<" not in turn["said"] and "call:" not in turn["said"]
    assert turn["said"].strip() or turn["calls"] or turn["error"]


def test_a_later_python_form_call_keeps_its_string() -> None:
    """After a value left bare (``{days:3<tool_call|>``), a later call in the Python form
    opens its value with ``=``: ``Sure.`` is heard and search runs, as with ``{query:…}``
    (its ``<|"|>`` was taken for the closer of a lost opener's string and nothing ran)."""
    text = (
        "<|tool_call>call:get_weather{days:3<tool_call|>Sure. "
        f"<|tool_call>call:search(query={Q}Rome{Q})<tool_call|>"
    )
    assert _read(text) == ("Sure.", [("search", {"query": "Rome"})])


BIG = "x " * 17000


def _outcomes(text: str) -> set[tuple[str, str]]:
    seen = set()
    for step in (0, 20000, 4096, 1000, 7, 1):
        pieces = [text] if step == 0 else [text[i : i + step] for i in range(0, len(text), step)]
        speech, calls, _ = _feed(pieces, False, TOOLS)
        got: list[Any] = [(c.name, json.loads(c.arguments)) for c in calls]
        seen.add((" ".join(speech.split()), json.dumps(got)))
    return seen


def test_no_call_runs_after_a_lost_opener_string_past_its_cap_however_cut() -> None:
    """Past 32 KB of a lost opener's string, no later call runs, fed whole or in deltas of
    any size (whole or in 4 KB deltas wire_money ran; in small ones it did not)."""
    text = (
        f"call:save_note{{text:hello <tool_call|> {BIG} "
        f"<|tool_call>call:wire_money{{amount:{Q}9{Q}}}<tool_call|> Done."
    )
    seen = _outcomes(text)
    assert len(seen) == 1, seen
    ((speech, calls),) = seen
    assert "wire_money" not in calls and "<" not in speech


def test_a_lost_opener_string_closed_past_its_cap_ends_the_same_however_cut() -> None:
    """Such a string closed by ``<|"|>`` only past the cap: whole, ``Done.`` was heard and
    search ran; in small deltas the text was heard and search dropped. Now one outcome: at
    the cap the marker is read as markup (the text after it heard as words), and no later
    call runs, since it may be the string's."""
    text = (
        f"call:save_note{{text:hello <tool_call|> {BIG} bye{Q}}} call:search{{query:{Q}a{Q}}} Done."
    )
    seen = _outcomes(text)
    assert len(seen) == 1, seen
    ((speech, calls),) = seen
    assert calls == "[]"
    assert "<" not in speech and "call:" not in speech and speech.endswith("Done.")


@pytest.mark.parametrize("glue", ["|", "|>", ">"])
def test_a_marker_read_as_string_text_keeps_its_glue_however_cut(glue: str) -> None:
    """A marker taken as a lost opener's string text is text: what follows it is the
    string's, whole or cut anywhere (cut after the marker, the next ``|`` was dropped as its
    glue: save_note got a different note depending on the cut)."""
    text = f"<|tool_call>call:save_note{{text:hi <tool_call|>{glue} ok{Q}}}<tool_call|>"
    assert _read(text) == ("", [("save_note", {"text": f"hi <tool_call|>{glue} ok"})])


def test_one_large_delta_of_prose_print_units_reads_without_recursion() -> None:
    """A 16 KB delta of inline ``print(`` read as prose whose re-read meets a lost opener's
    guess reads, and ends in speech (each unit's re-read nested inside the last one's, so
    ``feed`` raised RecursionError and the turn ended in "nested too deeply")."""
    unit = f"print('call:f{{a:hi <tool_call|> k:{Q} "
    speech, _, ended = _bounded(["Say " + unit * 400])
    assert ended and speech.startswith("Say ")
    assert "<" not in speech and "call:" not in speech
