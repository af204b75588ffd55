"""Gemma 4's raw grammar, parsed as it streams: only the answer is ever spoken.

Every corpus stream is fed whole, one character at a time, split at every single boundary and
split at random points; each way must give the same speech and the same calls.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livekit_plugins_hosted.gemma4 import Gemma4Parser, ToolCall, parse_call

Q = '<|"|>'
# Never spoken, whatever the stream: markers and tool syntax.
FORBIDDEN = ("<|", "|>", "<channel|>", "<tool_call|>", "call:", Q)
# Every thought in the corpus contains this word; it must never be spoken.
THOUGHT_WORD = "pondering"


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    speech: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    in_thought: bool = False
    ended: bool = False


def _weather(city: str = "Paris", days: int = 2) -> str:
    return f"<|tool_call>call:get_weather{{city:{Q}{city}{Q},days:{days}}}<tool_call|>"


CORPUS = [
    Case(
        "plain",
        "Hello there, it is 18 degrees in Paris.",
        "Hello there, it is 18 degrees in Paris.",
    ),
    Case("multiline", "First line.\nSecond line.", "First line.\nSecond line."),
    Case(
        "thought_then_answer",
        "<|channel>thought\nThe user is pondering the weather.<channel|>It is 18 degrees.",
        "It is 18 degrees.",
    ),
    Case(
        "empty_thought_then_answer",
        "<|channel>thought\n<channel|>Bonjour, il fait 18 °C à Paris.",
        "Bonjour, il fait 18 °C à Paris.",
    ),
    Case(
        "whitespace_after_thought",
        "<|channel>thought\npondering<channel|>\n\nHello.",
        "Hello.",
    ),
    Case(
        "in_thought_closed",
        "The tool says 18 degrees, pondering; answer briefly.<channel|>It is 18 degrees in Paris.",
        "It is 18 degrees in Paris.",
        in_thought=True,
    ),
    Case(
        "in_thought_direct_answer",
        "It is 18 degrees in Paris.",
        "It is 18 degrees in Paris.",
        in_thought=True,
    ),
    Case(
        "in_thought_direct_answer_then_turn_end",
        "It is 18 degrees.<turn|>",
        "It is 18 degrees.",
        in_thought=True,
        ended=True,
    ),
    Case(
        "in_thought_labelled",
        "thought\npondering the result<channel|>Done.",
        "Done.",
        in_thought=True,
    ),
    Case(
        "in_thought_reopened",
        "<|channel>thought\npondering<channel|>Hi.",
        "Hi.",
        in_thought=True,
    ),
    Case(
        "in_thought_explicit_unterminated",
        "<|channel>thought\npondering, never closes",
        "",
        in_thought=True,
    ),
    Case(
        "in_thought_call",
        "Still pondering, I need more data." + _weather("Oslo", 1),
        "",
        [("get_weather", {"city": "Oslo", "days": 1})],
        in_thought=True,
    ),
    Case(
        "call_from_thought_without_close",
        "<|channel>thought\npondering: look it up. " + _weather(),
        "",
        [("get_weather", {"city": "Paris", "days": 2})],
    ),
    Case("native_call", _weather(), "", [("get_weather", {"city": "Paris", "days": 2})]),
    Case(
        "nested_call",
        f"<|tool_call>call:book{{trip:{{from:{Q}Paris{Q},to:{Q}Rome, Italy{Q},legs:[1,2.5,-3]}},"
        f"flags:[true,false,null],tags:[{Q}a:b{Q},{Q}{{x}}]{Q}],n:-0.25,big:1e3,"
        f"note:{Q}say <b>hi</b>{Q},empty:{Q}{Q},none:[],obj:{{}}}}<tool_call|>",
        "",
        [
            (
                "book",
                {
                    "trip": {"from": "Paris", "to": "Rome, Italy", "legs": [1, 2.5, -3]},
                    "flags": [True, False, None],
                    "tags": ["a:b", "{x}]"],
                    "n": -0.25,
                    "big": 1000.0,
                    "note": "say <b>hi</b>",
                    "empty": "",
                    "none": [],
                    "obj": {},
                },
            )
        ],
    ),
    Case(
        "back_to_back_calls",
        _weather("Paris", 1) + _weather("Rome", 3) + "<|tool_response>",
        "",
        [
            ("get_weather", {"city": "Paris", "days": 1}),
            ("get_weather", {"city": "Rome", "days": 3}),
        ],
        ended=True,
    ),
    Case(
        "bare_opener",
        f"<|tool_call>:get_time{{zone:{Q}CET{Q}}}<tool_call|>",
        "",
        [("get_time", {"zone": "CET"})],
    ),
    Case(
        "thought_answer_call",
        "<|channel>thought\npondering a plan<channel|>Let me check."
        + _weather("Oslo", 1)
        + "<|tool_response>",
        "Let me check.",
        [("get_weather", {"city": "Oslo", "days": 1})],
        ended=True,
    ),
    Case(
        "call_then_speech",
        "<|tool_call>call:note{}<tool_call|>\nOkay, done.",
        "Okay, done.",
        [("note", {})],
    ),
    Case(
        "call_closed_by_turn_end",
        "<|tool_call>call:f{a:1}<turn|>",
        "",
        [("f", {"a": 1})],
        ended=True,
    ),
    Case(
        "call_interrupted_by_next_call",
        "<|tool_call>call:a{x:1}<|tool_call>call:b{y:2}<tool_call|>",
        "",
        [("a", {"x": 1}), ("b", {"y": 2})],
    ),
    Case(
        "quoted_keys",
        f"<|tool_call>call:f{{{Q}key one{Q}:{Q}v{Q}}}<tool_call|>",
        "",
        [("f", {"key one": "v"})],
    ),
    Case(
        "paren_args",
        f"<|tool_call>call:f(a:1,b:{Q}x{Q})<tool_call|>",
        "",
        [("f", {"a": 1, "b": "x"})],
    ),
    Case(
        "unicode_call",
        f"<|tool_call>call:say{{text:{Q}Grüß dich, 東京{Q}}}<tool_call|>",
        "",
        [("say", {"text": "Grüß dich, 東京"})],
    ),
    Case(
        "bare_call_at_start",
        f"call:get_weather{{city:{Q}Paris{Q}}}",
        "",
        [("get_weather", {"city": "Paris"})],
    ),
    Case(
        "bare_call_then_closer_and_speech",
        f"call:get_weather{{city:{Q}Paris{Q}}}<tool_call|>Checking.",
        "Checking.",
        [("get_weather", {"city": "Paris"})],
    ),
    Case(
        "bare_call_in_thought",
        f"<|channel>thought\npondering, so call:lookup{{q:{Q}x{Q}}}",
        "",
        [("lookup", {"q": "x"})],
    ),
    Case(
        "turn_after_answer",
        "It is 18 degrees.<|turn>user\nthanks",
        "It is 18 degrees.",
        ended=True,
    ),
    Case("eos_ends", "Done.<eos>junk after", "Done.", ended=True),
    Case("literal_less_than", "Yes, 3 < 5 and 7 > 2.", "Yes, 3 < 5 and 7 > 2."),
    Case(
        "angle_brackets",
        "Use <b>bold</b>, a->b, x<y. Or a <- b <3",
        "Use <b>bold</b>, a->b, x<y. Or a <- b <3",
    ),
    Case("less_than_at_end", "Is 3 <", "Is 3 <"),
    Case("partial_marker_at_end", "Bye.<|tu", "Bye."),
    Case(
        "stray_tokens_dropped",
        f"Hello {Q}world{Q} and<|think|> bye<tool_call|>.",
        "Hello world and bye.",
    ),
    # a string left open before the body's closing brace is recovered, as vLLM and Ollama do
    # (Ollama model/parsers/gemma4_test.go, TestRepairGemma4MissingStringDelimiter)
    Case(
        "unterminated_string_recovered",
        f"<|tool_call>call:f{{a:{Q}x}}<tool_call|>Sorry.",
        "Sorry.",
        [("f", {"a": "x"})],
    ),
    # issue 21: a string is sealed, so a marker inside it ends nothing; never closed and with
    # no closing brace, the call was cut off: nothing runs, and the turn ends in an error
    Case("unterminated_string_cut_off", f"<|tool_call>call:f{{a:{Q}x<tool_call|>Sorry.", ""),
    Case("malformed_body", "<|tool_call>call:f{a b c}<tool_call|>OK.", "OK."),
    Case("malformed_garbage", "<|tool_call>garbage<tool_call|>OK.", "OK."),
    Case("malformed_trailing", "<|tool_call>call:f{a:1}}x<tool_call|>OK.", "OK."),
    Case("unterminated_thought", "<|channel>thought\nstill pondering", ""),
    Case("unterminated_complete_call", "<|tool_call>call:f{a:1}", "", [("f", {"a": 1})]),
    Case("unterminated_truncated_call", f"<|tool_call>call:f{{a:{Q}Par", ""),
    Case("unterminated_call_cut_marker", "<|tool_call>call:f{a:1}<tool_ca", "", [("f", {"a": 1})]),
    Case("spurious_label", "thought\npondering<channel|>Answer.", "Answer."),
    # a bare label means the server dropped <|channel>: never closed, it stays unspoken
    Case("stripped_thought_never_closed", "thought\nThe user asks. It is sunny.", ""),
    Case("label_like_start", "though it rains, go.", "though it rains, go."),
    # words either side of a mid-reply thought stay apart, with or without the model's space
    Case("mid_reply_thought_spaced", "Hi.<|channel>thought\nSECRET<channel|> Bye", "Hi. Bye"),
    Case("mid_reply_thought_glued", "Hi.<|channel>thought\nSECRET<channel|>Bye", "Hi. Bye"),
    Case("call_like_start", "calendar is free; cats too.", "calendar is free; cats too."),
    Case("call_word_in_speech", "Please call me at noon.", "Please call me at noon."),
    Case("bare_call_name_cut_at_end", "call:get_wea", ""),
    Case("pipe_opener_without_token", "a <|@ b", "a @ b"),
    Case("lt_glued_to_token", "x <<|think|>y", "x y"),
    Case("cut_marker_at_end", "Bye.<tool_ca", "Bye."),
    # issue 15: tool syntax never read aloud, a dropped marker never glues words
    Case(
        "bare_call_mid_reply",
        f"Let me look. call:get_weather{{city:{Q}Paris{Q}}} Done.",
        "Let me look. Done.",
        [("get_weather", {"city": "Paris"})],
    ),
    Case(
        "xml_tool_call_fallback",
        f"Sure.<tool_call>get_weather{{city:{Q}Oslo{Q}}}</tool_call>",
        "Sure.",
        [("get_weather", {"city": "Oslo"})],
    ),
    Case(
        "xml_tool_call_with_call_prefix",
        f"<tool_call>call:get_weather{{city:{Q}Oslo{Q}}}</tool_call>Ok.",
        "Ok.",
        [("get_weather", {"city": "Oslo"})],
    ),
    Case("xml_tag_before_words", "<tool_call> is a tag name", "is a tag name"),
    Case("xml_tag_json_block_dropped", '<tool_call>{"name": "f"}</tool_call>Hi.', "Hi."),
    Case("stray_closer_keeps_space", "It is sunny<channel|> in Paris.", "It is sunny in Paris."),
    Case(
        "pipeless_specials_dropped",
        "A<unk> b<mask> c<start_of_image><end_of_image> d<start_of_audio>x<end_of_audio>.",
        "A b c dx.",
    ),
    Case(
        "pipeless_channel_opens_a_thought",
        "<|<channel>thought\nThe user asks.<|<channel>thought\n",
        "",
    ),
    Case("pipeless_turn_ends_the_reply", "Four.<turn>model\nMore", "Four.", ended=True),
    Case(
        "single_quoted_value",
        f"<|tool_call>call:grep{{pattern:'a b'{Q}}}<tool_call|>",
        "",
        [("grep", {"pattern": "a b"})],
    ),
]


def _feed(
    pieces: list[str], in_thought: bool, schemas: dict[str, Any] | None = None
) -> tuple[str, list[ToolCall], bool]:
    parser = Gemma4Parser(in_thought=in_thought, schemas=schemas)
    speech: list[str] = []
    calls: list[ToolCall] = []
    for piece in pieces:
        text, got = parser.feed(piece)
        speech.append(text)
        calls.extend(got)
    text, got = parser.finish()
    speech.append(text)
    calls.extend(got)
    return "".join(speech), calls, parser.ended


def _check(case: Case, pieces: list[str]) -> None:
    speech, calls, ended = _feed(pieces, case.in_thought)
    assert speech == case.speech, pieces
    assert [(c.name, json.loads(c.arguments)) for c in calls] == case.calls, pieces
    assert ended == case.ended
    for marker in FORBIDDEN:
        assert marker not in speech
    assert THOUGHT_WORD not in speech


IDS = [c.id for c in CORPUS]


def test_corpus_ids_are_unique() -> None:
    """A duplicated corpus id would hide a case from the report."""
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_whole(case: Case) -> None:
    """A reply that arrives in one piece is spoken without markers, thoughts or tool syntax."""
    _check(case, [case.text])


@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_one_character_at_a_time(case: Case) -> None:
    """A server streaming tiny deltas gives the same speech and calls as one big delta."""
    _check(case, list(case.text))


@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_every_single_split(case: Case) -> None:
    """A marker cut at any character by the network still never leaks into speech."""
    for k in range(len(case.text) + 1):
        _check(case, [case.text[:k], case.text[k:]])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_multi_splits(data: st.DataObject) -> None:
    """Any chunking of any corpus stream gives the same speech and calls."""
    case = data.draw(st.sampled_from(CORPUS))
    n = len(case.text)
    cuts = sorted(data.draw(st.sets(st.integers(0, n), max_size=12)))
    bounds = [0, *cuts, n]
    _check(case, [case.text[a:b] for a, b in itertools.pairwise(bounds)])


# Random streams: the model's special tokens whole, and text around them.
_REAL = [
    "<|channel>",
    "thought\n",
    "<channel|>",
    "<|tool_call>",
    "<tool_call|>",
    "call:",
    "call:f{",
    ":",
    "f",
    "{",
    "}",
    "[",
    "]",
    ",",
    "a:1",
    Q,
    "<|turn>",
    "<turn|>",
    "<|tool_response>",
    "<eos>",
    "<|think|>",
    "<",
    ">",
    " ",
    "\n",
    "Hi",
    "3 < 5",
    "<b>",
    "x",
    "true",
    "-2.5",
    "c",
    "cal",
    "thou",
]
# Plus text no tokenizer would produce: halves of markers.
_GARBAGE = [*_REAL, "|", "<|", "|>", "<chan", "nel|>", "<tool_ca", "ll|>", '<|"', "<<"]
_LEAKS = ("<|", "<channel|>", "<tool_call|>", "<turn|>", "<eos>")


def _pieces(text: str, cuts: set[int]) -> list[str]:
    bounds = [0, *sorted(c for c in cuts if c <= len(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=500, deadline=None)
@given(
    atoms=st.lists(st.sampled_from(_GARBAGE), max_size=30),
    cuts=st.sets(st.integers(0, 400), max_size=10),
    in_thought=st.booleans(),
)
def test_any_stream_is_split_invariant(atoms: list[str], cuts: set[int], in_thought: bool) -> None:
    """Whatever the model writes, chunking never changes what is heard, and nothing crashes."""
    text = "".join(atoms)
    whole = _feed([text], in_thought)
    assert _feed(_pieces(text, cuts), in_thought) == whole
    assert _feed(list(text), in_thought) == whole


@settings(max_examples=500, deadline=None)
@given(
    atoms=st.lists(st.sampled_from(_REAL), max_size=30),
    cuts=st.sets(st.integers(0, 400), max_size=10),
    in_thought=st.booleans(),
)
def test_model_streams_never_speak_markers(
    atoms: list[str], cuts: set[int], in_thought: bool
) -> None:
    """However the model mixes tokens and text, no marker is ever read aloud."""
    speech, _, _ = _feed(_pieces("".join(atoms), cuts), in_thought)
    for marker in _LEAKS:
        assert marker not in speech


# -- streaming behaviour -------------------------------------------------------------------


def test_plain_chunks_pass_straight_through() -> None:
    """A plain answer is spoken chunk by chunk, with no delay added by the parser."""
    parser = Gemma4Parser()
    for chunk in ["It ", "is ", "18 ", "degrees", "."]:
        assert parser.feed(chunk) == (chunk, [])
    assert parser.finish() == ("", [])


def test_only_a_possible_marker_is_held() -> None:
    """A literal '<' delays speech by one character at most, not until the end."""
    parser = Gemma4Parser()
    assert parser.feed("Yes, 3 <") == ("Yes, 3 ", [])
    assert parser.feed(" 5.") == ("< 5.", [])
    assert parser.feed(" Then <|tu") == (" Then ", [])
    assert parser.feed("rn>user") == ("", [])
    assert parser.ended


def test_answer_after_thought_streams_immediately() -> None:
    """After the thought closes, the answer is heard as it arrives."""
    parser = Gemma4Parser(in_thought=True)
    assert parser.feed("The tool says 18.") == ("", [])
    assert parser.feed("<channel|>It") == ("It", [])
    assert parser.feed(" is 18.") == (" is 18.", [])


def test_in_thought_direct_answer_is_heard_at_the_end() -> None:
    """A direct answer after a tool result is held (it could be a thought) but never lost."""
    parser = Gemma4Parser(in_thought=True)
    for chunk in ["It ", "is ", "18."]:
        assert parser.feed(chunk) == ("", [])
    assert parser.finish() == ("It is 18.", [])


def test_input_after_turn_end_is_ignored() -> None:
    """Text the model writes after ending its turn (a hallucinated user turn) is never spoken."""
    parser = Gemma4Parser()
    assert parser.feed("Bye.<|turn>user\n") == ("Bye.", [])
    assert parser.ended
    assert parser.feed("thanks, and tell me more") == ("", [])
    assert parser.finish() == ("", [])


def test_feed_after_finish_is_ignored() -> None:
    """A late delta after the end of stream is not spoken twice or out of order."""
    parser = Gemma4Parser()
    assert parser.feed("Hi") == ("Hi", [])
    assert parser.finish() == ("", [])
    assert parser.feed("late") == ("", [])
    assert parser.finish() == ("", [])
    assert not parser.ended


def test_returned_call_lists_are_not_reused() -> None:
    """A call list handed out is never filled in later, so no call runs twice."""
    parser = Gemma4Parser()
    first = parser.feed("<|tool_call>call:f{a:1}")
    assert first == ("", [])
    last = parser.finish()
    assert first[1] == [] and [c.name for c in last[1]] == ["f"]


def test_call_completes_on_its_closer() -> None:
    """A tool call is handed over as soon as it closes, not at the end of the stream."""
    parser = Gemma4Parser()
    assert parser.feed("<|tool_call>call:get_weather{city:" + Q + "Paris") == ("", [])
    text, calls = parser.feed(Q + "}<tool_call|>")
    assert text == "" and calls == [ToolCall("get_weather", '{"city": "Paris"}')]


# -- call bodies ---------------------------------------------------------------------------


_SCHEMAS = {
    "find": {
        "type": "object",
        "properties": {
            "zipcode": {"type": "string"},
            "limit": {"type": "integer"},
            "near": {"type": ["number", "null"]},
            "open": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
}


@pytest.mark.parametrize(
    ("body", "args"),
    [
        ("call:find{zipcode:12345}", {"zipcode": "12345"}),
        ("call:find{zipcode:02134}", {"zipcode": "02134"}),
        (f"call:find{{limit:{Q}5{Q}}}", {"limit": 5}),
        (f"call:find{{near:{Q}2.5{Q},open:{Q}true{Q}}}", {"near": 2.5, "open": True}),
        ("call:find{near:null,open:false}", {"near": None, "open": False}),
        ("call:find{tags:[1,x]}", {"tags": ["1", "x"]}),
        ("call:find{limit:many}", {"limit": "many"}),
        ("call:other{zipcode:02134}", {"zipcode": 2134}),
    ],
)
def test_values_typed_from_the_schema(body: str, args: dict[str, Any]) -> None:
    """A tool gets the types its schema asks for: a zip code stays "02134", a count is a number
    (as vLLM types them); a tool without a schema gets today's reading."""
    call = parse_call(body, _SCHEMAS)
    assert call is not None and json.loads(call.arguments) == args


def test_schemas_reach_streamed_calls() -> None:
    """The streaming parser types native calls from the schemas it was given."""
    parser = Gemma4Parser(schemas=_SCHEMAS)
    _, calls = parser.feed("<|tool_call>call:find{zipcode:02134}<tool_call|>")
    assert [json.loads(c.arguments) for c in calls] == [{"zipcode": "02134"}]


@pytest.mark.parametrize(
    ("text", "silent"),
    [("", True), ("<|channel>thought\nhm<channel|>", True), ("Hi", False), (_weather(), False)],
)
def test_silent_reply_is_reported(text: str, silent: bool) -> None:
    """A reply with nothing to say and no call says so, so the turn can end in an error."""
    parser = Gemma4Parser()
    parser.feed(text)
    assert not parser.silent  # not over yet
    parser.finish()
    assert parser.silent is silent


def test_arguments_are_json_with_the_right_types() -> None:
    """Tool arguments keep their types: the function gets 2, not "2", and True, not "true"."""
    call = parse_call(f"call:f{{i:2,f:2.0,e:1e-3,s:{Q}2{Q},b:true,n:null,bare:metric}}")
    assert call is not None
    args = json.loads(call.arguments)
    assert args == {"i": 2, "f": 2.0, "e": 0.001, "s": "2", "b": True, "n": None, "bare": "metric"}
    assert isinstance(args["i"], int) and isinstance(args["f"], float)


def test_string_arguments_keep_their_text() -> None:
    """Quoted argument text is passed on exactly: commas, braces, quotes and newlines intact."""
    raw = 'a, b: {c} [d] "e" \\n\nf'
    call = parse_call(f"call:f{{s:{Q}{raw}{Q}}}")
    assert call is not None and json.loads(call.arguments) == {"s": raw}


@pytest.mark.parametrize(
    "body",
    [
        "",
        "call:",
        "call:f",
        "call:f{",
        "call:f{a:}",
        "call:f{:1}",
        "call:f{a:1 b:2}",
        f"call:f{{a:{Q}x",
        f"call:f{{a:{Q}x,b:{Q}y{Q}}}",
        "call:f{a:[1,2}",
        "call:f{a:{b:1}",
        "call:f{a:1}}",
        "call:f{a:1}extra",
        "call:f{a:<b>}",
        "call:f{a:1,,b:2}",
        "call:f{" + "x:{" * 100 + "}" * 101,
        "call:f g{a:1}",
        "nocall{a:1}",
        'call:f{a:"unterminated}',
    ],
)
def test_malformed_bodies_are_dropped(body: str) -> None:
    """A broken call is dropped rather than run with guessed arguments or crashing the turn."""
    assert parse_call(body) is None


@settings(max_examples=300, deadline=None)
@given(body=st.lists(st.sampled_from([*'call:f{}[],<|">x1 \n', Q]), max_size=40).map("".join))
def test_parse_call_never_raises(body: str) -> None:
    """No call body, however broken, can crash the agent's turn."""
    call = parse_call(body)
    if call is not None:
        assert isinstance(json.loads(call.arguments), dict)


# -- cost ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tools", [False, True], ids=["no-tools", "tools"])
def test_plain_feed_takes_the_fast_path(tools: bool) -> None:
    """Plain words after the answer began never enter the reading loop: the fast path that
    keeps parsing's CPU per chunk low is taken (its cost is measured against a pass-through
    by ``python -m benchmarks.gemma4_cost`` and ``python -m benchmarks``, not timed here).

    This was a timed ratio (feed under 4x a pass-through); on a busy 2-core machine it read
    4.0-4.3x at the same code that read 2.7x on an idle one."""
    schemas = {"get_weather": {"type": "object", "properties": {}}} if tools else None
    parser = Gemma4Parser(schemas=schemas)
    assert parser.feed("Sure, ") == ("Sure, ", [])
    before = parser.work
    for i in range(200):
        assert parser.feed(f"word{i} ") == (f"word{i} ", [])
    assert parser.work == before, "plain chunks were read by the loop: the fast path is lost"
