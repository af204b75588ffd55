"""``LLMStream``: one completion, read from the wire and parsed, retried by the framework.

The stream talks to its ``LLM`` through two small frozen objects made by ``LLM.chat()``:
:class:`Wire` (the endpoint, the connection pool, the completions URL) and :class:`Plan` (the
model, the merged parameters and the per-call options), both in :mod:`.wire`. It reads nothing
else of its owner. ``max_thinking_time`` (when a thought is ended, the request that follows it,
and what is reported of it) lives in :mod:`.deadline`: the stream hands it the parser of the
response it reads and the timeout that stops that reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Mapping
from typing import Any, Literal

import httpx2 as httpx
from livekit.agents import APIConnectionError, APIError, APITimeoutError, llm
from livekit.agents.types import APIConnectOptions

from . import faults, spent
from .backends import OPENAI_COMPATIBLE, Backend, Refused, check_thinking_time
from .deadline import CUT, DONE, SPENT, Deadline, Line, Thought
from .endpoints import sent_credentials
from .log import logger
from .messages import provider_messages, tool_schemas
from .models import GENERIC_THINKING
from .parsing import ChunkParser, EmptyCompletion
from .request import (
    build_request,
    may_open_thought,
    may_think,
    opens_thought,
    sends_tools,
    thinks,
)
from .sse import CompletionEvents, StreamError
from .statuses import Fault, HTTPStatus, status_error
from .transport import Connection, count_reads, idle_closed, transport_error
from .wire import CONNECT_TIMEOUT, Plan, Wire

__all__ = ["CONNECT_TIMEOUT", "LLMStream", "Plan", "Wire"]


class LLMStream(llm.LLMStream):
    """One completion's stream of ``llm.ChatChunk``; the framework retries ``_run``."""

    def __init__(
        self,
        llm_v: llm.LLM[Any],
        wire: Wire,
        plan: Plan,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(llm_v, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._wire = wire
        self._plan = plan
        # the client's connect/write/pool timeouts (see Wire), the call's read timeout
        self._timeout = {**wire.timeout, "read": conn_options.timeout}
        self._attempt = 0
        self._thought: Thought | None = None  # the latest attempt's
        self._sent: tuple[str, ...] = ()
        """The credentials the latest attempt's requests carried: its errors are masked
        with them (bounded: an attempt sends a request or two)."""

    @property
    def thinking_time(self) -> float | None:
        """Seconds from sending the request to the end of the thought before the first word
        (where the model ended it, or where ``max_thinking_time`` or the token limit did; in an
        attempt that failed before its first word, only the last two are known); ``None`` when
        no thought came before it."""
        return self._thought.thinking_time if self._thought is not None else None

    @property
    def thought_ended_by(self) -> Literal["max_thinking_time", "token_limit"] | None:
        """What ended the thought, when the model did not: the deadline, or a thought that used
        up the token limit (then the answer came from a second request)."""
        return self._thought.ended_by if self._thought is not None else None

    def _scrub(self, text: str) -> str:
        """``text`` (a server's) without the endpoint's secrets or what this attempt sent."""
        return self._wire.endpoint.scrub(text, self._sent)

    def _status_error(self, e: Fault, emitted: bool) -> tuple[APIError, float]:
        """The framework error for a status, and how long to wait before it is raised."""
        return status_error(
            e,
            emitted=emitted,
            scrub=self._scrub,
            scrub_body=functools.partial(self._wire.endpoint.scrub_body, sent=self._sent),
            model=self._plan.model.id,
            budget=self._conn_options.timeout,
            retries_left=self._attempt <= self._conn_options.max_retry,
            credential_hint=self._wire.endpoint.credential_hint,
        )

    def _new_parser(self) -> ChunkParser:
        model = self._plan.model
        parser = ChunkParser(
            model.unspoken,
            gemma4=model.family_key == "gemma-4",
            estimate_usage=True,  # only when the server streams no usage (llama-cpp-python)
        )
        parser.mask = self._scrub
        return parser

    async def _backend(self, deadline: float | None) -> Backend:
        """The engine's profile; a probe for it may take half the first word's budget, then
        the stand-in serves this request (the endpoint counts it as a busy answer)."""
        endpoint = self._wire.endpoint
        if deadline is None or endpoint.known_backend() is not None:
            return await endpoint.backend(self._wire.http)
        try:
            async with asyncio.timeout(deadline / 2):
                return await endpoint.backend(self._wire.http)
        except TimeoutError:
            endpoint.probe_timed_out()
            return OPENAI_COMPATIBLE

    def _request(self, backend: Backend, parser: ChunkParser) -> dict[str, Any]:
        """The request body; tells ``parser`` what the request implies for the reply."""
        plan, wire = self._plan, self._wire
        model = plan.model
        if not plan.backend_checked:  # a detected profile's refusals: before anything is sent
            try:
                backend.check(plan.params, family=model.family_key, has_tools=bool(self._tools))
                if wire.endpoint.known_backend() is backend or wire.endpoint.undecided:
                    # a detected profile, or the one a server that will not say is taken for;
                    # not the stand-in for a server that did not answer (down or loading: the
                    # request's own error says so)
                    check_thinking_time(plan.max_thinking_time, backend)
            except ValueError as e:
                # inside the turn, on every turn: an error the framework acts on
                raise Refused(str(e)) from None
        tools = sends_tools(plan.params, backend=backend, has_tools=bool(self._tools))
        fields = build_request(
            plan.params,
            model=model,
            backend=backend,
            has_tools=tools,
            budget=not wire.traits.budget_refused,
        )
        body: dict[str, Any] = {
            **fields,
            "model": model.id,
            "messages": provider_messages(self._chat_ctx, model, wire.traits),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        schemas = None
        if tools:
            body["tools"] = specs = llm.ToolContext(self._tools).parse_function_tools(
                "openai", strict=plan.strict_tool_schema
            )
            if model.family_key == "gemma-4":
                schemas = tool_schemas(specs)
        if plan.response_format is not None:
            body["response_format"] = plan.response_format
        if may_think(fields, model) and backend.ends_thought is not None:
            # a thought that runs out of time or tokens can still end in an answer
            parser.keep_thought()
            if backend.ends_thought == "control" and plan.max_thinking_time is not None:
                body.setdefault("reasoning_control", True)  # arms the control endpoint
        opened = opens_thought(fields, model, wire.traits)
        parser.start(
            in_thought=self._opens_thought(fields, backend),
            opened_thought=GENERIC_THINKING[0] if opened else None,
            schemas=schemas,
        )
        return body

    async def _send(self, body: Mapping[str, Any]) -> httpx.Response:
        """Send a completion request; a response that is not 2xx is raised as ``HTTPStatus``."""
        wire, plan = self._wire, self._plan
        # "replace": a lone surrogate in the context (a broken emoji escape in a tool's
        # output) would otherwise raise UnicodeEncodeError out of the stream
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "replace"
        )
        # a Request built directly: the client's per-request merging of URL, headers and
        # cookies costs more than the rest of the request set-up together (the client's
        # defaults are merged once, in Wire)
        connection = Connection()
        request = httpx.Request(
            "POST",
            wire.url,
            content=content,
            headers=wire.request_headers(plan.inference_class),
            extensions={"timeout": self._timeout, "trace": connection},
        )
        if jar := wire.http.cookies:
            # an http_client's own cookies (a cookie-auth proxy's, a sticky session's), as the
            # client would add them; the plugin's own client keeps none
            jar.set_cookie_header(request)
        # a redirect is never followed (it could carry the credentials elsewhere)
        sent = request  # the client's auth may send a signed copy: the one sent is masked
        try:
            try:
                response = await wire.http.send(request, stream=True, follow_redirects=False)
            except httpx.RemoteProtocolError as e:
                if not idle_closed(e, connection):
                    raise  # a malformed response: a fault the framework's retries judge
                # nothing was read, nothing was said: once more at once, on a fresh
                # connection, rather than a framework retry seconds later (or none)
                response = await wire.http.send(request, stream=True, follow_redirects=False)
            sent = response.request
            count_reads(response)
        except httpx.RequestError as e:
            with contextlib.suppress(RuntimeError):  # an error raised before any request
                sent = e.request
            raise
        finally:
            # what was sent, the client's auth included: a server may echo any of it
            found = (
                (*sent_credentials(request), *sent_credentials(sent))
                if sent is not request
                else sent_credentials(request)
            )
            self._sent = tuple(dict.fromkeys((*self._sent, *found)))
        if not 200 <= response.status_code < 300:
            try:
                raise await HTTPStatus.read(response)
            finally:
                await response.aclose()
        return response

    def _budget_refused(
        self, e: HTTPStatus | StreamError, backend: Backend, body: Mapping[str, Any]
    ) -> bool:
        """The server refused the thinking-token budget the plugin added (vLLM without a
        ``--reasoning-parser``: a 400, in an error event when streaming): it is left out
        from now on."""
        name = backend.budget_field
        status, said = (
            (e.fault.status, e.fault.body) if isinstance(e, HTTPStatus) else (e.status_code, e.body)
        )
        if status != 400 or not name or name not in body:
            return False
        given = self._plan.params.extra_body or {}
        # named as what is refused, not merely repeated with the rest of the request
        if name in given or not faults.refuses_field(said, name, body[name]):
            return False
        if self._wire.traits.budget_refused:
            return True  # another stream already learned it (and said so)
        self._wire.traits.budget_refused = True
        logger.warning(
            "%s refused %s (vLLM needs --reasoning-parser for it); reasoning_effort is sent "
            "without a token budget from now on",
            self._wire.endpoint.base_url,
            name,
        )
        return True

    async def _read(
        self,
        response: httpx.Response,
        parser: ChunkParser,
        first_word: asyncio.Timeout,
        watch: Deadline | None,
        *,
        may_continue: bool,
    ) -> str:
        """Stream one response's chunks to the caller: ``DONE`` when the reply is complete;
        ``CUT`` when ``watch`` stopped it in a thought; ``SPENT`` when the thought used up
        the token limit with nothing said and ``may_continue``."""
        send = self._event_ch.send_nowait
        waiting = not parser.emitted
        usage: llm.ChatChunk | None = None
        drained = False
        try:
            events = CompletionEvents(response, idle=self._conn_options.timeout, scrub=self._scrub)
            try:
                async with asyncio.timeout(None) as cut:
                    if watch is not None:
                        watch.watch(parser, cut)
                    async for obj in events.objects():
                        if watch is not None and watch.cutting:
                            # decided while this chunk was on its way: it is not read (it
                            # could begin the answer, which the second request will give)
                            break
                        for chunk in parser.feed(obj):
                            if chunk.usage is not None and chunk.delta is None:
                                # sent once the reply is known to be heard: a failed
                                # attempt's usage is reported apart (spent.report), and a
                                # follow-on's usage adds the first request's
                                usage = chunk
                            else:
                                send(chunk)
                        if waiting and parser.emitted:
                            # the first word is out: a slow but steady reply is never cut
                            first_word.reschedule(None)
                            waiting = False
                            self._first_word(parser, watch)
                        elif watch is not None and watch.past:
                            watch.check()
            except TimeoutError:
                if not cut.expired():
                    raise
                return CUT
            finally:
                if watch is not None:
                    watch.stop()  # the reading is over: nothing more to cut
            if watch is not None and watch.cutting:
                return CUT
            if not events.done and not parser.finished:
                raise StreamError("the stream ended before the completion finished")
            try:
                tail = parser.finish()
            except EmptyCompletion:
                if may_continue and parser.finish_reason == "length" and parser.thought_seen:
                    return SPENT
                raise
            first_word.reschedule(None)
            for chunk in tail:
                send(chunk)
            if usage is not None and not any(c.usage is not None for c in tail):
                send(usage)
            if waiting and parser.emitted:
                self._first_word(parser, watch)
            if events.done:
                # the turn ends here; the body's end is read in the background, so that the
                # connection is kept (a relay that keeps the body open delays no turn)
                self._wire.drains.start(events, response)
                drained = True
            return DONE
        finally:
            if parser.raw_thought_seen:
                self._wire.traits.raw_thought = True
            if parser.opened_thought_seen:
                self._wire.traits.opens_thought = True
            if not drained:
                await response.aclose()

    def _check_open(self) -> None:
        """Before each request: the framework reports an APIError (a FallbackAdapter moves
        on); the pool's own RuntimeError would escape as a crash of the stream's task."""
        if self._wire.http.is_closed:
            raise APIConnectionError(
                f"{type(self._llm).__name__} for {self._wire.endpoint.base_url} is closed "
                "(aclose() was called, or the http_client given was closed)",
                retryable=False,
            )

    def _first_word(self, parser: ChunkParser, watch: Deadline | None) -> None:
        if self._thought is not None:
            self._thought.first_word(parser, watch)

    def _line(self) -> Line:
        wire, plan = self._wire, self._plan
        return Line(
            http=wire.http,
            base_url=wire.endpoint.base_url,
            headers=functools.partial(wire.request_headers, plan.inference_class),
            model=plan.model.id,
            traits=wire.traits,
            scrub=self._scrub,
        )

    def _opens_thought(self, fields: Mapping[str, Any], backend: Backend) -> bool:
        """Whether Gemma 4's template may have opened a thought at the end of this prompt."""
        if self._plan.model.family_key != "gemma-4":
            return False
        thinking = thinks(fields, backend, self._plan.model)
        return may_open_thought(self._chat_ctx, fields, thinking, self._wire.traits)

    async def _run(self) -> None:
        self._attempt += 1
        self._sent = ()
        loop = asyncio.get_running_loop()
        cost = spent.Attempt(self._llm, self._new_parser(), started=loop.time())
        try:
            await self._request_loop(cost)
        except asyncio.CancelledError:
            cost.cancelled(self._event_ch.send_nowait)
            raise
        except Exception:
            cost.failed(loop.time())
            raise

    async def _request_loop(self, cost: spent.Attempt) -> None:
        wire, plan = self._wire, self._plan
        parser = cost.parser
        deadline = plan.first_token_timeout
        headers: Mapping[str, str] = {}
        loop = asyncio.get_running_loop()
        self._thought = thought = Thought(self._line(), sent=loop.time())
        own_prefill = bool(plan.params.continue_final_message)
        failure: tuple[APIError, float, BaseException | None] | None = None
        try:
            self._check_open()
            async with asyncio.timeout(deadline) as first_word:
                backend = await self._backend(deadline)
                body = self._request(backend, parser)
                thought.sent = loop.time()
                if may_think(body, plan.model):
                    thought.arm(
                        backend,
                        plan.max_thinking_time,
                        own_prefill=own_prefill,
                        probe=bool(thinks(body, backend, plan.model)),
                    )
                watch = thought.watch
                may_continue = backend.ends_thought is not None
                for resend in (False, True):
                    if resend:  # without the budget the server refused; nothing was said
                        parser = cost.parser = self._new_parser()
                        body = self._request(backend, parser)
                    try:
                        response = await self._send(body)
                        headers = response.headers
                        outcome = await self._read(
                            response, parser, first_word, watch, may_continue=may_continue
                        )
                        break
                    except (HTTPStatus, StreamError) as e:
                        if resend or parser.emitted or not self._budget_refused(e, backend, body):
                            raise
                if outcome != DONE:
                    if outcome == SPENT:
                        thought.ended("token_limit")
                    follow, given_back = await thought.follow_on(
                        backend, body, parser, family=plan.model.family_key, own_prefill=own_prefill
                    )
                    # nothing was said: the continuation's parser is the one errors ask
                    parser = cost.parser = parser.follow_on(
                        given_back=given_back,
                        in_thought=self._opens_thought(follow, backend),
                        opened=opens_thought(follow, plan.model, wire.traits),
                    )
                    self._check_open()
                    response = await self._send(follow)
                    headers = response.headers
                    again = thought.watch_again()
                    outcome = await self._read(
                        response, parser, first_word, again, may_continue=False
                    )
                    if outcome == CUT:
                        raise APIError(
                            "max_thinking_time: the model thought again when asked to answer "
                            "(its template thinks whatever the request says, and the engine "
                            "has no means to end it)",
                            retryable=True,  # nothing was said: a retry or fallback may answer
                        )
            cost.heard = True  # the reply is complete, its usage sent with it
        # a failure is raised below, out of its except block: what was caught (a server's text,
        # unscrubbed) is then neither the error's __cause__ nor its __context__
        except HTTPStatus as e:
            failure = (*self._status_error(e.fault, parser.emitted), None)
        except TimeoutError as e:
            # only the first-word deadline raises this (httpx raises its own timeouts)
            raise APITimeoutError(
                f"nothing speakable from {wire.endpoint.base_url} within {deadline}s "
                "(first_token_timeout)",
                retryable=not parser.emitted,
            ) from e
        except httpx.RequestError as e:
            # the cause is a scrubbed copy: e may quote an echoing response, or the request
            error, cause = transport_error(
                e,
                url=wire.endpoint.base_url,
                timeout=self._timeout,
                retryable=not parser.emitted,
                scrub=self._scrub,
            )
            failure = (error, 0.0, cause)
        except EmptyCompletion as e:
            # nothing was said: a retry (or the FallbackAdapter) can still give an answer
            failure = (APIError(self._scrub(e.message), retryable=True), 0.0, None)
        except StreamError as e:
            retryable = e.retryable and not parser.emitted
            if e.status_code is not None:
                # an error event naming a status: the same rules as the HTTP status
                fault = Fault(e.status_code, headers, e.body, request_id=None)
                failure = (*self._status_error(fault, not retryable), None)
            else:
                # scrubbed: an error event may echo the request
                error = APIConnectionError(self._scrub(e.message), retryable=retryable)
                failure = (error, 0.0, None)
        except RecursionError:
            # a chunk nested past Python's depth (json.loads is caught in decode_event;
            # this is its re-encoding in the chunk parser)
            raise APIConnectionError(
                "malformed stream event (nested too deeply)", retryable=not parser.emitted
            ) from None
        finally:
            await thought.close(parser)
        if failure is not None:
            error, wait, cause = failure
            if wait:
                # the server named its wait and it fits the budget: the retry honours it
                await asyncio.sleep(wait)
            raise error from cause
