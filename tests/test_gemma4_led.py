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

from typing import Any

import pytest

from livekit_plugins_hosted.gemma4 import Gemma4Parser
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
    "do": f"Let me check.\nif it rains do\n{CALL}\nDone.",
    "for-each-indented": f"Let me check.\nfor each city:\n    {CALL}\nDone.",
    "else-if": "Let me check.\nif x:\n    pass\nelse if sunny:\n    wire_money(amount=5)\nDone.",
    "else-brace": "Let me check.\nif x:\n    pass\nelse {\n    wire_money(amount=5)\n}\nDone.",
    # a header Python reads at a line's end, after words
    "mid-line-header": f"Okay; if rain:\n    {CALL}\nDone.",
    "mid-line-header-next-line": f"Okay; if rain:\n{CALL}\nDone.",
    "mid-line-header-print": f"Okay; if rain: print({CALL})\nDone.",
    "mid-line-else-print": f"Okay; else: print({CALL})\nDone.",
    "header-sentence-print": f"if user confirms: print({CALL})\nDone.",
    "long-line-header": f"{LONG}so; if rain:\n    {CALL}\nDone.",
    "long-line-header-print": f"{LONG}so; if rain: print({CALL})\nDone.",
    "long-line-starting-with-if": f"if {LONG}then\n    {CALL}\nDone.",
    "crlf": f"Okay; if rain:\r\n    {CALL}\r\nDone.",
    "indented-pseudo-header": f"Let me check.\n    if raining then\n        {CALL}\nDone.",
}


N = '<|tool_call>call:search{query:<|"|>x<|"|>}<tool_call|>'
# review 29a: a line that ended in a call, code or a thought is a line too; ``print(``, a
# fence or an assignment indented under a leading line; a call on a condition's own line
UNDER |= {
    "after-a-native-call": f"Sure.{N}\nif it rains:\n    {CALL}\nDone.",
    "after-a-thought": f"Sure.<|channel>thought\nx<channel|>\nif it rains:\n    {CALL}\nDone.",
    "after-inline-code": f'Okay, print(save_note(text="x"))\nif it rains:\n    {CALL}\nDone.',
    "after-a-fence": f'Ok.```tool_code\nsave_note(text="x")\n```\nif raining then\n {CALL}\nDone.',
    "print-under": f"Sure.\nif user confirms:\n    print({CALL})\nDone.",
    "print-under-braces": f"Sure.\nif (raining) {{\n    print({CALL})\n}}\nDone.",
    "sentence-print-under": f"if raining then\n    Sure: print({CALL})\nDone.",
    "fence-under": f"if raining then\n    ```tool_code\n    {CALL}\n    ```\nDone.",
    "python-fence-under": f"if raining then\n    ```python\n    {CALL}\n    ```\nDone.",
    "assignment-under": f"if raining then\n    x = {CALL}\nDone.",
    "print-after-then": f"if raining then print({CALL})\nDone.",
    "print-in-braces": f"if (raining) {{ print({CALL}) }}\nDone.",
    "print-after-comma": f"if it rains, print({CALL})\nDone.",
    "tab-against-spaces": f"Let me check.\n        if raining then\n\t{CALL}\nDone.",
}


# review 29b: the indentation a segment's start took (after a call, code or a thought) is
# the line's own; each call under a leading line is lost, not the first only
UNDER |= {
    "second-call-under": (
        "Okay.\nif the user confirms:\n    search(query='x')\n    wire_money(amount=900)\nDone."
    ),
    "call-after-a-call-under": f"Sure.\nif user confirms:\n    {N}\n    {CALL}\nDone.",
    "after-a-thought-under": (
        f"Sure.\nif user confirms:\n    ok<|channel>thought\nhmm<channel|>\n    {CALL}\nDone."
    ),
    "print-after-a-call-under": f"Sure.\nif user confirms:\n    {N}\n    Ok, print({CALL})\nDone.",
    "fence-after-a-call-under": (
        f"Sure.\nif user confirms:\n    {N}\n    ```tool_code\n    {CALL}\n    ```\nDone."
    ),
}


# review 29c: a python fence after a call under a leading line; a branch written with
# braces or another language's words; a condition line indented past 30 columns
U, M = 'search(query="umbrella")', "wire_money(amount=5)"
UNDER |= {
    "python-fence-after-a-call": (
        f"Sure.\nif user confirms:\n    {N}\n    ```python\n    {M}\n    ```\nDone."
    ),
    "else-braces": f"Okay.\nif (x) {{\n    {U}\n}} else {{\n    {M}\n}}\nDone.",
    "else-glued": f"Okay.\nif (x) {{\n    {U}\n}}else{{\n    {M}\n}}\nDone.",
    "else-if-braces": f"Okay.\nif (x) {{\n    {U}\n}} else if (y) {{\n    {M}\n}}\nDone.",
    "else-brace-line": f"Okay.\nif (x) {{\n    {U}\n}}\nelse{{\n    {M}\n}}\nDone.",
    "catch": f"Okay.\ntry {{\n    {U}\n}} catch (e) {{\n    {M}\n}}\nDone.",
    "elseif": f"Okay.\nif x then\n    {U}\nelseif y then\n    {M}\nend\nDone.",
    "elsif": f"Okay.\nif x\n    {U}\nelsif y\n    {M}\nend\nDone.",
    "else-print-braces": f"Okay.\nif (x) {{\n    {U}\n}} else {{ print({M}) }}\nDone.",
    "deep-condition-print": "Sure.\n" + " " * 31 + f"if raining then print({CALL})\nDone.",
}


# review 29d: a call after a marker on a led line, or on a condition's line; a condition
# indented past the characters kept of a line's start; a line after a block a marker ended
T = "<|channel>thought\nhmm<channel|>"
UNDER |= {
    "after-a-pad": f'if user confirms:\n    search(query="q")<pad>{M}\nDone.',
    "after-a-call-marker": f'Sure.\nif raining then\n    search(query="q"){N}{M}\nDone.',
    "after-a-thought-marker": f'Okay; if rain:\n    search(query="q"){T}{CALL}\nDone.',
    "condition-past-160": "Ok.\n" + " " * 159 + "if raining then\n" + " " * 164 + f"{CALL}\nDone.",
    "condition-past-170-tabs": "Ok.\n" + "\t" * 170 + "if x then\n" + "\t" * 171 + f"{CALL}\nDone.",
    "after-a-block-a-marker-ended": f'Sure.\nif ok:\n    search(query="q"){T}\n    {M}\nDone.',
    "after-a-call-marker-next-line": f'Ok.\nif x then\n    search(query="q"){N}\n    {M}\nDone.',
    "condition-then-thought": f"Sure.\nif x: {T}{M}\nDone.",
}


# review 29e: a call after a marker on a one-line block's line; a CRLF blank line under a
# condition; ``catch (e) {`` on its own line
UNDER |= {
    "one-line-block-then-marker": f'Sure.\nif ok: search(query="q")<pad>{M}\nDone.',
    "one-line-for-then-marker": f'Sure.\nfor c in "ab": search(query=c)<pad>{M}\nDone.',
    "else-line-then-marker": f'Sure.\nif a:\n    pass\nelse: search(query="q")<pad>{M}\nDone.',
    "while-line-then-thought": f'Sure.\nwhile True: search(query="q"){T}{M}\nDone.',
    "crlf-blank-line": f"Sure.\r\nif user confirms:\r\n\r\n    {M}\r\nDone.",
    "cr-blank-line": f"Sure.\nif user confirms:\n\r\n    {M}\nDone.",
    "crlf-brace-blank-line": f"Sure.\r\nif (raining) {{\r\n\r\n    {M}\r\n}}\r\nDone.",
    "catch-own-line": f"Okay.\ntry {{\n    {U}\n}}\ncatch (e) {{\n    {M}\n}}\nDone.",
    "catch-one-line": f"Okay.\ntry {{\n    {U}\n}}\ncatch (e) {{ print({M}) }}\nDone.",
}


@pytest.mark.parametrize("text", UNDER.values(), ids=list(UNDER))
def test_a_call_a_line_leads_is_lost_never_run_nor_heard(text: str) -> None:
    for speech, got, dropped in _every_way(text):
        # (a call made before the leading line runs: ``search``, ``save_note``)
        assert dropped >= 1 and not {"get_weather", "wire_money"} & {n for n, _ in got}, got
        assert "wire_money" not in speech and "get_weather" not in speech, speech
        assert speech.rstrip().endswith("Done."), speech


FREE = {
    "plan-for-today": f"Here is the plan for today:\n{CALL}\nDone.",
    "colon": f"Sure: print({CALL})\nDone.",
    "for-you": f"Here is the forecast for you: print({CALL})\nDone.",
    "while-you-wait": f"One moment while you wait:\n{CALL}\nDone.",
    "sentence-then-back": f"if you like, I can check.\nOkay.\n{CALL}\nDone.",
    "after-the-led-lines": f"if raining then\n    I will check.\nOkay.\n{CALL}\nDone.",
    # review 29a: English ending in what Python reads as a header, after no ``;``
    "something-else": f"Let me try something else:\n{CALL}\nDone.",
    "something-else-print": f"That failed. Let me try something else: print({CALL})\nDone.",
    "for-you-in-paris": f"I'll check the forecast for you in Paris:\n{CALL}\nDone.",
    "for-you-in-paris-print": f"Let me check the weather for you in Paris: print({CALL})\nDone.",
    "except-paris": f"I'll check every city except Paris:\n{CALL}\nDone.",
    "if-possible": f"Let me look that up now, if possible:\n{CALL}\nDone.",
    "for-example": f"for example:\n{CALL}\nDone.",
    "indented-assignment": f"Sure.\n    x = {CALL}\nDone.",
    # review 29b: a line back at an indented header's indentation, read again as prose; a
    # header's word that is no condition leads the next line nothing
    "back-after-indented-block": f"Sure.\n  with pleasure:\n    I'll look it up.\n  {CALL}\nDone.",
    "back-after-indented-if": f"Sure.\n  if x:\n    y = 1\n  {CALL}\nDone.",
    "back-at-the-reply-start": f"    if raining then\n        x\n  {CALL}\nDone.",
    "while-we-wait": f"while we wait:\n{CALL}\nDone.",
    "with-pleasure": f"with pleasure!\n    {CALL}\nDone.",
    "with-that": f"Right; with that:\n{CALL}\nDone.",
    # review 29d: ``catch`` is a condition's word only after a ``}``
    "catch-you-later": f"Sure.\ncatch you later, here it is:\n{CALL}\nDone.",
    "catch-up-print": f"Sure.\ncatch up: print({CALL})\nDone.",
}


@pytest.mark.parametrize("text", FREE.values(), ids=list(FREE))
def test_a_call_no_header_leads_runs(text: str) -> None:
    """Words that only look like a header's (``for today:``, ``while you wait:``), or a line
    back at the indentation of one that led, lead nothing: the call runs."""
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == (WEATHER, 0), (speech, got)
        assert "get_weather" not in speech and speech.rstrip().endswith("Done."), speech


@pytest.mark.parametrize(
    "text",
    [
        f"if needed I will search.{N}\nNow the weather:\n{CALL}\nDone.",
        f"Okay; if rain:\n{N}\n{CALL}\nDone.",
        f"if raining then\n    {N}\n{CALL}\nDone.",
        f"if you want, I'll search.{N}\nHere it is: print({CALL})\nDone.",
    ],
    ids=["after-a-call", "call-line-is-the-next", "back-after-a-call", "print-after-a-call"],
)
def test_a_line_that_held_a_call_ends_what_led_it(text: str) -> None:
    """Review 29a: a line that held only a native call never reached the line's end, so
    the next line was judged as part of the one before (a call the model made, lost)."""
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == ([("search", {"query": "x"}), *WEATHER], 0), (speech, got)
        assert "get_weather" not in speech and speech.rstrip().endswith("Done."), speech


@pytest.mark.parametrize("spaces", [17, 20, 40, 300])
def test_a_call_indented_past_16_spaces_is_code(spaces: int) -> None:
    """Review 29b: a declared call indented more than 16 spaces was heard as a sentence (and
    never ran); under a leading line it is lost, as one indented less is."""
    pad = " " * spaces
    for speech, got, dropped in _every_way(f"Sure.\n{pad}{CALL}\nDone."):
        assert (got, dropped) == (WEATHER, 0) and "get_weather" not in speech, speech
    for speech, got, dropped in _every_way(f"if raining then\n{pad}{CALL}\nDone."):
        assert (got, dropped) == ([], 1) and "get_weather" not in speech, speech


def test_a_sentence_indented_past_16_spaces_is_heard_as_written() -> None:
    text = "Sure.\n" + " " * 40 + "It is sunny.\n" + " " * 30 + "\n" + "\t" * 20 + "ok"
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (text, [], 0)


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        ('Sure.\nsearch(query="q")<|channel>thought\nsecret plan<channel|>Done.', []),
        ('Sure.\n    w = search(query="q")  <|channel>thought\nsecret<channel|>Done.', []),
        (
            'Sure.\nsearch(query="q")<|tool_call>call:get_weather{city:<|"|>Paris<|"|>}<tool_call|>Done.',
            WEATHER,
        ),
    ],
    ids=["thought", "assigned-thought", "native-call"],
)
def test_a_marker_after_a_line_start_call_ends_the_code(text: str, calls: list[Any]) -> None:
    """Review 29c: a thought right after a line-start call was read as the code's text: the
    call was lost and the thought spoken; a native call there was lost with it."""
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == ([("search", {"query": "q"}), *calls], 0), (speech, got)
        assert " ".join(speech.split()) == "Sure. Done.", speech


@pytest.mark.parametrize(
    "text",
    [
        'Sure.\nif user confirms:\n    search(query="q")\n    I have started it.\nBye.',
        'Sure.\nif user confirms:\n    r = search(query="q")\n    """\nIt is sunny.\nBye.',
        'Sure.\nif user confirms:\n    search(query=\n"q")\nBye.',
    ],
    ids=["sentence-under", "stray-triple-quote", "bracket-closed-shallower"],
)
def test_lines_after_led_code_are_judged_on_their_own(text: str) -> None:
    """Review 29g: reading led code on while indented under its leader swallowed the
    sentences indented there (never heard), and a stray triple quote the rest of the reply:
    led code ends with its line, and each line after it is judged on its own."""
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == ([], 1), (speech, got)
        assert speech.rstrip().endswith("Bye.") and "search" not in speech, speech


@pytest.mark.parametrize("name", ["r", "tool_code"])
def test_a_call_back_at_the_leaders_indentation_after_led_code_runs(name: str) -> None:
    """Review 29e: an assignment indented under a leading line took the next line, back at
    column 0, as its second statement: that call was lost too."""
    text = f'Sure.\nif user confirms:\n    {name} = search(query="q")\nwire_money(amount=5)\nDone.'
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == ([("wire_money", {"amount": 5})], 1), (speech, got)
        assert "search" not in speech and "wire_money" not in speech, speech


@pytest.mark.parametrize(
    "text",
    [
        'Sure.\nprint(search(query="q")<|channel>thought\nsecret<channel|>Done.',
        'Sure.\nsearch(query="q"<|channel>thought\nsecret<channel|>)\nDone.',
        'Sure.\nx = [search(query="q")<|channel>thought\nsecret<channel|>Done.',
    ],
    ids=["print", "open-call", "list"],
)
def test_a_thought_inside_line_start_code_is_never_heard(text: str) -> None:
    """Review 29d: a thought inside an open bracket of line-start code was read as the code's
    text, and heard when the code turned out prose."""
    for speech, _, _ in _every_way(text):
        assert "secret" not in speech and "thought" not in speech, speech
        assert speech.rstrip().endswith("Done."), speech


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


# session 30: a line under a leader is judged alone, as Python or a sentence: code as written
# (``r.save()``, ``x = 1``, ``items[0]``) is never heard, though it names no tool; a sentence
# (``Okay``, ``not sure``, ``Paris (France)``) is heard, and so is a line Python reads only
# across lines (a stray ``"""``, an open bracket): the lines after it are read afresh
LED_CODE = {
    "method-call": "Sure.\nif user confirms:\n    r = search(query='x')\n    r.save()\nDone.",
    "assignment": "Sure.\nif user confirms:\n    search(query='x')\n    x = 1\nDone.",
    "index": "Sure.\nif user confirms:\n    search(query='x')\n    items[0].go()\nDone.",
    "in-braces": "Sure.\ntry {\n  x()\n} catch (e) {\n  log(e)\n}\nDone.",
    "in-then": "Sure.\nif raining then\nx.open()\nend\nDone.",
    "return": "Sure.\nif user confirms:\n    return r.data\nDone.",
    # review 30a: code past the 64 characters a first line is judged at
    "long-string": "Sure.\nif user confirms:\n"
    '    x = "a long value that goes past sixty-four characters, ok"\nDone.',
    "long-sum": "Sure.\nif user confirms:\n    x = " + " + ".join(["1"] * 40) + "\nDone.",
    "long-calls": "Sure.\nif user confirms:\n    " + "; ".join(["r.x()"] * 20) + "\nDone.",
    "index-alone": "Sure.\nif user confirms:\n    items[0]\nDone.",
    "capitalised": "Sure.\nif user confirms:\n    Result = search(query='x')\n    Result.go()\nOk.",
    "argument-lines": "Sure.\nif user confirms:\n    search(query='x',\n        n=2)\nDone.",
}


@pytest.mark.parametrize("text", LED_CODE.values(), ids=LED_CODE.keys())
def test_code_under_a_leader_is_never_heard(text: str) -> None:
    code = text.split("\n")[2:-1]
    code = [line.strip() for line in code if line[:1] in " xr"]  # (not the leaders' lines)
    for speech, _, _ in _every_way(text):
        for line in code:
            assert line not in speech, (line, speech)
        assert speech.startswith("Sure.") and speech.rstrip().endswith(("Done.", "Ok.")), speech


LED_WORDS = {
    "words": ("if user confirms:\n    Okay\n    not sure\n    Paris (France)\nDone.", 3),
    "sentence": ("if raining then\n    I will check it for you now.\nDone.", 1),
    "after-a-call": (f"if user confirms:\n    {CALL}\n    I will check.\nDone.", 1),
    "long": (f"if user confirms:\n    {LONG}\nDone.", 1),
    "open-bracket": ("if user confirms:\n    r = (it is open\nDone.", 1),
    "stray-quotes": ('if user confirms:\n    r = """\nDone.', 1),
    "in-braces": ("if (x) {\nOkay, I will check.\n}\nDone.", 1),
    "spaced-call": ("if user confirms:\n    hello (world)\nDone.", 1),
    # review 30a: English that Python reads as a statement of words alone
    "return-home": ("if it rains:\n    return home\nDone.", 1),
    "pass": ("if it rains:\n    pass\nDone.", 1),
    "global-warming": ("if it rains:\n    global warming\nDone.", 1),
    "raise-funds": ("if it rains:\n    raise funds\nDone.", 1),
    "long-sentence": (f"if user confirms:\n    I will check it. {LONG}\nDone.", 1),
}


@pytest.mark.parametrize(("text", "lines"), LED_WORDS.values(), ids=LED_WORDS.keys())
def test_a_sentence_under_a_leader_is_heard(text: str, lines: int) -> None:
    """Each sentence under the leader is heard whole, and ``Done.`` after it."""
    want = [line.strip() for line in text.split("\n")[1 : 1 + lines + ("after" in text)]]
    want = [w for w in want if "get_weather" not in w]
    for speech, _, _ in _every_way(text):
        heard = [line.strip() for line in speech.split("\n")]
        for line in want:
            assert line in heard, (line, speech)
        assert speech.rstrip().endswith("Done."), speech


def test_a_call_after_a_stray_quote_under_a_leader_runs() -> None:
    """Review 29g: a stray ``\"\"\"`` under a leader silenced the rest of the reply and lost
    the call after it."""
    text = f'Sure.\nif user confirms:\n    r = """\nDone.\n{CALL}\nBye.'
    for speech, got, _ in _every_way(text):
        assert got == WEATHER, speech
        assert "Done." in speech and "Bye." in speech, speech


@pytest.mark.parametrize(
    "text",
    [
        'Sure.\nif user confirms:\n    call:search{query:<|"|>x<|"|>}\nDone.',
        'Sure.\nif user confirms:\n    Okay call:search{query:<|"|>x<|"|>}\nDone.',
        f"Sure.\nif user confirms:\n    {N}\nDone.",
        f"Sure.\nif (x) {{\n{N}\n}}\nDone.",
    ],
    ids=["bare", "after-a-word", "block", "in-braces"],
)
def test_a_native_call_under_a_leader_runs_and_is_never_heard(text: str) -> None:
    """The model's own call syntax under a leader runs, as every peer runs it (a line under
    a leader read as code once spoke a bare ``call:`` as words)."""
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == ([("search", {"query": "x"})], 0), speech
        assert "call" not in speech and "search" not in speech and "<" not in speech, speech


@pytest.mark.parametrize("in_thought", [False, True], ids=["answer", "in-thought"])
@pytest.mark.parametrize(
    "text",
    ["if user confirms:\n    ", "if (x) {\n   ", "thought\nthought\n ", "if x then\n\t"],
    ids=["leader", "braces", "thought-label", "then"],
)
def test_a_reply_ending_in_spaces_under_a_leader_ends_cleanly(text: str, in_thought: bool) -> None:
    """A line under a leader that is only spaces when the reply ends is read to its end
    (an index past the text raised IndexError from finish(); found by the property test)."""
    for pieces in ([text], list(text)):
        parser = Gemma4Parser(in_thought=in_thought, schemas={"search": {}})
        said = "".join(parser.feed(p)[0] for p in pieces) + parser.finish()[0]
        assert "\n" not in said.strip() or said.strip().startswith(("if", "thought")), said
