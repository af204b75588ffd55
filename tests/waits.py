"""Bounded waits for what a test expects to happen, instead of sleeps that guess how long it takes.

A guessed sleep is too short on a busy machine and too long on an idle one; these return as soon
as the thing has happened and fail with ``TimeoutError`` only after a bound that a loaded machine
keeps. Event-based where the thing announces itself; a short poll where it cannot.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

from livekit.agents import llm
from livekit.agents.metrics import LLMMetrics

POLL_S = 0.01


async def wait_until(predicate: Callable[[], bool], *, within: float, what: str) -> None:
    """Check ``predicate`` every 10 ms until it holds; ``TimeoutError`` after ``within`` s."""
    deadline = time.monotonic() + within
    for _ in range(math.ceil(within / POLL_S) + 1):  # bounded even if the clock misbehaves
        if predicate():
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(POLL_S)
    raise TimeoutError(f"not within {within}s: {what}")


class MetricsSeen:
    """The ``metrics_collected`` events of one LLM, in order.

    The framework emits them from a task that runs after the stream has closed, so a test that
    reads them right after the reply waits for the event with :meth:`first`.
    """

    def __init__(self, model: llm.LLM[Any]) -> None:
        self.events: list[LLMMetrics] = []
        self._arrived = asyncio.Event()
        model.on("metrics_collected", self._on)

    def _on(self, metrics: LLMMetrics) -> None:
        self.events.append(metrics)
        self._arrived.set()

    async def first(self, *, within: float = 10.0) -> LLMMetrics:
        """The first metrics event, once it has come; ``TimeoutError`` after ``within`` s."""
        async with asyncio.timeout(within):
            await self._arrived.wait()
        return self.events[0]
