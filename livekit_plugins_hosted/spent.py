"""The tokens of an attempt that failed or was cancelled, reported all the same, once.

The framework emits ``metrics_collected`` once per stream, from the last usage chunk it saw,
and not at all when its last attempt failed; an attempt that is retried loses its usage to the
next one's. A reply that thought, or said only whitespace, or spoke and then failed, and ended
in an ``APIError`` was billed all the same, so its usage is reported here, as the framework
reports a reply's: an ``LLMMetrics`` on the LLM's ``metrics_collected`` event, with ``ttft``
-1. A turn cancelled (barge-in, a preemptive turn dropped) after a request that completed (the
first of a follow-on) gives the framework that usage to report with the cancelled turn.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from livekit.agents import llm
from livekit.agents.metrics import LLMMetrics
from livekit.agents.metrics.base import Metadata
from livekit.agents.utils import aio

from .log import logger
from .parsing import ChunkParser


class Attempt:
    """What one attempt's requests cost, reported once however the attempt ends: with the
    reply (the stream sends the usage at its end, which the framework reports), by
    :meth:`failed`, or by :meth:`cancelled`. Only what is known is reported: what the server
    counted (the first request of a follow-on included), and an estimate only of a response
    read to its finish reason."""

    __slots__ = ("_owner", "_started", "heard", "parser")

    def __init__(self, owner: llm.LLM[Any], parser: ChunkParser, *, started: float) -> None:
        self._owner = owner
        self._started = started
        self.parser = parser
        """The parser of the response read last (a follow-on's counts the first's)."""
        self.heard = False
        """The reply is complete: its usage went out with it."""

    def _usage(self) -> llm.CompletionUsage | None:
        if self.heard:
            return None
        # an estimate only of a reply that finished (a server that sends usage sends it later)
        return self.parser.spent(estimated=self.parser.finish_reason is not None)

    def failed(self, now: float) -> None:
        """The attempt ends in an error: its usage as a failed attempt's (:func:`report`)."""
        if (usage := self._usage()) is not None:
            report(self._owner, usage, request_id=self.parser.id, duration=now - self._started)

    def cancelled(self, send: Callable[[llm.ChatChunk], None]) -> None:
        """The caller cancelled the turn: its usage goes into the stream, for the framework to
        report with the cancelled turn (it reports the last usage it saw, so once)."""
        if (usage := self._usage()) is not None:
            with contextlib.suppress(aio.ChanClosed):
                send(llm.ChatChunk(id=self.parser.id, usage=usage))


def report(
    owner: llm.LLM[Any], usage: llm.CompletionUsage, *, request_id: str, duration: float
) -> None:
    """Emit ``usage`` of a failed attempt as ``owner``'s ``metrics_collected`` (``ttft`` -1:
    the framework's measure of it is not known here)."""
    metrics = LLMMetrics(
        timestamp=time.time(),
        request_id=request_id,
        ttft=-1.0,
        duration=duration,
        cancelled=False,
        label=owner.label,
        completion_tokens=usage.completion_tokens,
        prompt_tokens=usage.prompt_tokens,
        prompt_cached_tokens=usage.prompt_cached_tokens,
        cache_creation_tokens=usage.cache_creation_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        total_tokens=usage.total_tokens,
        tokens_per_second=usage.completion_tokens / duration if duration > 0 else 0.0,
        metadata=Metadata(model_name=owner.model, model_provider=owner.provider),
    )
    try:
        owner.emit("metrics_collected", metrics)
    except Exception:
        # a listener's bug (the event emitter re-raises a TypeError from one) must not replace
        # the turn's APIError: the framework would neither retry nor fall back
        logger.exception("a metrics_collected listener failed on a failed attempt's usage")
