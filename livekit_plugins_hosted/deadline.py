"""``max_thinking_time`` for one turn: when a thought is ended, and the request that follows.

The stream reads responses; this module decides, chunk by chunk after the deadline, whether
a thought still under way is to be ended, ends it by the engine's means
(:attr:`~.backends.Backend.ends_thought`, spoken by :mod:`.thinking`), and builds the second
request of a turn whose reading was stopped. It touches the stream through three things only:
the :class:`~.parsing.ChunkParser` of the response being read, the ``asyncio.Timeout`` that
stops that reading, and the ``ended`` callback that stamps when the thought ended.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Literal

import httpx2 as httpx
from opentelemetry import trace

from . import thinking
from .backends import Backend, Continuation, ThoughtEnd
from .log import logger
from .parsing import ChunkParser
from .traits import ServerTraits

DONE, CUT, SPENT = "done", "cut", "spent"
"""How a response's reading ended: the reply is complete; stopped in a thought at
``max_thinking_time``; the thought used up the token limit with nothing said."""

CONTROL_GRACE = 0.75
"""After llama-server answered the control request with ``success: true`` (its thought ends
about 0.1 s later, its answer within a second or two on a busy machine): a thought that goes
on growing through the second period of this many seconds is stopped and continued from."""

UNANSWERED_DELTAS = 4
"""Thought deltas streamed while the control request stays unanswered that show it hangs
(llama-server answers it between two tokens)."""

EndedBy = Literal["max_thinking_time", "token_limit"]

SPAN_THINKING_TIME = "hosted.thinking_time"
"""Span attribute: seconds from sending the request to the end of the thought before the
first word (set on the framework's span of the attempt)."""
SPAN_THOUGHT_ENDED_BY = "hosted.thought_ended_by"
"""Span attribute: what ended that thought: ``model``, ``max_thinking_time`` or
``token_limit``; ``unfinished`` when the attempt ended (failed, cancelled) inside it, and
:data:`SPAN_THINKING_TIME` is then how long it had run."""


@dataclasses.dataclass(frozen=True)
class Line:
    """How a turn's deadline reaches the server: the stream's connection, narrowed."""

    http: httpx.AsyncClient = dataclasses.field(repr=False)
    base_url: str
    headers: Callable[[], Mapping[str, str]] = dataclasses.field(repr=False)
    """The request headers (credentials included), made when a request is sent."""
    model: str
    traits: ServerTraits = dataclasses.field(repr=False)
    scrub: Callable[[str], str] = dataclasses.field(repr=False)


class Deadline:
    """``max_thinking_time`` for one turn: past it, a thought still under way is ended, once,
    by the engine's means: llama-server's control request (the answer follows in the same
    response; if the thought runs on past :data:`CONTROL_GRACE`, or the request fails, the
    reading is stopped instead), or the reading is stopped for a second request.

    ``ended(by)`` is called when the thought ended by this hand: where the reading was stopped,
    or where the answer began after the control request (never where it was sent)."""

    __slots__ = (
        "_agreed",
        "_cut",
        "_ended",
        "_line",
        "_parser",
        "_stamped",
        "_timers",
        "at",
        "cutting",
        "limit",
        "means",
        "past",
        "reached",
        "sent",
        "task",
    )

    def __init__(
        self,
        line: Line,
        means: ThoughtEnd,
        *,
        sent: float,
        limit: float,
        ended: Callable[[EndedBy], None],
    ) -> None:
        self._line = line
        self.means = means
        self.sent = sent
        self.limit = limit
        self.at = sent + limit
        """Loop time of the deadline."""
        self._ended = ended
        self.past = False
        """The deadline has passed (each chunk after it asks :meth:`check`)."""
        self.reached = False
        """A thought was under way at the deadline and is being ended."""
        self.cutting = False
        """The response's reading is to stop where it is: no chunk is read after this turns
        true (the stream's cancellation, which wakes a read that waits, lands at the next
        wait; a chunk that arrives first is not read)."""
        self.task: asyncio.Task[None] | None = None
        self._parser: ChunkParser | None = None
        self._cut: asyncio.Timeout | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._stamped = False
        self._agreed = False  # the server answered the control request that it ended it

    def watch(self, parser: ChunkParser, cut: asyncio.Timeout) -> None:
        """Watch one response: ``cut`` stops its reading."""
        self._parser, self._cut = parser, cut
        self.cutting = False
        self._timers.append(asyncio.get_running_loop().call_at(self.at, self._due))

    def _due(self) -> None:
        self.past = True
        self.check()

    def check(self) -> None:
        """At the deadline and after, per chunk: a thought under way is ended (a reply that has
        not begun, or whose answer has, is left alone)."""
        parser = self._parser
        if self.reached or parser is None or not parser.thinking:
            return
        completion_id = parser.server_id
        self.reached = True
        now = asyncio.get_running_loop().time()
        logger.info(
            "thought ran %.2f s: max_thinking_time=%gs reached, ending it",
            now - self.sent,
            self.limit,
            extra={"model": self._line.model, "thinking_time": now - self.sent},
        )
        if self.means == "control" and completion_id is not None:
            self.task = asyncio.create_task(self._control(completion_id))
            # it answers between two tokens: one that hangs while the thought goes on is
            # given up on (the first word must not wait its whole timeout)
            self._unanswered_after(parser.thought_deltas)
        else:
            if self.means == "control":
                # thought has come without an id (a relay that strips it): the control request
                # has nothing to name, so the reading stops, as when it fails
                logger.warning(
                    "max_thinking_time: the stream names no completion id to end the thought "
                    "of; continuing from the thought in a new request",
                    extra={"model": self._line.model},
                )
            self._stop_reading()

    def answered(self) -> None:
        """The first word (or tool call) is out: a thought the control request ended ended
        here. Only if the server had said it ended it: an answer that came while the request
        was on its way, or after the server declined, is a thought the model ended itself."""
        if self.reached and (self.means != "control" or self._agreed):
            self._stamp()

    def _stamp(self) -> None:
        if not self._stamped:
            self._stamped = True
            self._ended("max_thinking_time")

    def _stop_reading(self) -> None:
        if self._cut is not None and not self.cutting:
            self.cutting = True
            self._stamp()
            self._cut.reschedule(asyncio.get_running_loop().time())

    async def _control(self, completion_id: str) -> None:
        line = self._line
        try:
            why = await thinking.end_reasoning(
                line.http,
                line.base_url,
                line.headers(),
                completion_id=completion_id,
                model=line.model,
            )
        except Exception as e:
            why = f"the control request failed ({type(e).__name__})"
        self._agreed = why is None
        if self._parser is None:
            return  # the reading is over (the answer came): nothing to fall back from
        if why is None:
            # the server said it ended the thought; one that runs on is stopped all the same
            self._watch_on(None)
            return
        logger.warning(
            "max_thinking_time: %s; continuing from the thought in a new request",
            line.scrub(why),
            extra={"model": line.model},
        )
        self._overdue()

    def _unanswered_after(self, sent: int) -> None:
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(CONTROL_GRACE, self._unanswered, sent))

    def _unanswered(self, sent: int) -> None:
        """:data:`CONTROL_GRACE` after the control request, unanswered: llama-server answers
        it between two tokens, so a thought that went on by :data:`UNANSWERED_DELTAS` deltas
        meanwhile is a control request that hangs, and the reading is stopped. A server
        that is merely slow (a busy machine, few deltas) is given another period."""
        task, parser = self.task, self._parser
        if task is None or task.done() or parser is None or not parser.thinking:
            return
        if parser.thought_deltas - sent < UNANSWERED_DELTAS:
            self._unanswered_after(sent)
            return
        logger.warning(
            "max_thinking_time: the control request is not answered within %gs; continuing "
            "from the thought in a new request",
            CONTROL_GRACE,
            extra={"model": self._line.model},
        )
        self._stop_reading()

    def _watch_on(self, seen: int | None) -> None:
        """After a control request that succeeded: every :data:`CONTROL_GRACE` seconds, a
        thought still under way that grew over a whole period runs on despite it, and the
        reading is stopped. The first period is not counted (a delta or two already on their
        way), and one that did not grow is a server slow to answer, left alone."""
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(CONTROL_GRACE, self._runs_on, seen))

    def _runs_on(self, seen: int | None) -> None:
        parser = self._parser
        if parser is None or not parser.thinking:
            return
        if seen is not None and parser.thought_deltas > seen:
            logger.warning(
                "max_thinking_time: the server ended the thought and it runs on; continuing "
                "from the thought in a new request",
                extra={"model": self._line.model},
            )
            self._stop_reading()
        else:
            self._watch_on(parser.thought_deltas)

    def _overdue(self) -> None:
        if self._parser is not None and self._parser.thinking:
            self._stop_reading()

    def stop(self) -> None:
        """The response's reading is over: nothing more is cut."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._cut = self._parser = None

    async def close(self) -> None:
        """The turn is over: a control request still in flight is abandoned. A cancellation of
        the caller that lands meanwhile is the caller's: it is raised, never swallowed."""
        self.stop()
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])


class Probe:
    """Whether the server's template renders a thought given back (vLLM's ``/tokenize``),
    asked as soon as a watched request is sent, so the answer is there by the deadline and
    never on the first word's path. Only a clear answer is kept for the LLM's life; a probe
    that failed is asked again by a later turn."""

    __slots__ = ("_line", "_task", "_way")

    def __init__(self, line: Line, way: Continuation) -> None:
        self._line = line
        self._way = way
        self._task: asyncio.Task[bool | None] | None = None
        if line.traits.continuation_renders is None:
            asked = thinking.renders(
                line.http, line.base_url, line.headers(), model=line.model, way=way
            )
            self._task = asyncio.create_task(asked)

    async def result(self) -> bool:
        """Whether a thought given back is rendered (``False`` when the probe failed, or has
        not answered within :data:`CONTROL_GRACE` of being needed: the first word waits for
        it)."""
        traits = self._line.traits
        task = self._task
        if traits.continuation_renders is not None or task is None:
            return bool(traits.continuation_renders)
        await asyncio.wait([task], timeout=CONTROL_GRACE)
        if not task.done() or task.cancelled():
            return False  # not known yet: asked again by a later turn
        try:
            found = task.result()
        except Exception:  # a probe that broke is one that failed
            found = None
        if found is not None and traits.continuation_renders is None:
            traits.continuation_renders = found
            if not found:
                logger.info(
                    "%s's chat template drops a thought given back: a thought stopped "
                    "there is followed by asking again with thinking off",
                    self._line.base_url,
                )
        return bool(found)

    async def close(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])


class Thought:
    """One attempt's thought before the first word: when it ended and by what; the
    :class:`Deadline` and :class:`Probe` of a request that is watched; the second request of
    a turn whose thought was stopped; and the report of it (a DEBUG line, and attributes on
    the current OpenTelemetry span, which inside an attempt is the framework's)."""

    __slots__ = (
        "_carried",
        "_end",
        "_line",
        "_reported",
        "again",
        "ended_by",
        "probe",
        "sent",
        "thinking_time",
        "watch",
    )

    def __init__(self, line: Line, *, sent: float) -> None:
        self._line = line
        self.sent = sent
        """Loop time the request was sent."""
        self._end: float | None = None
        self.thinking_time: float | None = None
        self.ended_by: EndedBy | None = None
        self.watch: Deadline | None = None
        self.again: Deadline | None = None
        """The watch of the second request (:meth:`watch_again`)."""
        self.probe: Probe | None = None
        self._carried: int | None = None  # thought deltas before the second request
        self._reported = False

    def arm(
        self, backend: Backend, limit: float | None, *, own_prefill: bool, probe: bool = True
    ) -> None:
        """Watch this request's thought: ``limit`` is ``max_thinking_time``. The rendering
        probe a continuation may need is asked now, off the first word's path (``probe``: a
        thought is expected; else it is asked only if one has to be continued)."""
        if backend.ends_thought is None or limit is None:
            return
        self.watch = Deadline(
            self._line, backend.ends_thought, sent=self.sent, limit=limit, ended=self.ended
        )
        if probe:
            self._probe(backend, own_prefill=own_prefill)

    def _probe(self, backend: Backend, *, own_prefill: bool) -> None:
        way = backend.continuation
        if self.probe is None and way is not None and way.probe and not own_prefill:
            self.probe = Probe(self._line, way)

    def ended(self, by: EndedBy) -> None:
        """The thought was ended here, by the deadline or the token limit."""
        self._end = asyncio.get_running_loop().time()
        self.ended_by = by

    def first_word(self, parser: ChunkParser, watch: Deadline | None) -> None:
        """The first word (or tool call) is out: how long the thought before it ran."""
        if watch is not None:
            watch.answered()
        now = asyncio.get_running_loop().time()
        carried = self._carried
        if carried is not None and parser.thought_deltas > carried:
            # the second reply thought again, and that thought ended by itself here
            self.thinking_time = now - self.sent
        elif self._end is not None:
            self.thinking_time = self._end - self.sent
        elif parser.thought_seen:
            self.thinking_time = now - self.sent
        # reported now: a turn interrupted after its first word (barge-in, a preemptive
        # cancel) or whose tail fails still shows its thought on the span
        self.report()

    async def follow_on(
        self,
        backend: Backend,
        body: Mapping[str, Any],
        parser: ChunkParser,
        *,
        family: str | None,
        own_prefill: bool,
    ) -> tuple[dict[str, Any], bool]:
        """The second request of a turn whose thought was stopped: the thought given back
        to continue from where the engine renders it (this attempt's probe says, asked now if
        it was not yet), else the question asked with thinking off; and whether the thought
        was given back. ``own_prefill``: the request continues the user's own prefill
        (``continue_final_message``), which is continued as it is."""
        self._probe(backend, own_prefill=own_prefill)
        self._carried = parser.thought_deltas
        thought = parser.thought()
        way = backend.continuation
        given_back = bool(thought) and way is not None and not own_prefill
        if given_back and way is not None and way.probe:
            given_back = self.probe is not None and await self.probe.result()
        # a budget of none where the server reads one (see thinking.continuation)
        budget = parser.parsed_thought and not self._line.traits.budget_refused
        follow = thinking.continuation(
            body, backend, thought=thought, family=family, given_back=given_back, budget=budget
        )
        return follow, given_back

    def watch_again(self) -> Deadline | None:
        """The watch of the second request, when the first was watched: a reply that thinks
        again (a template that thinks whatever the request says, on an engine that takes no
        budget) still thinking :data:`CONTROL_GRACE` past the deadline is stopped (the turn
        then ends in an error, never in a wait for the whole thought)."""
        first = self.watch
        if first is None:
            return None
        at = max(first.at, asyncio.get_running_loop().time()) + CONTROL_GRACE
        self.again = Deadline(
            self._line, "continue", sent=self.sent, limit=at - self.sent, ended=self._again
        )
        return self.again

    def _again(self, by: EndedBy) -> None:
        self.ended(by)
        self._carried = None  # stopped here: not a thought that ended by itself

    def report(self) -> None:
        """The DEBUG line and the span attributes at the first word (if a thought came
        before it: one after it, raw markers in the answer, is never reported)."""
        if self.thinking_time is not None:
            self._report(self.thinking_time, self.ended_by or "model")
        self._reported = True

    def _report(self, seconds: float | None, by: str) -> None:
        """Once per attempt: at the first word, or where the attempt ended before it."""
        if self._reported:
            return
        self._reported = True
        logger.debug(
            "thought %s before the first word (ended by %s)",
            "?" if seconds is None else f"{seconds:.2f} s",
            by,
            extra={"model": self._line.model, "thinking_time": seconds},
        )
        span = trace.get_current_span()
        if seconds is not None:
            span.set_attribute(SPAN_THINKING_TIME, seconds)
        span.set_attribute(SPAN_THOUGHT_ENDED_BY, by)

    def _unspoken(self, parser: ChunkParser | None) -> None:
        """The attempt ended (failed, cancelled) before its first word: what is known of its
        thought, reported all the same (a trace of a failed turn shows it)."""
        if self._reported:
            return
        if self._end is not None:  # ended here, by the deadline or the token limit
            self.thinking_time = self._end - self.sent
            self.report()
        elif parser is not None and parser.thinking:
            self._report(asyncio.get_running_loop().time() - self.sent, "unfinished")
        elif parser is not None and parser.thought_seen:
            self._report(None, "model")  # it ended by itself, when is not known

    async def close(self, parser: ChunkParser | None = None) -> None:
        """The attempt is over (``parser``: its latest response's): a control request or
        probe still in flight is abandoned, and a thought not yet reported is."""
        self._unspoken(parser)
        try:
            if self.again is not None:
                self.again.stop()
            if self.watch is not None:
                await self.watch.close()
        finally:
            if self.probe is not None:
                await self.probe.close()
