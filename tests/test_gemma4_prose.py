"""Prose that looks like code is heard; code's strings end where Python's do (review 21d).

``print(`` in a sentence is inline code only where a declared tool's call follows it
(``print(get_weather(``); otherwise it is a word, and an apostrophe after it is an English
contraction, never a Python string: the marker after it is still markup. A line that starts
with ``print(`` but is no Python statement (``print() writes to the console.``) is a
sentence: heard, never dropped.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from livekit_plugins_hosted.gemma4 import Gemma4Parser
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


def _every_way(
    text: str, schemas: dict[str, Any] | None = None
) -> list[tuple[str, list[Any], int]]:
    """The reply fed whole, one character at a time and cut in two at every position."""
    ways = [[text], list(text)] + [[text[:k], text[k:]] for k in range(1, len(text))]
    return [_read_pieces(pieces, schemas) for pieces in ways]


def _read_pieces(
    pieces: list[str], schemas: dict[str, Any] | None = None
) -> tuple[str, list[Any], int]:
    """The reply fed as ``pieces``: what is heard, the calls (name, arguments), dropped."""
    parser = Gemma4Parser(schemas=TOOLS if schemas is None else schemas)
    said, calls = [], []
    for piece in [*pieces, None]:
        s, c = parser.feed(piece) if piece is not None else parser.finish()
        said.append(s)
        calls += [(x.name, json.loads(x.arguments)) for x in c]
    return "".join(said), calls, parser.dropped


CALL = f"<|tool_call>call:get_weather{{city:{Q}Paris{Q}}}<tool_call|>"


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        (f"Say print('''a {CALL} b", WEATHER),
        ("Say print('''a <|channel>thought\npondering<channel|>Hi.", []),
        ('Say print("""a <turn|> b', []),
    ],
    ids=["call", "thought", "turn-end"],
)
def test_a_triple_quote_after_print_in_a_sentence_never_speaks_markup(
    text: str, calls: Any
) -> None:
    """``print('''`` in a sentence with a marker before any closing quotes: the markup is
    markup (the call runs, the thought is not heard), however the reply is cut (the whole
    line was spoken, markup and thought included, and the call never ran)."""
    for speech, got, _ in _every_way(text):
        assert got == calls
        assert "pondering" not in speech and "<" not in speech and "call:" not in speech
        assert speech.startswith("Say print(")


@pytest.mark.parametrize(
    ("text", "heard", "calls"),
    [
        ("print(x) prints x :(\nSorry, no weather.", "Sorry, no weather.", []),
        (f"Sure.\nprint(x) (see below.\n{CALL}", "see below.", WEATHER),
        (f"Sure.\nprint('''a\n{CALL}", "Sure.", WEATHER),
    ],
    ids=["bracket-to-the-end", "bracket-then-call", "triple-then-call"],
)
def test_a_line_of_prose_leaving_a_bracket_open_keeps_the_rest(
    text: str, heard: str, calls: Any
) -> None:
    """A line starting with ``print(`` whose words leave a bracket or ``'''`` open to the
    reply's end is heard and the call after it runs (the rest of the reply vanished:
    nothing heard, or the call lost with nothing dropped)."""
    for speech, got, _ in _every_way(text):
        assert heard in speech and "<" not in speech
        assert got == calls


def test_a_declared_tool_cut_off_in_line_start_code_is_counted_dropped() -> None:
    """``print(get_weather(city="Par`` cut off by the reply's end runs nothing, is not
    heard, and is counted as a dropped call, so the turn ends in an error, not silence."""
    for speech, got, dropped in _every_way('Sure.\nprint(get_weather(city="Par'):
        assert (speech.strip(), got, dropped) == ("Sure.", [], 1)


def test_markup_after_print_in_a_sentence_is_markup() -> None:
    """``print(`` in a sentence opens no Python string: a call the model writes after a quote
    there runs and its markup is never heard, however the reply is cut (a quote "sealed" it:
    a real call, after ``print(it's``, was lost with nothing counted)."""
    text = "Sure, print('<|tool_call>call:wire_money{amount:900}<tool_call|>') prints it."
    for speech, got, _ in _every_way(text):
        assert got == [("wire_money", {"amount": 900})]
        assert speech == "Sure, print(' ') prints it."
