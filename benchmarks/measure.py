"""The measurements: each section interleaves the peers, rotating their order every round.

Every loop is bounded twice: by a count (from :class:`Config`) and by a time budget (a
section that runs out of time stops early and says so); every stream by ``stream_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import server
from .peers import (
    BASELINE,
    SUBJECT,
    Peer,
    conversation,
    local_engine_factory,
    local_peers,
    thinking_peers,
)

T = TypeVar("T")
_CONN_PROBE = 10
_THINK_WARM_MS = 100
"""The thought of the thinking section's warm-up streams (on instances of their own)."""


@dataclass
class Config:
    chunks: int = 200
    """Content chunks of a CPU stream."""
    gap_us: int = 0
    """Server pause between chunks of a CPU stream (0: written back to back)."""
    cpu_streams: int = 40
    """CPU streams per peer per run."""
    paced_gap_us: int = 1000
    """The informational paced CPU figure: one chunk per this many µs, so each chunk is a
    read of its own as with a real model (0: not measured)."""
    paced_streams: int = 8
    latency_chunks: int = 10
    latency_gap_us: int = 1000
    latency_streams: int = 200
    """Sequential first-content samples per peer per run (the concurrency-1 figure)."""
    concurrency: tuple[int, ...] = (1, 50, 200)
    turns: tuple[int, ...] = (1, 10, 50, 200)
    """Conversation lengths (turns) of the first-content-vs-conversation-length figure."""
    turn_streams: int = 40
    """Sequential first-content samples per conversation length per peer per run."""
    bursts: int = 5
    """Bursts per concurrency level per peer per run."""
    idle_instances: int = 20
    live_streams: int = 40
    """Streams held open at once (at most 50: the built-in plugins' connection pool)."""
    think_ms: int = 6000
    """How long the stand-in of the thinking section thinks before it answers (ms)."""
    think_step_ms: int = 50
    """One ``reasoning_content`` delta per this many ms while it thinks."""
    think_rounds: int = 3
    """First-spoken-word samples per peer per run in the thinking section."""
    max_thinking_time: float = 1.5
    """The ``hosted`` peer's ``max_thinking_time`` in the thinking section (s)."""
    local: bool = True
    local_rounds: int = 40
    local_max_tokens: int = 3
    engine_start_timeout: float = 180.0
    warmup: int = 3
    stream_timeout: float = 30.0
    section_budget: float = 150.0
    """Seconds a section may take in one run before it stops early."""


@dataclass
class RunResult:
    figures: dict[str, dict[str, float]] = field(default_factory=dict)
    """peer -> figure -> value."""
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    streams: int = 0

    def put(self, peer: str, figure: str, value: float | None) -> None:
        if value is not None:
            self.figures.setdefault(peer, {})[figure] = value


def pct(xs: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear interpolation; ``None`` for no data."""
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def rotated(items: Sequence[T], r: int) -> list[T]:
    r %= len(items)
    return [*items[r:], *items[:r]]


class Budget:
    def __init__(self, seconds: float, what: str, result: RunResult) -> None:
        self._end = time.monotonic() + seconds
        self._what = what
        self._result = result
        self._noted = False

    def out(self) -> bool:
        if time.monotonic() < self._end:
            return False
        if not self._noted:
            self._noted = True
            self._result.notes.append(f"{self._what}: time budget reached, stopped early")
        return True


async def timed_stream(
    peer: Peer, inst: Any, limit: float, context: Any = None
) -> tuple[str, float | None]:
    """The full text of one stream and the seconds from the call to its first content
    (``context``: a conversation in the peer's form, else the one-message prompt)."""
    parts: list[str] = []
    first: float | None = None
    async with asyncio.timeout(limit):
        t0 = time.perf_counter()
        gen = peer.stream(inst) if context is None else peer.stream(inst, context)
        async for piece in gen:
            if first is None:
                first = time.perf_counter() - t0
            parts.append(piece)
    return "".join(parts), first


class Runner:
    def __init__(
        self,
        base: str,
        peers: Sequence[Peer],
        cfg: Config,
        log: Callable[[str], None],
        run_index: int = 0,
    ) -> None:
        self.run_index = run_index
        self.base = base
        self.peers = list(peers)
        self.cfg = cfg
        self.log = log
        self.result = RunResult()
        self._instances: dict[tuple[str, str], Any] = {}

    # -- helpers --

    def _order(self, r: int) -> list[Peer]:
        """The peers for round ``r``: rotated every round, and differently in every run."""
        return rotated(self.peers, r + self.run_index)

    def _url(self, n: int, gap_us: int, *, hold: bool = False) -> str:
        return server.url(self.base, n, gap_us, hold=hold)

    async def _instance(self, peer: Peer, url: str) -> Any:
        inst = self._instances.get((peer.key, url))
        if inst is None:
            inst = peer.make(url)
            self._instances[(peer.key, url)] = inst
            for _ in range(self.cfg.warmup):
                await self._stream(peer, inst, None)
        return inst

    async def _stream(
        self,
        peer: Peer,
        inst: Any,
        n: int | None,
        context: Any = None,
        *,
        answer: str | None = None,
        limit: float | None = None,
    ) -> float | None:
        """One stream, its text checked against ``n`` chunks, or against ``answer`` (unchecked
        if both are ``None``); bounded by ``limit`` seconds (default ``stream_timeout``)."""
        self.result.streams += 1
        try:
            text, first = await timed_stream(
                peer, inst, self.cfg.stream_timeout if limit is None else limit, context
            )
        except Exception as e:
            self.result.errors.append(f"{peer.key}: {type(e).__name__}: {e}")
            return None
        if answer is not None and text != answer:
            self.result.errors.append(
                f"{peer.key}: heard {text[:60]!r}... ({len(text)} chars), not the answer "
                f"{answer!r} alone"
            )
        elif n is not None and text != server.expected_text(n):
            self.result.errors.append(
                f"{peer.key}: wrong text for {n} chunks: {text[:60]!r}... ({len(text)} chars)"
            )
        elif first is None and n != 0:
            self.result.errors.append(f"{peer.key}: no content")
        return first

    async def close(self) -> None:
        for (key, _), inst in self._instances.items():
            peer = next(p for p in self.peers if p.key == key)
            try:
                await peer.close(inst)
            except Exception as e:
                self.result.errors.append(f"{key}: close: {type(e).__name__}: {e}")
        self._instances.clear()

    async def _settle(self) -> None:
        for _ in range(3):
            await asyncio.sleep(0)

    # -- sections --

    async def cpu(self) -> None:
        """CPU (process_time) per streamed chunk over whole ``chunks``-chunk streams."""
        cfg = self.cfg
        await self._cpu("cpu_us", cfg.gap_us, cfg.cpu_streams, "cpu")
        if cfg.paced_gap_us and cfg.paced_streams:
            await self._cpu("cpu_paced_us", cfg.paced_gap_us, cfg.paced_streams, "cpu paced")

    async def _cpu(self, figure: str, gap_us: int, streams: int, what: str) -> None:
        cfg = self.cfg
        url = self._url(cfg.chunks, gap_us)
        samples: dict[str, list[float]] = {p.key: [] for p in self.peers}
        insts = {p.key: await self._instance(p, url) for p in self.peers}
        budget = Budget(cfg.section_budget, what, self.result)
        gc.collect()
        for r in range(streams):
            if budget.out():
                break
            for peer in self._order(r):
                await self._settle()
                c0 = time.process_time()
                first = await self._stream(peer, insts[peer.key], cfg.chunks)
                cpu = time.process_time() - c0
                if first is not None:
                    samples[peer.key].append(cpu / cfg.chunks * 1e6)
        for key, xs in samples.items():
            self.result.put(key, figure, pct(xs, 50))
        self.log(f"{what}: " + _fmt(samples, "µs/chunk"))

    async def first_content(self) -> None:
        """Seconds from chat() to the first content, one stream at a time."""
        cfg = self.cfg
        url = self._url(cfg.latency_chunks, cfg.latency_gap_us)
        samples: dict[str, list[float]] = {p.key: [] for p in self.peers}
        insts = {p.key: await self._instance(p, url) for p in self.peers}
        # how many new connections a peer opens per sequential stream (0 when it reuses its
        # keep-alive connection, 1 when it reconnects every time)
        for peer in self.peers:
            before = await server.stats(self.base)
            for _ in range(_CONN_PROBE):
                await self._stream(peer, insts[peer.key], cfg.latency_chunks)
            after = await server.stats(self.base)
            conns = (after["connections"] - before["connections"]) / _CONN_PROBE
            self.result.put(peer.key, "conn_per_stream", conns)
        budget = Budget(cfg.section_budget, "first content", self.result)
        gc.collect()
        for r in range(cfg.latency_streams):
            if budget.out():
                break
            for peer in self._order(r):
                await self._settle()
                first = await self._stream(peer, insts[peer.key], cfg.latency_chunks)
                if first is not None:
                    samples[peer.key].append(first * 1e3)
        for key, xs in samples.items():
            self.result.put(key, "fc_p50_ms", pct(xs, 50))
            self.result.put(key, "fc_p99_ms", pct(xs, 99))
            if 1 in cfg.concurrency:
                self.result.put(key, "c1_p50_ms", pct(xs, 50))
                self.result.put(key, "c1_p99_ms", pct(xs, 99))
        self.log("first content: " + _fmt(samples, "ms"))

    async def concurrent(self) -> None:
        """First content when ``c`` streams start at once (p50/p99 across the streams)."""
        cfg = self.cfg
        url = self._url(cfg.latency_chunks, cfg.latency_gap_us)
        insts = {p.key: await self._instance(p, url) for p in self.peers}
        budget = Budget(cfg.section_budget, "concurrency", self.result)
        for c in cfg.concurrency:
            if c == 1:
                continue  # the sequential first-content samples
            samples: dict[str, list[float]] = {p.key: [] for p in self.peers}
            for r in range(cfg.bursts):
                if budget.out():
                    break
                for peer in self._order(r):
                    gc.collect()
                    await asyncio.sleep(0.05)
                    firsts = await asyncio.gather(
                        *(self._stream(peer, insts[peer.key], cfg.latency_chunks) for _ in range(c))
                    )
                    samples[peer.key].extend(f * 1e3 for f in firsts if f is not None)
            for key, xs in samples.items():
                self.result.put(key, f"c{c}_p50_ms", pct(xs, 50))
                self.result.put(key, f"c{c}_p99_ms", pct(xs, 99))
            self.log(f"concurrency {c}: " + _fmt(samples, "ms", p=99))

    async def turns(self) -> None:
        """First content as the conversation grows: one stream at a time, per length.

        Each peer gets the same conversation (:func:`conversation`) in its own form, made once
        per length and kept for the whole run, as an agent keeps its context: a
        ``ChatContext`` for the plugins, the messages list for the SDK (the same list object
        every request) and for raw httpx (serialised with ``json.dumps`` on every request).
        Every round runs every length for every peer, lengths and peers in rotated orders, so
        a budget that runs out cuts all lengths alike.
        """
        cfg = self.cfg
        lengths = list(cfg.turns)
        if not lengths or cfg.turn_streams < 1:
            return
        url = self._url(cfg.latency_chunks, cfg.latency_gap_us)
        insts = {p.key: await self._instance(p, url) for p in self.peers}
        convs = {t: conversation(t) for t in lengths}
        contexts = {(p.key, t): p.context(convs[t]) for p in self.peers for t in lengths}
        for t in lengths:  # the first request with each context is not counted
            for p in self.peers:
                for _ in range(cfg.warmup):
                    await self._stream(p, insts[p.key], cfg.latency_chunks, contexts[p.key, t])
        samples: dict[tuple[str, int], list[float]] = {
            (p.key, t): [] for p in self.peers for t in lengths
        }
        budget = Budget(cfg.section_budget, "turns", self.result)
        gc.collect()
        for r in range(cfg.turn_streams):
            if budget.out():
                break
            for t in rotated(lengths, r + self.run_index):
                for peer in self._order(r):
                    await self._settle()
                    first = await self._stream(
                        peer, insts[peer.key], cfg.latency_chunks, contexts[peer.key, t]
                    )
                    if first is not None:
                        samples[peer.key, t].append(first * 1e3)
        for (key, t), xs in samples.items():
            self.result.put(key, f"turns{t}_p50_ms", pct(xs, 50))
            self.result.put(key, f"turns{t}_p99_ms", pct(xs, 99))
        for t in lengths:
            by_peer = {p.key: samples[p.key, t] for p in self.peers}
            self.log(f"turns {t}: " + _fmt(by_peer, "ms"))

    async def thinking(self) -> None:
        """First spoken word when the model thinks ``think_ms`` before it answers.

        The stand-in (``/b/think/<ms>/<step_ms>/v1``) streams its thought in
        ``reasoning_content`` and ends it early on llama-server's control request. ``hosted``
        is a llama-server client with ``max_thinking_time`` (it asks for the end of the
        thought at the deadline); ``builtin`` and ``sdk`` wait the thought out. Timed from
        ``chat()``/``create()`` to the first non-empty content delta; the text heard must be
        the answer alone (a thought word spoken is an error, and that stream's time is not
        counted). The server's counters around each stream give the thoughts ended by a
        control request and the completion requests per turn. Each peer is warmed by one
        stream with a short thought on an instance of its own (a full one would cost a whole
        thought per peer); the measured instances are made fresh, so the first round opens
        their connections (~1 ms on loopback, against seconds).
        """
        cfg = self.cfg
        peers = thinking_peers(self.peers, cfg.max_thinking_time)
        if not peers or cfg.think_rounds < 1:
            return
        answer = server.think_answer()
        limit = cfg.stream_timeout + cfg.think_ms / 1e3
        if cfg.warmup:
            warm = server.think_url(self.base, min(cfg.think_ms, _THINK_WARM_MS), cfg.think_step_ms)
            for p in peers:
                await self._once(p, warm, answer, limit)
        url = server.think_url(self.base, cfg.think_ms, cfg.think_step_ms)
        insts = {p.key: p.make(url) for p in peers}
        samples: dict[str, list[float]] = {p.key: [] for p in peers}
        ended: dict[str, int] = {p.key: 0 for p in peers}
        requests: dict[str, int] = {p.key: 0 for p in peers}
        budget = Budget(cfg.section_budget, "thinking", self.result)
        try:
            gc.collect()
            for r in range(cfg.think_rounds):
                if budget.out():
                    break
                for peer in rotated(peers, r + self.run_index):
                    await self._settle()
                    errors = len(self.result.errors)
                    before = await server.stats(self.base)
                    first = await self._stream(
                        peer, insts[peer.key], None, answer=answer, limit=limit
                    )
                    after = await server.stats(self.base)
                    # a stream that spoke its thought (an error) would look fast: not counted
                    if first is not None and len(self.result.errors) == errors:
                        samples[peer.key].append(first)
                        ended[peer.key] += after["reasoning_ends"] - before["reasoning_ends"]
                        requests[peer.key] += after["completions"] - before["completions"]
        finally:
            for p in peers:
                await self._close(p, insts[p.key])
        for key, xs in samples.items():
            self.result.put(key, "think_fw_s", pct(xs, 50))
            if xs:
                self.result.put(key, "think_ended_per_turn", ended[key] / len(xs))
                self.result.put(key, "think_requests_per_turn", requests[key] / len(xs))
        ours = self.result.figures.get(SUBJECT, {}).get("think_fw_s")
        ratios = []
        for other in (BASELINE, "sdk"):
            theirs = self.result.figures.get(other, {}).get("think_fw_s")
            if ours is not None and theirs:
                self.result.put(SUBJECT, f"think_fw_vs_{other}", ours / theirs)
                ratios.append(f"{SUBJECT} ÷ {other} {ours / theirs:.2f}x")
        self.log(
            f"thinking ({cfg.think_ms / 1e3:g} s thought, max_thinking_time="
            f"{cfg.max_thinking_time:g}): first spoken word "
            + _fmt(samples, "s")
            + (" | " + ", ".join(ratios) if ratios else "")
        )

    async def _once(self, peer: Peer, url: str, answer: str, limit: float) -> None:
        """One checked stream on an instance of its own, made and closed here (a warm-up)."""
        inst = peer.make(url)
        try:
            await self._stream(peer, inst, None, answer=answer, limit=limit)
        finally:
            await self._close(peer, inst)

    async def _close(self, peer: Peer, inst: Any) -> None:
        try:
            await peer.close(inst)
        except Exception as e:
            self.result.errors.append(f"{peer.key}: close: {type(e).__name__}: {e}")

    async def memory(self) -> None:
        """tracemalloc: per idle instance (K made at once), per live stream (M held open)."""
        cfg = self.cfg
        idle: dict[str, list[float]] = {p.key: [] for p in self.peers}
        live: dict[str, list[float]] = {p.key: [] for p in self.peers}
        # one instance of each made (and used) first, so that imports and global caches are
        # not counted; a fresh instance per peer for the held streams, warmed by one of them
        warm_url = self._url(cfg.latency_chunks, cfg.latency_gap_us)
        for p in self.peers:
            await self._instance(p, warm_url)
        for peer in self._order(0):
            try:
                idle[peer.key].append(await self._idle(peer, cfg.idle_instances))
            except Exception as e:
                self.result.errors.append(f"{peer.key}: idle memory: {type(e).__name__}: {e}")
        for peer in self._order(1):
            try:
                live[peer.key].append(await self._live(peer, cfg.live_streams))
            except Exception as e:
                self.result.errors.append(f"{peer.key}: live memory: {type(e).__name__}: {e}")
        for key in idle:
            self.result.put(key, "mem_idle_kib", pct(idle[key], 50))
            self.result.put(key, "mem_stream_kib", pct(live[key], 50))
        self.log("memory idle: " + _fmt(idle, "KiB") + " | live: " + _fmt(live, "KiB"))

    async def _idle(self, peer: Peer, k: int) -> float:
        url = self._url(self.cfg.latency_chunks, self.cfg.latency_gap_us)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            insts = [peer.make(url) for _ in range(k)]
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        for inst in insts:
            await peer.close(inst)
        return (after - before) / k / 1024

    async def _live(self, peer: Peer, m: int) -> float:
        cfg = self.cfg
        inst = peer.make(self._url(cfg.latency_chunks, 0, hold=True))
        gens: list[AsyncIterator[str]] = []
        try:
            warm = peer.stream(inst)
            async with asyncio.timeout(cfg.stream_timeout):
                await anext(warm)
            await warm.aclose()  # type: ignore[attr-defined]
            await asyncio.sleep(0.05)
            gc.collect()
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                gens = [peer.stream(inst) for _ in range(m)]
                async with asyncio.timeout(cfg.stream_timeout):
                    firsts = await asyncio.gather(*(anext(g) for g in gens))
                if firsts != [server.word(0)] * m:
                    self.result.errors.append(f"{peer.key}: held streams: {firsts[:3]!r}")
                gc.collect()
                after = tracemalloc.get_traced_memory()[0]
            finally:
                tracemalloc.stop()
        finally:
            for g in gens:
                await _aclose(g)
            await peer.close(inst)
        return (after - before) / m / 1024

    async def local(self, engine: LocalEngine) -> None:
        """First token on the local engine: the plugin vs a raw openai client."""
        cfg = self.cfg
        engine_llm = await engine.get(cfg.engine_start_timeout)
        if engine_llm is None:
            self.result.notes.append(f"local engine: skipped: {engine.reason}")
            self.log(f"local engine: skipped: {engine.reason}")
            return
        peers = list(local_peers(engine_llm, cfg.local_max_tokens).values())
        samples: dict[str, list[float]] = {p.key: [] for p in peers}
        insts = {p.key: p.make(engine_llm.base_url) for p in peers}
        try:
            for p in peers:
                for _ in range(2):
                    await self._stream(p, insts[p.key], None)
            budget = Budget(cfg.section_budget, "local engine", self.result)
            for r in range(cfg.local_rounds):
                if budget.out():
                    break
                for peer in rotated(peers, r + self.run_index):
                    first = await self._stream(peer, insts[peer.key], None)
                    if first is not None:
                        samples[peer.key].append(first * 1e3)
        finally:
            for p in peers:
                await p.close(insts[p.key])
        for key, xs in samples.items():
            self.result.put(key, "ft_p50_ms", pct(xs, 50))
            self.result.put(key, "ft_p99_ms", pct(xs, 99))
        self.log("local engine first token: " + _fmt(samples, "ms"))


class LocalEngine:
    """The local engine, started on first use and kept for every run (it starts slowly)."""

    def __init__(self) -> None:
        self._stack = contextlib.AsyncExitStack()
        self._tried = False
        self.llm: Any = None
        self.reason = ""

    async def get(self, limit: float) -> Any:
        """The engine's ``LLM``, or ``None`` (see :attr:`reason`)."""
        if not self._tried:
            self._tried = True
            start, reason = local_engine_factory()
            if start is None:
                self.reason = reason
                return None
            try:
                async with asyncio.timeout(limit):
                    self.llm = await self._stack.enter_async_context(_start_engine(start))
            except Exception as e:
                self.reason = f"the engine did not start: {type(e).__name__}: {e}"
        return self.llm

    async def aclose(self) -> None:
        try:
            async with asyncio.timeout(30):
                await self._stack.aclose()
        except Exception:
            pass


def _start_engine(start: Callable[..., Any]) -> Any:
    """``start_local_engine()``, quiet when it takes a ``progress`` callback."""
    import inspect

    try:
        params = inspect.signature(start).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    if "progress" in params:
        return start(progress=lambda _message: None)
    return start()


async def _aclose(g: AsyncIterator[str]) -> None:
    try:
        async with asyncio.timeout(10):
            await g.aclose()  # type: ignore[attr-defined]
    except Exception:
        pass


def _fmt(samples: dict[str, list[float]], unit: str, p: float = 50) -> str:
    parts = []
    for key, xs in samples.items():
        v = pct(xs, p)
        parts.append(f"{key}={'-' if v is None else f'{v:.3g}'}")
    return f"p{p:g} {unit}: " + " ".join(parts)


# "turns" and "thinking" run after the others so that they run exactly as they did without
# them
SECTIONS = ("cpu", "first", "concurrency", "memory", "turns", "thinking", "local")


async def run_once(
    base: str,
    peers: Sequence[Peer],
    cfg: Config,
    log: Callable[[str], None],
    sections: Sequence[str] = SECTIONS,
    run_index: int = 0,
    engine: LocalEngine | None = None,
) -> RunResult:
    runner = Runner(base, peers, cfg, log, run_index)
    steps: dict[str, Callable[[], Awaitable[None]]] = {
        "cpu": runner.cpu,
        "first": runner.first_content,
        "concurrency": runner.concurrent,
        "memory": runner.memory,
        "turns": runner.turns,
        "thinking": runner.thinking,
    }
    try:
        for name, step in steps.items():
            if name in sections:
                await step()
    finally:
        await runner.close()
    if cfg.local and "local" in sections and engine is not None:
        await runner.local(engine)
    return runner.result
