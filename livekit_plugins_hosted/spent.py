"""The tokens of an attempt that failed, reported all the same.

The framework emits ``metrics_collected`` once per stream, and not at all when its last
attempt failed; an attempt that is retried loses its usage to the next one's. A reply that
thought, or said only whitespace, and ended in an ``APIError`` was billed all the same, so
its usage is reported here, as the framework reports a reply's: an ``LLMMetrics`` on the LLM's
``metrics_collected`` event, with ``ttft`` -1 (it generated nothing to hear).
"""

from __future__ import annotations

import time
from typing import Any

from livekit.agents import llm
from livekit.agents.metrics import LLMMetrics
from livekit.agents.metrics.base import Metadata

from .log import logger


def report(
    owner: llm.LLM[Any], usage: llm.CompletionUsage, *, request_id: str, duration: float
) -> None:
    """Emit ``usage`` of a failed attempt as ``owner``'s ``metrics_collected``."""
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
