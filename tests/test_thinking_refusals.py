"""``backend="auto"``: what the detected engine cannot honour is refused the same way on every
turn, before anything is sent (issue 22)."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.agents import APIConnectOptions, APIError

import livekit_plugins_hosted as hosted
from tests.gateway import Gateway, Reply, user_ctx

ONCE = APIConnectOptions(max_retry=0, timeout=10)
HIGH: dict[str, Any] = {"reasoning_effort": "high"}


@pytest.mark.parametrize(
    "owned_by, persistent",
    [
        (None, {"max_thinking_time": 1.0}),
        ("me", {"max_thinking_time": 1.0}),
        ("me", {"extra_kwargs": HIGH}),  # llama-cpp-python has no reasoning_effort
    ],
)
async def test_auto_detected_refusals_hold_every_turn(
    owned_by: str | None, persistent: dict[str, Any]
) -> None:
    """``backend="auto"``: a persistent setting the detected engine cannot honour is refused with
    the same ValueError on the first turn and on every later one, and nothing is sent; on the
    first, raised inside the turn, it is also a non-retryable APIError (a bare ValueError
    escaping a turn is not an error the framework acts on)."""
    async with Gateway(verify_jwt=False) as gw:
        card: dict[str, Any] = {"id": "m", "object": "model"}
        if owned_by is not None:
            card["owned_by"] = owned_by
        gw.models_reply = Reply(body={"object": "list", "data": [card]})
        model = hosted.LLM.self_hosted("m", base_url=gw.url, **persistent)
        try:
            for turn in range(3):
                with pytest.raises(ValueError, match="not supported by the") as raised:
                    async with model.chat(chat_ctx=user_ctx(), conn_options=ONCE) as stream:
                        async for _chunk in stream:
                            pass
                if turn == 0:
                    # raised inside the turn that detected the engine: an error the
                    # framework acts on, never retried
                    assert isinstance(raised.value, APIError) and not raised.value.retryable
            completions = [r for r in gw.requests if r.path.endswith("/chat/completions")]
            assert completions == []
        finally:
            await model.aclose()
