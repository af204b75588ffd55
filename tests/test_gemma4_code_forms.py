"""Python code as small Gemma 4 models write it, read statement by statement (issue 21).

A caller notices each of these as a tool that never ran, a tool run with the wrong value, or
code read aloud:

- a ``tool_code`` fence whose first statement is no call (``x = 1``) ran nothing and counted
  nothing: a statement that is no call is skipped to its end;
- an argument that is no literal (``city=city``, ``-x``) ran the tool with its text as the
  value: now that call is counted lost, never run with a guess, as are the calls of code with
  control flow (``if``, ``for``, ``def``: which would run is not known);
- a line starting a multi-line ``print(f(`` naming no declared tool was heard: a line that is
  unfinished Python (Python's own ``codeop`` says so) goes on as code to its end;
- a ``#`` comment in line-start code opened brackets and strings that swallowed what followed;
- ``print(`` mid-line, then more than four spaces or a blank line before a declared tool's
  call, was heard and the tool never ran; a line that is a declared tool's call was heard.

Each reply is fed whole, one character at a time and cut in two at every position.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_gemma4_grammar import Q
from tests.test_gemma4_prose import _every_way, _read_pieces

WEATHER = [("get_weather", {"city": "Paris"})]
FENCED_NAMES = [
    'Sure.\n```tool_code\ncity = "Rome"\nget_weather(city="Paris")\n```\nDone.',
    "Sure.\n```tool_code\nx = 1\nget_weather(city='Paris')\n```\nDone.",
    'Sure.\n```tool_code\nx += 1\nprint(get_weather(city="Paris"))\n```\nDone.',
    'Sure.\n```tool_code\nc = {"a": 1}; get_weather(city="Paris")\n```\nDone.',
    'Sure.\n```tool_code\nfoo(1)\nget_weather(city="Paris")\n```\nDone.',
]


@pytest.mark.parametrize("text", FENCED_NAMES, ids=["literal", "int", "augmented", "dict", "foo"])
def test_a_statement_that_is_no_call_does_not_stop_the_fence(text: str) -> None:
    for speech, got, dropped in _every_way(text):
        assert got == WEATHER and dropped == 0, (speech, got)
        assert speech == "Sure.\nDone." or speech == "Sure.\n\nDone.", speech


UNKNOWN_VARIABLE = [
    "```tool_code\nget_weather(city=city)\n```",
    '```tool_code\ncity = "Paris"\nget_weather(city=city)\n```',
    'Sure.\n```tool_code\ncities = {"Paris", "Rome"}\nget_weather(city=cities)\n```',
    '```tool_code\nnote = "Buy milk"\nnote += " and eggs"\nsave_note(text=note)\n```',
    "```tool_code\nx = 5\nget_weather(city=x)\n```",
    "Hi.\nget_weather(city=-x)\nok",
    "Hi.\nget_weather(city=user.city)\nok",
    "Hi.\nget_weather(city=not x)\nok",
    'Checking.\nprint(str(get_weather(city="Paris")))\nok',
    'Ok.\n```tool_code\nx = str(get_weather(city="Paris"))\n```\nDone.',
    '```tool_code\nnone = "Rome"\nget_weather(city=none)\n```',
    "Ok.\nget_weather(city=Paris Texas)\nDone.",
    "get_weather(city) is a function.",
    "```tool_code\nprint(get_weather(city=where))\n```",
    "Hi.\n```tool_code\ncity = input()\nget_weather(city=city)\n```",
    "Hi print(get_weather(city=city)) ok",
    "Hi.\nprint(get_weather(city=city))",
]


@pytest.mark.parametrize("text", UNKNOWN_VARIABLE)
def test_an_argument_naming_an_unknown_variable_is_a_lost_call(text: str) -> None:
    for speech, got, dropped in _every_way(text):
        assert got == [] and dropped == 1, (speech, got)
        assert "get_weather" not in speech and "```" not in speech


CONTROL_FLOW = [
    '```tool_code\ncity = "London"\nfor city in ["Paris"]:\n    get_weather(city=city)\n```',
    '```tool_code\nif False:\n    get_weather(city="Paris")\n```',
    '```tool_code\ndef f():\n    get_weather(city="Paris")\n```',
]


@pytest.mark.parametrize("text", CONTROL_FLOW, ids=["for", "if", "def"])
def test_code_with_control_flow_runs_none_of_its_calls(text: str) -> None:
    """Which calls code with ``if``, ``for`` or ``def`` would make is not known (a call in a
    dead branch ran, a loop's variable was its value before the loop): each is lost."""
    for speech, got, dropped in _every_way(text):
        assert got == [] and dropped >= 1 and speech == ""


def test_the_calls_before_the_first_control_flow_run() -> None:
    """Review 28b: Python makes the calls before the first ``if`` whatever follows."""
    text = '```tool_code\nget_weather(city="Paris")\nif x:\n    get_weather(city="Rome")\n```'
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == ("", [("get_weather", {"city": "Paris"})], 1)


def test_an_assigned_call_runs_once() -> None:
    """``tool_code = f(…)`` calls ``f`` (as Python would), ``print(tool_code)`` calls nothing."""
    for text in [
        'tool_code = get_weather(city="Paris")\nprint(tool_code)\nok',
        '```tool_code\ntool_code = get_weather(city="Paris")\n```\nok',
        '```tool_code\nx = get_weather(city="Paris")\nprint(x)\nprint(x)\n```\nok',
    ]:
        for speech, got, dropped in _every_way(text):
            assert (speech.strip(), got, dropped) == ("ok", WEATHER, 0)


COMMENTS = [
    (
        'Sure.\nget_weather(city="Paris")  # (\n'
        f"<|tool_call>call:save_note{{text:{Q}x{Q}}}<tool_call|>Done.",
        "Sure.\nDone.",
        [*WEATHER, ("save_note", {"text": "x"})],
    ),
    ("Sure.\nget_weather(  # the user's city\n  city='Paris')\nDone.", "Sure.\nDone.", WEATHER),
    ("Sure.\nprint(foo())  # (old\nThe weather is nice.", "Sure.\nThe weather is nice.", []),
    ("Hi.\nprint(x)  # it is #1\nok", "Hi.\nok", []),
]


@pytest.mark.parametrize("text,heard,calls", COMMENTS, ids=["paren", "apostrophe", "old", "hash"])
def test_a_comment_in_line_start_code_hides_nothing(text: str, heard: str, calls: object) -> None:
    """A ``#`` comment in code at a line start runs to its line's end: a ``(`` or ``'`` in it
    opens nothing (the next lines, a native call and the answer after it were swallowed)."""
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (heard, calls, 0)


def test_a_call_like_line_in_a_triple_quoted_string_of_a_cut_off_fence_is_no_call() -> None:
    text = 'Hi.\n```tool_code\ns = """\nget_weather(city="x")\n'
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == ("Hi.\n", [], 0)


def test_a_fence_cut_off_inside_a_declared_call_counts_it_lost() -> None:
    for speech, got, dropped in _every_way('Hi.\n```tool_code\nx = 1\nget_weather(city="Pa'):
        assert (speech, got, dropped) == ("Hi.\n", [], 1)


def test_a_quoted_marker_in_a_sealed_fence_string_starts_nothing() -> None:
    quoted = "a <|tool_call>call:wire_money{amount:9}<tool_call|>"
    text = f"```tool_code\nsave_note(text={Q}{quoted}{Q})\n```"
    for _speech, got, dropped in _every_way(text):
        assert got == [("save_note", {"text": quoted})]
        assert dropped == 0


UNFINISHED_LINES = [
    ("print(foo(\n1))\nok", "ok"),
    ("Hi.\nprint(foo(\n    1,\n    2))\nok", "Hi.\nok"),
    ('Hi.\ntool_code = foo(\na="b")\nprint(tool_code)\nok', "Hi.\nok"),
    (
        f"x = 1\nprint({Q}a\nb <|tool_call>call:save_note{{text:hi}}<tool_call|>{Q})\nok",
        "x = 1\nok",
    ),
    ("Hi.\nprint(foo(\n1", "Hi.\n"),
]


@pytest.mark.parametrize("text,heard", UNFINISHED_LINES)
def test_code_naming_no_declared_tool_over_several_lines_is_never_heard(
    text: str, heard: str
) -> None:
    """A line that Python's compiler reads as unfinished goes on as code: never heard, and a
    ``<|"|>`` string in it stays sealed across its lines (a call quoted there ran before)."""
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (heard, [], 0)


SENTENCES = [
    ("print(foo(1) is how\nyou do it", "print(foo(1) is how\nyou do it", []),
    (
        'print(foo(1) is how\nwe do it\nprint(get_weather(city="Paris"))',
        "print(foo(1) is how\nwe do it\n",
        WEATHER,
    ),
    ("print(x) (see below.\nthen more", "print(x) (see below.\nthen more", []),
]


@pytest.mark.parametrize("text,heard,calls", SENTENCES)
def test_a_sentence_python_reads_as_unfinished_is_heard_once_it_is_no_python(
    text: str, heard: str, calls: object
) -> None:
    """Words that begin like Python (``print(foo(1) is how``) are held only until a line
    Python cannot read; then they are heard and the next line is read afresh."""
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (heard, calls, 0)


def test_a_long_call_naming_no_declared_tool_is_never_heard() -> None:
    """Eighteen lines of a call naming no declared tool: code to its end, never heard."""
    legs = "".join(f'    leg{i}="city {i}",\n' for i in range(16))
    text = f"Sure.\nprint(book_trip(\n{legs}))\nDone."
    for speech, got, dropped in _every_way(text)[:3]:
        assert (speech, got, dropped) == ("Sure.\nDone.", [], 0)


SPACED_INLINE = [
    'Hi print(\n\n   get_weather(city="Paris"))\nok',
    'Hi print(                get_weather(city="Paris")) ok',
    'Hi print(\tdefault_api.get_weather (city="Paris")) ok',
]


@pytest.mark.parametrize("text", SPACED_INLINE, ids=["blank-line", "spaces", "module"])
def test_any_spacing_between_print_and_a_declared_call_keeps_the_call(text: str) -> None:
    """``print(`` mid-line, then spaces or blank lines (up to 16 characters) before a
    declared tool's call: the call runs and nothing of it is heard."""
    for speech, got, dropped in _every_way(text):
        assert got == WEATHER and dropped == 0
        assert speech.startswith("Hi ") and "get_weather" not in speech and "print" not in speech


BARE_LINES = [
    ('ok\nget_weather(city="Paris")\nDone.', "ok\nDone."),
    ('get_weather(city="Paris")', ""),
    ('Sure.\ndefault_api.get_weather(city="Paris")', "Sure.\n"),
    ("Sure.\n  get_weather(\n    city='Paris',\n  )\nDone.", "Sure.\nDone."),
]


@pytest.mark.parametrize("text,heard", BARE_LINES)
def test_a_line_that_is_a_declared_tools_call_runs_it(text: str, heard: str) -> None:
    """A line that is a declared tool's Python call with no ``print(`` was heard and the tool
    never ran."""
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (heard, WEATHER, 0)


@pytest.mark.parametrize(
    "text",
    ["get_weather is a tool.\nok", "get_weatherman(1)", "get_weather, then save_note."],
)
def test_a_line_that_only_names_a_tool_is_heard(text: str) -> None:
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (text, [], 0)


def test_a_marker_in_a_line_start_comment_ends_the_code() -> None:
    """The model's own token in a ``#`` comment is markup: the code ends there, the native
    call after it runs and the answer is heard (review 21k: the call was lost uncounted)."""
    text = (
        'Ok.\nget_weather(city="Paris")  # '
        f"<|tool_call>call:save_note{{text:{Q}x{Q}}}<tool_call|>\nDone."
    )
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == ("Ok.\nDone.", [*WEATHER, ("save_note", {"text": "x"})], 0)


def test_a_string_delimiter_in_a_line_start_comment_is_never_heard() -> None:
    for speech, _got, _dropped in _every_way(f"Ok.\nprint(x, # {Q}\nThe weather is nice."):
        assert Q not in speech and speech.endswith("The weather is nice.")


def test_an_assert_stops_the_calls_after_it() -> None:
    for speech, got, dropped in _every_way('```tool_code\nassert False\nsave_note(text="x")\n```'):
        assert (speech, got, dropped) == ("", [], 1)


def test_sentences_python_happens_to_read_on_are_heard_past_the_bound() -> None:
    """``print(`` alone, then English, which Python reads as an unfinished call: held for at
    most 32 lines, then heard (it vanished, unheard and uncounted)."""
    text = "Ok.\nprint(\n" + "It is sunny in Paris.\n" * 40
    for speech, _got, _dropped in _every_way(text)[:3]:
        assert speech.count("It is sunny in Paris.") == 40


def test_a_keyword_given_twice_is_a_lost_call() -> None:
    """Python refuses ``f(city="Paris", city="Rome")``: lost, never run with the last value."""
    for speech, got, dropped in _every_way('```tool_code\nget_weather(city="P", city="R")\n```'):
        assert (speech, got, dropped) == ("", [], 1)


def test_numbers_written_as_python_writes_them_are_literals() -> None:
    text = (
        "```tool_code\nget_weather(days=0x10)\nget_weather(days=1_000)\nget_weather(days=+1)\n```"
    )
    for _speech, got, dropped in _every_way(text):
        assert got == [("get_weather", {"days": d}) for d in (16, 1000, 1)] and dropped == 0


def test_a_mid_line_call_cut_off_by_a_marker_is_lost_and_never_heard() -> None:
    """Review 21l: the code was heard and the loss not counted."""
    note = f"<|tool_call>call:save_note{{text:{Q}x{Q}}}<tool_call|>"
    text = f'Ok. print(get_weather(city="Paris", {note}Done.'
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == ("Ok. Done.", [("save_note", {"text": "x"})], 1)
    text = 'Ok. print(get_weather(city="Paris", <|channel>thought\nsecret<channel|>Done.'
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == ("Ok. Done.", [], 1)


def test_a_declared_call_python_would_make_is_counted_when_not_read() -> None:
    for speech, got, dropped in _every_way("Ok.\nprint(f\"{get_weather(city='Paris')}\")\nDone."):
        assert (speech, got, dropped) == ("Ok.\nDone.", [], 1)


def test_a_line_break_before_a_calls_bracket_is_read_as_python_reads_it() -> None:
    """Inside ``print(`` a line may break anywhere: Python makes this call, and so do we."""
    for speech, got, dropped in _every_way('Ok.\nprint(get_weather\n(city="Paris"))\nDone.'):
        assert (speech, got, dropped) == ("Ok.\nDone.", WEATHER, 0)


def test_a_name_then_a_bracket_on_the_next_line_is_two_lines_of_prose() -> None:
    text = 'Ok.\nget_weather\n(city="Paris")\nDone.'
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (text, [], 0)


# -- issue 21, session 27: Python's own parser reads each statement ------------------------

PYTHON_LITERALS = [
    '```tool_code\nget_weather(city=u"Paris")\n```',
    '```tool_code\nget_weather(city=r"Paris")\n```',
    '```tool_code\nget_weather(city=("Paris"))\n```',
    '```tool_code\nget_weather(city="Pa" "ris")\n```',
    '```tool_code\nget_weather(city="Pa"\n  "ris")\n```',
    'Ok.\nget_weather(city="Par\\\nis")\nDone.',
    'Ok.\nprint( (get_weather(city="Paris")))\nDone.',
    'Ok.\nprint((default_api.get_weather(city="Paris")))\nDone.',
    f"```tool_code\nget_weather(city={Q}Paris{Q})\n```",
]


@pytest.mark.parametrize(
    "text",
    PYTHON_LITERALS,
    ids=["u", "r", "parens", "concat", "concat-lines", "backslash", "grouped", "grouped-module",
         "gemma-string"],
)  # fmt: skip
def test_every_way_python_writes_a_literal_or_groups_a_call_runs_it(text: str) -> None:
    """Each of these was a lost call, or code read aloud: the arguments were read by a
    hand-written copy of part of Python's grammar."""
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == (WEATHER, 0), (speech, got)
        assert speech.strip() in ("", "Ok.\nDone.", "Ok.\n\nDone."), speech


NOT_PYTHON_CALLS = [
    '```tool_code\nsave_note(text={note: "hi"})\n```',  # a key that is a variable
    '```tool_code\nsave_note(text="a", ｔｅｘｔ="b")\n```',  # the same keyword, as Python reads it
    '```tool_code\nget_weather(city={"Paris"})\n```',  # a set: no JSON form
    '```tool_code\nget_weather(city=b"Paris")\n```',
    '```tool_code\nget_weather(city=f"{x}")\n```',
    '```tool_code\nget_weather(**{"city": "Paris"})\n```',
    '```tool_code\nget_weather("Paris")\n```',
    "```tool_code\nget_weather(city=1e999)\n```",
]


@pytest.mark.parametrize(
    "text",
    NOT_PYTHON_CALLS,
    ids=["key-variable", "full-width-twice", "set", "bytes", "f-string", "unpacked", "positional",
         "infinite"],
)  # fmt: skip
def test_a_call_python_would_not_make_as_written_is_lost(text: str) -> None:
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == ("", [], 1)


@pytest.mark.parametrize(
    "stop",
    ["import sys; sys.exit()", "x = exit()", "os._exit(0)", "quit()", "sys.exit(1)"],
)
def test_a_call_that_ends_the_program_stops_the_calls_after_it(stop: str) -> None:
    """Review 21l: ``sys.exit()`` and the like did not count as control flow."""
    text = f'```tool_code\n{stop}\nget_weather(city="Paris")\n```'
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == ("", [], 1)


@pytest.mark.parametrize(
    ("text", "heard"),
    [
        ('Sure.\nresult = get_weather(city="Paris")\nprint(result)', "Sure."),
        ('result = get_weather(city="Paris")', ""),
        ('Ok.\n_w = default_api.get_weather(city="Paris")\nDone.', "Ok.\nDone."),
        ('Ok.\nx = get_weather(city="Paris")\nIt is sunny.', "Ok.\nIt is sunny."),
        ("Ok.\nx = get_weather(city='Paris')\nIt's sunny.\nBye.", "Ok.\nIt's sunny.\nBye."),
    ],
)
def test_a_declared_call_given_to_a_name_at_a_line_start_runs(text: str, heard: str) -> None:
    """Only ``tool_code = f(…)`` ran; ``result = f(…)`` was heard. A sentence after it is
    heard (it was read as the code's next statement and dropped)."""
    for speech, got, dropped in _every_way(text):
        assert (speech.strip(), got, dropped) == (heard, WEATHER, 0)


@pytest.mark.parametrize(
    "text",
    [
        "okay, let me check.\nsure thing = yes",
        "Hi.\nx = 5 is the answer.\nDone.",
        "Hi.\nsearch = the best way to look\nDone.",
        "gets it done.",
    ],
)
def test_a_lowercase_line_start_that_is_no_call_is_heard_whole(text: str) -> None:
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (text, [], 0)


def test_a_sentence_after_a_call_nested_in_code_is_heard_and_the_call_counted() -> None:
    """Review 21l: ``tool_code = str(get_weather(…))`` then a sentence was heard, code and
    all, and the call neither ran nor was counted."""
    text = 'Ok.\ntool_code = str(get_weather(city="Paris"))\nIt is sunny there.'
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == ("Ok.\nIt is sunny there.", [], 1)


def test_print_ending_a_longer_name_runs_nothing() -> None:
    """Review 21l: ``blueprint(get_weather(…))`` ran ``get_weather``: its result goes to a
    function not known (as in ``str(get_weather(…))``), so the call is counted lost."""
    for speech, got, dropped in _every_way('Ok, blueprint(get_weather(city="Paris")) done.'):
        assert (got, dropped) == ([], 1)
        assert "get_weather" not in speech and "Paris" not in speech


@pytest.mark.parametrize(
    "text",
    [
        f"Ok.\nprint(1)  # call:get_weather{{city:{Q}Paris{Q}}}\nDone.",
        'Ok.\nprint(get_weather(city="Rome"))  # next call: save the note\nDone.',
        "Ok.\nget_weather(city='Rome')  # call:end_call{}\nDone.",
    ],
)
def test_call_syntax_in_a_line_start_comment_is_the_comments_text(text: str) -> None:
    """Review 21l: ``Paris}`` was heard. A comment is a comment, as in a fence: its
    ``call:`` runs nothing (review 27a: ending the code there ran ``end_call`` and read
    ``call: save the note`` aloud), and its ``<|"|>`` ends nothing."""
    for speech, got, dropped in _every_way(text):
        assert speech == "Ok.\nDone." and dropped == 0
        assert all(name == "get_weather" for name, _ in got)


def test_a_declared_call_whose_string_breaks_its_line_is_lost_not_heard() -> None:
    for speech, got, dropped in _every_way('Ok.\nget_weather(city="Par\nis")\nDone.'):
        assert (speech, got, dropped) == ("Ok.\nDone.", [], 1)


@pytest.mark.parametrize(
    "text",
    [
        'Ok.\nprint(```tool_code\nget_weather(city="Paris")\n```',
        f"Ok.\nprint(foo(\n<|tool_call>call:get_weather{{city:{Q}Paris{Q}}}<tool_call|>\nDone.",
        'Ok.\nprint(\nIt is nice\nget_weather(city="Paris")\nDone.',
    ],
    ids=["fence", "marker", "declared-line"],
)
def test_code_cut_off_by_markup_or_a_call_is_not_heard(text: str) -> None:
    """Review 21l: ``print(```` and ``print(foo(`` were heard before the call ran."""
    for speech, got, dropped in _every_way(text):
        assert (speech.strip(), got, dropped) in (("Ok.", WEATHER, 0), ("Ok.\nDone.", WEATHER, 0))


MENTIONS = [
    "I can't end_call() myself, sorry.",
    "My tools: search(query), get_weather(city), end_call().",
    'For example: get_weather(city="London") returns the forecast.',
    "The function get_weather() takes a city.",
    'Use `search(query="cats")` to look things up.',
    "Say 'get_weather(city=\"Paris\")' to me.",
    "I'll search (and compare) prices for you.",
    'You can call requests.get(url="https://x.com") to fetch it.',
    'I will run get_weather(city="Paris") now.',
]


@pytest.mark.parametrize("text", MENTIONS)
def test_a_tool_named_in_a_sentence_never_runs(text: str) -> None:
    """Review 27a: reading a declared tool's ``f(…)`` anywhere in a sentence as a call ran
    ``end_call`` for "I can't end_call() myself" and a search from a quote. A sentence names
    a tool far more often than it calls one: mid-line only ``print(f(…))`` is code."""
    tools: dict[str, Any] = {name: {} for name in ("search", "get_weather", "end_call", "get")}
    for speech, got, dropped in _every_way(text, tools):
        assert (speech, got, dropped) == (text, [], 0)


@pytest.mark.parametrize(
    "text",
    [
        'A target_get_weather(city="x") ok',  # the end of a longer word
        "I will search the web (and more).",  # a declared name, no bracket after it
        "Let me get the weather for you (one moment).",
        "Get get_weather done",
        "See search results (2) and get_weather.",
    ],
)
def test_a_sentence_naming_a_tool_without_its_call_is_heard_whole(text: str) -> None:
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (text, [], 0)


SPACED = "Sure.\nsearch (it's quick) for you.\nBye."


@pytest.mark.parametrize(
    ("text", "heard", "calls", "lost"),
    [
        # review 27a: an apostrophe or a bracket never closed swallowed the rest of the
        # reply, a native call after it too
        (
            f"Sure.\nsearch(it's quick) for you.\nAnything else?\n"
            f"<|tool_call>call:get_weather{{city:{Q}Paris{Q}}}<tool_call|>",
            "Sure.\nAnything else?",
            WEATHER,
            1,
        ),
        ('Sure.\nget_weather(city="Paris"\nDone.', "Sure.\nDone.", [], 1),
        ('Ok.\nget_weather(city="Paris)\nIt is sunny.\nBye.', "Ok.\nIt is sunny.\nBye.", [], 1),
        ('Ok, print(get_weather(city="Paris"\nDone.', "Ok, Done.", [], 1),
        (
            'Ok.\nget_weather(city="Paris"\nSorry:\nget_weather(city="Rome")\nBye.',
            "Ok.\nSorry:\nBye.",
            [("get_weather", {"city": "Rome"})],
            1,
        ),
        # a line-start name, a space, then a bracket: a sentence
        (SPACED, SPACED, [], 0),
        # a line break inside a declared call's string is read on: a lost call, never heard
        ('Ok.\nsave_note(text="Line one\nLine two")\nDone.', "Ok.\nDone.", [], 1),
        ('Ok.\n  get_weather(\n    city="Paris",\n  )\nDone.', "Ok.\nDone.", WEATHER, 0),
    ],
    ids=["apostrophe", "no-paren", "no-quote", "inline-no-paren", "retry", "spaced",
         "line-in-string", "indented"],
)  # fmt: skip
def test_a_declared_call_python_cannot_read_on_is_lost_at_its_first_line(
    text: str, heard: str, calls: object, lost: int
) -> None:
    for speech, got, dropped in _every_way(text):
        assert (speech.strip(), got, dropped) == (heard, calls, lost), speech


@pytest.mark.parametrize(
    ("text", "heard"),
    [
        ('Sure.\nx = get_weather(city="Paris")\nParis is sunny', "Sure.\nParis is sunny"),
        ('Sure.\nx = get_weather(city="Paris")\nOkay\nBye.', "Sure.\nOkay\nBye."),
        ('Sure.\ntool_code = get_weather(city="Paris")\ntool_code\nDone.', "Sure.\nDone."),
    ],
)
def test_a_sentence_python_happens_to_read_after_code_is_heard(text: str, heard: str) -> None:
    """Review 27a: ``Okay`` (a name) and ``Paris is sunny`` (a comparison) after a call were
    read as the code's next statements and dropped. ``tool_code`` after it names what the
    code assigned: code."""
    for speech, got, dropped in _every_way(text):
        assert (speech.strip(), got, dropped) == (heard, WEATHER, 0)


@pytest.mark.parametrize(
    "text",
    [
        'Sure.\nresponse = requests.get_weather(city="Paris")\nok',
        '```tool_code\nrequests.get_weather(city="x")\n```',
    ],
)
def test_another_modules_function_of_a_tools_name_is_no_call(text: str) -> None:
    """Review 27a: ``requests.get(…)`` ran the tool ``get``. Only ``default_api.`` (Gemini's
    module) names a tool."""
    for _speech, got, dropped in _every_way(text):
        assert (got, dropped) == ([], 0)


@pytest.mark.parametrize(
    ("text", "heard", "calls", "lost"),
    [
        (
            'x = get_weather(city="Paris")\nOkay\nget_weather(city="Oslo")',
            "Okay",
            [*WEATHER, ("get_weather", {"city": "Oslo"})],
            0,
        ),
        (
            'Checking.\nget_weather(city="Paris"\nOops.\nget_weather(city="Rome"\n'
            'get_weather(city="Rome")\nDone.',
            "Checking.\nOops.\nDone.",
            [("get_weather", {"city": "Rome"})],
            2,
        ),
        (
            'Let me check.\nget_weather(\n    city="Paris",\n    days=3\nOne moment please.',
            "Let me check.\nOne moment please.",
            [],
            1,
        ),
        (
            'Ok.\nresult = get_weather(city="Paris")\nResult: sunny',
            "Ok.\nResult: sunny",
            WEATHER,
            0,
        ),
        (
            'Ok.\nx = get_weather(city="Paris")\n(one moment)\nBye',
            "Ok.\n(one moment)\nBye",
            WEATHER,
            0,
        ),
        (
            'Sure, print(get_weather(city="Paris",  # see `days`, call:x\n days=3)) ok.',
            "Sure, ok.",
            [("get_weather", {"city": "Paris", "days": 3})],
            0,
        ),
    ],
    ids=["lone-word", "second-retry", "open-arguments", "label", "aside", "inline-comment"],
)
def test_review_27b_code_and_sentences_around_it(
    text: str, heard: str, calls: object, lost: int
) -> None:
    """Review 27b: a call after a one-word line was read aloud; a retry after a second
    broken call was read aloud; a call's argument lines were heard when its ``)`` never came;
    ``Result: sunny`` and ``(one moment)`` after code were dropped; a comment inside a
    mid-line call made it prose."""
    for speech, got, dropped in _every_way(text):
        assert (" ".join(speech.split()), got, dropped) == (" ".join(heard.split()), calls, lost)


LONG_NOTE = (
    "Saving.\nsave_note(text=(\n"
    + "".join(f'  "item {i}\\n"\n' for i in range(40))
    + "\nSaved it for you."
)


@pytest.mark.parametrize(
    ("text", "heard", "calls"),
    [
        (
            'Sure.\nget_weather(\n    city="Paris",\n    days=3,\n    units="metric"\n'
            'I\'ll check that now.\nget_weather(city="Paris", days=3)',
            "Sure.\nI'll check that now.",
            [("get_weather", {"city": "Paris", "days": 3})],
        ),
        (LONG_NOTE, "Saving.\nSaved it for you.", []),
    ],
    ids=["apostrophe-after", "forty-lines"],
)
def test_review_27c_a_broken_calls_argument_lines_are_never_heard(
    text: str, heard: str, calls: object
) -> None:
    """Review 27c: an apostrophe in the sentence after a broken call, or a call longer than
    32 lines, made the cut fall at its first line, and its argument lines were heard."""
    for speech, got, dropped in _every_way(text)[:40]:
        assert (speech.strip(), got, dropped) == (heard, calls, 1)


def test_review_27c_a_long_call_never_closed_swallows_nothing_after_it() -> None:
    """Review 27c: a declared call past 32 lines or 2 KB was read on without asking Python
    again, so a ``)`` never written swallowed every sentence after it."""
    text = (
        'Saving.\nsave_note(\n text="' + "word " * 430 + '",\nSaved it.\n'
        + "More words here.\n" * 600 + 'get_weather(city="Rome")\nBye.'
    )  # fmt: skip
    for size in (7, len(text)):
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        heard, calls, dropped = _read_pieces(pieces)
        assert heard.startswith("Saving.\nSaved it.\nMore words here.") and heard.endswith("Bye.")
        assert [name for name, _ in calls] == ["get_weather"] and dropped == 1
