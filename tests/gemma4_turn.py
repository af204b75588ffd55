"""One Gemma 4 reply through the real LLM stream on the loopback gateway, in a process of its
own: ``python -m tests.gemma4_turn REPLY_JSON STEP`` prints what the turn said and called.

A test runs it in a subprocess with a timeout because a parser that never returns blocks the
event loop: no ``asyncio`` timeout (nor the stream's own) can fire inside the same process.
"""

from __future__ import annotations

import asyncio
import json
import sys

from livekit.agents import APIConnectOptions, APIError, llm

from tests.gateway import Gateway, Reply, gateway_llm, user_ctx


@llm.function_tool
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


@llm.function_tool
async def save_note(text: str) -> str:
    """Save a note."""
    return "ok"


async def main(text: str, step: int) -> None:
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
                tools=[get_weather, save_note],
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
        print(json.dumps({"said": "".join(said), "calls": names, "error": err}))


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1]), int(sys.argv[2])))
