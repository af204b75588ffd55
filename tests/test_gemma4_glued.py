"""Gemma 4 markers with the model's own ``<`` and ``|`` glued around them (issue 21).

A model that drops or mangles a marker's pipe often leaves the pieces beside the tag it did
write: ``<</tool_call>|``, ``<<|tool_call>|``, ``<tool_call|>|>``, ``|<|tool_call>``. None of
the peers read these (vLLM, llama.cpp, SGLang and Ollama match the exact tags; Ollama only
drops a repeated ``<tool_call|>`` after a call), so their leftovers reach the listener. Here a
run of up to three more ``<`` before a marker, up to two of ``|``/``>`` after it and one ``|``
right before it are the marker's markup: never spoken, and the call around them runs. Text
with the same characters and no marker next to them is spoken as written.

Each reply is streamed whole, one character at a time and cut at every single point.
"""

from __future__ import annotations

import json

import pytest

from livekit_plugins_hosted.gemma4 import Gemma4Parser
from tests.test_gemma4 import _feed
from tests.test_gemma4_grammar import TOOLS, Q, _read

PARIS = ("get_weather", {"city": "Paris"})
CALL = f"call:get_weather{{city:{Q}Paris{Q}}}"


@pytest.mark.parametrize(
    "text",
    [
        f"Sure. {CALL}<</tool_call>| Done.",
        f"Sure. {CALL}<</tool_call>|> Done.",
        f"Sure. <|tool_call>{CALL}<</tool_call>| Done.",
        f"Sure. <|tool_call>{CALL}<</tool_call>|> Done.",
        f"Sure. <<|tool_call>|{CALL}<tool_call|>|> Done.",
        f"Sure. <|tool_call>{CALL}<tool_call|>> Done.",
        f"Sure. <|tool_call>{CALL}|<tool_call|>| Done.",
        f"Sure. |<|tool_call>{CALL}<tool_call|> Done.",
        f"Sure. <<<|tool_call>{CALL}<<tool_call|> Done.",
    ],
)
def test_pipes_and_angles_glued_to_a_marker_are_not_spoken(text: str) -> None:
    """``<</tool_call>|`` after a call spoke ``<|`` (or ``|>``); in a block the glued ``<``
    spoiled it and the call never ran. Now the call runs and only the words are heard."""
    assert _read(text) == ("Sure. Done.", [PARIS])


@pytest.mark.parametrize(
    ("text", "speech"),
    [
        ("Hi <</channel>| there.", "Hi there."),
        ("<|channel>thought\nhmm<<channel|>| The answer.", "The answer."),
        ("The answer. <<|turn>|", "The answer."),
    ],
)
def test_glued_pieces_of_other_markers_are_not_spoken(text: str, speech: str) -> None:
    """A thought's end or a turn's end with a stray ``<`` or ``|`` beside it: the pieces are
    not heard (``| The answer.`` was), the marker does its work."""
    assert _read(text) == (speech, [])


@pytest.mark.parametrize(
    "text",
    [
        "a | b and c |> d",
        "5 < 6 | 7 > 3, x << y",
        "A|<b> is markup of another kind.",
        "pipes at the end |",
    ],
)
def test_pipes_and_angles_with_no_marker_beside_them_are_spoken(text: str) -> None:
    """The same characters away from a marker are the caller's words: heard as written."""
    for pieces in ([text], list(text), [text[: len(text) // 2], text[len(text) // 2 :]]):
        speech, calls, _ = _feed(pieces, False, TOOLS)
        assert (speech, calls) == (text, []), pieces


def test_pipes_inside_a_string_are_its_text() -> None:
    """A string that begins or ends with ``|`` keeps it: inside ``<|"|>…<|"|>`` nothing is
    markup, glued or not."""
    text = f"<|tool_call>call:save_note{{text:{Q}|a|{Q}}}<tool_call|>"
    speech, calls = _read(text)
    assert speech == ""
    assert calls == [("save_note", {"text": "|a|"})]
    assert json.dumps(calls)


def test_a_marker_at_a_deltas_end_acts_at_once_and_its_glue_is_dropped_later() -> None:
    """A call whose ``<tool_call|>`` ends a delta runs with that delta (the framework starts
    the tool, no wait for the next), and the ``|>`` a later delta glues to it is not heard."""
    parser = Gemma4Parser(schemas=TOOLS)
    said, calls = parser.feed(f"Sure. <|tool_call>{CALL}<tool_call|>")
    assert (said.strip(), [c.name for c in calls]) == ("Sure.", ["get_weather"])
    assert parser.feed("|")[0] == ""
    assert parser.feed(">")[0] == ""
    assert parser.feed(" Done.")[0].strip() == "Done."


@pytest.mark.parametrize("text", ["<|>|>", "Hi <|>|> there", "a<|>|>", "x<turn|>|>>y"])
def test_glue_is_counted_the_same_however_the_reply_is_cut(text: str) -> None:
    """Glue a marker took in one delta still counted against the next: cut one character at
    a time, ``<|>|>`` was heard as nothing, and whole as ``>`` (a caller heard a different
    reply depending on how the server chunked it)."""
    _read(text, None)
