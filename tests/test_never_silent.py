"""A voice turn ends in speech, a tool call or an ``APIError``: never silence, never markup.

Each test plays a server on loopback (the gateway double, or a self-hosted server that is not
the gateway) and checks one way a reply used to end in silence or in something a caller must
not hear: a thought the prompt opened, a completion with nothing to say, a late system turn
Gemma 4 reads as the caller's, images sent to a model that reads none, a tool value typed
against the tool's own schema.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, APIError, llm
from livekit.agents.llm import FallbackAdapter

import livekit_plugins_hosted as hosted
from tests.gateway import Gateway, Reply, delta_chunks, gateway_llm, user_ctx

ONE_TRY = APIConnectOptions(max_retry=0, timeout=10)


def _self_hosted(gw: Gateway, model: str, backend: str = "vllm", **kw: Any) -> hosted.LLM:
    gw._verify = False  # a self-hosted server takes a plain key, not the gateway's token
    return hosted.LLM.self_hosted(model, base_url=gw.url, backend=backend, **kw)


# -- a thought the prompt opened ------------------------------------------------------------

OPENED = ["The user greets me; ", "plan a short reply.", "</think>", "Hello", " there!"]


@pytest.mark.parametrize(
    "model_id",
    ["deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "Qwen/QwQ-32B", "Qwen/Qwen3-4B-Thinking-2507"],
)
async def test_reply_that_starts_inside_a_thought_speaks_only_the_answer(
    gateway: Gateway, model_id: str
) -> None:
    """Templates of the DeepSeek-R1 kind end the prompt with <think>: the reply starts inside
    the thought and only </think> shows where it ends. The plan was read aloud before."""
    gateway.replies.append(Reply.text(*OPENED))
    model = _self_hosted(gateway, model_id, backend="openai-compatible")
    result = await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    assert result.text == "Hello there!"
    await model.aclose()


async def test_direct_answer_of_a_thinking_family_is_still_heard(gateway: Gateway) -> None:
    """A reply of such a family that never closes a thought is the answer: it is heard."""
    gateway.replies.append(Reply.text("Hello", " there!"))
    model = _self_hosted(gateway, "deepseek-r1:8b", backend="ollama")
    result = await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    assert result.text == "Hello there!"
    await model.aclose()


async def test_unknown_model_that_opens_thoughts_is_learned(gateway: Gateway) -> None:
    """An id no family matches: the first stray </think> is never spoken, and from then on
    this server's replies start inside the thought, so the next plan is never heard."""
    model = _self_hosted(gateway, "acme/reasoner-7b", backend="openai-compatible")
    gateway.replies.append(Reply.text("Hi.", "</think>", " Hello!"))
    first = await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    assert "</think>" not in first.text and "think" not in first.text
    gateway.replies.append(Reply.text(*OPENED))
    second = await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    assert second.text == "Hello there!"
    await model.aclose()


# -- nothing to say ---------------------------------------------------------------------------


def _thought_only(finish_reason: str) -> Reply:
    return Reply(
        events=list(
            delta_chunks([{"reasoning_content": "thinking hard"}] * 3, finish_reason=finish_reason)
        )
    )


@pytest.mark.parametrize("finish_reason", ["length", "stop"])
async def test_a_completion_with_nothing_to_say_is_an_api_error(
    gateway: Gateway, finish_reason: str
) -> None:
    """The thought used the whole max_completion_tokens (or the model said nothing): the turn
    ended in silence with no error. Now it is a retryable APIError that says why."""
    gateway.replies.append(_thought_only(finish_reason))
    model = gateway_llm(gateway)
    with pytest.raises(APIError) as err:
        await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    assert err.value.retryable
    assert "nothing to say" in str(err.value) and "after thinking" in str(err.value)
    if finish_reason == "length":
        assert "max_completion_tokens" in str(err.value)
    await model.aclose()


async def test_only_markup_and_whitespace_is_nothing_to_say(gateway: Gateway) -> None:
    """Gemma 4 markup and whitespace, no tool call: nothing a caller hears, so an error."""
    gateway.replies.append(Reply.text("<|channel>thought\nhmm<channel|>", "  \n", "<turn|>"))
    model = gateway_llm(gateway)
    with pytest.raises(APIError, match="nothing to say"):
        await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    await model.aclose()


async def test_fallback_adapter_answers_after_an_empty_completion(gateway: Gateway) -> None:
    """The framework retries, then the FallbackAdapter's next LLM gives the answer."""
    for _ in range(2):
        gateway.replies.append(_thought_only("length"))
    gateway.replies.append(Reply.text("From", " the other one."))
    first, second = gateway_llm(gateway), gateway_llm(gateway)
    adapter = FallbackAdapter([first, second], attempt_timeout=10, max_retry_per_llm=1)
    result = await adapter.chat(chat_ctx=user_ctx()).collect()
    assert result.text == "From the other one."
    await adapter.aclose()
    await first.aclose()
    await second.aclose()


# -- late system turns --------------------------------------------------------------------------


def _late_instructions() -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="Be brief.")
    ctx.add_message(role="user", content="Hi")
    ctx.add_message(role="assistant", content="Hello! How can I help?")
    ctx.add_message(role="system", content="The caller has been silent: ask if they are there.")
    return ctx


@pytest.mark.parametrize("where", ["gateway", "self-hosted"])
async def test_late_system_message_goes_to_gemma_4_as_a_user_turn(
    gateway: Gateway, where: str
) -> None:
    """A silence reminder or generate_reply(instructions=...) mid-conversation: Gemma 4 answers
    as the caller after a late system turn, so it goes as a user turn, on every endpoint."""
    model = (
        gateway_llm(gateway)
        if where == "gateway"
        else _self_hosted(gateway, "google/gemma-4-31B-it", backend="llama.cpp")
    )
    await model.chat(chat_ctx=_late_instructions(), conn_options=ONE_TRY).collect()
    messages = gateway.bodies[-1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"] == (
        "<instructions>\nThe caller has been silent: ask if they are there.\n</instructions>"
    )
    await model.aclose()


async def test_other_families_keep_their_system_messages(gateway: Gateway) -> None:
    """Only Gemma 4 is known to need it: another model gets the context as the framework
    formats it."""
    model = _self_hosted(gateway, "Qwen/Qwen3-8B", backend="vllm")
    await model.chat(chat_ctx=_late_instructions(), conn_options=ONE_TRY).collect()
    roles = [m["role"] for m in gateway.bodies[-1]["messages"]]
    assert roles == ["system", "user", "assistant", "system"]
    await model.aclose()


# -- thinking off by default ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "backend, params, sent",
    [
        ("llama.cpp", {}, {"reasoning_effort": "none"}),  # its --reasoning auto is on
        ("ollama", {}, {"reasoning_effort": "none"}),  # recent Ollama thinks by default
        ("llama.cpp", {"reasoning_effort": "high"}, {"reasoning_effort": "high"}),
        ("ollama", {"reasoning_effort": "low"}, {"reasoning_effort": "low"}),
        (
            "llama.cpp",
            {"extra_body": {"chat_template_kwargs": {"enable_thinking": True}}},
            {"reasoning_effort": None, "chat_template_kwargs": {"enable_thinking": True}},
        ),
        ("vllm", {}, {"reasoning_effort": None, "skip_special_tokens": False}),  # off already
        ("openai-compatible", {}, {"reasoning_effort": None, "skip_special_tokens": None}),
    ],
)
async def test_gemma_4_thinks_only_when_asked(
    gateway: Gateway, backend: str, params: dict[str, Any], sent: dict[str, Any]
) -> None:
    """One default for Gemma 4 everywhere: thinking off unless the user asks, with the
    engine's own "off" sent where its default is on; every first word waited for a thought."""
    model = _self_hosted(gateway, "gemma4:31b", backend=backend, extra_kwargs=params)
    await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    body = gateway.bodies[-1]
    assert {k: body.get(k) for k in sent} == sent
    await model.aclose()


# -- images --------------------------------------------------------------------------------------


def _with_image(image: Any) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content=["What do you see?", llm.ImageContent(image=image)])
    return ctx


async def test_text_only_model_gets_no_image_parts(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """A vision agent adds video frames; the 270M model reads no images and its server fails
    every such turn (a 500, retried). The parts are left out, with one warning per LLM."""
    model = _self_hosted(gateway, "google/gemma-3-270m", backend="llama.cpp")
    with caplog.at_level(logging.WARNING, logger="livekit.plugins.hosted"):
        for _ in range(2):
            ctx = _with_image("https://example.invalid/cat.png")
            await model.chat(chat_ctx=ctx, conn_options=ONE_TRY).collect()
    for body in gateway.bodies:
        assert body["messages"] == [{"role": "user", "content": "What do you see?"}]
    warnings = [r for r in caplog.records if "reads no images" in r.getMessage()]
    assert len(warnings) == 1
    await model.aclose()


async def test_gemma_4_gets_its_images(gateway: Gateway) -> None:
    """Gemma 4 reads images: the part is sent."""
    model = gateway_llm(gateway)
    ctx = _with_image("https://example.invalid/cat.png")
    await model.chat(chat_ctx=ctx, conn_options=ONE_TRY).collect()
    parts = gateway.bodies[-1]["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"]
    await model.aclose()


async def test_video_frame_without_pillow_names_the_extra(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Encoding a frame needs Pillow (the framework's images extra): without it the turn fails
    with an error naming ours, never an ImportError from inside the stream."""
    monkeypatch.setitem(sys.modules, "PIL.Image", None)  # import PIL.Image raises ImportError
    monkeypatch.setitem(sys.modules, "PIL", None)
    from livekit.agents.utils.images import image as framework_images

    monkeypatch.delitem(framework_images.__dict__, "Image", raising=False)
    frame = rtc.VideoFrame(2, 2, rtc.VideoBufferType.RGBA, bytes(16))
    model = gateway_llm(gateway)
    with pytest.raises(APIError, match=r"livekit-plugins-hosted\[vision\]") as err:
        await model.chat(chat_ctx=_with_image(frame), conn_options=ONE_TRY).collect()
    assert not err.value.retryable
    assert gateway.bodies == []  # nothing was sent
    await model.aclose()


# -- tool values typed by the tool's schema -------------------------------------------------


CALLS: list[dict[str, Any]] = []


@llm.function_tool
async def find_store(zipcode: str, radius_km: int, open_now: bool) -> str:
    """Stores near a zip code."""
    CALLS.append({"zipcode": zipcode, "radius_km": radius_km, "open_now": open_now})
    return "two stores"


@pytest.mark.parametrize("where", ["gateway", "self-hosted"])
async def test_native_call_values_take_the_tools_types(gateway: Gateway, where: str) -> None:
    """zipcode:02134 is a string to this tool: sent as the integer 2134 it was refused by the
    framework (and the leading zero lost); the number and the boolean stay typed."""
    call = '<|tool_call>call:find_store{zipcode:02134,radius_km:<|"|>5<|"|>,open_now:true}'
    gateway.replies.append(Reply.text(call, "<tool_call|>"))
    model = (
        gateway_llm(gateway)
        if where == "gateway"
        else _self_hosted(gateway, "google/gemma-4-31B-it", backend="vllm")
    )
    result = await model.chat(
        chat_ctx=user_ctx("Stores near 02134?"), tools=[find_store], conn_options=ONE_TRY
    ).collect()
    assert len(result.tool_calls) == 1
    args = json.loads(result.tool_calls[0].arguments)
    assert args == {"zipcode": "02134", "radius_km": 5, "open_now": True}
    await model.aclose()


async def test_special_tokens_without_a_pipe_are_never_spoken(gateway: Gateway) -> None:
    """<unk>, <mask>, <start_of_image>: Gemma's specials without a pipe were read aloud."""
    gateway.replies.append(Reply.text("It is<unk> ", "sunny<mask> today", "<start_of_image>."))
    model = gateway_llm(gateway)
    result = await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    assert result.text == "It is sunny today."
    await model.aclose()


# -- found by review ------------------------------------------------------------------------


async def test_call_inside_a_thought_keeps_the_rest_of_the_thought_unspoken(
    gateway: Gateway,
) -> None:
    """A call written inside an explicit thought ended the thought: the rest of the thought
    was spoken, glued to the answer. Only <channel|> ends it."""
    CALLS.clear()
    gateway.replies.append(
        Reply.text(
            '<|channel>thought\nI could <|tool_call>call:find_store{zipcode:<|"|>02134<|"|>,',
            "radius_km:5,open_now:true}<tool_call|> but the user",
            " asked about London.",
            "<channel|>",
            "Which city did you mean?",
        )
    )
    model = gateway_llm(gateway)
    result = await model.chat(
        chat_ctx=user_ctx(), tools=[find_store], conn_options=ONE_TRY
    ).collect()
    assert result.text == "Which city did you mean?"
    assert len(result.tool_calls) == 1
    await model.aclose()


async def test_own_think_inside_an_opened_thought_is_never_released(gateway: Gateway) -> None:
    """A thinking family whose model writes its own <think> and is cut off by the token
    limit: the kept thought was released whole, markers included. Now nothing is said,
    which is an APIError."""
    gateway.replies.append(Reply.text("<th", "ink>\nThe user wants X. ", "Let me plan the"))
    model = _self_hosted(gateway, "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", backend="vllm")
    with pytest.raises(APIError, match="nothing to say"):
        await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    await model.aclose()


async def test_a_stray_channel_closer_teaches_nothing(gateway: Gateway) -> None:
    """A stray <channel|> (or any end marker but </think>) was learned as "this server opens
    thoughts", and every later reply was held to its end (and past the first-word deadline)."""
    model = _self_hosted(gateway, "assistant", backend="openai-compatible")
    gateway.replies.append(Reply.text("Sure.", "<channel|>", " Done."))
    assert (await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()).text
    events: list[dict[str, Any] | str] = [
        {"id": "x", "choices": [{"index": 0, "delta": {"content": "It is 18."}}]},
        {"id": "x", "choices": [{"index": 0, "delta": {"content": " Anything else?"}}]},
    ]
    gateway.replies.append(Reply(events=events, stall_after=1))
    stream = model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY)
    try:
        first = await stream.__anext__()  # the stream stalls after it: not held to the end
        assert first.delta is not None and first.delta.content == "It is 18."
    finally:
        await stream.aclose()
    await model.aclose()


async def test_whitespace_is_not_the_first_word(gateway: Gateway) -> None:
    """A reply that opens with "\\n\\n" and then stalls: the whitespace switched the first-word
    deadline off and made the failure non-retryable."""
    gateway.replies.append(Reply(events=list(delta_chunks([{"content": "\n\n"}])), stall_after=1))
    model = _self_hosted(gateway, "Qwen/Qwen3-8B", backend="vllm", first_token_timeout=1.0)
    with pytest.raises(APIError) as err:
        await model.chat(
            chat_ctx=user_ctx(), conn_options=APIConnectOptions(max_retry=0, timeout=30)
        ).collect()
    assert err.value.retryable and "first_token_timeout" in str(err.value)
    await model.aclose()


@pytest.mark.parametrize("value", ["1" * 5000, "1e999"])
async def test_numbers_with_no_json_form_never_escape_the_stream(
    gateway: Gateway, value: str
) -> None:
    """A 5,000-digit integer raised ValueError out of the stream; 1e999 became Infinity."""
    gateway.replies.append(Reply.text(f"<|tool_call>call:f{{n:{value}}}<tool_call|>"))
    model = gateway_llm(gateway)
    result = await model.chat(chat_ctx=user_ctx(), conn_options=ONE_TRY).collect()
    assert json.loads(result.tool_calls[0].arguments) == {"n": value}  # kept as its text
    await model.aclose()


async def test_lone_surrogate_in_the_context_is_sent(gateway: Gateway) -> None:
    """A broken emoji escape in a tool's output raised UnicodeEncodeError out of the stream."""
    model = gateway_llm(gateway)
    result = await model.chat(chat_ctx=user_ctx("broken \ud83d"), conn_options=ONE_TRY).collect()
    assert result.text
    assert gateway.bodies[-1]["messages"][-1]["content"] == "broken ?"
    await model.aclose()
