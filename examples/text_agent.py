"""One text turn through the framework's session (``hosted.Session``): the reply, the LLM metrics.

    python examples/text_agent.py "What is LiveKit?"

With LiveKit credentials (LIVEKIT_API_KEY / LIVEKIT_API_SECRET) it uses Gemma 4 31B IT on
LiveKit Inference. Without them it starts the embedded local engine (Gemma 3 270M, a base
model: it proves the wiring, not answer quality) and says so on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator

from livekit.agents import Agent, APIError
from livekit.agents.metrics import LLMMetrics
from livekit.agents.voice.run_result import ChatMessageEvent

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted.auth import credentials_available
from livekit_plugins_hosted.local import local_engine_available, start_local_engine
from livekit_plugins_hosted.models import GEMMA_4_31B_IT

HOSTED_MODEL = GEMMA_4_31B_IT


@contextlib.asynccontextmanager
async def choose_llm() -> AsyncIterator[hosted.LLM]:
    if credentials_available():
        print(f"using {HOSTED_MODEL} on LiveKit Inference", file=sys.stderr)
        llm = hosted.LLM(HOSTED_MODEL, extra_kwargs={"max_completion_tokens": 300})
        try:
            yield llm
        finally:
            await llm.aclose()
        return
    if not local_engine_available():
        raise SystemExit(
            "error: no LiveKit credentials (set LIVEKIT_API_KEY and LIVEKIT_API_SECRET) and no "
            'local engine (pip install "livekit-plugins-hosted[local]")'
        )
    print(
        "no LiveKit credentials: using the embedded local engine (Gemma 3 270M, a base model: "
        "it proves the wiring, not answer quality)",
        file=sys.stderr,
    )
    async with start_local_engine(
        extra_kwargs={"max_completion_tokens": 48, "temperature": 0.0, "seed": 7, "stop": ["\n"]}
    ) as llm:
        yield llm


async def main(question: str) -> int:
    metrics: list[LLMMetrics] = []
    async with choose_llm() as llm:
        llm.on("metrics_collected", metrics.append)
        async with hosted.Session(llm=llm) as session:
            await session.start(Agent(instructions="You are a helpful voice assistant. Be brief."))
            result = await session.run(user_input=question)
        replies = [
            ev.item.text_content
            for ev in result.events
            if isinstance(ev, ChatMessageEvent) and ev.item.role == "assistant"
        ]
    print(" ".join(r for r in replies if r).strip() or "(empty reply)")
    for m in metrics:
        print(
            f"[metrics] model={llm.model} ttft={m.ttft * 1000:.0f}ms "
            f"tokens/s={m.tokens_per_second:.1f} completion_tokens={m.completion_tokens} "
            f"duration={m.duration * 1000:.0f}ms",
            file=sys.stderr,
        )
    return 0


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="Say hello in one sentence.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        sys.exit(asyncio.run(main(args.question)))
    except (APIError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    cli()
