"""``LLMStream``: one completion, read from the wire and parsed, retried by the framework.

The stream talks to its ``LLM`` through two small frozen objects made by ``LLM.chat()``:
:class:`Wire` (the endpoint, the connection pool, the completions URL) and :class:`Plan` (the
model, the merged parameters and the per-call options). It reads nothing else of its owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Mapping
from typing import Any, Literal

import httpx2 as httpx
from livekit.agents import APIConnectionError, APIError, APIStatusError, APITimeoutError, llm
from livekit.agents.types import APIConnectOptions

from . import faults, spent, thinking
from .backends import Backend, ThoughtEnd, check_thinking_time
from .drains import Drains
from .endpoints import Endpoint
from .log import logger
from .messages import provider_messages, tool_schemas
from .models import GENERIC_THINKING, ModelInfo
from .params import ModelParams
from .parsing import ChunkParser, EmptyCompletion
from .request import build_request, sends_tools, thinking_on
from .sse import CompletionEvents, StreamError, read_capped
from .traits import ServerTraits
from .transport import Connection, idle_closed, transport_error

CONNECT_TIMEOUT = 15.0
"""Seconds to open a connection (the per-read timeout is ``conn_options.timeout``)."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything one ``chat()`` needs, fixed when it is called."""

    model: ModelInfo
    params: ModelParams
    strict_tool_schema: bool
    first_token_timeout: float | None
    max_thinking_time: float | None
    response_format: dict[str, Any] | None
    inference_class: str | None
    backend_checked: bool
    """The parameters were checked against the backend when ``chat()`` was called."""


# Headers that are the plugin's to set on a completion request: the endpoint's own, and the
# transport's (an event stream is read uncompressed, so each event arrives when it is sent).
_PLUGIN_HEADERS = frozenset(
    {"user-agent", "accept", "content-type", "connection", "accept-encoding"}
)


@dataclasses.dataclass(frozen=True)
class Wire:
    """How an LLM's streams reach the server: the endpoint and the connection pool.

    The completion request is built directly (the client's per-request merging costs more
    than the rest of the request set-up), so the client's own defaults are merged here, once:
    its query parameters join ``completions_url``, its headers are sent (the endpoint's win;
    ``User-Agent``, ``Accept``, ``Content-Type``, ``Connection`` and ``Accept-Encoding`` are
    the plugin's), and its connect, write and pool timeouts apply (the read timeout is the
    call's ``conn_options.timeout``). The plugin's own client has none of these to add.
    """

    endpoint: Endpoint
    http: httpx.AsyncClient
    completions_url: httpx.URL
    traits: ServerTraits = dataclasses.field(default_factory=ServerTraits)
    drains: Drains = dataclasses.field(default_factory=Drains)
    """Bodies read on after their turn ended (closed with the pool)."""
    url: httpx.URL = dataclasses.field(init=False)
    """``completions_url`` with the client's query parameters."""
    headers: dict[str, str] = dataclasses.field(init=False)
    """The client's headers that are sent under the endpoint's."""
    timeout: dict[str, float | None] = dataclasses.field(init=False)
    """The client's timeouts (``read`` is replaced per call)."""

    def __post_init__(self) -> None:
        http = self.http
        url = self.completions_url.copy_merge_params(http.params) if http.params else None
        headers = {k: v for k, v in http.headers.items() if k.lower() not in _PLUGIN_HEADERS}
        object.__setattr__(self, "url", url or self.completions_url)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "timeout", http.timeout.as_dict())

    def request_headers(self, inference_class: str | None) -> Mapping[str, str]:
        """One request's headers: the client's under the endpoint's."""
        own = self.endpoint.request_headers(inference_class=inference_class)
        if not self.headers:
            return own
        merged = httpx.Headers(self.headers)
        merged.update(own)  # case-insensitive: the endpoint's win
        return merged


def _may_open_thought(
    chat_ctx: llm.ChatContext, thinking: bool | None, traits: ServerTraits
) -> bool:
    """Whether Gemma 4's chat template may have opened a thought at the end of the prompt.

    It does so after a tool result while thinking is on. ``thinking`` is what the request as
    sent says (:func:`~.request.thinking_on`: the fields actually sent to this endpoint, then
    the engine's own default), so a field the endpoint never receives (``reasoning_effort``
    for Gemma 4 on LiveKit Inference) switches nothing on. Evidence wins over what was asked:
    once this server has sent raw thought markers, thinking is on there. Anywhere else the
    whole answer would be held back.
    """
    items = chat_ctx.items
    if not items or items[-1].type != "function_call_output":
        return False
    return thinking is True or traits.raw_thought


_DONE, _CUT, _SPENT = "done", "cut", "spent"
"""How a response's reading ended: the reply is complete; stopped in a thought at
``max_thinking_time``; the thought used up the token limit with nothing said."""


class _Deadline:
    """``max_thinking_time`` for one turn: past it, a thought still under way is ended, once,
    by the engine's means (:attr:`Backend.ends_thought`): llama-server's control request (the
    answer follows in the same response), or the response is cut for a second request."""

    __slots__ = (
        "_cut",
        "_parser",
        "_stream",
        "_timer",
        "at",
        "cutting",
        "means",
        "past",
        "reached",
        "task",
    )

    def __init__(self, stream: LLMStream, means: ThoughtEnd, at: float) -> None:
        self._stream = stream
        self.means = means
        self.at = at
        """Loop time of the deadline."""
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
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, parser: ChunkParser, cut: asyncio.Timeout) -> None:
        """Watch one response: ``cut`` stops its reading."""
        self._parser, self._cut = parser, cut
        self.cutting = False
        self._timer = asyncio.get_running_loop().call_at(self.at, self._due)

    def _due(self) -> None:
        self.past = True
        self.check()

    def check(self) -> None:
        """At the deadline and after: a thought under way is ended (a reply that has not
        begun, or whose answer has, is left alone)."""
        parser = self._parser
        if self.reached or parser is None or not parser.thinking:
            return
        completion_id = parser.server_id
        if self.means == "control" and completion_id is None:
            return  # the control request names the completion: wait for its id
        self.reached = True
        self._stream._thought_stopped("max_thinking_time")
        if self.means == "control" and completion_id is not None:
            self.task = asyncio.create_task(self._control(completion_id))
        else:
            self._stop_reading()

    def _stop_reading(self) -> None:
        if self._cut is not None:
            self.cutting = True
            self._cut.reschedule(asyncio.get_running_loop().time())

    async def _control(self, completion_id: str) -> None:
        stream = self._stream
        wire, plan = stream._wire, stream._plan
        why = await thinking.end_reasoning(
            wire.http,
            wire.endpoint.base_url,
            wire.request_headers(plan.inference_class),
            completion_id=completion_id,
            model=plan.model.id,
        )
        if why is None:
            return
        logger.warning(
            "max_thinking_time: %s; continuing from the thought in a new request",
            wire.endpoint.scrub(why),
            extra={"model": plan.model.id},
        )
        if self._parser is not None and self._parser.thinking:
            self._stop_reading()

    def stop(self) -> None:
        """The response's reading is over: nothing more is cut."""
        if self._timer is not None:
            self._timer.cancel()
        self._cut = self._parser = self._timer = None

    async def close(self) -> None:
        """The turn is over: a control request still in flight is abandoned."""
        self.stop()
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


@dataclasses.dataclass(frozen=True)
class _Fault:
    """A status the server answered with (4xx/5xx/3xx) or named in an error event."""

    status: int
    headers: Mapping[str, str]
    body: object
    reason: str = ""
    request_id: str | None = None


class _HTTPStatus(Exception):
    """A response that is not 2xx; its body read up to ``faults.ERROR_BODY_LIMIT`` bytes."""

    def __init__(self, fault: _Fault) -> None:
        self.fault = fault

    @classmethod
    async def read(cls, response: httpx.Response) -> _HTTPStatus:
        content, truncated = await read_capped(response, faults.ERROR_BODY_LIMIT)
        return cls(
            _Fault(
                status=response.status_code,
                headers=response.headers,
                body=faults.read_body(content, truncated=truncated),
                reason=response.reason_phrase,
                request_id=response.headers.get("x-request-id"),
            )
        )


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
        self._sent = 0.0  # loop time the turn's request was sent
        self._thought_end: float | None = None
        self.thinking_time: float | None = None
        """Seconds from sending the request to the end of the thought before the first word
        (where the model ended it, or where ``max_thinking_time`` or the token limit did);
        ``None`` when no thought came before it."""
        self.thought_ended_by: Literal["max_thinking_time", "token_limit"] | None = None
        """What ended the thought, when the model did not: the deadline, or a thought that used
        up the token limit (then the answer came from a second request)."""

    def _status_error(self, e: _Fault, emitted: bool) -> tuple[APIError, float]:
        """The framework error for a status, and how long to wait before it is raised."""
        endpoint = self._wire.endpoint
        # a server may echo the request, token and key included, in any of its words
        request_id = endpoint.scrub(faults.clip(e.request_id, 200)) if e.request_id else None
        if e.status == 429:
            figures = {k: endpoint.scrub(v) for k, v in faults.quota(e.headers).items()}
            logger.warning(
                "rate limited (429) %s",
                " ".join(f"{k}={v}" for k, v in figures.items()) or "(no quota headers)",
                extra={"model": self._plan.model.id, "request_id": request_id, **figures},
            )
        verdict = faults.judge_status(
            e.status,
            e.headers,
            e.body,
            reason=e.reason,
            emitted=emitted,
            budget=self._conn_options.timeout,
            retries_left=self._attempt <= self._conn_options.max_retry,
            credential_hint=self._wire.endpoint.credential_hint,
        )
        message = endpoint.scrub(verdict.message)
        if verdict.connection_error:
            return APIConnectionError(message, retryable=verdict.retryable), verdict.wait
        error = APIStatusError(
            message,
            status_code=e.status,
            request_id=request_id,
            body=endpoint.scrub_body(e.body),
            retryable=verdict.retryable,
        )
        return error, verdict.wait

    def _new_parser(self) -> ChunkParser:
        model = self._plan.model
        return ChunkParser(
            model.unspoken,
            gemma4=model.family_key == "gemma-4",
            estimate_usage=True,  # only when the server streams no usage (llama-cpp-python)
        )

    def _request(self, backend: Backend, parser: ChunkParser) -> dict[str, Any]:
        """The request body; tells ``parser`` what the request implies for the reply."""
        plan, wire = self._plan, self._wire
        model = plan.model
        if not plan.backend_checked:  # a detected profile's refusals: before anything is sent
            backend.check(plan.params, family=model.family_key, has_tools=bool(self._tools))
            if wire.endpoint.known_backend() is backend:
                # a detected profile; an undecided detection's stand-in for one request must
                # not turn a server that is down or loading into a ValueError
                check_thinking_time(plan.max_thinking_time, backend)
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
        thinking = thinking_on(fields, backend)
        if thinking and backend.ends_thought is not None:
            # a thought that runs out of time or tokens can still end in an answer
            parser.keep_thought()
            if backend.ends_thought == "control" and plan.max_thinking_time is not None:
                body.setdefault("reasoning_control", True)  # arms the control endpoint
        opened = model.opens_thought or wire.traits.opens_thought
        parser.start(
            in_thought=model.family_key == "gemma-4"
            and _may_open_thought(self._chat_ctx, thinking, wire.traits),
            opened_thought=GENERIC_THINKING[0] if opened else None,
            schemas=schemas,
        )
        return body

    async def _send(self, body: Mapping[str, Any]) -> httpx.Response:
        """Send a completion request; a response that is not 2xx is raised as ``_HTTPStatus``."""
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
        # a redirect is never followed (it could carry the credentials elsewhere)
        try:
            try:
                response = await wire.http.send(request, stream=True, follow_redirects=False)
            except httpx.RemoteProtocolError as e:
                if not idle_closed(e, connection):
                    raise  # a malformed response: a fault the framework's retries judge
                # nothing was read, nothing was said: once more at once, on a fresh
                # connection, rather than a framework retry seconds later (or none)
                response = await wire.http.send(request, stream=True, follow_redirects=False)
        finally:
            # what was sent, the client's auth included: a server may echo any of it
            wire.endpoint.remember_sent(request)
        if not 200 <= response.status_code < 300:
            try:
                raise await _HTTPStatus.read(response)
            finally:
                await response.aclose()
        return response

    def _budget_refused(
        self, e: _HTTPStatus | StreamError, backend: Backend, body: Mapping[str, Any]
    ) -> bool:
        """The server refused the thinking-token budget the plugin added (vLLM without a
        ``--reasoning-parser``: a 400, in an error event when streaming): it is left out
        from now on."""
        name = backend.budget_field
        status, said = (
            (e.fault.status, e.fault.body)
            if isinstance(e, _HTTPStatus)
            else (e.status_code, e.body)
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
        watch: _Deadline | None,
        *,
        may_continue: bool,
    ) -> str:
        """Stream one response's chunks to the caller: ``_DONE`` when the reply is complete;
        ``_CUT`` when ``watch`` stopped it in a thought; ``_SPENT`` when the thought used up
        the token limit with nothing said and ``may_continue``."""
        send = self._event_ch.send_nowait
        waiting = not parser.emitted
        drained = False
        try:
            events = CompletionEvents(response, idle=self._conn_options.timeout)
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
                            send(chunk)
                        if waiting and parser.emitted:
                            # the first word is out: a slow but steady reply is never cut
                            first_word.reschedule(None)
                            waiting = False
                            self._first_word(parser)
                        elif watch is not None and watch.past:
                            watch.check()
            except TimeoutError:
                if not cut.expired():
                    raise
                return _CUT
            finally:
                if watch is not None:
                    watch.stop()  # the reading is over: nothing more to cut
            if watch is not None and watch.cutting:
                return _CUT
            if not events.done and not parser.finished:
                raise StreamError("the stream ended before the completion finished")
            try:
                tail = parser.finish()
            except EmptyCompletion:
                if may_continue and parser.finish_reason == "length" and parser.thought_seen:
                    return _SPENT
                raise
            first_word.reschedule(None)
            for chunk in tail:
                send(chunk)
            if waiting and parser.emitted:
                self._first_word(parser)
            if events.done:
                # the turn ends here; the body's end is read in the background, so that the
                # connection is kept (a relay that keeps the body open delays no turn)
                self._wire.drains.start(events, response)
                drained = True
            return _DONE
        finally:
            if parser.raw_thought_seen:
                self._wire.traits.raw_thought = True
            if parser.opened_thought_seen:
                self._wire.traits.opens_thought = True
            if not drained:
                await response.aclose()

    def _first_word(self, parser: ChunkParser) -> None:
        """The first word (or tool call) is out: how long the thought before it ran."""
        if self._thought_end is not None:
            self.thinking_time = self._thought_end - self._sent
        elif parser.thought_seen:
            self.thinking_time = asyncio.get_running_loop().time() - self._sent

    def _thought_stopped(self, by: Literal["max_thinking_time", "token_limit"]) -> None:
        """The thought was ended here (``by``: ``max_thinking_time`` or ``token_limit``)."""
        now = asyncio.get_running_loop().time()
        self._thought_end = now
        self.thought_ended_by = by
        if by == "max_thinking_time":
            logger.info(
                "thought ran %.2f s: max_thinking_time=%gs reached, ending it",
                now - self._sent,
                self._plan.max_thinking_time,
                extra={"model": self._plan.model.id, "thinking_time": now - self._sent},
            )

    async def _follow_on(
        self, backend: Backend, body: Mapping[str, Any], parser: ChunkParser
    ) -> tuple[dict[str, Any], bool]:
        """The second request of a turn whose thought was stopped: the thought given back to
        continue from where the engine renders it, else the question asked with thinking off."""
        wire, plan = self._wire, self._plan
        thought = parser.thought()
        way = backend.continuation
        # a prefill of the user's own (continue_final_message) is continued as it is
        given_back = bool(thought) and way is not None and not plan.params.continue_final_message
        if given_back and way is not None and way.probe:
            if wire.traits.continuation_renders is None:
                wire.traits.continuation_renders = await thinking.renders(
                    wire.http,
                    wire.endpoint.base_url,
                    wire.request_headers(plan.inference_class),
                    model=plan.model.id,
                    way=way,
                )
                if not wire.traits.continuation_renders:
                    logger.info(
                        "%s's chat template drops a thought given back: a thought stopped "
                        "there is followed by asking again with thinking off",
                        wire.endpoint.base_url,
                    )
            given_back = wire.traits.continuation_renders
        follow = thinking.continuation(
            body, backend, thought=thought, family=plan.model.family_key, given_back=given_back
        )
        return follow, given_back

    async def _run(self) -> None:
        self._attempt += 1
        wire, plan = self._wire, self._plan
        parser = self._new_parser()
        deadline = plan.first_token_timeout
        headers: Mapping[str, str] = {}
        loop = asyncio.get_running_loop()
        watch: _Deadline | None = None
        failure: tuple[APIError, float, BaseException | None] | None = None
        self.thinking_time = self._thought_end = self.thought_ended_by = None
        try:
            if wire.http.is_closed:
                # the framework reports an APIError (a FallbackAdapter moves on); the pool's
                # own RuntimeError would escape as a crash of the stream's task
                raise APIConnectionError(
                    f"{type(self._llm).__name__} for {wire.endpoint.base_url} is closed "
                    "(aclose() was called, or the http_client given was closed)",
                    retryable=False,
                )
            async with asyncio.timeout(deadline) as first_word:
                backend = await wire.endpoint.backend(wire.http)
                body = self._request(backend, parser)
                self._sent = loop.time()
                means, limit = backend.ends_thought, plan.max_thinking_time
                if means is not None and limit is not None and thinking_on(body, backend):
                    watch = _Deadline(self, means, self._sent + limit)
                may_continue = backend.ends_thought is not None
                for resend in (False, True):
                    if resend:  # without the budget the server refused; nothing was said
                        parser = self._new_parser()
                        body = self._request(backend, parser)
                    try:
                        response = await self._send(body)
                        headers = response.headers
                        outcome = await self._read(
                            response, parser, first_word, watch, may_continue=may_continue
                        )
                        break
                    except (_HTTPStatus, StreamError) as e:
                        if resend or parser.emitted or not self._budget_refused(e, backend, body):
                            raise
                if outcome != _DONE:
                    if outcome == _SPENT:
                        self._thought_stopped("token_limit")
                    follow, given_back = await self._follow_on(backend, body, parser)
                    # nothing was said: the continuation's parser is the one errors ask
                    parser = parser.follow_on(given_back=given_back)
                    response = await self._send(follow)
                    headers = response.headers
                    await self._read(response, parser, first_word, None, may_continue=False)
                if self.thinking_time is not None:
                    logger.debug(
                        "thought %.2f s before the first word%s",
                        self.thinking_time,
                        f" (ended by {self.thought_ended_by})" if self.thought_ended_by else "",
                        extra={"model": plan.model.id, "thinking_time": self.thinking_time},
                    )
        # a failure is raised below, out of its except block: what was caught (a server's text,
        # unscrubbed) is then neither the error's __cause__ nor its __context__
        except _HTTPStatus as e:
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
                scrub=wire.endpoint.scrub,
            )
            failure = (error, 0.0, cause)
        except EmptyCompletion as e:
            if (usage := parser.spent()) is not None:
                # spent all the same, and the framework reports no failed attempt's usage
                spent.report(
                    self._llm, usage, request_id=parser.id, duration=loop.time() - self._sent
                )
            # nothing was said: a retry (or the FallbackAdapter) can still give an answer
            failure = (APIError(wire.endpoint.scrub(e.message), retryable=True), 0.0, None)
        except StreamError as e:
            retryable = e.retryable and not parser.emitted
            if e.status_code is not None:
                # an error event naming a status: the same rules as the HTTP status
                fault = _Fault(e.status_code, headers, e.body, request_id=None)
                failure = (*self._status_error(fault, not retryable), None)
            else:
                # scrubbed: an error event may echo the request
                error = APIConnectionError(wire.endpoint.scrub(e.message), retryable=retryable)
                failure = (error, 0.0, None)
        except RecursionError:
            # a chunk nested past Python's depth (json.loads is caught in decode_event;
            # this is its re-encoding in the chunk parser)
            raise APIConnectionError(
                "malformed stream event (nested too deeply)", retryable=not parser.emitted
            ) from None
        finally:
            if watch is not None:
                await watch.close()
        if failure is not None:
            error, wait, cause = failure
            if wait:
                # the server named its wait and it fits the budget: the retry honours it
                await asyncio.sleep(wait)
            raise error from cause
