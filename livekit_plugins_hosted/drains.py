"""What follows ``[DONE]``, read off the turn's path.

The reply is complete at ``[DONE]``: the turn ends there (the framework closes the stream when
the request's task returns, and the last words go to TTS). The rest of the body (normally just
its end) is still read, so that the connection can serve the next request, but in the
background and for at most :data:`DRAIN_TIMEOUT` seconds: behind a relay that keeps the body
open, waiting for it would end every turn that much late.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx2 as httpx

from .log import logger
from .sse import CompletionEvents

DRAIN_TIMEOUT = 1.0
"""Seconds the end of a body is waited for after ``[DONE]``; a server that keeps it open
longer costs the connection only."""


class Drains:
    """The bodies still being read after their turn ended; one per connection pool."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, events: CompletionEvents, response: httpx.Response) -> None:
        """Read the rest of ``response`` in the background, then close it."""
        task = asyncio.create_task(_drain(events, response), name="hosted.drain")
        self._tasks.add(task)  # a strong reference until it is done
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            # nobody awaits it: said here rather than "exception never retrieved" at exit
            logger.debug("reading a body after [DONE] failed: %s", type(error).__name__)

    async def aclose(self) -> None:
        """Stop every drain (the pool is about to close)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _drain(events: CompletionEvents, response: httpx.Response) -> None:
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_TIMEOUT):
                await events.drain()
    finally:
        # nobody awaits this task: a failure to close is the connection's, not a turn's
        with contextlib.suppress(httpx.HTTPError):
            await response.aclose()
