"""Where a peer spends its CPU: ``python -m benchmarks.profile [--peer hosted] [--what cpu]``.

Runs the peer's streams (the CPU figure's 200-chunk streams, or the first-content streams up
to the first content) against the benchmark server under pyinstrument when it is installed,
else cProfile, and prints the profile. ``--what first`` profiles from ``chat()`` to the first
content only (the rest of each stream is consumed outside the profiler).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import time
from typing import Any

from . import server
from .__main__ import _silence
from .peers import PEERS, Peer


async def _run(peer: Peer, base: str, a: argparse.Namespace) -> None:
    n = a.chunks if a.what == "cpu" else 10
    gap = a.gap_us if a.what == "cpu" else 2000
    inst = peer.make(server.url(base, n, gap))
    try:
        for _ in range(3):
            async for _piece in peer.stream(inst):
                pass
        profiler: Any
        try:
            if a.cprofile:
                raise ImportError
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002, async_mode="disabled")
            use_pyi = True
        except ImportError:
            profiler = cProfile.Profile()
            use_pyi = False
        cpu0 = time.process_time()
        for _ in range(a.streams):
            gen = peer.stream(inst)
            if a.what == "first":
                profiler.enable() if not use_pyi else profiler.start()
                await anext(gen)
                profiler.disable() if not use_pyi else profiler.stop()
                async for _piece in gen:
                    pass
            else:
                profiler.enable() if not use_pyi else profiler.start()
                async for _piece in gen:
                    pass
                profiler.disable() if not use_pyi else profiler.stop()
        cpu = time.process_time() - cpu0
        per = "stream" if a.what == "first" else "chunk"
        div = a.streams if a.what == "first" else a.streams * n
        print(f"{peer.label}: {cpu / div * 1e6:.0f} µs CPU per {per} (profiler on, inflated)")
        if use_pyi:
            print(profiler.output_text(unicode=True, color=False, show_all=a.show_all))
        else:
            s = io.StringIO()
            pstats.Stats(profiler, stream=s).sort_stats(a.sort).print_stats(a.top)
            print(s.getvalue())
    finally:
        await peer.close(inst)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    p.add_argument("--peer", default="hosted", choices=list(PEERS))
    p.add_argument("--what", default="cpu", choices=["cpu", "first"])
    p.add_argument("--streams", type=int, default=20)
    p.add_argument("--chunks", type=int, default=200)
    p.add_argument("--gap-us", type=int, default=500)
    p.add_argument("--cprofile", action="store_true", help="cProfile even if pyinstrument exists")
    p.add_argument("--show-all", action="store_true", help="pyinstrument: no hidden frames")
    p.add_argument("--sort", default="tottime")
    p.add_argument("--top", type=int, default=40)
    a = p.parse_args()
    _silence()
    with server.server_process(max_seconds=600.0) as base:
        asyncio.run(asyncio.wait_for(_run(PEERS[a.peer], base, a), 300))


if __name__ == "__main__":
    main()
