"""Stream parsing: SSE lines to events, events to chat chunks (thinking, tools, usage)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from livekit.agents import llm

from livekit_plugins_hosted import models
from livekit_plugins_hosted.parsing import ChunkParser, EmptyCompletion, StreamError, decode_event
from livekit_plugins_hosted.toolcalls import TOOL_ARGUMENTS_KEPT, TOOL_CALLS_KEPT

GEMMA_TAGS = models.get_model("google/gemma-4-31b-it").thinking or ()
THOUGHT = "<|channel>thought\nThe user says hi. I should greet back briefly.<channel|>"


# --- helpers ----------------------------------------------------------------------------------


def chunk(
    content: str | None = None,
    *,
    id: str | None = "chatcmpl-abc",
    index: int = 0,
    finish: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    **delta_extra: Any,
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` object with a single choice."""
    delta: dict[str, Any] = dict(delta_extra)
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    obj: dict[str, Any] = {
        "object": "chat.completion.chunk",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }
    if id is not None:
        obj["id"] = id
    return obj


def frag(
    index: int, *, id: str | None = None, name: str | None = None, args: str | None = None
) -> dict[str, Any]:
    """One tool-call fragment as streamed in ``delta.tool_calls``."""
    fn: dict[str, Any] = {}
    if name is not None:
        fn["name"] = name
    if args is not None:
        fn["arguments"] = args
    out: dict[str, Any] = {"index": index, "type": "function", "function": fn}
    if id is not None:
        out["id"] = id
    return out


def run(parser: ChunkParser, objs: list[dict[str, Any]]) -> list[llm.ChatChunk]:
    """Feed every object, then finish; all chunks produced."""
    out: list[llm.ChatChunk] = []
    for obj in objs:
        out.extend(parser.feed(obj))
    out.extend(parser.finish())
    return out


def text_of(chunks: list[llm.ChatChunk]) -> str:
    return "".join(c.delta.content for c in chunks if c.delta is not None and c.delta.content)


def calls_of(chunks: list[llm.ChatChunk]) -> list[llm.FunctionToolCall]:
    return [tc for c in chunks if c.delta is not None for tc in c.delta.tool_calls]


def spoken(parts: list[str], tags: models.ThinkingFormat = GEMMA_TAGS) -> str:
    """The text a user hears when the stream carries ``parts`` one per chunk."""
    objs = [chunk(p) for p in parts] + [chunk(finish="stop")]
    return text_of(run(ChunkParser(tags), objs))


# --- decode_event -----------------------------------------------------------------------------


def test_decode_done_is_none() -> None:
    """``[DONE]`` would be parsed as JSON and fail the stream."""
    assert decode_event("", "[DONE]") is None


def test_decode_object() -> None:
    """A normal chunk would not be decoded."""
    assert decode_event("", '{"id": "x", "choices": []}') == {"id": "x", "choices": []}


def test_decode_malformed_json() -> None:
    """Garbage from a proxy would crash with a bare JSONDecodeError instead of a StreamError."""
    with pytest.raises(StreamError, match="not JSON"):
        decode_event("", "{not json")


@pytest.mark.parametrize("data", ["[1, 2]", '"text"', "3", "null"])
def test_decode_non_object(data: str) -> None:
    """A JSON value that is not an object would crash later with an AttributeError."""
    with pytest.raises(StreamError, match="not an object"):
        decode_event("", data)


def test_decode_error_object() -> None:
    """A mid-stream error would be ignored, or lose its message and status code."""
    body = {"error": {"message": "rate limited", "code": 429, "type": "rate_limit"}}
    with pytest.raises(StreamError) as info:
        decode_event("", json.dumps(body))
    assert "rate limited" in str(info.value)
    assert info.value.message.endswith("rate limited")
    assert info.value.status_code == 429
    assert info.value.body == body


def test_decode_error_with_string_code() -> None:
    """A non-numeric error code would be reported as an HTTP status."""
    with pytest.raises(StreamError) as info:
        decode_event("", json.dumps({"error": {"message": "bad", "code": "invalid_request"}}))
    assert info.value.status_code is None
    assert "bad" in str(info.value)


def test_decode_error_event_name() -> None:
    """An ``event: error`` whose payload has no "error" key would be taken as a chunk."""
    with pytest.raises(StreamError) as info:
        decode_event("error", json.dumps({"message": "overloaded", "code": 503}))
    assert "overloaded" in str(info.value)
    assert info.value.status_code == 503


# --- ChunkParser: text ------------------------------------------------------------------------


def test_plain_text_in_order_with_provider_id() -> None:
    """The reply would be spoken out of order, or chunks would not carry the provider id."""
    parser = ChunkParser(GEMMA_TAGS)
    chunks = run(parser, [chunk("Hello"), chunk(", "), chunk("world!"), chunk(finish="stop")])
    assert [c.delta.content for c in chunks if c.delta] == ["Hello", ", ", "world!"]
    assert {c.id for c in chunks} == {"chatcmpl-abc"}
    assert parser.id == "chatcmpl-abc"


def test_role_only_and_empty_chunks_yield_nothing() -> None:
    """Empty deltas would produce empty chunks (spurious TTS segments)."""
    parser = ChunkParser(GEMMA_TAGS)
    assert parser.feed(chunk(role="assistant")) == []
    assert parser.feed(chunk("")) == []
    assert parser.feed({"id": "x", "choices": []}) == []


def test_gemma_thought_stripped() -> None:
    """Gemma 4's thinking would be read aloud."""
    assert spoken([THOUGHT + "Hi there!"]) == "Hi there!"
    assert spoken(["Sure. ", THOUGHT, "Here it is."]) == "Sure. Here it is."


def test_gemma_thought_split_at_every_position() -> None:
    """Thinking would be read aloud when the tags arrive split across chunks."""
    full = "Okay. " + THOUGHT + "Hello there! <|channel>thought\nmore<channel|>Bye."
    visible = "Okay. Hello there! Bye."
    for i in range(len(full) + 1):
        assert spoken([full[:i], full[i:]]) == visible, f"split at {i}"


def test_gemma_thought_split_at_every_pair_of_positions() -> None:
    """Thinking would be read aloud when a tag is spread over three chunks."""
    full = "A " + "<|channel>thought x<channel|>" + "B"
    for i in range(len(full) + 1):
        for j in range(i, len(full) + 1):
            assert spoken([full[:i], full[i:j], full[j:]]) == "A B", f"split at {i}, {j}"


def test_gemma_thought_one_character_per_chunk() -> None:
    """Thinking would be read aloud when the server streams one character at a time."""
    full = THOUGHT + "Hi!"
    assert spoken(list(full)) == "Hi!"


def test_partial_tag_prefix_that_is_text_is_spoken() -> None:
    """Text that only looks like the start of a tag ("<") would be swallowed."""
    assert spoken(["1 <", " 2"]) == "1 < 2"
    assert spoken(["ends with <"]) == "ends with <"


def test_unterminated_thought_not_spoken() -> None:
    """Thinking cut off at the end of the stream would be read aloud."""
    assert spoken(["Hi. ", "<|channel>thought\nstill thinking..."]) == "Hi. "
    parser = ChunkParser(GEMMA_TAGS)
    # no finish_reason either: nothing speakable, so the turn ends in an error, not silence
    with pytest.raises(EmptyCompletion):
        run(parser, [chunk("<|channel>thought never closed")])


def test_default_think_tags() -> None:
    """``<think>`` blocks of other open-weight models would be read aloud."""
    tags = models.get_model("acme/unknown").thinking or ()
    assert spoken(["<thi", "nk>hmm</th", "ink>Yes."], tags) == "Yes."


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_reasoning_fields_never_spoken(field: str) -> None:
    """Thinking sent in a separate delta field would be read aloud."""
    parser = ChunkParser(GEMMA_TAGS)
    objs = [
        chunk(**{field: "Let me think about this."}),
        chunk(**{field: "More thoughts."}),
        chunk("Answer.", **{field: "still thinking"}),
        chunk(finish="stop"),
    ]
    chunks = run(parser, objs)
    assert text_of(chunks) == "Answer."


# --- ChunkParser: tool calls ------------------------------------------------------------------


def test_tool_call_assembled_from_fragments() -> None:
    """A tool call streamed in pieces would reach the tool with broken arguments."""
    parser = ChunkParser(GEMMA_TAGS)
    objs = [
        chunk(tool_calls=[frag(0, id="call_1", name="get_weather", args="")]),
        chunk(tool_calls=[frag(0, args='{"city"')]),
        chunk(tool_calls=[frag(0, args=': "Paris"')]),
        chunk(tool_calls=[frag(0, args="}")]),
    ]
    for obj in objs:
        assert parser.feed(obj) == []  # nothing is emitted before the call is complete
    out = parser.feed(chunk(finish="tool_calls"))
    calls = calls_of(out)
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert calls[0].call_id == "call_1"
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    assert out[0].id == "chatcmpl-abc"
    assert parser.finished
    assert parser.finish() == []  # not emitted twice


def test_parallel_tool_calls_interleaved() -> None:
    """Two parallel calls with interleaved fragments would get each other's arguments."""
    objs = [
        chunk(tool_calls=[frag(0, id="call_a", name="get_weather")]),
        chunk(tool_calls=[frag(1, id="call_b", name="get_time")]),
        chunk(tool_calls=[frag(0, args='{"city":')]),
        chunk(tool_calls=[frag(1, args='{"tz":')]),
        chunk(tool_calls=[frag(1, args=' "UTC"}')]),
        chunk(tool_calls=[frag(0, args=' "Oslo"}')]),
        chunk(finish="tool_calls"),
    ]
    calls = calls_of(run(ChunkParser(GEMMA_TAGS), objs))
    assert [(c.call_id, c.name) for c in calls] == [
        ("call_a", "get_weather"),
        ("call_b", "get_time"),
    ]
    assert json.loads(calls[0].arguments) == {"city": "Oslo"}
    assert json.loads(calls[1].arguments) == {"tz": "UTC"}


def test_several_tool_calls_in_one_chunk() -> None:
    """Complete calls sent together in one chunk (as some engines do) would be lost or merged."""
    objs = [
        chunk(
            tool_calls=[
                frag(0, id="c0", name="a", args='{"x": 1}'),
                frag(1, id="c1", name="b", args='{"y": 2}'),
                frag(2, id="c2", name="c", args="{}"),
            ],
            finish="tool_calls",
        )
    ]
    calls = calls_of(run(ChunkParser(GEMMA_TAGS), objs))
    assert [c.name for c in calls] == ["a", "b", "c"]
    assert [c.call_id for c in calls] == ["c0", "c1", "c2"]
    assert [json.loads(c.arguments) for c in calls] == [{"x": 1}, {"y": 2}, {}]


def test_tool_call_without_arguments_gets_empty_object() -> None:
    """A call to a tool without parameters would carry "" and fail JSON parsing."""
    objs = [chunk(tool_calls=[frag(0, id="c0", name="hang_up")]), chunk(finish="tool_calls")]
    (call,) = calls_of(run(ChunkParser(GEMMA_TAGS), objs))
    assert call.arguments == "{}"


def test_tool_call_without_id_gets_one() -> None:
    """A call whose server sent no id could not be matched with its result."""
    objs = [chunk(tool_calls=[frag(0, name="f", args="{}")]), chunk(finish="tool_calls")]
    (call,) = calls_of(run(ChunkParser(GEMMA_TAGS), objs))
    assert call.call_id


def test_pending_tool_call_flushed_by_finish() -> None:
    """A call from a stream that ends without finish_reason would be lost."""
    parser = ChunkParser(GEMMA_TAGS)
    parser.feed(chunk(tool_calls=[frag(0, id="c0", name="f", args='{"a": 1}')]))
    assert not parser.finished
    out = parser.finish()
    (call,) = calls_of(out)
    assert (call.name, call.call_id, json.loads(call.arguments)) == ("f", "c0", {"a": 1})


def test_text_then_tool_call() -> None:
    """Text spoken before a tool call would be lost, or the call emitted before the text."""
    objs = [
        chunk("One moment. "),
        chunk(tool_calls=[frag(0, id="c0", name="lookup", args="{}")]),
        chunk(finish="tool_calls"),
    ]
    chunks = run(ChunkParser(GEMMA_TAGS), objs)
    assert text_of(chunks) == "One moment. "
    assert [c.name for c in calls_of(chunks)] == ["lookup"]
    assert chunks[0].delta.content == "One moment. "


# --- ChunkParser: choices, usage, ids ---------------------------------------------------------


def test_only_choice_zero_is_spoken() -> None:
    """With n>1 the user would hear a mix of alternative replies."""
    objs = [
        chunk("First", index=0),
        chunk("SECOND", index=1),
        chunk(tool_calls=[frag(0, id="x", name="other_choice_tool")], index=1),
        chunk(" reply.", index=0),
        chunk(finish="stop", index=1),
        {
            "id": "chatcmpl-abc",
            "choices": [
                {"index": 1, "delta": {"content": "MORE"}, "finish_reason": None},
                {"index": 0, "delta": {"content": "!"}, "finish_reason": None},
            ],
        },
        chunk(finish="stop", index=0),
    ]
    parser = ChunkParser(GEMMA_TAGS)
    chunks = run(parser, objs)
    assert text_of(chunks) == "First reply.!"
    assert calls_of(chunks) == []


def test_finish_of_other_choice_does_not_set_finished() -> None:
    """A stream would be considered complete when only an alternative choice finished."""
    parser = ChunkParser(GEMMA_TAGS)
    parser.feed(chunk("x", index=0))
    parser.feed(chunk(finish="stop", index=1))
    assert not parser.finished
    parser.feed(chunk(finish="stop", index=0))
    assert parser.finished


def test_usage_with_cached_and_reasoning_tokens() -> None:
    """Token usage metrics would be missing or miss cached / reasoning tokens."""
    parser = ChunkParser(GEMMA_TAGS)
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 7},
    }
    chunks = run(
        parser,
        [chunk("Hi"), chunk(finish="stop"), {"id": "chatcmpl-abc", "choices": [], "usage": usage}],
    )
    usages = [c.usage for c in chunks if c.usage is not None]
    assert len(usages) == 1
    u = usages[0]
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (100, 20, 120)
    assert u.prompt_cached_tokens == 64
    assert u.reasoning_tokens == 7


def test_usage_null_details_and_missing_total() -> None:
    """A server sending null token details would crash the stream."""
    parser = ChunkParser(GEMMA_TAGS)
    usage = {
        "prompt_tokens": 5,
        "completion_tokens": 3,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }
    (out,) = parser.feed({"id": "x", "choices": [], "usage": usage})
    assert out.usage is not None
    assert out.usage.total_tokens == 8
    assert out.usage.prompt_cached_tokens == 0
    assert out.usage.reasoning_tokens == 0


def test_generated_id_is_stable() -> None:
    """Chunks of one reply would carry different ids when the server sends none."""
    parser = ChunkParser(GEMMA_TAGS)
    objs = [
        chunk("a", id=None),
        chunk("b", id=None),
        chunk(tool_calls=[frag(0, id="c", name="f")], id=None),
        chunk(finish="tool_calls", id=None),
    ]
    chunks = run(parser, objs)
    ids = {c.id for c in chunks}
    assert len(ids) == 1
    (only,) = ids
    assert only.startswith("chatcmpl-")
    assert parser.id == only


def test_first_provider_id_kept() -> None:
    """The reply id would change mid-stream if a later chunk carried a different id."""
    parser = ChunkParser(GEMMA_TAGS)
    chunks = run(parser, [chunk("a", id="first"), chunk("b", id="second")])
    assert {c.id for c in chunks} == {"first"}


def test_estimate_usage_when_server_sent_none() -> None:
    """A local engine that sends no usage would leave token metrics empty."""
    parser = ChunkParser(GEMMA_TAGS, estimate_usage=True)
    chunks = run(parser, [chunk("a"), chunk("b"), chunk("c"), chunk(finish="stop")])
    usages = [c.usage for c in chunks if c.usage is not None]
    assert len(usages) == 1
    assert usages[0].completion_tokens == 3
    assert usages[0].total_tokens == 3
    assert chunks[-1].usage is usages[0]


def test_no_estimate_when_server_sent_usage() -> None:
    """An estimate would double-count usage the server reported."""
    parser = ChunkParser(GEMMA_TAGS, estimate_usage=True)
    usage = {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    objs = [
        chunk("a"),
        chunk("b"),
        chunk(finish="stop"),
        {"id": "x", "choices": [], "usage": usage},
    ]
    usages = [c.usage for c in run(parser, objs) if c.usage is not None]
    assert len(usages) == 1
    assert usages[0].total_tokens == 6


def test_no_estimate_by_default() -> None:
    """Estimated usage would be reported for servers that are trusted to send it."""
    parser = ChunkParser(GEMMA_TAGS)
    chunks = run(parser, [chunk("a"), chunk(finish="stop")])
    assert all(c.usage is None for c in chunks)


def test_finished_flag() -> None:
    """A truncated stream (no finish_reason) would be treated as complete, or vice versa."""
    parser = ChunkParser(GEMMA_TAGS)
    assert not parser.finished
    parser.feed(chunk("partial"))
    assert not parser.finished
    parser.feed(chunk(finish="length"))
    assert parser.finished


def test_think_filter_plain_text_passes_untouched() -> None:
    """Text without any '<' is returned as is (the hot path) and nothing is held back."""
    from livekit_plugins_hosted.parsing import ThinkFilter

    f = ThinkFilter([("<|channel>thought", "<channel|>")])
    assert f.feed("Hello there") == "Hello there"
    assert f.feed("a < b") == "a < b"
    assert f.feed("x <|chan") == "x "
    assert f.feed("nel>thought hidden<channel|>shown", final=True) == "shown"


def test_list_content_parts_are_spoken() -> None:
    """A server sending content as typed parts (Mistral-style) is still heard."""
    p = ChunkParser([("<think>", "</think>")])
    out = p.feed(
        {
            "id": "c",
            "choices": [{"index": 0, "delta": {"content": [{"type": "text", "text": "Hi"}]}}],
        }
    )
    assert [c.delta.content for c in out if c.delta] == ["Hi"]


def test_calls_sharing_index_zero_stay_separate() -> None:
    """Servers that send every parallel call at index 0 (new id each) get two calls, not one."""
    p = ChunkParser([("<think>", "</think>")])

    def call(id: str, name: str, args: str) -> dict[str, Any]:
        tc = {
            "index": 0,
            "id": id,
            "type": "function",
            "function": {"name": name, "arguments": args},
        }
        return {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [tc]}}]}

    p.feed(call("a", "f", '{"x": 1}'))
    p.feed(call("b", "g", '{"y": 2}'))
    out = p.feed({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    calls = [tc for c in out if c.delta for tc in c.delta.tool_calls]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        ("a", "f", '{"x": 1}'),
        ("b", "g", '{"y": 2}'),
    ]


def test_null_error_field_is_not_an_error() -> None:
    """A chunk carrying "error": null is an ordinary chunk."""
    assert decode_event("", '{"id": "c", "error": null, "choices": []}') == {
        "id": "c",
        "error": None,
        "choices": [],
    }


@pytest.mark.parametrize(
    "obj",
    [
        {"choices": "nope"},
        {"choices": [5]},
        {"choices": [{"index": 0, "delta": "text"}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": {"a": 1}}}]},
        {"choices": [], "usage": {"completion_tokens": "many"}},
    ],
)
def test_wrong_shapes_are_stream_errors(obj: dict[str, Any]) -> None:
    """Valid JSON of the wrong shape is the server's fault: a StreamError, not a crash."""
    with pytest.raises(StreamError, match="malformed"):
        ChunkParser([("<think>", "</think>")]).feed(obj)


# -- server-parsed tool calls are capped ---------------------------------------------------


def test_tool_call_arguments_past_their_cap_end_the_stream() -> None:
    """A server streaming one call's arguments without end was kept whole (a 32 MB stream
    peaked at 65 MB and ran as a 32 MB call): past the cap the stream is a fault that no
    retry repeats, and what is kept never passes the cap."""
    parser = ChunkParser(GEMMA_TAGS)
    parser.feed(chunk(tool_calls=[frag(0, id="c1", name="f", args="")]))
    piece = "a" * (64 * 1024)
    fed = 0
    with pytest.raises(StreamError, match="arguments passed") as info:
        for _ in range(4 * TOOL_ARGUMENTS_KEPT // len(piece)):
            parser.feed(chunk(tool_calls=[frag(0, args=piece)]))
            fed += len(piece)
    assert not info.value.retryable
    assert fed <= TOOL_ARGUMENTS_KEPT


def test_more_tool_calls_than_a_reply_makes_end_the_stream() -> None:
    """Each new id at index 0 is a new call: a server could open calls without end."""
    parser = ChunkParser(GEMMA_TAGS)
    with pytest.raises(StreamError, match="tool calls in one reply"):
        for n in range(4 * TOOL_CALLS_KEPT):
            parser.feed(chunk(tool_calls=[frag(0, id=f"c{n}", name="f", args="{}")]))
    assert n == TOOL_CALLS_KEPT


def test_the_call_cap_is_the_replys_however_many_finish_reasons() -> None:
    """Each call came with its own finish reason, which handed the calls over and emptied the
    count: 800 calls ran. The cap counts the whole reply."""
    parser = ChunkParser(GEMMA_TAGS)
    with pytest.raises(StreamError, match="tool calls in one reply"):
        for n in range(4 * TOOL_CALLS_KEPT):
            parser.feed(
                chunk(tool_calls=[frag(n, id=f"c{n}", name="f", args="{}")], finish="tool_calls")
            )
    assert n == TOOL_CALLS_KEPT


@pytest.mark.parametrize("what", ["name", "extra"])
def test_a_tool_calls_name_and_extra_content_are_capped(what: str) -> None:
    """Only the arguments were counted: 60 calls with 2 MB names and extra content each kept
    240 MB. A name past 256 characters, or extra content past 64 KB, ends the stream."""
    big = "n" * (4 * 64 * 1024)
    call = frag(0, id="c1", name=big if what == "name" else "f", args="{}")
    if what == "extra":
        call["extra_content"] = {"google": {"thought_signature": big}}
    with pytest.raises(StreamError, match="past") as info:
        ChunkParser(GEMMA_TAGS).feed(chunk(tool_calls=[call]))
    assert not info.value.retryable
