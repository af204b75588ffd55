"""``livekit-hosted chat TEXT``: stream one reply through the plugin's ``LLM``, then its metrics."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
from collections.abc import AsyncIterator
from typing import Any

from livekit.agents import APIConnectOptions
from livekit.agents import llm as agents_llm
from livekit.agents.metrics import LLMMetrics

from .. import auth
from ..backends import BACKENDS, LIVEKIT
from ..endpoints import INFERENCE_CLASSES
from ..llm import DEFAULT_FIRST_TOKEN_TIMEOUT, LLM
from ..local import start_local_engine
from ..models import LOCAL_MODEL_ID
from ..params import validate
from .errors import describe
from .flags import (
    DEFAULT_MODEL,
    add_connection_flags,
    add_param_flags,
    collect_params,
    header_secret,
    non_negative_int,
    require_local_engine,
)

HELP = "stream one reply"
DESCRIPTION = (
    "Stream one reply to stdout, then the LLM metrics to stderr. Without --local or --base-url "
    "it uses LiveKit Inference (LIVEKIT_API_KEY/LIVEKIT_API_SECRET)."
)

# "livekit" is LiveKit Inference's own profile, not an engine behind --base-url
BACKEND_CHOICES = ("auto", *sorted(name for name in BACKENDS if name != LIVEKIT.name))
_METRICS_WAIT = 2.0  # the metrics event fires from a task that ends after the stream closes
_NO_CREDENTIALS = (
    "no LiveKit credentials: set LIVEKIT_API_KEY and LIVEKIT_API_SECRET (or "
    "LIVEKIT_INFERENCE_API_KEY and LIVEKIT_INFERENCE_API_SECRET), or use --local for the "
    "embedded engine, or --base-url for your own server"
)


def first_token_timeout(text: str) -> float | None:
    """Seconds > 0, or ``0``/``none`` for no deadline (argparse type)."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if value == 0:
        return None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid; allowed: a number of seconds > 0, or 0 or none for no deadline"
        )
    return value


def max_thinking_time(text: str) -> float:
    """Seconds > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; allowed: a number of seconds > 0")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """The ``chat`` options."""
    parser.add_argument("text", help="the user message ('-' reads it from stdin)")
    add_connection_flags(
        parser, base_url_help="a self-hosted OpenAI-compatible server, e.g. .../v1", local=True
    )
    parser.add_argument("--system", help="a system message before the user message")
    parser.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default="auto",
        help="the engine behind --base-url (default auto: found out from what the server reports)",
    )
    parser.add_argument(
        "--api-key",
        type=header_secret,
        help="bearer key for --base-url (LiveKit Inference reads the environment)",
    )
    parser.add_argument(
        "--inference-class",
        choices=INFERENCE_CLASSES,
        help="LiveKit Inference priority class (LiveKit Inference only)",
    )
    parser.add_argument(
        "--first-token-timeout",
        type=first_token_timeout,
        default=DEFAULT_FIRST_TOKEN_TIMEOUT,
        metavar="SECONDS",
        help="seconds to the first word before the attempt fails and is retried; 0 or none: no "
        f"deadline (default {DEFAULT_FIRST_TOKEN_TIMEOUT:g})",
    )
    parser.add_argument(
        "--max-thinking-time",
        type=max_thinking_time,
        metavar="SECONDS",
        help="with thinking on (--reasoning-effort high), end a thought still running this "
        "long after the request and stream the answer (vLLM, llama.cpp and Ollama servers; "
        "default: think as long as the model does)",
    )
    parser.add_argument(
        "--retries",
        type=non_negative_int,
        default=APIConnectOptions().max_retry,
        help="retries before any text arrived (default %(default)s)",
    )
    add_param_flags(parser)


def _check_options(args: argparse.Namespace) -> None:
    """Refuse options that do not go together, before anything starts or is sent."""
    if args.local or args.base_url:
        for option, value in (
            ("--provider", args.provider),
            ("--inference-class", args.inference_class),
        ):
            if value:
                raise ValueError(f"{option} applies to LiveKit Inference only")
    elif args.api_key:
        raise ValueError(
            "--api-key applies to --base-url; LiveKit Inference uses LIVEKIT_API_KEY and "
            "LIVEKIT_API_SECRET"
        )
    elif args.backend != "auto":
        raise ValueError("--backend applies to --base-url, not LiveKit Inference")
    if args.local:
        if args.model not in (None, LOCAL_MODEL_ID):
            raise ValueError(f"the local engine serves {LOCAL_MODEL_ID} only, not {args.model!r}")
        if args.backend != "auto" or args.api_key:
            raise ValueError("--backend and --api-key apply to --base-url, not --local")
        if args.max_thinking_time is not None:
            raise ValueError("--max-thinking-time: the local engine's model does not think")


@contextlib.asynccontextmanager
async def _chat_llm(args: argparse.Namespace, params: dict[str, Any]) -> AsyncIterator[LLM]:
    _check_options(args)
    if args.local:
        require_local_engine()
        async with start_local_engine(
            extra_kwargs=params, first_token_timeout=args.first_token_timeout
        ) as model:
            yield model
        return
    if args.base_url:
        model = LLM.self_hosted(
            args.model or DEFAULT_MODEL,
            base_url=args.base_url,
            api_key=args.api_key,
            extra_kwargs=params,
            backend=args.backend,
            first_token_timeout=args.first_token_timeout,
            max_thinking_time=args.max_thinking_time,
        )
    else:
        if not auth.credentials_available():
            raise ValueError(_NO_CREDENTIALS)
        model = LLM(
            args.model or DEFAULT_MODEL,
            provider=args.provider,
            extra_kwargs=params,
            inference_class=args.inference_class,
            first_token_timeout=args.first_token_timeout,
            max_thinking_time=args.max_thinking_time,
        )
    try:
        yield model
    finally:
        await model.aclose()


def _format_metrics(model: str, m: LLMMetrics) -> str:
    ttft = f"{m.ttft * 1000:.0f} ms" if m.ttft >= 0 else "n/a"
    return (
        f"[metrics] {model}: TTFT {ttft}, {m.tokens_per_second:.1f} tokens/s, "
        f"{m.completion_tokens} completion tokens, {m.duration * 1000:.0f} ms total"
    )


async def run(args: argparse.Namespace) -> int:
    """Stream the reply to stdout; the retries and the metrics go to stderr."""
    params = collect_params(args)
    # first, so that a bad parameter is reported as such whatever else is missing
    validate(params, what="parameters")
    text = sys.stdin.read() if args.text == "-" else args.text
    if not text.strip():
        raise ValueError("the message is empty")
    ctx = agents_llm.ChatContext()
    if args.system:
        ctx.add_message(role="system", content=args.system)
    ctx.add_message(role="user", content=text)
    conn = APIConnectOptions(max_retry=args.retries, timeout=args.timeout)

    async with _chat_llm(args, params) as model:
        seen: list[LLMMetrics] = []
        arrived = asyncio.Event()
        failed = 0

        def on_metrics(m: LLMMetrics) -> None:
            seen.append(m)
            arrived.set()

        def on_error(ev: agents_llm.LLMError) -> None:
            # the framework's own warning is a field dump (main() hides it without --debug)
            nonlocal failed
            if ev.recoverable:
                failed += 1
                attempt = f"attempt {failed} of {args.retries + 1}"
                print(f"retrying ({attempt}): {describe(ev.error)}", file=sys.stderr, flush=True)

        model.on("metrics_collected", on_metrics)
        model.on("error", on_error)
        wrote = False
        try:
            stream = model.chat(chat_ctx=ctx, conn_options=conn)
            async with stream:
                async for chunk in stream:
                    if chunk.delta and chunk.delta.content:
                        sys.stdout.write(chunk.delta.content)
                        sys.stdout.flush()  # as it arrives, also when piped
                        wrote = True
        finally:
            if wrote:
                sys.stdout.write("\n")
                sys.stdout.flush()
        if not wrote:
            print("(empty reply)", file=sys.stderr)
        if stream.thinking_time is not None:
            ended = f", ended by {stream.thought_ended_by}" if stream.thought_ended_by else ""
            print(f"[thinking] {stream.thinking_time:.2f} s{ended}", file=sys.stderr)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), _METRICS_WAIT)
        model.off("metrics_collected", on_metrics)
        model.off("error", on_error)
        for m in seen:
            print(_format_metrics(model.model, m), file=sys.stderr)
        if not seen:
            print("[metrics] not reported", file=sys.stderr)
    return 0
