"""A line that leads what follows as a block's header would: its calls never run (issue 21).

Review 28c: calls under a header Python does not read ran (``if (raining) {``, ``if raining
then``, ``else if sunny:`` after a block, ``Okay; if rain: print(get_weather(…))`` mid-line),
``call:`` inside a word (``if should_end_call:``) ended a block so that the call indented
under it ran, and a tab counted as one column. A line of prose that starts with ``if``,
``for``, ``else``… (or ends in a header Python reads: ``Okay; if rain:``) leads the lines
indented more than it, and, if it ends as a header does (``:``, ``{``, ``then``, ``do``), the
very next line too: a call there is lost, never run and never heard.

Each reply is fed whole, one character at a time and cut in two at every position.
"""

from __future__ import annotations

import pytest

from tests.test_gemma4_prose import _every_way

CALL = 'get_weather(city="Paris")'
WEATHER = [("get_weather", {"city": "Paris"})]
LONG = "It is a long sentence about the weather, " * 8  # past the 128 characters kept

UNDER = {
    # ``call:`` inside a word on a block's line is the code's text, not the marker
    "recall-annotation": "Okay.\nif x:\n    recall: int = 1\n    wire_money(amount=5)\nDone.",
    "should-end-call": "Okay.\nif x:\n    if should_end_call:\n        wire_money(amount=5)\nDone.",
    # a tab reaches column 8 as Python reads it (and column 1: either deeper is deeper)
    "tab-under-spaces": "Let me check.\n    if x:\n\twire_money(amount=5)\nDone.",
    "spaces-under-tab": "Let me check.\n\tif x:\n        wire_money(amount=5)\nDone.",
    # pseudo-headers of other languages, and a kin line Python does not read
    "braces": f"Let me check.\nif (raining) {{\n    {CALL}\n}}\nDone.",
    "then": f"Let me check.\nif raining then\n    {CALL}\nDone.",
    "then-next-line": f"Let me check.\nif raining then\n{CALL}\nDone.",
    "do": f"Let me check.\nfor each city do\n{CALL}\nDone.",
    "else-if": "Let me check.\nif x:\n    pass\nelse if sunny:\n    wire_money(amount=5)\nDone.",
    "else-brace": "Let me check.\nif x:\n    pass\nelse {\n    wire_money(amount=5)\n}\nDone.",
    # a header Python reads at a line's end, after words
    "mid-line-header": f"Okay; if rain:\n    {CALL}\nDone.",
    "mid-line-header-next-line": f"Okay; if rain:\n{CALL}\nDone.",
    "mid-line-header-print": f"Okay; if rain: print({CALL})\nDone.",
    "mid-line-else-print": f"Okay, else: print({CALL})\nDone.",
    "header-sentence-print": f"if user confirms: print({CALL})\nDone.",
    "long-line-header": f"{LONG}and if rain:\n    {CALL}\nDone.",
    "long-line-header-print": f"{LONG}and if rain: print({CALL})\nDone.",
    "long-line-starting-with-if": f"if {LONG}then\n    {CALL}\nDone.",
    "crlf": f"Okay; if rain:\r\n    {CALL}\r\nDone.",
    "indented-pseudo-header": f"Let me check.\n    if raining then\n        {CALL}\nDone.",
}


@pytest.mark.parametrize("text", UNDER.values(), ids=list(UNDER))
def test_a_call_a_line_leads_is_lost_never_run_nor_heard(text: str) -> None:
    for speech, got, dropped in _every_way(text):
        assert got == [] and dropped == 1, (speech, got)
        assert "wire_money" not in speech and "get_weather" not in speech, speech
        assert speech.rstrip().endswith("Done."), speech


FREE = {
    "plan-for-today": f"Here is the plan for today:\n{CALL}\nDone.",
    "colon": f"Sure: print({CALL})\nDone.",
    "for-you": f"Here is the forecast for you: print({CALL})\nDone.",
    "while-you-wait": f"One moment while you wait:\n{CALL}\nDone.",
    "sentence-then-back": f"if you like, I can check.\nOkay.\n{CALL}\nDone.",
    "after-the-led-lines": f"if raining then\n    I will check.\nOkay.\n{CALL}\nDone.",
}


@pytest.mark.parametrize("text", FREE.values(), ids=list(FREE))
def test_a_call_no_header_leads_runs(text: str) -> None:
    """Words that only look like a header's (``for today:``, ``while you wait:``), or a line
    back at the indentation of one that led, lead nothing: the call runs."""
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == (WEATHER, 0), (speech, got)
        assert "get_weather" not in speech and speech.rstrip().endswith("Done."), speech


def test_only_the_led_call_is_lost() -> None:
    """``if raining then`` leads the call indented under it, not the one after ``Done.``."""
    text = f"if raining then\n    {CALL}\nDone.\n{CALL}\nBye."
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == (WEATHER, 1), (speech, got)
        assert " ".join(speech.split()) == "if raining then Done. Bye.", speech


@pytest.mark.parametrize(
    "text",
    [
        f'Let me check.\nif x:\n    s = """\n{CALL}\n"""\nDone.',
        f"Let me check.\nif x:\n    s = '{CALL}'\nDone.",
    ],
    ids=["triple-quoted", "one-line-string"],
)
def test_a_block_naming_a_tool_in_a_string_is_never_heard(text: str) -> None:
    """Review 28b: Python naming a declared tool's call only in a string calls none, and was
    read again as the reply: the code was heard. Python is never heard."""
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == ([], 1), (speech, got)
        assert " ".join(speech.split()) == "Let me check. Done.", speech


def test_a_marker_after_a_block_still_runs() -> None:
    """``call:`` at a word's start after a block is the marker: its call runs."""
    text = "Let me check.\nif x:\n    y = 1\ncall:wire_money{amount:5}\nDone."
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == ([("wire_money", {"amount": 5})], 0), (speech, got)
        assert "call:" not in speech and speech.rstrip().endswith("Done."), speech
