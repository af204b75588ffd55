"""``python -m benchmarks``: see benchmarks/README.md for the flags and what is measured."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import logging
import shlex
import sys
import time
import warnings
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _silence() -> None:
    # the SDKs' logs (retries, warnings, debug) would interleave with the table and cost time
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    from .measure import Config
    from .peers import THINK_FIRST_TOKEN_TIMEOUT

    d = Config()
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="hosted.LLM vs inference.LLM, openai.LLM, the raw openai SDK and raw "
        "httpx, against a loopback SSE server in its own process.",
    )
    p.add_argument("--runs", type=int, default=1, help="repeat everything N times (default 1)")
    p.add_argument("--smoke", action="store_true", help="tiny and fast (CI): checks texts only")
    p.add_argument(
        "--peers",
        default=None,
        help="comma-separated subset of: hosted,builtin,openai,sdk,httpx (default all)",
    )
    p.add_argument("--chunks", type=int, default=d.chunks, help="chunks per CPU stream")
    p.add_argument(
        "--gap-us",
        type=int,
        default=d.gap_us,
        help="server pause between chunks of a CPU stream, µs (0: back to back)",
    )
    p.add_argument(
        "--cpu-streams", type=int, default=d.cpu_streams, help="CPU streams per peer per run"
    )
    p.add_argument(
        "--paced-gap-us",
        type=int,
        default=d.paced_gap_us,
        help="µs between chunks for the informational paced CPU figure (0: skip)",
    )
    p.add_argument(
        "--paced-streams",
        type=int,
        default=d.paced_streams,
        help="paced CPU streams per peer per run",
    )
    p.add_argument(
        "--latency-streams",
        type=int,
        default=d.latency_streams,
        help="sequential first-content streams per peer per run",
    )
    p.add_argument(
        "--latency-chunks",
        type=int,
        default=d.latency_chunks,
        help="chunks per first-content stream",
    )
    p.add_argument(
        "--concurrency",
        default=",".join(map(str, d.concurrency)),
        help="concurrency levels (default 1,50,200)",
    )
    p.add_argument(
        "--bursts", type=int, default=d.bursts, help="bursts per concurrency level per peer per run"
    )
    p.add_argument(
        "--turns",
        default=",".join(map(str, d.turns)),
        help="conversation lengths in turns for the first-content-vs-length figure "
        "(default 1,10,50,200)",
    )
    p.add_argument(
        "--turn-streams",
        type=int,
        default=d.turn_streams,
        help="sequential first-content streams per conversation length per peer per run",
    )
    p.add_argument(
        "--idle-instances",
        type=int,
        default=d.idle_instances,
        help="instances made at once for the idle-memory figure",
    )
    p.add_argument(
        "--live-streams",
        type=int,
        default=d.live_streams,
        help="streams held open at once for the live-stream memory figure (<= 50)",
    )
    p.add_argument(
        "--think-ms",
        type=int,
        default=d.think_ms,
        help="how long the thinking section's stand-in thinks before it answers, ms",
    )
    p.add_argument(
        "--think-step-ms",
        type=int,
        default=d.think_step_ms,
        help="one reasoning_content delta per this many ms while it thinks",
    )
    p.add_argument(
        "--think-rounds",
        type=int,
        default=d.think_rounds,
        help="first-spoken-word samples per peer per run in the thinking section",
    )
    p.add_argument(
        "--max-thinking-time",
        type=float,
        default=d.max_thinking_time,
        help="the hosted peer's max_thinking_time in the thinking section, s",
    )
    p.add_argument(
        "--local-rounds",
        type=int,
        default=d.local_rounds,
        help="first-token samples per peer on the local engine",
    )
    p.add_argument(
        "--only",
        default=None,
        help="comma-separated subset of sections: "
        "cpu,first,concurrency,memory,turns,thinking,local",
    )
    p.add_argument("--no-local", action="store_true", help="skip the local-engine section")
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    p.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        help="directory for latest.md / latest.png / latest.json",
    )
    p.add_argument(
        "--section-budget",
        type=float,
        default=d.section_budget,
        help="seconds a section may take per run before stopping early",
    )
    a = p.parse_args(argv)
    if a.runs < 1 or a.runs > 20:
        p.error("--runs must be 1..20")
    if not 1 <= a.live_streams <= 50:
        p.error("--live-streams must be 1..50")
    try:
        a.turns = _lengths(a.turns)
    except ValueError:
        p.error("--turns must be comma-separated integers 1..2000, e.g. 1,10,50,200")
    if a.turn_streams < 1:
        p.error("--turn-streams must be >= 1")
    if not 1 <= a.think_ms <= 60_000 or not 1 <= a.think_step_ms <= a.think_ms:
        p.error("--think-ms must be 1..60000 and --think-step-ms 1..--think-ms")
    if a.think_rounds < 1:
        p.error("--think-rounds must be >= 1")
    if not 0 < a.max_thinking_time < THINK_FIRST_TOKEN_TIMEOUT:
        p.error(f"--max-thinking-time must be > 0 and < {THINK_FIRST_TOKEN_TIMEOUT:g}")
    return a


def _lengths(text: str) -> tuple[int, ...]:
    out = tuple(sorted({int(t) for t in text.split(",") if t.strip()}))
    if not out or not all(1 <= t <= 2000 for t in out):
        raise ValueError(text)
    return out


def _config(a: argparse.Namespace):
    from .measure import Config

    if a.smoke:
        return Config(
            chunks=5,
            gap_us=0,
            cpu_streams=3,
            paced_gap_us=0,
            latency_chunks=5,
            latency_gap_us=0,
            latency_streams=3,
            concurrency=(1, 2),
            bursts=1,
            turns=(1, 10),
            turn_streams=3,
            idle_instances=2,
            live_streams=2,
            # thought cut at 0.2 s by hosted, waited out (0.6 s) by the others
            think_ms=600,
            think_step_ms=20,
            think_rounds=1,
            max_thinking_time=0.2,
            local=False,
            warmup=1,
            stream_timeout=10.0,
            section_budget=10.0,
        )
    return Config(
        chunks=a.chunks,
        gap_us=a.gap_us,
        cpu_streams=a.cpu_streams,
        paced_gap_us=a.paced_gap_us,
        paced_streams=a.paced_streams,
        latency_chunks=a.latency_chunks,
        latency_streams=a.latency_streams,
        concurrency=tuple(sorted({int(c) for c in a.concurrency.split(",") if c.strip()})),
        bursts=a.bursts,
        turns=a.turns,
        turn_streams=a.turn_streams,
        idle_instances=a.idle_instances,
        live_streams=a.live_streams,
        think_ms=a.think_ms,
        think_step_ms=a.think_step_ms,
        think_rounds=a.think_rounds,
        max_thinking_time=a.max_thinking_time,
        local=not a.no_local,
        local_rounds=a.local_rounds,
        section_budget=a.section_budget,
    )


async def _main(a: argparse.Namespace) -> int:
    from . import report, server
    from .measure import SECTIONS, LocalEngine, run_once
    from .peers import PEERS, THINKING_PEERS

    cfg = _config(a)
    keys = [k.strip() for k in a.peers.split(",")] if a.peers else list(PEERS)
    unknown = [k for k in keys if k not in PEERS]
    if unknown:
        print(f"unknown peers: {unknown}; choose from {list(PEERS)}", file=sys.stderr)
        return 2
    peers = []
    for k in keys:
        missing = PEERS[k].missing()
        if missing:
            print(f"peer {k} skipped: {missing} is not installed")
        else:
            peers.append(PEERS[k])
    keys = [p.key for p in peers]
    sections = [s.strip() for s in a.only.split(",")] if a.only else list(SECTIONS)
    if bad := [s for s in sections if s not in SECTIONS]:
        print(f"unknown sections: {bad}; choose from {list(SECTIONS)}", file=sys.stderr)
        return 2
    command = "python -m benchmarks " + shlex.join(sys.argv[1:])
    started = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {msg}", flush=True)

    runs = []
    engine = LocalEngine()
    try:
        with server.server_process(max_seconds=3600.0, max_hold=60.0) as base:
            log(f"server at {base} (separate process); peers: {', '.join(keys)}")
            for i in range(a.runs):
                log(f"run {i + 1}/{a.runs}")
                runs.append(
                    await run_once(
                        base, peers, cfg, log, sections=sections, run_index=i, engine=engine
                    )
                )
                gc.collect()
    finally:
        await engine.aclose()
    cfg_shown = {
        k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("stream_timeout", "warmup")
    }
    md = report.markdown(
        runs, keys, cfg.concurrency, command=command.strip(), config=cfg_shown, turns=cfg.turns
    )
    print()
    print(md)
    errors = [e for r in runs for e in r.errors]
    if not a.smoke:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "latest.md").write_text(md)
        (a.out / "latest.json").write_text(
            json.dumps(
                {
                    "command": command.strip(),
                    "config": dataclasses.asdict(cfg),
                    "runs": [dataclasses.asdict(r) for r in runs],
                },
                indent=1,
            )
        )
        if not a.no_plot:
            try:
                report.plot(runs, keys, cfg.concurrency, a.out / "latest.png", turns=cfg.turns)
            except ImportError:
                print("matplotlib is not installed: no plot (pip install matplotlib)")
        log(f"wrote {a.out / 'latest.md'}" + ("" if a.no_plot else " and latest.png"))
    total = sum(r.streams for r in runs)
    log(f"done: {total} streams, {len(errors)} errors")
    if a.smoke:
        # every peer must have a figure from every section that ran and gives one per peer
        shown = {"cpu": "cpu_us", "turns": f"turns{min(cfg.turns)}_p50_ms"}
        wanted = [f for s, f in shown.items() if s in sections]
        absent = [
            k for k in keys if not all(r.figures.get(k, {}).get(f) for r in runs for f in wanted)
        ]
        if "thinking" in sections:  # the peers it runs, each heard the answer (else an error)
            absent += [
                k
                for k in keys
                if k in THINKING_PEERS
                and k not in absent
                and not all(r.figures.get(k, {}).get("think_fw_s") for r in runs)
            ]
        if errors or absent:
            print(f"SMOKE FAILED: errors={errors[:5]} peers without results={absent}")
            return 1
        print("SMOKE OK: every peer streamed the expected text")
    return 0


def main(argv: list[str] | None = None) -> int:
    a = _parse(argv)
    _silence()
    return asyncio.run(_main(a))


if __name__ == "__main__":
    raise SystemExit(main())
