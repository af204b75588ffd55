"""Aggregation over runs (median, min–max), the targets, the markdown table and the plot."""

from __future__ import annotations

import contextlib
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .measure import RunResult
from .peers import BASELINE, PEERS, SUBJECT, THINKING_PEERS, conversation, request_body


@dataclass(frozen=True)
class Stat:
    median: float
    lo: float
    hi: float
    n: int

    def fmt(self, digits: int = 3) -> str:
        m = _num(self.median, digits)
        if self.n < 2:
            return m
        return f"{m} ({_num(self.lo, digits)}–{_num(self.hi, digits)})"


def _num(x: float, digits: int) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 10**digits:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def stat(values: Sequence[float]) -> Stat | None:
    if not values:
        return None
    return Stat(statistics.median(values), min(values), max(values), len(values))


def figure_rows(concurrency: Sequence[int]) -> list[tuple[str, str]]:
    rows = [
        ("cpu_us", "CPU per chunk (µs)"),
        ("cpu_paced_us", "CPU per chunk, paced (µs, info)"),
        ("fc_p50_ms", "first content p50 (ms)"),
        ("fc_p99_ms", "first content p99 (ms)"),
    ]
    for c in concurrency:
        if c == 1:
            continue
        rows += [
            (f"c{c}_p50_ms", f"first content p50, {c} concurrent (ms)"),
            (f"c{c}_p99_ms", f"first content p99, {c} concurrent (ms)"),
        ]
    rows += [
        ("conn_per_stream", "new connections per sequential stream"),
        ("mem_idle_kib", "memory per idle instance (KiB)"),
        ("mem_stream_kib", "memory per live stream (KiB)"),
    ]
    return rows


def collect(runs: Sequence[RunResult], peer: str, figure: str) -> list[float]:
    return [v for r in runs if (v := r.figures.get(peer, {}).get(figure)) is not None]


def ratios(runs: Sequence[RunResult], num: tuple[str, str], den: tuple[str, str]) -> Stat | None:
    """``num ÷ den`` (peer, figure) computed per run; median (min–max) over the runs."""
    out = []
    for r in runs:
        n = r.figures.get(num[0], {}).get(num[1])
        d = r.figures.get(den[0], {}).get(den[1])
        if n is not None and d:
            out.append(n / d)
    return stat(out)


def _ratio_fmt(r: Stat | None) -> str:
    if r is None:
        return "–"
    return f"{r.median:.2f}x" + (f" ({r.lo:.2f}–{r.hi:.2f})" if r.n > 1 else "")


def turns_tables(
    runs: Sequence[RunResult], peers: Sequence[str], turns: Sequence[int]
) -> list[str]:
    """The first-content-vs-conversation-length tables (p50, p99): rows = lengths, columns =
    peers, then hosted ÷ built-in (computed per run); nothing when the section did not run."""
    lengths = [t for t in turns if any(collect(runs, p, f"turns{t}_p50_ms") for p in peers)]
    if not lengths:
        return []
    ratio = SUBJECT in peers and BASELINE in peers
    head = "| turns | messages | body (KiB) | " + " | ".join(PEERS[p].label for p in peers)
    head += f" | {PEERS[SUBJECT].label} ÷ {PEERS[BASELINE].label} |" if ratio else " |"
    rule = "|---:|---:|---:|" + "---:|" * (len(peers) + ratio)
    lines = [
        "",
        "First content vs conversation length (ms; one stream at a time; a turn is a user and "
        "an assistant message of 20–60 words, the context ends with the last turn's user "
        "message; the ratio is computed per run):",
    ]
    for q in ("p50", "p99"):
        lines += ["", f"{q}:", "", head, rule]
        for t in lengths:
            msgs = conversation(t)
            kib = len(request_body(msgs)) / 1024
            cells = []
            for p in peers:
                st = stat(collect(runs, p, f"turns{t}_{q}_ms"))
                cells.append(st.fmt() if st else "–")
            if ratio:
                key = f"turns{t}_{q}_ms"
                cells.append(_ratio_fmt(ratios(runs, (SUBJECT, key), (BASELINE, key))))
            lines.append(f"| {t} | {len(msgs)} | {_num(kib, 3)} | " + " | ".join(cells) + " |")
    return lines


def thinking_table(
    runs: Sequence[RunResult], peers: Sequence[str], config: dict[str, Any]
) -> list[str]:
    """The thinking section's table: first spoken word (s) per peer with hosted ÷ each other
    peer (computed per run), and how each turn went (thoughts ended early, completion requests);
    nothing when the section did not run."""
    cols = [p for p in peers if p in THINKING_PEERS and collect(runs, p, "think_fw_s")]
    if not cols:
        return []
    others = [p for p in cols if p != SUBJECT] if SUBJECT in cols else []
    head = "| figure | " + " | ".join(PEERS[p].label for p in cols)
    head += "".join(f" | {PEERS[SUBJECT].label} ÷ {PEERS[p].label}" for p in others) + " |"
    think = config.get("think_ms", 0) / 1e3
    lines = [
        "",
        f"First spoken word with a thinking model (s; the stand-in thinks {think:g} s in "
        f"`reasoning_content`, a delta every {config.get('think_step_ms')} ms, then answers; "
        f"{PEERS[SUBJECT].label} as a llama-server client with "
        f"`max_thinking_time={config.get('max_thinking_time')}`, the others wait the thought "
        "out; one stream at a time; the ratio is computed per run):",
        "",
        head,
        "|---|" + "---:|" * (len(cols) + len(others)),
    ]
    rows = (
        ("think_fw_s", "first spoken word p50 (s)", True),
        ("think_ended_per_turn", "thoughts ended by a control request, per turn", False),
        ("think_requests_per_turn", "completion requests per turn", False),
    )
    for key, label, ratio in rows:
        cells = []
        for p in cols:
            st = stat(collect(runs, p, key))
            cells.append(st.fmt() if st else "–")
        for p in others:
            cells.append(_ratio_fmt(ratios(runs, (SUBJECT, key), (p, key))) if ratio else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


@dataclass(frozen=True)
class Target:
    name: str
    num: tuple[str, str]
    den: tuple[str, str]
    limit: float


def targets(concurrency: Sequence[int]) -> list[Target]:
    top = max(concurrency)
    return [
        Target("CPU per chunk", (SUBJECT, "cpu_us"), (BASELINE, "cpu_us"), 0.35),
        Target("first content p50", (SUBJECT, "fc_p50_ms"), (BASELINE, "fc_p50_ms"), 0.5),
        Target(
            f"first content p99 at {top} concurrent",
            (SUBJECT, f"c{top}_p99_ms"),
            (BASELINE, f"c{top}_p99_ms"),
            0.5,
        ),
        Target(
            "local first token p50 vs raw client",
            ("local_plugin", "ft_p50_ms"),
            ("local_raw", "ft_p50_ms"),
            1.05,
        ),
    ]


@dataclass(frozen=True)
class Verdict:
    target: Target
    ratio: Stat | None

    @property
    def result(self) -> str:
        if self.ratio is None:
            return "SKIP"
        return "PASS" if self.ratio.median <= self.target.limit else "FAIL"


def verdicts(runs: Sequence[RunResult], concurrency: Sequence[int]) -> list[Verdict]:
    return [Verdict(t, ratios(runs, t.num, t.den)) for t in targets(concurrency)]


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"Python {platform.python_version()}"]
    for dist in ("livekit-agents", "livekit-plugins-openai", "openai", "httpx2"):
        with contextlib.suppress(PackageNotFoundError):
            parts.append(f"{dist} {version(dist)}")
    import os

    parts.append(f"{os.cpu_count()} CPUs")
    return ", ".join(parts)


def markdown(
    runs: Sequence[RunResult],
    peers: Sequence[str],
    concurrency: Sequence[int],
    *,
    command: str,
    config: dict[str, Any],
    turns: Sequence[int] = (),
) -> str:
    n = len(runs)
    lines = [
        f"Command: `{command}` — {n} run{'s' if n != 1 else ''}; each cell is the median over "
        "runs, (min–max) across runs.",
        "",
        f"Environment: {versions()}.",
        "",
        "| figure | " + " | ".join(PEERS[p].label for p in peers) + " |",
        "|---|" + "---:|" * len(peers),
    ]
    for key, label in figure_rows(concurrency):
        cells = []
        for p in peers:
            s = stat(collect(runs, p, key))
            cells.append(s.fmt() if s else "–")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    local = [k for k in ("local_plugin", "local_raw") if any(k in r.figures for r in runs)]
    if local:
        lines += [
            "",
            "Local engine (first token, ms):",
            "",
            "| figure | hosted.LLM (local engine) | openai SDK (local engine) |",
            "|---|---:|---:|",
        ]
        for key, label in (("ft_p50_ms", "first token p50"), ("ft_p99_ms", "first token p99")):
            cells = []
            for p in ("local_plugin", "local_raw"):
                s = stat(collect(runs, p, key))
                cells.append(s.fmt() if s else "–")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += turns_tables(runs, peers, turns)
    lines += thinking_table(runs, peers, config)
    lines += [
        "",
        f"Targets: {PEERS[SUBJECT].label} ÷ {PEERS[BASELINE].label} (the local one: ÷ the raw "
        "client); the ratio is computed per run, median (min–max) shown; PASS when the median "
        "is within the limit.",
        "",
        "| target | ratio | limit | result |",
        "|---|---:|---:|:---:|",
    ]
    for v in verdicts(runs, concurrency):
        ratio = _ratio_fmt(v.ratio)
        lines.append(f"| {v.target.name} | {ratio} | ≤ {v.target.limit:g}x | {v.result} |")
    notes = sorted({note for r in runs for note in r.notes})
    errors = [e for r in runs for e in r.errors]
    if notes:
        lines += ["", "Notes:", *(f"- {x}" for x in notes)]
    if errors:
        lines += ["", f"Errors ({len(errors)}):", *(f"- {x}" for x in errors[:20])]
    cfg = ", ".join(f"{k}={v}" for k, v in config.items())
    lines += ["", f"Configuration: {cfg}.", ""]
    return "\n".join(lines)


def plot(
    runs: Sequence[RunResult],
    peers: Sequence[str],
    concurrency: Sequence[int],
    path: Path,
    turns: Sequence[int] = (),
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [PEERS[p].label for p in peers]
    colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#7f7f7f"]
    fig, axes = plt.subplots(3, 3, figsize=(16, 14))

    def bars(ax: Any, key: str, title: str, unit: str) -> None:
        meds: list[float] = []
        errs: list[list[float]] = [[], []]
        for p in peers:
            s = stat(collect(runs, p, key))
            m = s.median if s else 0.0
            meds.append(m)
            errs[0].append(m - s.lo if s else 0.0)
            errs[1].append(s.hi - m if s else 0.0)
        x = range(len(peers))
        ax.bar(x, meds, yerr=errs, capsize=4, color=colors[: len(peers)])
        ax.set_xticks(list(x), labels, rotation=25, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)
        for i, m in enumerate(meds):
            ax.annotate(_num(m, 3), (i, m), ha="center", va="bottom", fontsize=7)

    bars(axes[0][0], "cpu_us", "CPU per streamed chunk", "µs / chunk")
    bars(axes[0][1], "cpu_paced_us", "CPU per chunk, paced (info)", "µs / chunk")
    bars(axes[0][2], "mem_idle_kib", "memory per idle instance (tracemalloc)", "KiB")
    bars(axes[1][0], "fc_p50_ms", "first content after chat(), p50", "ms")
    bars(axes[1][1], "fc_p99_ms", "first content after chat(), p99", "ms")
    bars(axes[1][2], "mem_stream_kib", "memory per live stream (tracemalloc)", "KiB")

    ax = axes[2][0]
    levels = sorted(concurrency)
    for i, p in enumerate(peers):
        for q, style in (("p50", "--"), ("p99", "-")):
            xs, ys = [], []
            for c in levels:
                s = stat(collect(runs, p, f"c{c}_{q}_ms"))
                if s:
                    xs.append(c)
                    ys.append(s.median)
            if xs:
                ax.plot(
                    xs,
                    ys,
                    style,
                    marker="o",
                    color=colors[i],
                    label=f"{PEERS[p].label} {q}" if q == "p99" else None,
                )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(levels, [str(c) for c in levels])
    ax.set_title("first content vs concurrent streams (solid p99, dashed p50)", fontsize=10)
    ax.set_xlabel("concurrent streams")
    ax.set_ylabel("ms")
    ax.legend(fontsize=7)

    _turns_panel(axes[2][1], runs, peers, turns, colors)

    ax = axes[2][2]
    local = [("local_plugin", "hosted.LLM"), ("local_raw", "openai SDK")]
    if any(collect(runs, k, "ft_p50_ms") for k, _ in local):
        width = 0.38
        for j, (q, style) in enumerate((("ft_p50_ms", "p50"), ("ft_p99_ms", "p99"))):
            meds: list[float] = []
            errs: list[list[float]] = [[], []]
            for k, _ in local:
                st = stat(collect(runs, k, q))
                meds.append(st.median if st else 0.0)
                errs[0].append(st.median - st.lo if st else 0.0)
                errs[1].append(st.hi - st.median if st else 0.0)
            pos = [i + (j - 0.5) * width for i in range(len(local))]
            ax.bar(
                pos,
                meds,
                width,
                yerr=errs,
                capsize=4,
                label=style,
                color=["#ff9896", "#c5b0d5"] if j else ["#d62728", "#9467bd"],
            )
        ax.set_xticks(range(len(local)), [label for _, label in local], fontsize=8)
        ax.set_ylabel("ms")
        ax.legend(fontsize=7)
        ax.set_title("local engine: first token (p50, p99)", fontsize=10)
    else:
        ax.axis("off")
        ax.text(0.5, 0.5, "local engine: not measured", ha="center", va="center")
    fig.suptitle(
        f"LLM client overhead on a loopback SSE server — {len(runs)} run(s), median with "
        "min–max across runs",
        fontsize=12,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _turns_panel(
    ax: Any,
    runs: Sequence[RunResult],
    peers: Sequence[str],
    turns: Sequence[int],
    colors: Sequence[str],
) -> None:
    """First content p50 vs conversation length: one line per peer (min–max across runs as
    error bars), log-log, with the hosted ÷ built-in ratio per length under the axis."""
    lengths = sorted(turns)
    markers = ["o", "s", "^", "D", "v"]
    drawn = False
    for i, p in enumerate(peers):
        xs, ys, lo, hi = [], [], [], []
        for t in lengths:
            s = stat(collect(runs, p, f"turns{t}_p50_ms"))
            if s:
                xs.append(t)
                ys.append(s.median)
                lo.append(s.median - s.lo)
                hi.append(s.hi - s.median)
        if xs:
            drawn = True
            ax.errorbar(
                xs,
                ys,
                yerr=[lo, hi],
                marker=markers[i % len(markers)],
                markersize=5,
                markerfacecolor="none" if i % 2 else colors[i],
                capsize=3,
                color=colors[i],
                label=PEERS[p].label,
            )
    if not drawn:
        ax.axis("off")
        ax.text(0.5, 0.5, "first content vs conversation length: not measured", ha="center")
        return
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(lengths, [str(t) for t in lengths])
    ax.xaxis.set_minor_locator(_no_ticks())
    xlabel = "conversation length (turns; 2 × turns − 1 messages)"
    if SUBJECT in peers and BASELINE in peers:
        cells = []
        for t in lengths:
            key = f"turns{t}_p50_ms"
            r = ratios(runs, (SUBJECT, key), (BASELINE, key))
            cells.append(f"{t}: {r.median:.2f}x" if r is not None else f"{t}: –")
        xlabel += f"\n{PEERS[SUBJECT].label} ÷ {PEERS[BASELINE].label}: " + ", ".join(cells)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel("ms (log)")
    ax.set_title("first content p50 vs conversation length (1 stream at a time)", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="upper left")


def _no_ticks() -> Any:
    from matplotlib.ticker import NullLocator

    return NullLocator()
