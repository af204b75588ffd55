"""Blocks that braces or ``then`` open go on to their ``}`` or ``end`` (issue 21).

Session 29 left two forms a model writes as pseudo-code: a block opened by ``{`` or ``then``
whose lines are not indented (``if (x) {`` then ``search(…)`` then ``wire_money(…)``:
only the first line after the leader was under it, so ``wire_money`` ran), and one line
holding the condition and the call (``if (raining) { get_weather(…) }``: heard, the call
neither run nor counted). A block a line opens with ``{`` now goes on, at any indentation,
to the ``}`` that closes it (counted: nested blocks, ``} else {``); one a ``then`` line opens
goes on to its ``end`` (``fi``, ``endif``), unless the line after it is indented deeper (a
block of indentation, over where a line is back at the leader's). A line that starts with a
condition's word and calls a declared tool as code does is code: never heard, its calls
lost. The call after the block runs.

Each reply is fed whole, one character at a time and cut in two at every position.
"""

from __future__ import annotations

import pytest

from tests.test_gemma4_grammar import Q
from tests.test_gemma4_prose import _every_way, _read_pieces

CALL = 'get_weather(city="Paris")'
AFTER = 'search(query="y")'
WIRE = "wire_money(amount=5)"
RAN = [("search", {"query": "y"})]

REGIONS = {
    "braces": f"Let me check.\nif (raining) {{\nsearch(query='x')\n{WIRE}\n}}\nDone.\n{AFTER}",
    "then-end": f"Let me check.\nif raining then\nsearch(query='x')\n{WIRE}\nend\nDone.\n{AFTER}",
    "then-fi": f"Let me check.\nif raining then\n{WIRE}\nfi\nDone.\n{AFTER}",
    "then-end-if": f"Let me check.\nif raining then\n{WIRE}\nend if\nDone.\n{AFTER}",
    "allman": f"Sure.\nif (raining)\n{{\n{WIRE}\n}}\nDone.\n{AFTER}",
    "else-brace": f"Sure.\nif (x) {{\n  search(query='x')\n}} else {{\n{WIRE}\n}}\nDone.\n{AFTER}",
    "nested": f"Sure.\nif (a) {{\nif (b) {{\nsearch(query='x')\n}}\n{WIRE}\n}}\nDone.\n{AFTER}",
    "try-catch": f"Sure.\ntry {{\nsearch(query='x')\n}} catch (e) {{\n{WIRE}\n}}\nDone.\n{AFTER}",
    "print-in-braces": f"Sure.\nif (x) {{\nprint({WIRE})\n}}\nDone.\n{AFTER}",
    "assigned-in-braces": f"Sure.\nif (x) {{\nr = {WIRE}\n}}\nDone.\n{AFTER}",
    "fence-in-braces": f"Sure.\nif (x) {{\n```tool_code\n{WIRE}\n```\n}}\nDone.\n{AFTER}",
    "elseif-lua": (
        f"Sure.\nif a then\nsearch(query='x')\nelseif b then\n{WIRE}\nend\nDone.\n{AFTER}"
    ),
    "blank-lines": f"Sure.\nif (x) {{\n\n{WIRE}\n\n}}\nDone.\n{AFTER}",
    "indented-braces": f"Sure.\nif (x) {{\n    {WIRE}\n}}\nDone.\n{AFTER}",
    "crlf": f"Sure.\r\nif (x) {{\r\n{WIRE}\r\n}}\r\nDone.\r\n{AFTER}",
    # review 30a: a brace in a string or a comment is text; a comment after ``{``; a
    # condition over two lines; nesting past 64; other languages' headers
    "brace-in-a-string": f'Sure.\nif (x) {{\nsave_note(text="}}")\n{WIRE}\n}}\nDone.\n{AFTER}',
    "brace-in-a-comment": f"Sure.\nif (x) {{\nsearch(query='x')  # }}\n{WIRE}\n}}\nDone.\n{AFTER}",
    "comment-after-brace": f"Sure.\nif (raining) {{ // only when wet\n{WIRE}\n}}\nDone.\n{AFTER}",
    "comment-after-then": f"Sure.\nif raining then -- wet\n{WIRE}\nend\nDone.\n{AFTER}",
    "two-line-condition": f"Sure.\nif (raining &&\n    cold) {{\n{WIRE}\n}}\nDone.\n{AFTER}",
    "past-64": "Sure.\n" + "if (x) {\n" * 65 + "}\n" * 64 + f"{WIRE}\n}}\nDone.\n{AFTER}",
    "unless": f"Sure.\nunless (x) {{\n{WIRE}\n}}\nDone.\n{AFTER}",
    "function": f"Sure.\nfunction later() {{\n{WIRE}\n}}\nDone.\n{AFTER}",
    "switch": f"Sure.\nswitch (x) {{\ncase 1:\n{WIRE}\n}}\nDone.\n{AFTER}",
    "c-style-next-line": f"Sure.\nif (x)\n{WIRE};\nDone.\n{AFTER}",
    "else-alone": f"Sure.\nif x:\n  pass\n}}\nelse\n{WIRE}\nDone.\n{AFTER}",
    "comma-next-line": f"Sure.\nif it rains,\n{WIRE}\nDone.\n{AFTER}",
    # review 30b: a ``//`` in a string is no comment; a condition's line read as code; a
    # ``}`` in a sealed string over lines is text; a comment line ending in ``.`` is no
    # sentence; a condition going on at the same indentation
    "slashes-in-a-string": f'Sure.\nif (s.startsWith("//")) {{\n{WIRE}\n}}\nDone.\n{AFTER}',
    "hash-in-a-header": f"Sure.\nif item #3 is sold out:\n{WIRE}\nDone.\n{AFTER}",
    "dashes-then": f"Sure.\nif it rains -- and it will -- then\n{WIRE}\nend\nDone.\n{AFTER}",
    "next-line-brace": f"Sure.\nif (x)\nr.go() {{\n    {WIRE}\n}}\nDone.\n{AFTER}",
    "sealed-brace": f'Sure.\nif (x) {{\nsave_note(text=<|"|>a\n}}\nb<|"|>)\n{WIRE}\n}}\n'
    f"Done.\n{AFTER}",
    "comment-sentence": f"Sure.\nif x then\n-- pay the bill.\n{WIRE}\nend\nDone.\n{AFTER}",
    "or-next-line": f"Sure.\nif (a ||\nb) {{\n{WIRE}\n}}\nDone.\n{AFTER}",
    # review 31a: a ``{`` mid-line after a header's end opens a block; ``when``/``unless``
    # with no ``(`` lead as a condition, unless the line is a sentence; a condition going on
    # past ``and``, ``or`` or ``(``; a comment closed before a header
    "mid-line-brace": f"Sure.\nif (raining) {{ x = 1;\n{WIRE}\n}}\nDone.\n{AFTER}",
    "mid-line-brace-words": f"Sure.\nif (raining) {{ let me check;\n{WIRE}\n}}\nDone.\n{AFTER}",
    "mid-line-else": f"Sure.\nif (x) {{\n  a = 1;\n}} else {{ a = 2;\n{WIRE}\n}}\nDone.\n{AFTER}",
    "mid-line-try": f"Sure.\ntry {{ a = 1;\n{WIRE}\n}}\nDone.\n{AFTER}",
    "mid-line-for": f"Sure.\nfor (const c of cities) {{ log(c);\n{WIRE}\n}}\nDone.\n{AFTER}",
    "unless-then": f"Sure.\nunless raining then\n{WIRE}\nend\nDone.\n{AFTER}",
    "unless-ruby": f"Sure.\nunless raining\n  {WIRE}\nend\nDone.\n{AFTER}",
    "unless-do": f"Sure.\nunless raining do\n  {WIRE}\nend\nDone.\n{AFTER}",
    "unless-brace": f"Sure.\nunless raining {{\n{WIRE}\n}}\nDone.\n{AFTER}",
    "when-colon": f"Sure.\nwhen raining:\n{WIRE}\nDone.\n{AFTER}",
    "unless-colon": f"Sure.\nunless the user objects:\n{WIRE}\nDone.\n{AFTER}",
    "case-when": f'Sure.\ncase weather\nwhen "rain"\n  {WIRE}\nend\nDone.\n{AFTER}',
    "when-brace": f"Sure.\nwhen {{\n{WIRE}\n}}\nDone.\n{AFTER}",
    "and-next-line": f"Sure.\nif (raining and\ncold) {{\n{WIRE}\n}}\nDone.\n{AFTER}",
    "or-words": f"Sure.\nif raining or\nsnowing:\n{WIRE}\nDone.\n{AFTER}",
    "and-then": f"Sure.\nif raining and\ncold then\n{WIRE}\nend\nDone.\n{AFTER}",
    "call-in-condition": f"Sure.\nif (is_raining(\ncity)) {{\n{WIRE}\n}}\nDone.\n{AFTER}",
    "paren-alone": f"Sure.\nif (\nraining) {{\n{WIRE}\n}}\nDone.\n{AFTER}",
    "paren-lines": f"Sure.\nif (\n    raining\n) {{\n{WIRE}\n}}\nDone.\n{AFTER}",
    "while-and": f"Sure.\nwhile (retries and\nnot done) {{\n{WIRE}\n}}\nDone.\n{AFTER}",
    # review 31c: a condition going on on a line starting with ``and``, ``&&``
    "and-line-then": f"Sure.\nif approved\n  and not cancelled then\n{WIRE}\nend\nDone.\n{AFTER}",
    "comma-and-then": f"Sure.\nif it rains,\nand it is cold then\n{WIRE}\nend\nDone.\n{AFTER}",
    "ampersands-then": f"Sure.\nif approved\n  && open then\n{WIRE}\nend\nDone.\n{AFTER}",
    "colon-and-then": f"Sure.\nif approved:\nand not cancelled then\n{WIRE}\nend\nDone.\n{AFTER}",
    "kotlin-when": f"Sure.\nwhen {{\n    raining -> {WIRE}\n}}\nDone.\n{AFTER}",
    "closing-brace-in-a-string": f'Sure.\nif (x) {{\n  let s = "}}";\n{WIRE}\n}}\nDone.\n{AFTER}',
    "closing-brace-in-a-comment": f"Sure.\nif (x) {{\n  // done }}\n{WIRE}\n}}\nDone.\n{AFTER}",
    "under-a-leader": f"Sure.\nif user confirms:\n    I will run {WIRE} now.\nDone.\n{AFTER}",
    "closed-comment": (
        f"Sure.\nif (a) {{\n/* b */ if (b) {{\n{WIRE}\n}}\nsearch(query='x')\n}}\nDone.\n{AFTER}"
    ),
}


@pytest.mark.parametrize("text", REGIONS.values(), ids=REGIONS.keys())
def test_a_block_braces_or_then_open_goes_on_to_its_close(text: str) -> None:
    """Every call in the block is lost (never run, never heard); the one after it runs."""
    for speech, got, dropped in _every_way(text):
        assert got == RAN, (speech, got)
        assert dropped >= 1, speech
        assert "wire_money" not in speech and "search(" not in speech, speech
        assert "Done." in speech, speech


ONE_LINE = {
    "braces": f"Sure.\nif (raining) {{ {CALL} }}\nDone.\n{AFTER}",
    "then-end": f"Sure.\nif raining then {CALL} end\nDone.\n{AFTER}",
    "c-style": f"Sure.\nif (raining) {CALL};\nDone.\n{AFTER}",
    "comma": f"Sure.\nif it rains, {CALL}\nDone.\n{AFTER}",
    "else-after-a-block": f"Sure.\nif x:\n    pass\n}} else {{ {WIRE} }}\nDone.\n{AFTER}",
    "catch": f"Sure.\ntry {{\n}} catch (e) {{ {WIRE} }}\nDone.\n{AFTER}",
    "else-brace-line": f"Sure.\nelse {{ {WIRE} }}\nDone.\n{AFTER}",
    "elseif": f"Sure.\nelseif (x) {{ {WIRE} }}\nDone.\n{AFTER}",
    "indented": f"Sure.\n    if (raining) {{ {CALL} }}\nDone.\n{AFTER}",
    "while": f"Sure.\nwhile (x) {{ {WIRE} }}\nDone.\n{AFTER}",
    "for-each": f"Sure.\nfor each city {{ {CALL} }}\nDone.\n{AFTER}",
    # review 31a: a ternary's ``?`` or a string's ``. `` is no sentence's end; a longer
    # name holding a tool's is none of it; a call in the condition, or right after
    # ``else``; ``do`` ends a condition
    "ternary": f"Sure.\nif (x) {{ const amt = big ? 10 : 5; {WIRE}; }}\nDone.\n{AFTER}",
    "sentence-in-a-string": f'Sure.\nif (x) {{ say("Sure. Pay."); {WIRE}; }}\nDone.\n{AFTER}',
    "longer-name": f"Sure.\nif check_search(q) {{ {WIRE} }}\nDone.\n{AFTER}",
    "else-call": f"Sure.\nelse {WIRE}\nDone.\n{AFTER}",
    "do-end": f"Sure.\nif raining do {WIRE} end\nDone.\n{AFTER}",
    "else-sealed": f'Sure.\nelse save_note(text=<|"|>pay rent<|"|>)\nDone.\n{AFTER}',
    # review 31c: ``s`` is a name, not a plural's ending
    "call-with-s": f"Sure.\nif raining {{ search(s) }}\nDone.\n{AFTER}",
    "loop-call-with-s": f"Sure.\nwhile (more) {{ search(s); }}\nDone.\n{AFTER}",
}


@pytest.mark.parametrize("text", ONE_LINE.values(), ids=ONE_LINE.keys())
def test_a_call_on_its_conditions_line_is_lost_never_heard(text: str) -> None:
    """A condition and a declared tool's call on one line: the call is lost (counted), the
    line never heard; the call after it runs."""
    for speech, got, dropped in _every_way(text):
        assert got == RAN, (speech, got)
        assert dropped == 1, speech
        assert "(" not in speech and "{" not in speech.split("Done.")[-1], speech
        assert "get_weather" not in speech and "wire_money" not in speech, speech
        assert speech.startswith("Sure.") and "Done." in speech, speech


def test_a_call_in_a_condition_is_lost_never_heard() -> None:
    """Review 31a: a declared tool called in the condition itself (``if search(…) {``) was
    heard with the call in its body, and neither counted."""
    for text in (f"Sure.\nif {AFTER} {{ {WIRE} }}\nDone.", f"if {AFTER} {{ {WIRE} }}"):
        for speech, got, dropped in _every_way(text):
            assert got == [] and dropped >= 1, speech
            assert "(" not in speech and "wire_money" not in speech, speech


PAST_THE_WINDOW = {
    # a condition's line judged as a sentence at 64 characters, its call later on it
    "long-condition": (
        f"Sure.\nif the caller is in Paris and wants the forecast for tomorrow, then {CALL}"
        f"\nDone.\n{AFTER}"
    ),
    "long-braces": (
        "Sure.\nif (weather_is_bad && temperature_is_low && the_user_said_yes_to_it) "
        f"{WIRE};\nDone.\n{AFTER}"
    ),
    # other headers' words, never held as a block's header: their line is read as it comes
    "function": f"Sure.\nfunction go() {{ {WIRE} }}\nDone.\n{AFTER}",
    "when-paren": f"Sure.\nwhen (x) {{ {WIRE} }}\nDone.\n{AFTER}",
    "unless-paren": f"Sure.\nunless (x) {{ {WIRE}; }}\nDone.\n{AFTER}",
    "switch": f"Sure.\nswitch (x) {{ case 1: {WIRE} }}\nDone.\n{AFTER}",
    "unless-then-end": f"Sure.\nunless raining then {WIRE} end\nDone.\n{AFTER}",
}


@pytest.mark.parametrize(
    "text",
    [
        f"if it rains:\n- {CALL}\nDone.",
        f"if (raining) {{\n  - {CALL}\n}}\nDone.",
        f"if (raining) {{\n  1. {CALL}\n}}\nDone.",
        f"if (raining) {{\n  > {CALL}\n}}\nDone.",
        f"else\n{{ {AFTER} }}\nDone.",
    ],
    ids=["dash-under-a-leader", "dash-in-a-block", "number", "quote", "brace-alone"],
)
def test_a_call_mid_line_in_a_block_is_lost_however_cut(text: str) -> None:
    """Review 31b: a call mid-line on a line in a block was lost when the reply came whole,
    and heard when its name came in pieces (a name's start is held now, as ``print(``)."""
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == ([], 1), speech
        assert "get_weather" not in speech and "search" not in speech, speech
        assert "query" not in speech and "city" not in speech, speech
        assert speech.rstrip().endswith("Done."), speech


@pytest.mark.parametrize(
    "text",
    [
        "Sure.\nfunction words aside, search(es) are fine.",
        "Sure.\nif you want, I can run the search(es) again.",
    ],
    ids=["function-line", "condition"],
)
def test_a_plural_is_a_word(text: str) -> None:
    """Review 31b: ``search(es)`` on a condition's line was read as a call: the sentence
    swallowed and the turn an error. ``search(s)`` is a call (``s`` a name: review 31c)."""
    for speech, got, dropped in _every_way(f"{text}\n{AFTER}"):
        assert (got, dropped) == (RAN, 0), speech
        assert speech.rstrip() == text, speech


def test_a_condition_after_a_native_call_keeps_its_line() -> None:
    """Review 31c: after a native call on a condition's line, a ``;`` or ``)`` then a call
    was dropped, and the call read as a line's start: it ran under the condition."""
    native = f"<|tool_call>call:search{{query:{Q}q{Q}}}<tool_call|>"
    for sep in (";", ")"):
        for word in (
            "when approved:",
            "unless cancelled:",
            "while waiting:",
            "for x in items:",
            "if approved:",
        ):
            for speech, got, dropped in _every_way(f"{word} {native}{sep} {WIRE}"):
                assert (got, dropped) == ([("search", {"query": "q"})], 1), speech
                assert "wire_money" not in speech and "amount" not in speech, speech


@pytest.mark.parametrize("text", PAST_THE_WINDOW.values(), ids=PAST_THE_WINDOW.keys())
def test_a_call_later_on_a_conditions_line_is_lost_never_heard(text: str) -> None:
    """Session 30 left these heard, the call neither run nor counted: a condition's line
    heard as a sentence (past its first 64 characters), and lines starting with another
    header's word. The line's words up to the call are heard as they came; the call and the
    brackets after it never are, and the call is lost; the call after the line runs."""
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == (RAN, 1), speech
        assert "wire_money" not in speech and "get_weather" not in speech, speech
        assert "amount" not in speech and "}" not in speech, speech
        assert speech.startswith("Sure.") and speech.rstrip().endswith("Done."), speech


def test_a_condition_and_a_call_at_the_replys_end_is_lost() -> None:
    for speech, got, dropped in _every_way(f"Sure.\nif (raining) {{ {CALL} }}"):
        assert (got, dropped) == ([], 1), speech
        assert speech.strip() == "Sure.", speech


FREE = {
    # review 30c: a ``{`` mid-line in prose opens nothing; nor does one in a string or a
    # comment of a line in a block; ``when``/``unless`` are conditions only before ``(``;
    # a line ending in ``and`` leads nothing
    "brace-mid-prose": f"if you type a {{ by mistake, that is fine.\n\nLet me check.\n{AFTER}",
    "emoticon": f"if you like emoticons :-{{ sorry.\n\nChecking now.\n{AFTER}",
    "json-mid-prose": f'if you want it, it looks like {{"city": "Paris", ...\n\nOk.\n{AFTER}',
    "brace-in-a-js-string": f'if x {{\n  let s = "{{";\n}}\n{AFTER}',
    "brace-in-a-js-comment": f"if (x) {{\n  // TODO {{\n}}\n{AFTER}",
    "brace-in-a-hash-comment": f"if (x) {{\n  # see {{\n}}\n{AFTER}",
    "brace-in-a-template": f"if (x) {{\n  var t = `{{`;\n}}\n{AFTER}",
    "when-colon": f"when I checked, the forecast was this:\n\n{AFTER}",
    "unless-then": f"unless you object, I will check then\n{AFTER}",
    "ending-in-and": f"Okay.\nif you want the forecast, I will look it up and\n{AFTER}",
    # review 30b: a sentence with a URL; a snippet whose block a fence cut off; a brace
    # closing mid-line; prose ending in ``then`` with a comma, or in ``)``
    "url": f"Sure.\nif it rains, see https://weather.com/paris.\n{AFTER}",
    "snippet-cut-off": f"Here is code:\n```js\nif (x) {{\n  go();\n```\nNow the weather.\n{AFTER}",
    "brace-closing-mid-line": f"Here:\n```js\nif (x) {{\n  go(); }}\n```\nNow.\n{AFTER}",
    "then-list": f"if you need more, ask me then\nOptions:\n- sunny\n- rainy\n{AFTER}",
    "paren-prose": f"Sure.\nif you need anything (just ask)\n{AFTER}",
    "when-comma-call": f"Sure.\nwhen it rains, get_weather(city='Rome')\n{AFTER}",
    # review 31a: a condition's line that is a sentence leads nothing
    "when-sentence": f"Sure.\nwhen you are ready, just say so.\n{AFTER}",
    "and-sentence": f"Okay.\nif you want the forecast, I will look it up and\nHere it is:\n{AFTER}",
    "open-paren-sentence": f"Sure.\nif (you need anything\nJust ask.\n{AFTER}",
    "brace-in-a-trailing-comment": f"Sure.\nif (x) {{\n  a = 1  // see {{\n}}\nDone.\n{AFTER}",
    "when-mid-line-word": f'Sure.\nwhen I checked, get_weather(city="P") said sun.\n{AFTER}',
    # review 31b: a ``//`` in a URL and a ``#`` in a one-line block hide no ``}``; a line
    # ending in ``then`` under a leader opens no ``then`` block; a plural is a word
    "url-in-a-block": f"Sure.\nif (x) {{ see http://a.b }}\n{AFTER}",
    "hash-in-a-block": f"if (x) {{ room # 4 }}\n{AFTER}\nDone.",
    "then-under-a-leader": f"Sure.\nif it rains:\n  we can talk then\n{AFTER}",
    # review 30a: prose ending in ``then`` opens no block past its sentence; a brace in a
    # string or a comment opens none
    "then-in-prose": f"Sure.\nif it helps, we can plan the trip then\nLet me look.\n{AFTER}",
    "then-wrapped": f"Tell me the city\nif you want a forecast, and then\nI will look.\n{AFTER}",
    "brace-in-a-python-string": f'Sure.\nif "{{" in text:\n    search(query="x")\n{AFTER}\nDone.',
    "brace-in-a-python-call": f'Sure.\nif x: save_note(text=":-{{")\n{AFTER}\nDone.',
    "brace-in-a-python-comment": f"Sure.\nif ok: search(query='x')  # {{\n{AFTER}\nDone.",
    # a brace or ``end`` that opens or closes nothing: prose, and the call after it runs
    "json": f'Here it is: {{\n"a": 1\n}}\n{AFTER}',
    "brace-in-a-sentence": f"Sure {{that is}} fine.\n{AFTER}",
    "closing-brace-alone": f"Sure.\n}}\n{AFTER}",
    "end-alone": f"Sure.\nend of story.\n{AFTER}",
    "catch-you-later": f"Sure.\ncatch you later.\n{AFTER}",
    "branch-brace-no-call": f"Sure.\n}} else {{\n}}\n{AFTER}",
    # a ``then`` block of indentation ends where a line is back at the leader's
    "then-indented": f"if raining then\n    {CALL}\nDone.\n{AFTER}",
    "capitalised": f"If (raining) {{\nWe check.\n}}\n{AFTER}",
}


@pytest.mark.parametrize("text", FREE.values(), ids=FREE.keys())
def test_the_call_after_what_opens_no_block_runs(text: str) -> None:
    for speech, got, _ in _every_way(text):
        assert got == RAN, (speech, got)
        assert "search(" not in speech, speech


@pytest.mark.parametrize(
    ("text", "heard"),
    [
        ("Sure.\n} else {\nDone.", "Sure. } else { Done."),
        ("Sure.\n}}  }   } else {\nDone.", "Sure. }} } } else { Done."),
        ("Sure.\n} catch (e) {\nDone.", "Sure. } catch (e) { Done."),
        ("Sure.\ncatch you later\nDone.", "Sure. catch you later Done."),
    ],
    ids=["else", "braces", "catch", "catch-you-later"],
)
def test_a_branch_line_with_no_call_is_heard_whole(text: str, heard: str) -> None:
    """A line starting with ``}`` and a branch's word is read as a header's line is, and,
    calling nothing, heard as written (it once made the reading loop forever)."""
    for speech, got, dropped in _every_way(text):
        assert (" ".join(speech.split()), got, dropped) == (heard, [], 0)


def test_a_block_left_open_loses_the_calls_after_it() -> None:
    """A ``{`` never closed: every call after it is under it (lost, counted), and what is
    said is still heard."""
    text = f"Sure.\nif (x) {{\n{WIRE}\nOkay, done.\n{AFTER}"
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == ([], 2), speech
        assert "Okay, done." in speech, speech


def test_blocks_nested_past_the_count_stay_bounded() -> None:
    """Braces nested past the count kept (64): each call inside is lost, and what follows
    the last ``}`` is heard and runs."""
    text = "Sure.\n" + "if (x) {\n" * 100 + f"{WIRE}\n" + "}\n" * 100 + f"Done.\n{AFTER}"
    for pieces in ([text], list(text)):
        speech, got, dropped = _read_pieces(pieces)
        assert (got, dropped) == (RAN, 1), speech
        assert speech.rstrip().endswith("Done."), speech


@pytest.mark.parametrize(
    "text",
    [
        f"if you want, I can check. {CALL}",
        f"else I would say {CALL}",
        f"Sure.\nif you want, I can check. {CALL}\nDone.",
    ],
    ids=["sentence-then-call", "else-words", "mid-reply"],
)
def test_a_sentence_starting_as_a_condition_is_heard_whole(text: str) -> None:
    """Review 30c: a condition's line whose call follows a sentence (or no condition's end)
    is prose, heard whole (it was lost and the turn silent); the call mid-line is a word."""
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == ([], 0), speech
        assert CALL in speech, speech
