"""``backend="auto"``: what the detected engine cannot honour is refused the same way on every
turn, before anything is sent (issue 22)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from livekit.agents import APIConnectOptions, APIError

import livekit_plugins_hosted as hosted
from tests.gateway import SAYS_HI, Gateway, Reply, serve, stream_events, user_ctx

ONCE = APIConnectOptions(max_retry=0, timeout=10)
HIGH: dict[str, Any] = {"reasoning_effort": "high"}


@pytest.mark.parametrize(
    "owned_by, persistent",
    [
        (None, {"max_thinking_time": 1.0}),
        ("me", {"max_thinking_time": 1.0}),
        ("me", {"extra_kwargs": HIGH}),  # llama-cpp-python has no reasoning_effort
        (403, {"max_thinking_time": 1.0}),  # a proxy guards GET /v1/models: never decided
    ],
)
async def test_auto_detected_refusals_hold_every_turn(
    owned_by: str | int | None, persistent: dict[str, Any]
) -> None:
    """``backend="auto"``: a persistent setting the detected engine cannot honour was a
    non-retryable APIError on the turn that detected it and a bare ValueError from ``chat()``
    on later ones (no ``error`` event, nothing a FallbackAdapter acts on); behind a proxy that
    answers ``GET /v1/models`` 403, the first turns ignored ``max_thinking_time`` silently
    and later ones refused it. Every turn now ends in the same refusal: an APIError (and a
    ValueError, as bad input is), not retryable, with the LLM's ``error`` event, and nothing
    is sent."""
    async with Gateway(verify_jwt=False) as gw:
        if isinstance(owned_by, int):
            gw.models_reply = Reply.error(owned_by, "forbidden")
        else:
            card: dict[str, Any] = {"id": "m", "object": "model"}
            if owned_by is not None:
                card["owned_by"] = owned_by
            gw.models_reply = Reply(body={"object": "list", "data": [card]})
        model = hosted.LLM.self_hosted("m", base_url=gw.url, **persistent)
        errors: list[object] = []
        model.on("error", errors.append)
        try:
            for turn in range(4):
                with pytest.raises(APIError, match="not supported by the") as raised:
                    async with model.chat(chat_ctx=user_ctx(), conn_options=ONCE) as stream:
                        async for _chunk in stream:
                            pass
                assert isinstance(raised.value, ValueError) and not raised.value.retryable
                assert len(errors) == turn + 1
            completions = [r for r in gw.requests if r.path.endswith("/chat/completions")]
            assert completions == []
        finally:
            await model.aclose()


async def test_a_server_that_did_not_answer_detection_is_not_refused() -> None:
    """A server that does not answer ``GET /v1/models`` (down, or still loading) is not taken
    for an engine that refuses ``max_thinking_time``: the turn ends in the completion
    request's own connection error, which the framework may retry."""
    model = hosted.LLM.self_hosted("m", base_url="http://127.0.0.1:9/v1", max_thinking_time=1.0)
    try:
        with pytest.raises(APIError) as raised:
            await model.chat(chat_ctx=user_ctx(), conn_options=ONCE).collect()
    finally:
        await model.aclose()
    assert not isinstance(raised.value, ValueError) and raised.value.retryable


@pytest.mark.parametrize("status", [429, 503])
async def test_a_busy_answer_to_detection_refuses_nothing(status: int) -> None:
    """A vLLM server answering ``GET /v1/models`` busy once (503, 429) had
    ``max_thinking_time`` refused on that turn, a non-retryable APIError that sends a
    FallbackAdapter elsewhere, though the engine honours it: the next turn found vLLM. A busy
    answer says no more than silence: the turn is answered, and the next one detects vLLM."""
    async with Gateway(verify_jwt=False) as gw:
        gw.models_reply = Reply.error(status, "busy")
        model = hosted.LLM.self_hosted("m", base_url=gw.url, max_thinking_time=1.0)
        try:
            first = await model.chat(chat_ctx=user_ctx(), conn_options=ONCE).collect()
            card = {"id": "m", "object": "model", "owned_by": "vllm"}
            gw.models_reply = Reply(body={"object": "list", "data": [card]})
            second = await model.chat(chat_ctx=user_ctx(), conn_options=ONCE).collect()
        finally:
            await model.aclose()
    assert first.text and first.text == second.text
    assert model.provider == "vllm"


async def test_a_guards_refusal_holds_through_a_busy_answer() -> None:
    """A proxy that guards ``GET /v1/models`` (403) and once answers busy (503): the turns
    went refused, spoke, refused, refused. The guard's silence holds until the engine is
    known, so every turn is the same refusal."""
    async with Gateway(verify_jwt=False) as gw:
        model = hosted.LLM.self_hosted("m", base_url=gw.url, max_thinking_time=1.0)
        try:
            for status in (403, 503, 403, 403, 503):
                gw.models_reply = Reply.error(status, "no")
                with pytest.raises(APIError, match="not supported by the") as raised:
                    await model.chat(chat_ctx=user_ctx(), conn_options=ONCE).collect()
                assert not raised.value.retryable
        finally:
            await model.aclose()
        assert not [r for r in gw.requests if r.path.endswith("/chat/completions")]


async def test_a_server_busy_for_turns_is_detected_when_it_answers() -> None:
    """``GET /v1/models`` busy for three turns, then naming vLLM: the third turn settled on
    the stand-in and refused ``max_thinking_time`` for the LLM's life. The busy turns are
    answered, and once vLLM names itself nothing is refused."""
    async with Gateway(verify_jwt=False) as gw:
        model = hosted.LLM.self_hosted("m", base_url=gw.url, max_thinking_time=1.0)
        try:
            gw.models_reply = Reply.error(503, "busy")
            for _ in range(3):
                assert (await model.chat(chat_ctx=user_ctx(), conn_options=ONCE).collect()).text
            card = {"id": "m", "object": "model", "owned_by": "vllm"}
            gw.models_reply = Reply(body={"object": "list", "data": [card]})
            for _ in range(2):
                assert (await model.chat(chat_ctx=user_ctx(), conn_options=ONCE).collect()).text
        finally:
            await model.aclose()
        assert model.provider == "vllm"


async def test_a_probe_that_hangs_leaves_the_first_word_its_budget() -> None:
    """``GET /v1/models`` never answering, ``first_token_timeout=2``: the probe used the whole
    first-word budget, so every turn and every retry timed out and no completion was ever
    sent to a healthy server. The probe takes at most half the budget; the turn speaks."""
    hang = asyncio.Event()

    async def models(_request: web.Request) -> web.Response:
        await hang.wait()
        return web.json_response({})

    async def completions(request: web.Request) -> web.StreamResponse:
        return await stream_events(request, SAYS_HI)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", completions)
    runner, url = await serve(app)
    model = hosted.LLM.self_hosted("m", base_url=url, first_token_timeout=2.0)
    try:
        said = await model.chat(chat_ctx=user_ctx(), conn_options=ONCE).collect()
    finally:
        hang.set()
        await model.aclose()
        await runner.cleanup()
    assert said.text == "Hi."
