"""Issue 15's invariant, on any stream: a voice turn ends in speech, a tool call or an error.

Streams are built from Gemma 4's own grammar (thought in every form, calls well-formed,
malformed and cut off, turn tokens, special tokens, plain words) and delivered as a server
would: ``chat.completion.chunk`` objects cut at random points, with ``reasoning`` fields,
server-parsed ``tool_calls`` fragments, each finish reason and a usage chunk. Whatever the
model wrote, what :class:`~livekit_plugins_hosted.parsing.ChunkParser` hands the agent is
never a marker, never tool syntax and never thought; and a turn with nothing to say and no call
is an error (``StreamError``), never silence.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livekit_plugins_hosted import parsing
from livekit_plugins_hosted.models import get_model

Q = '<|"|>'
SECRET = "SECRET"  # every thought contains it; it must never be spoken

# Fragments that may come first only (a bare label is a thought only at the reply's start).
_OPENERS = ["thought\nSECRET plan<channel|>", "thought\nSECRET plan, never closed"]
# Thought the prompt opened (in_thought=True): the reply starts inside it.
_IN_THOUGHT = [
    "SECRET: the tool said 18<channel|>",
    f"SECRET, so <|tool_call>call:f{{a:{Q}x{Q}}}<tool_call|>",
]
_ATOMS = [
    # thought
    "<|channel>thought\nSECRET pondering<channel|>",
    "<|channel>thought\n<channel|>",
    "<|channel>SECRET unlabelled<channel|>",
    "<|channel>thought\nSECRET never closed",
    # calls
    f"<|tool_call>call:get_weather{{city:{Q}Paris{Q},days:2}}<tool_call|>",
    "<|tool_call>:call:f{a:1}",
    "call:f{a:1}",
    f"<call>f{{a:{Q}x{Q}}}",
    f"<tool_call>f{{a:{Q}x{Q}}}</tool_call>",
    f"<|tool_call>call:f{{a:{Q}x}}<tool_call|>",
    "<|tool_call>call:f{a b c}<tool_call|>",
    f"<|tool_call>call:f{{a:{Q}Par",
    "<|tool_call>call:get_wea",
    "call:",
    # turn boundaries and special tokens
    "<turn|>",
    "<|tool_response>",
    "<eos>",
    "<|think|>",
    "<unk>",
    "<mask>",
    "<start_of_image>",
    Q,
    "<channel|>",
    "<tool_call|>",
    # words
    "Hello",
    " there",
    ", it is 18",
    ".",
    "\n",
    " ",
    "3 < 5",
    "<b>",
    "calm",
    "c",
]
NEVER_SPOKEN = (
    "<|",
    "|>",
    "<channel|>",
    "<tool_call|>",
    "</tool_call>",
    "<call>",
    "<tool_call>",
    Q,
    "<unk>",
    "<mask>",
    "<start_of_image>",
    "<eos>",
    SECRET,
)
# Tool syntax: a call's head ("call:" then a name, a brace) or a "call:" the reply ends on.
# "call: there" is prose.
TOOL_SYNTAX = re.compile(r"call:[A-Za-z0-9_.\-]+[{(]|call:\Z")
_MODEL = get_model("google/gemma-4-31b-it")


@st.composite
def streams(draw: st.DrawFn) -> tuple[bool, list[dict[str, Any]]]:
    """One reply as a server streams it: ``(in_thought, chunk objects)``."""
    in_thought = draw(st.booleans())
    first = draw(st.sampled_from(["", *(_IN_THOUGHT if in_thought else _OPENERS)]))
    text = first + "".join(draw(st.lists(st.sampled_from(_ATOMS), max_size=12)))
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=8)))
    pieces = [text[a:b] for a, b in itertools.pairwise([0, *cuts, len(text)])]
    chunks: list[dict[str, Any]] = []
    for piece in pieces:
        delta: dict[str, Any] = {"content": piece}
        # a server that fills reasoning/tool_calls parses the model's output itself: the
        # prompt's open thought is then its business, not content's (ChunkParser drops
        # in_thought on such a field), so those fields only come with in_thought=False
        if not in_thought and draw(st.integers(0, 9)) == 0:
            delta[draw(st.sampled_from(["reasoning", "reasoning_content"]))] = SECRET
        chunks.append({"id": "c1", "choices": [{"index": 0, "delta": delta}]})
    if not in_thought and draw(st.integers(0, 5)) == 0:
        call = {"index": 0, "id": "call_1", "function": {"name": "g", "arguments": "{}"}}
        chunks.append({"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    finish = draw(st.sampled_from(["stop", "length", "tool_calls", None]))
    if finish is not None:
        chunks.append({"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if draw(st.booleans()):
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        chunks.append({"id": "c1", "choices": [], "usage": usage})
    return in_thought, chunks


def _turn(in_thought: bool, chunks: list[dict[str, Any]]) -> tuple[str, int, bool]:
    """What the agent gets: the speech, the number of calls, whether the turn was an error."""
    parser = parsing.ChunkParser(_MODEL.unspoken, gemma4=True, in_thought=in_thought)
    speech: list[str] = []
    calls = 0
    try:
        for obj in [*chunks, None]:
            out = parser.feed(obj) if obj is not None else parser.finish()
            for chunk in out:
                if chunk.delta is not None:
                    speech.append(chunk.delta.content or "")
                    calls += len(chunk.delta.tool_calls or [])
    except parsing.StreamError:
        return "".join(speech), calls, True
    return "".join(speech), calls, False


_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(stream=streams())
def test_never_markup_or_thought_spoken(stream: tuple[bool, list[dict[str, Any]]]) -> None:
    """Whatever Gemma 4 writes and however it is chunked, the caller hears no marker, no tool
    syntax and no thought."""
    speech, _, _ = _turn(*stream)
    for bad in NEVER_SPOKEN:
        assert bad not in speech, json.dumps(stream)
    assert TOOL_SYNTAX.search(speech) is None, json.dumps(stream)


@pytest.mark.xfail(
    not hasattr(parsing, "EmptyCompletion"),
    reason="ChunkParser.finish() does not yet raise EmptyCompletion for a reply with nothing "
    "to say and no call (the lead is adding it to parsing.py)",
    strict=True,
)
@_SETTINGS
@given(stream=streams())
def test_never_silent(stream: tuple[bool, list[dict[str, Any]]]) -> None:
    """A turn ends in speech, in a tool call, or in an error the agent can act on: never in
    silence that looks like success."""
    speech, calls, error = _turn(*stream)
    assert error or calls or speech.strip(), json.dumps(stream)
