"""Prose that looks like code is heard; code's strings end where Python's do (review 21d).

``print(`` in a sentence is inline code only while it reads as code: an apostrophe after it
is far more often an English contraction than a Python string, so a one-line string that
reaches the line's end or a marker unclosed means the "code" was prose, and the marker after
it is still markup. A line that starts with ``print(`` but is no Python statement
(``print() writes to the console.``) is a sentence: heard, never dropped.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_gemma4 import _feed
from tests.test_gemma4_grammar import TOOLS, Q, _read

WEATHER = [("get_weather", {"city": "Paris"})]


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        (
            "Sure, try print(what's here). "
            f"<|tool_call>call:get_weather{{city:{Q}Paris{Q}}}<tool_call|>",
            WEATHER,
        ),
        (f"Sure, try print(what's here). call:get_weather{{city:{Q}Paris{Q}}}", WEATHER),
        ("Try print(it's <turn|>", []),
        ('He said print("hi <tool_call|>', []),
    ],
    ids=["block", "bare", "turn-end", "double-quote"],
)
def test_an_apostrophe_after_print_in_a_sentence_is_no_string(text: str, calls: Any) -> None:
    """The call after such a sentence runs and no markup is heard (the whole line was taken
    for code's string: its markup was spoken and the call never ran)."""
    speech, got = _read(text)
    assert got == calls
    assert "<" not in speech and "call:" not in speech
    assert speech.startswith(("Sure, try print(what's here).", "Try print(it's", "He said"))


def test_a_thought_after_print_with_an_apostrophe_is_not_heard() -> None:
    """A thought after ``print(`` and a contraction is the model's thought: never heard
    ("pondering" was spoken)."""
    text = "I'll print(the doc's summary) <|channel>thought\npondering<channel|>Done."
    speech, _ = _read(text)
    assert "pondering" not in speech
    assert speech == "I'll print(the doc's summary) Done."


def test_a_marker_like_text_inside_a_closed_string_of_a_call_is_its_text() -> None:
    """A tool's string that closes on its line keeps a lone ``<`` as its text: the call still
    runs with it."""
    text = 'Sure. print(save_note(text="a < b")) Done.'
    assert _read(text) == ("Sure. Done.", [("save_note", {"text": "a < b"})])


@pytest.mark.parametrize(
    ("text", "heard"),
    [
        ("print() writes to the console.", "print() writes to the console."),
        ("Sure.\nprint(x) shows x.\nMore.", "Sure. print(x) shows x. More."),
        ("print(it's here) ok\nMore.", "print(it's here) ok More."),
        ("tool_code is a word we use.", "tool_code is a word we use."),
    ],
    ids=["statement-then-words", "between-lines", "apostrophe", "tool-code-word"],
)
def test_a_line_starting_like_code_that_is_no_python_is_heard(text: str, heard: str) -> None:
    """A sentence that starts a line with ``print(`` (or ``tool_code``) but is no Python
    statement is heard (it was dropped: the first one made a silent turn)."""
    assert _read(text) == (heard, [])


@pytest.mark.parametrize(
    "text", ["print(x)", 'print("hello")\n', "tool_code = 5\nprint(tool_code)"]
)
def test_code_naming_no_tool_is_still_never_heard(text: str) -> None:
    """Python that names no declared tool is code: never spoken, never called."""
    assert _read(text) == ("", [])


def test_a_line_of_prose_code_with_markup_hears_only_the_prose() -> None:
    """``print(`` starting a line of prose that holds a call: the words are heard, the call
    runs, no markup is heard."""
    text = f"print() is handy. call:get_weather{{city:{Q}Paris{Q}}} Done."
    assert _read(text) == ("print() is handy. Done.", WEATHER)


@pytest.mark.parametrize(
    ("text", "heard", "calls"),
    [
        (f"call:get_weather {{city:{Q}Paris{Q}}}", "", WEATHER),
        (f"Sure. call:get_weather  {{city:{Q}Paris{Q}}} Done.", "Sure. Done.", WEATHER),
    ],
    ids=["space", "spaces-in-speech"],
)
def test_a_bare_call_with_spaces_before_its_brace(text: str, heard: str, calls: Any) -> None:
    """``call:name {…}`` with spaces before the brace is a call, as the block form reads the
    same head (``call:get_weather {city:Paris}`` was spoken and nothing ran)."""
    assert _read(text) == (heard, calls)


@pytest.mark.parametrize(
    "text", ["Give me a call:tomorrow at noon.", "Give me a call:tomorrow (at noon)."]
)
def test_a_word_after_call_colon_then_prose_is_heard(text: str) -> None:
    """A word after ``call:`` followed by spaces and prose (not a brace) is heard as written,
    whole or one character at a time."""
    for pieces in ([text], list(text)):
        speech, calls, _ = _feed(pieces, False, TOOLS)
        assert (speech, calls) == (text, [])
