"""A Python block outside a fence: its header is code, and its calls are lost (issue 21).

Review 27b: ``if x:`` then an indented ``wire_money(amount=5)``, with no fence around them,
ran the call (which the model wrote only under a condition the plugin cannot know) and the
caller heard ``if x:``. A line that starts as a block's header does (``if``, ``for``,
``while``, ``with``, ``try``, ``def``, ``class``, ``async``, ``match``), with tools declared,
is read as code: Python's compiler says whether it is a header (unfinished at its line's
end: ``if x:``, a comment after it, its condition over lines). The block then goes on over
each line that is indented, blank, a comment or its statement's kin (``else:``), and ends at
the first that is none. Its calls never run and are counted lost, as in a fence; none of it
is heard. A sentence that begins the same way (``if you like, I can…``, ``if needed:`` over
prose) is heard, and a header with nothing under it is a sentence too.

Each reply is fed whole, one character at a time and cut in two at every position.
"""

from __future__ import annotations

import pytest

from livekit_plugins_hosted.gemma4 import Gemma4Parser
from tests.test_gemma4_grammar import TOOLS, Q
from tests.test_gemma4_prose import _every_way, _read_pieces

CALL = 'get_weather(city="Paris")'
WEATHER = [("get_weather", {"city": "Paris"})]
BLOCKS = {
    "if": f"Let me check.\nif x:\n    {CALL}\nDone.",
    "crlf": f"Let me check.\r\nif x:\r\n    {CALL}\r\nDone.",
    "comment": f"Let me check.\nif x:  # when asked\n    {CALL}\nDone.",
    "space-after-colon": f"Let me check.\nif x: \n\t{CALL}\nDone.",
    "two-line-header": f"Let me check.\nif (x and\n        y):\n    {CALL}\nDone.",
    "for": 'Let me check.\nfor c in ["Paris", "Rome"]:\n    get_weather(city=c)\nDone.',
    "while": f"Let me check.\nwhile True:\n    {CALL}\n    break\nDone.",
    "with": f"Let me check.\nwith lock:\n    {CALL}\nDone.",
    "try": f"Let me check.\ntry:\n    {CALL}\nexcept Exception:\n    pass\nDone.",
    "def": f"Let me check.\ndef check():\n    {CALL}\n\nDone.",
    "async-def": f"Let me check.\nasync def check():\n    await {CALL}\nDone.",
    "class": f"Let me check.\nclass A:\n    x = {CALL}\nDone.",
    "match": f"Let me check.\nmatch x:\n    case 1:\n        {CALL}\nDone.",
    "else": f'Let me check.\nif x:\n    {CALL}\nelse:\n    save_note(text="no")\nDone.',
    "nested": f"Let me check.\ndef f():\n    if y:\n        {CALL}\n\n    return 1\nDone.",
    "blank-lines": f"Let me check.\nif x:\n\n    {CALL}\n\nDone.",
    "column-0-comment": f"Let me check.\nif x:\n# first\n    {CALL}\nDone.",
    "print": f"Let me check.\nif x:\n    print({CALL})\nDone.",
    "assigned": f"Let me check.\nif x:\n    result = {CALL}\nDone.",
    "fence-inside": f"Let me check.\nif x:\n    ```tool_code\n    {CALL}\n    ```\nDone.",
    "multi-line-call": 'Let me check.\nif x:\n    get_weather(\n      city="Paris",\n    )\nDone.',
    "one-line": f"Let me check.\nif x: {CALL}\nDone.",
    "one-line-for": "Let me check.\nfor c in cities: get_weather(city=c)\nDone.",
    "after-print-alone": f"Let me check.\nprint(\nif x:\n    {CALL}\nDone.",
    "one-line-after-print-alone": f"Let me check.\nprint(\nif x: {CALL}\nDone.",
    # review 28a
    "elif-after-one-line": (
        f"Let me check.\nif balance > 100: {CALL}\nelif balance > 50:\n"
        "    wire_money(amount=50)\nDone."
    ),
    "else-after-pass": "Let me check.\nif x: pass\nelse:\n    wire_money(amount=5)\nDone.",
    "one-line-else": f"Let me check.\nif x: {CALL}\nelse: wire_money(amount=5)\nDone.",
    "try-one-line": "Let me check.\ntry: wire_money(amount=5)\nexcept: pass\nDone.",
    "backslash": "Let me check.\nif ok and \\\n    amount < 9:\n    wire_money(amount=5)\nDone.",
    "backslash-crlf": "Let me check.\r\nif ok and \\\r\n  x:\r\n    wire_money(amount=5)\r\nDone.",
    "backslash-one-line": "Let me check.\nif x: \\\n    wire_money(amount=5)\nDone.",
    "long-header": (
        "Let me check.\nif amount <= 500 and recipient in ["
        + ", ".join(f'"Person Number {k}"' for k in range(16))
        + "] and confirmed:\n    wire_money(amount=500)\nDone."
    ),
    "decorator": "Let me check.\n@retry\nasync def f():\n    await wire_money(amount=5)\nDone.",
    "call-cut-in-block": f"Let me check.\nif x:\n    {CALL[:-1]}\nDone.",
    # review 28b
    "indented-header": f"Let me check.\n    if rain:\n        {CALL}\nDone.",
    "body-not-indented": f"Let me check.\nif x:\n{CALL}\nDone.",
    "quote-after-if": f'Let me check.\nif"rain"in x:\n    {CALL}\nDone.',
}


@pytest.mark.parametrize("text", BLOCKS.values(), ids=list(BLOCKS))
def test_a_block_outside_a_fence_runs_none_of_its_calls_and_is_never_heard(text: str) -> None:
    calls = sum(text.count(f"{name}(") for name in TOOLS)
    for speech, got, dropped in _every_way(text):
        assert got == [] and dropped == calls, (speech, got, dropped)
        assert " ".join(speech.split()) == "Let me check. Done.", speech


@pytest.mark.parametrize(
    "text",
    [
        f"if x:\n    {CALL}",
        f"if x:\n    {CALL}\n",
        "for c in cities:\n  get_weather(city=c)\n  ",
        f"if x:\n    {CALL}\ne",
        f"if x:\n    {CALL}\nelse",
    ],
    ids=["end", "newline", "trailing-indent", "letter", "else-word"],
)
def test_a_block_cut_off_by_the_reply_end_is_lost(text: str) -> None:
    for speech, got, dropped in _every_way(text):
        assert got == [] and dropped == 1, (speech, got, dropped)
        assert speech.strip() in ("", "e", "else"), speech


SENTENCES = {
    # (reply, heard): a sentence that begins as a header does, and the call after it
    "if-you": (
        f"if you like, I can check.\n{CALL}",
        "if you like, I can check.\n",
    ),
    "if-needed": (
        f"if needed:\n  bring an umbrella\n  and boots\nLet me check.\n{CALL}",
        "if needed:\n  bring an umbrella\n  and boots\nLet me check.\n",
    ),
    "no-body": (f"if so:\nI will check.\n{CALL}", "if so:\nI will check.\n"),
    "for-example": (
        f"for example: Paris or Rome.\n{CALL}",
        "for example: Paris or Rome.\n",
    ),
    "with-pleasure": (f"with pleasure, one moment.\n{CALL}", "with pleasure, one moment.\n"),
    "try-this": (f"try this: ask me again.\n{CALL}", "try this: ask me again.\n"),
    "apostrophe": (f"if it's sunny, I'll say so.\n{CALL}", "if it's sunny, I'll say so.\n"),
    "words-like-keywords": (
        f"ifs and buts.\nformal wear.\ntrying.\n{CALL}",
        "ifs and buts.\nformal wear.\ntrying.\n",
    ),
}


@pytest.mark.parametrize(("text", "heard"), SENTENCES.values(), ids=list(SENTENCES))
def test_a_sentence_that_begins_as_a_header_does_is_heard(text: str, heard: str) -> None:
    for speech, got, dropped in _every_way(text):
        assert speech == heard, speech
        assert got == [("get_weather", {"city": "Paris"})] and dropped == 0


def test_a_long_line_that_begins_as_a_header_does_is_heard_before_it_ends() -> None:
    """Past 256 characters with no line break and no declared tool's call, the line is a
    sentence: heard while the reply goes on, never held to the line's end."""
    parser = Gemma4Parser(schemas=TOOLS)
    said, _ = parser.feed("if you want, " + "I can check more cities for you, " * 12)
    assert said.startswith("if you want, I can check")


def test_with_no_tools_declared_a_block_is_heard_as_before() -> None:
    text = f"if x:\n    {CALL}\nDone."
    for speech, got, dropped in _every_way(text, schemas={}):
        assert (speech, got, dropped) == (text, [], 0)


def test_a_call_after_the_block_runs() -> None:
    text = f'if x:\n    save_note(text="a")\n{CALL}\nDone.'
    for speech, got, dropped in _every_way(text):
        assert got == [("get_weather", {"city": "Paris"})] and dropped == 1, (speech, got)
        assert speech.strip() == "Done.", speech


FORMS = {
    "await": f"Sure.\nawait {CALL}\nDone.",
    "assigned-await": f"Sure.\nweather = await {CALL}\nDone.",
    "annotated": f"Sure.\nresult: dict = {CALL}\nDone.",
    "annotated-union": f"Sure.\nr: dict[str, list[int]] | None = await default_api.{CALL}\nDone.",
    "print-await": f"Sure.\nprint(await {CALL})\nDone.",
    "await-over-lines": 'Sure.\nawait get_weather(\n    city="Paris",\n)\nDone.',
    "mid-line-print-await": f"Sure. print(await {CALL}) Done.",
}


@pytest.mark.parametrize("text", FORMS.values(), ids=list(FORMS))
def test_await_and_an_annotated_name_call_the_tool(text: str) -> None:
    """Review 27: ``await f(…)`` and ``result: dict = f(…)`` outside a fence were heard and
    never ran; Python makes the same call as without them."""
    for speech, got, dropped in _every_way(text):
        assert got == [("get_weather", {"city": "Paris"})] and dropped == 0, (speech, got)
        assert " ".join(speech.split()) == "Sure. Done.", speech


@pytest.mark.parametrize(
    "text",
    [
        "note: the weather is nice.\nDone.",
        "awaiting your answer.\nDone.",
        "Say print(awaiting) ok",
        "r: a very long annotation that is really a sentence = get_weather\nDone.",
    ],
)
def test_sentences_like_those_forms_are_heard(text: str) -> None:
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (text, [], 0)


def test_what_follows_a_print_left_open_before_a_call_is_heard() -> None:
    """``print(`` alone, then a declared call on the next line, then sentences: the call
    runs and the sentences are heard (they were lost before)."""
    text = f"print(\n{CALL}\nDone. More.\nAnd more."
    for speech, got, dropped in _every_way(text):
        assert got == [("get_weather", {"city": "Paris"})] and dropped == 0, (speech, got)
        assert speech == "Done. More.\nAnd more.", speech


PYTHON_FENCES = {
    "python": f"Sure.\n```python\n{CALL}\n```\nDone.",
    "py": f"Sure.\n```py\nprint({CALL})\n```\nDone.",
    "spaces-crlf": f"Sure.\n```python  \r\n{CALL}\r\n```\nDone.",
}


@pytest.mark.parametrize("text", PYTHON_FENCES.values(), ids=list(PYTHON_FENCES))
def test_a_python_fence_at_a_line_start_is_code(text: str) -> None:
    """Review 27: a declared call in a ```` ```python ```` fence ran and the caller heard the
    fence's backticks and language around it."""
    for speech, got, dropped in _every_way(text):
        assert got == [("get_weather", {"city": "Paris"})] and dropped == 0, (speech, got)
        assert " ".join(speech.split()) == "Sure. Done.", speech


@pytest.mark.parametrize(
    "text",
    ["Sure.\n```pyramid\nok\n```\nDone.", "Sure.\n```json\n{}\n```\nDone."],
    ids=["pyramid", "json"],
)
def test_another_fence_is_heard_as_before(text: str) -> None:
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (text, [], 0)


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        ('Here it is.\n```python\nprint("hi")\n```\nDone.', []),
        ("```python\nx = 1\n\nSo the answer is 42.", []),
        (
            f"```python\nx = 1\n<|tool_call>call:search{{query:{Q}x{Q}}}<tool_call|>",
            [("search", {"query": "x"})],
        ),
    ],
    ids=["closed", "never-closed", "native-call"],
)
def test_a_python_fence_calling_no_declared_tool_is_heard_as_before(
    text: str, calls: object
) -> None:
    """Review 28b: a ```` ```python ```` fence naming no tool was never heard (a reply of one
    was silent), and a native call in it never ran: it is read again as the reply."""
    for speech, got, dropped in _every_way(text):
        assert got == calls and dropped == 0, (speech, got)
        assert ("```python" in speech and "x = 1" in speech) or "hi" in speech, speech


@pytest.mark.parametrize(
    ("text", "heard"),
    [
        (f"Say print({CALL})  # done\nOk.", "Say \nOk."),
        (f"Say print({CALL})  #\nOk.", "Say \nOk."),
        (f"Say print({CALL})  #1 tip: an umbrella.\nOk.", "Say #1 tip: an umbrella.\nOk."),
        (f"Say print({CALL})  # see <turn|>", "Say "),
        (f"Say print({CALL}) ok", "Say  ok"),
    ],
    ids=["comment", "bare-hash", "hash-then-word", "turn-end", "no-comment"],
)
def test_a_comment_after_mid_line_code_is_never_heard(text: str, heard: str) -> None:
    """Review 27: ``# done`` after a mid-line ``print(f(…))`` was heard."""
    for speech, got, dropped in _every_way(text):
        assert got == [("get_weather", {"city": "Paris"})] and dropped == 0, (speech, got)
        assert " ".join(speech.split()) == " ".join(heard.split()), speech


def test_a_name_ending_in_print_before_a_call_is_a_call_lost() -> None:
    """Review 27: ``blueprint(get_weather(…))`` must run nothing. Its ``blue`` is heard,
    however the reply is cut (review 28b: holding it only when it came in one delta made
    what is heard depend on the cut)."""
    for speech, got, dropped in _every_way(f"Try blueprint({CALL}) now."):
        assert (" ".join(speech.split()), got, dropped) == ("Try blue now.", [], 1)


def test_a_thought_inside_a_block_is_never_heard() -> None:
    """Review 28a: a ``<|channel>thought`` on a block's line was taken as the block's text,
    and the thought's own lines were then heard as the answer."""
    text = (
        'Let me check.\nfor c in ["Paris", "Rome"]:\n    get_weather(city=c)\n'
        "    <|channel>thought\nThe user wants both. Password is hunter2.<channel|>\nDone."
    )
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == ("Let me check.\nDone.", [], 1)


@pytest.mark.parametrize(
    ("text", "heard"),
    [
        ("if sunny:\n  sunscreen\nif rainy:\n  umbrella", None),
        ("Packing tips.\nif needed:\n  umbrella\n", None),
        ('if x:\n    """\nThe weather is sunny.\nDone.', None),
        (f"if so:\n  say {Q}hello{Q} to her\nDone.", "if so:\n  say hello to her\nDone."),
        (f"if so:\n  say {Q}hello\nDone.", "if so:\n  say hello\nDone."),
        ('if so:\n  see <|tool_call>call:search{query:<|"|>x<|"|>}<tool_call|>', "if so:\n  see "),
    ],
    ids=["python-prose", "heading", "open-triple-quote", "quoted", "quote-open", "native-call"],
)
def test_a_block_calling_no_declared_tool_is_heard_as_before(text: str, heard: str | None) -> None:
    """Review 28a: a block naming no declared tool (prose Python happens to read, a quote,
    a triple quote never closed) was never heard, or its quoted words were lost: it is
    read again as the reply, as if no block had been seen (a native call in it runs)."""
    for speech, got, _ in _every_way(text):
        assert speech == (text if heard is None else heard), speech
        assert got == ([("search", {"query": "x"})] if "search" in text else [])


@pytest.mark.parametrize(
    ("text", "heard"),
    [
        (
            f"if x:\n    {CALL}\nexcept for Rome, it is sunny.\nBye.",
            "except for Rome, it is sunny.\nBye.",
        ),
        (f"if x:\n    {CALL}\n# Weather report\nSunny.", "# Weather report\nSunny."),
        (f"if x:\n    {CALL[:-1]}\nThe weather is nice.\nMore.", "The weather is nice.\nMore."),
    ],
    ids=["kin-like-sentence", "heading", "call-cut"],
)
def test_what_follows_a_block_is_heard(text: str, heard: str) -> None:
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (heard, [], 1)


def test_a_call_before_a_blocks_control_flow_runs() -> None:
    """Review 28b: ``weather = get_weather(…)`` then ``if weather:`` lost the call, which
    Python makes before the ``if``; the calls from the first control flow on are lost."""
    text = f'Let me check.\nweather = {CALL}\nif weather:\n    save_note(text="a")\nDone.'
    for speech, got, dropped in _every_way(text):
        assert got == [("get_weather", {"city": "Paris"})] and dropped == 1, (speech, got)
        assert " ".join(speech.split()) == "Let me check. Done.", speech


LONG_HEADER = (
    'if temperature < 10 and humidity > 85.0 and wind_speed_kmh > 30 and forecast == "rain"'
    ' and city == "Paris" and not user_has_umbrella and time_of_day == "morning" and'
    ' day_of_week != "Sunday" and user_is_outside and not indoor_plans and alert_level >= 2'
    ' and visibility < 500:\n    save_note(text="Bring an umbrella")\nDone.'
)


@pytest.mark.parametrize("shift", range(0, 40, 3))
def test_a_long_header_is_a_header_wherever_its_bound_falls(shift: int) -> None:
    """Review 28b: a header longer than its first bound was heard and its call ran when
    the bound fell inside a word or an operator (``!`` of ``!=``)."""
    text = LONG_HEADER.replace("if temperature", "if " + "t" * shift + "emperature")
    for pieces in ([text], list(text), [text[:100], text[100:]]):
        speech, got, dropped = _read_pieces(pieces, TOOLS)
        assert (speech, got, dropped) == ("Done.", [], 1)


def test_a_sentence_that_starts_as_a_header_does_is_heard_within_64_characters() -> None:
    """Review 28b: such a sentence was held to its line's end (220 characters)."""
    text = "if you like, I can also check tomorrow's forecast for Paris and Rome, and more. " * 3
    parser = Gemma4Parser(schemas=TOOLS)
    for k, ch in enumerate(text):
        if parser.feed(ch)[0]:
            assert k <= 64
            break
    else:
        raise AssertionError("nothing heard before the reply's end")


@pytest.mark.parametrize(
    ("text", "heard"),
    [
        (f"if rain:\n    {CALL}\nexcept for Rome, all good.", "except for Rome, all good."),
        (f"if rain:\n    {CALL}\nelse I would say no.<turn|>", "else I would say no."),
        (f"if rain:\n    {CALL}\nfinally: sunny in Rome.", "finally: sunny in Rome."),
        (f"if rain:\n    {CALL}\n# Weather", "# Weather"),
    ],
    ids=["end", "turn-end", "finally", "heading-at-end"],
)
def test_a_sentence_after_a_block_is_heard_at_the_replys_end(text: str, heard: str) -> None:
    """Review 28b: a sentence starting ``except``/``else`` after a block was lost when the
    reply (or the turn) ended on its line."""
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (heard, [], 1)


@pytest.mark.parametrize(
    "text",
    [
        "Options:\nif cold:\n  wear a coat\n  or search (online) for deals\nBye.",
        "if needed:\n  I can search (online) for it.\nOK?",
        "await search (results), then decide.",
    ],
)
def test_a_sentence_naming_a_tool_before_a_spaced_bracket_is_heard(text: str) -> None:
    """Review 28b: ``search (online)`` in a block's prose made the block code: lost."""
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (text, [], 0)


@pytest.mark.parametrize(
    ("text", "heard"),
    [
        (f"Let me check that now.print({CALL})", "Let me check that now."),
        (f"One moment...print({CALL})", "One moment..."),
        (f"Sunny in Paris-print({CALL})", "Sunny in Paris-"),
    ],
    ids=["dot", "dots", "dash"],
)
def test_only_a_name_before_print_is_held_with_it(text: str, heard: str) -> None:
    """Review 28b: ``now.`` and ``Paris-`` before ``print(`` were held as a name and lost."""
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (heard, [], 1)


@pytest.mark.parametrize(
    "text",
    [
        "Plan:\nif user confirms:\n    await wire_money(amount=5)\nDone.",
        "Plan:\nasync def main:\n    await wire_money(amount=5)\nDone.",
        "Plan:\nif user confirms:\n    wire_money(amount=5)\nDone.",
    ],
    ids=["await", "async-def", "bare"],
)
def test_a_call_under_a_header_python_cannot_read_is_lost(text: str) -> None:
    """Review 28c: a line like a header that is no Python (``if user confirms:``) was heard
    and the call indented under it ran (``await`` lines had become code this session)."""
    for speech, got, dropped in _every_way(text):
        assert got == [] and dropped == 1, (speech, got)
        assert "wire_money" not in speech and speech.endswith("Done."), speech


@pytest.mark.parametrize(
    "text",
    [
        'Okay.\nif confirmed:\nwire_money(amount=5)\nelse:\nsave_note(text="x")\nDone.',
        "Okay.\n    if rain:\n    get_weather(city='Paris')\nDone.",
        'Okay.\n    def remind(user_id, city, kind="umbrella", text="Take an umbrella"):\n'
        '        save_note(text="umbrella")\nDone.',
        "Okay.\ndef check_the_weather_forecast_for_each_city_the_user_named(cities):\n"
        "    get_weather(city='Paris')\nDone.",
    ],
    ids=["else-column-0", "same-indentation", "indented-long-def", "long-def-name"],
)
def test_review_28c_blocks_run_none_of_their_calls(text: str) -> None:
    for speech, got, dropped in _every_way(text):
        assert got == [] and dropped >= 1, (speech, got)
        assert " ".join(speech.split()) == "Okay. Done.", speech


@pytest.mark.parametrize(
    ("text", "heard", "calls"),
    [
        (f"with pleasure! print({CALL})", "with pleasure! ", WEATHER),
        ('```python\n# TODO: call get_weather(city) later\nprint("hello")\n```', None, []),
        (f"Done print({CALL}) # ```tool_code\nwire_money(amount=5)\n```", "Done ", None),
    ],
    ids=["sentence-then-print", "comment-names-tool", "fence-after-comment"],
)
def test_review_28c_sentences_and_fences(text: str, heard: str | None, calls: object) -> None:
    expected = calls if calls is not None else [*WEATHER, ("wire_money", {"amount": 5})]
    for speech, got, dropped in _every_way(text):
        assert (speech, got, dropped) == (text if heard is None else heard, expected, 0)
