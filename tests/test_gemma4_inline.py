"""Python-ish words in prose never hide what follows them (review 21f).

A caller notices each of these as a tool that never ran, code or a fence read aloud, or a
turn that failed (and was retried into the same failure) when the model had answered:

- ``print(`` mid-line is code only where a declared tool's call follows it
  (``print(get_weather(``); otherwise it is a word, and a quote or bracket after it opens
  nothing, so a later fence, code line or marker keeps its meaning;
- a line starting with ``print(`` that leaves a bracket or ``'''`` open past its end is a
  sentence unless it opens a declared tool's call: the next line is read afresh.

Each reply is fed whole, one character at a time and cut in two at every position, and
through the real LLM stream on the loopback gateway.
"""

from __future__ import annotations

from typing import Any

import pytest
from livekit.agents import APIConnectOptions, APIError, llm

from livekit_plugins_hosted.gemma4 import Gemma4Parser
from tests.gateway import Gateway, Reply, gateway_llm, user_ctx
from tests.test_gemma4_grammar import Q
from tests.test_gemma4_prose import _every_way

WEATHER = [("get_weather", {"city": "Paris"})]
CALL = f"<|tool_call>call:get_weather{{city:{Q}Paris{Q}}}<tool_call|>"
PY_CALL = 'get_weather(city="Paris")'

OPEN_TRIPLE_INLINE = [
    f"Say print('''a\n```tool_code\n{PY_CALL}\n```",
    f"Say print('''a\nprint({PY_CALL})",
    f"Say print('''a\ntool_code = {PY_CALL}\nprint(tool_code)",
]
APOSTROPHES = [
    f"Sure, print(it's {CALL} I'll wait.\nMore.",
    f"print(x) isn't right, {CALL} it'll be fine.\nMore.",
]
OPEN_BRACKET_LINE = [
    f"Sure.\nprint(x) (see below.\n<|tool_call>call:{PY_CALL}<tool_call|>",
    f"Sure.\nprint(x) (see below.\nprint({PY_CALL})",
    f"Sure.\nprint(x) (see below.\n```tool_code\n{PY_CALL}\n```",
    'Sure.\nprint(x) (see below.\nprint(get_weather (city="Paris"))',
]


@pytest.mark.parametrize("text", OPEN_TRIPLE_INLINE, ids=["fence", "print", "tool_code"])
def test_an_open_triple_quote_in_a_sentence_hides_no_later_code(text: str) -> None:
    """``print('''`` in a sentence opens no string: the code on the next lines calls
    get_weather and is never heard (the fence and the code were read aloud, nothing ran,
    nothing was counted dropped)."""
    for speech, got, dropped in _every_way(text):
        assert got == WEATHER and dropped == 0
        assert "```" not in speech and "get_weather" not in speech
        assert speech.startswith("Say print('''a")


@pytest.mark.parametrize("text", APOSTROPHES, ids=["inline", "line-start"])
def test_apostrophes_around_a_call_in_a_sentence_keep_it(text: str) -> None:
    """Two contractions around a call after ``print(`` do not make a Python string of it:
    the call runs and every word is heard (the call was lost with nothing counted, and the
    words between the apostrophes vanished)."""
    for speech, got, dropped in _every_way(text):
        assert got == WEATHER and dropped == 0
        assert "<" not in speech and "call:" not in speech
        assert "wait." in speech or "fine." in speech
        assert speech.endswith("\nMore.")


@pytest.mark.parametrize("text", OPEN_BRACKET_LINE, ids=["markup", "print", "fence", "spaced"])
def test_a_line_leaving_a_bracket_open_keeps_the_next_lines_call(text: str) -> None:
    """``print(x) (see below.`` is heard and the call on the next line runs, in every form
    (the call was lost and counted dropped, so the turn failed; or, with a space before
    ``(``, the code was read aloud and nothing ran)."""
    for speech, got, dropped in _every_way(text):
        assert got == WEATHER and dropped == 0
        assert "see below." in speech
        assert "get_weather" not in speech and "<" not in speech and "```" not in speech


def test_a_declared_call_split_over_lines_still_runs() -> None:
    """Code that opens a declared tool's call on its first line goes on to its close: the
    call runs and nothing of it is heard."""
    text = 'Sure.\nprint(get_weather(\n    city="Paris",\n))\nDone.'
    for speech, got, dropped in _every_way(text):
        assert (got, dropped) == (WEATHER, 0)
        assert "get_weather" not in speech and "Done." in speech


def test_a_line_break_after_print_keeps_the_call() -> None:
    """``print(`` alone on its line with the call on the next runs the call, unheard (it ran
    nothing and counted nothing dropped)."""
    for speech, got, dropped in _every_way('Sure.\nprint(\n  get_weather(city="Paris")\n)'):
        assert (speech.strip(), got, dropped) == ("Sure.", WEATHER, 0)


def test_without_declared_tools_print_in_a_sentence_is_a_word() -> None:
    """With no tools, ``print(it's`` opens nothing: the whole sentence is heard."""
    parser = Gemma4Parser()
    text = "Use print(it's fine) or print('''x to show it.\nMore."
    said = "".join(parser.feed(ch)[0] for ch in text) + parser.finish()[0]
    assert said == text


@llm.function_tool
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


async def _turn(text: str, step: int) -> dict[str, Any]:
    async with Gateway() as gw:
        pieces = [text] if step == 0 else [text[i : i + step] for i in range(0, len(text), step)]
        gw.replies.append(Reply.text(*pieces))
        model = gateway_llm(gw)
        said: list[str] = []
        names: list[str] = []
        err = None
        try:
            stream = model.chat(
                chat_ctx=user_ctx("Hi"),
                tools=[get_weather],
                conn_options=APIConnectOptions(max_retry=0, timeout=10),
            )
            async with stream:
                async for chunk in stream:
                    if chunk.delta is not None:
                        said.append(chunk.delta.content or "")
                        names += [c.name for c in chunk.delta.tool_calls or []]
        except APIError as e:
            err = type(e).__name__
        finally:
            await model.aclose()
        return {"said": "".join(said), "calls": names, "error": err}


@pytest.mark.parametrize("step", [0, 1])
@pytest.mark.parametrize(
    "text", [OPEN_TRIPLE_INLINE[0], APOSTROPHES[0], OPEN_BRACKET_LINE[0]], ids=["1", "2", "3"]
)
async def test_the_llm_turn_calls_the_tool(text: str, step: int) -> None:
    """Through the real LLM stream, the turn calls get_weather and ends without an error
    (it spoke the code with no call, lost the call silently, or failed retryably)."""
    got = await _turn(text, step)
    assert got["calls"] == ["get_weather"] and got["error"] is None, got
    assert "get_weather" not in got["said"] and "<" not in got["said"], got


@pytest.mark.parametrize(
    ("text", "heard"),
    [
        (f"Sure.\nprint({CALL})\nDone.", "Sure. Done."),
        (f"Sure.\nprint({CALL}))\nDone.", "Sure. Done."),
        (f"Sure. print(  {CALL}) Done.", "Sure. Done."),
        (f"Sure ({CALL}) and done.", "Sure ( and done."),
        (f"print({CALL}) Done.", "Done."),
        (f"Sure.\nprint({CALL}) Done.", "Sure. Done."),
        (f"Okay, print({CALL}{CALL})) Done.", "Okay, Done."),
        (f"print({CALL})<|channel>thought\nok<channel|>All set.", "All set."),
        (f"{CALL}" + ";" * 17 + "\nok", "ok"),
        ("Sure. I print( things) ok.", "Sure. I print( things) ok."),
    ],
    ids=[
        "line",
        "two-brackets",
        "mid-line",
        "bracket",
        "line-start-then-words",
        "after-a-sentence",
        "two-calls",
        "then-a-thought",
        "closers-past-16",
        "a-word",
    ],
)
def test_print_around_a_native_call_is_never_heard(text: str, heard: str) -> None:
    """Session 31: ``print(`` wrapping the model's own call, and the brackets after it,
    were heard (``print( ) Done.``, ``))``); the call ran, as it still does. Review 31d:
    whatever follows the brackets on their line (words, a marker, more brackets)."""
    calls = WEATHER * text.count("<|tool_call>")
    for speech, got, dropped in _every_way(text):
        assert (" ".join(speech.split()), got, dropped) == (heard, calls, 0)


def test_a_call_after_a_native_call_and_a_separator_runs() -> None:
    """Review 31d: ``<|tool_call>…<tool_call|>; get_weather(…)`` is two calls: the second
    was heard with its arguments, and neither run nor counted."""
    for sep in (";", ")", "];"):
        text = f"{CALL}{sep} {PY_CALL.replace('Paris', 'Rome')}"
        for speech, got, dropped in _every_way(text):
            assert got == [*WEATHER, ("get_weather", {"city": "Rome"})], speech
            assert (speech.strip(), dropped) == ("", 0), speech


@pytest.mark.parametrize(
    "lead",
    ["try this:", "for example:", "while you wait:", "for sure:", "with pleasure:", "match point:"],
)
def test_prose_ending_in_a_colon_leads_no_call_on_its_line(lead: str) -> None:
    """Review 31e: a lowercase line that only looks like a header (``for example:``), or a
    header whose body runs whatever happens (``try:``, ``with …:``), led the code after a
    call on it: the call was lost (the turn an error, or a call silently gone)."""
    native = CALL.replace("Paris", "Rome")
    rome = [("get_weather", {"city": "Rome"})]
    cases = [
        (f"{lead} ```tool_code\n{PY_CALL}\n```", WEATHER),
        (f"{lead} {native} {PY_CALL}", rome + WEATHER),
    ]
    if not lead.startswith("with"):  # (``with pleasure: print(f(…))`` is Python: a block)
        cases.append((f"{lead} print({PY_CALL})\nOne moment.", WEATHER))
    for text, calls in cases:
        for speech, got, dropped in _every_way(text):
            assert (got, dropped) == (calls, 0), speech
            assert "get_weather" not in speech and "city" not in speech, speech
