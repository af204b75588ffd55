"""``livekit-hosted serve-local``: the embedded llama.cpp engine in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time

from ..local import LocalEngine
from ..models import LOCAL_MODEL_ID
from .flags import positive_float, require_local_engine

HELP = "run the embedded engine in the foreground"
DESCRIPTION = (
    f"Run the embedded llama.cpp engine ({LOCAL_MODEL_ID}) on a loopback port and print its "
    "base URL, until Ctrl-C or SIGTERM."
)


def configure(parser: argparse.ArgumentParser) -> None:
    """The ``serve-local`` options."""
    parser.add_argument(
        "--duration",
        type=positive_float,
        help="stop after this many seconds (default: serve until stopped)",
    )
    parser.add_argument("--n-ctx", type=int, default=2048, help="context size (default 2048)")
    parser.add_argument(
        "--log-file",
        help="the engine's log (default: engine.log in a new private folder in the temp dir)",
    )


def _install_stop_signals(stop: asyncio.Event) -> list[signal.Signals]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (ValueError, RuntimeError, NotImplementedError):
            # not the main thread (tests) or no signal support: --duration still ends it
            continue
        installed.append(sig)
    return installed


async def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C, SIGTERM or ``--duration``; exit 1 if the engine dies."""
    require_local_engine()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        async with LocalEngine(n_ctx=args.n_ctx, log_path=args.log_file) as engine:
            # after the start: Ctrl-C while loading is an interruption (exit 130), not a stop
            installed = _install_stop_signals(stop)
            print(f"base_url: {engine.base_url}")
            print(f"model:    {LOCAL_MODEL_ID}")
            print(f"log:      {engine.log_path}", flush=True)
            print(
                f"serving; try: {args.prog} chat --base-url {engine.base_url} "
                f'--backend llama-cpp-python --model {LOCAL_MODEL_ID} "Hello"  (Ctrl-C stops)',
                file=sys.stderr,
                flush=True,
            )
            while not stop.is_set():
                if not engine.running:
                    raise RuntimeError(f"the local engine exited; see {engine.log_path}")
                wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if wait <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
    finally:
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
    print("stopped", file=sys.stderr)
    return 0
