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
from typing import Any

import httpx2 as httpx
from livekit.agents import APIConnectionError, APIError, APIStatusError, APITimeoutError, llm
from livekit.agents.types import APIConnectOptions

from . import faults
from .backends import Backend
from .endpoints import Endpoint
from .log import logger
from .messages import provider_messages, tool_schemas
from .models import GENERIC_THINKING, ModelInfo
from .params import ModelParams
from .parsing import ChunkParser, EmptyCompletion
from .request import build_request, sends_tools, thinking_on
from .sse import CompletionEvents, StreamError, read_capped

CONNECT_TIMEOUT = 15.0
"""Seconds to open a connection (the per-read timeout is ``conn_options.timeout``)."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything one ``chat()`` needs, fixed when it is called."""

    model: ModelInfo
    params: ModelParams
    strict_tool_schema: bool
    first_token_timeout: float | None
    response_format: dict[str, Any] | None
    inference_class: str | None
    backend_checked: bool
    """The parameters were checked against the backend when ``chat()`` was called."""


@dataclasses.dataclass
class ServerTraits:
    """What an LLM's streams have learned about the server's output, for the next ones."""

    raw_thought: bool = False
    """Gemma 4 thought markers arrived in ``content``: the server does not parse them and
    thinking is on, so after a tool result the template may have opened a thought."""
    opens_thought: bool = False
    """A reply began inside a thought (an end marker with no start): this server's template
    opens one at the end of the prompt, so later replies start inside it."""
    images_dropped: bool = False
    """Image parts were left out for a text-only model (warned once per LLM)."""


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


_DRAIN_TIMEOUT = 1.0


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


_TRANSPORT_ERRORS: tuple[tuple[type[httpx.RequestError], type[APIError], str], ...] = (
    # the first row that matches wins: the more specific exceptions come first
    (
        httpx.ConnectTimeout,
        APIConnectionError,
        "connection to {url} not established within {connect}s",
    ),
    (httpx.PoolTimeout, APITimeoutError, "no free connection to {url} within {pool}s"),
    (httpx.TimeoutException, APITimeoutError, "no response from {url} within {read}s"),
    (httpx.DecodingError, APIConnectionError, "undecodable response from {url}: {error}"),
    (httpx.RequestError, APIConnectionError, "connection to {url} failed: {name}"),
)
"""httpx's exceptions as the framework's: (httpx class, framework class, message)."""


def _transport_error(
    e: httpx.RequestError, *, url: str, timeout: Mapping[str, float | None], retryable: bool
) -> APIError:
    """The framework's error for a transport failure, from :data:`_TRANSPORT_ERRORS`."""
    api_error, template = next((a, t) for k, a, t in _TRANSPORT_ERRORS if isinstance(e, k))
    text = template.format(
        url=url,
        name=type(e).__name__,
        error=faults.clip(str(e), 200),
        **{k: f"{v:g}" if v is not None else "unlimited" for k, v in timeout.items()},
    )
    return api_error(text, retryable=retryable)


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

    def _status_error(self, e: _Fault, emitted: bool) -> tuple[APIError, float]:
        """The framework error for a status, and how long to wait before it is raised."""
        if e.status == 429:
            figures = faults.quota(e.headers)
            logger.warning(
                "rate limited (429) %s",
                " ".join(f"{k}={v}" for k, v in figures.items()) or "(no quota headers)",
                extra={"model": self._plan.model.id, "request_id": e.request_id, **figures},
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
        # scrubbed: a server may echo the request, token and key included
        message = self._wire.endpoint.scrub(verdict.message)
        if verdict.connection_error:
            return APIConnectionError(message, retryable=verdict.retryable), verdict.wait
        error = APIStatusError(
            message,
            status_code=e.status,
            request_id=e.request_id,
            body=self._wire.endpoint.scrub_body(e.body),
            retryable=verdict.retryable,
        )
        return error, verdict.wait

    def _body(self, backend: Backend, parser: ChunkParser) -> bytes:
        """The request body; tells ``parser`` what the request implies for the reply."""
        plan, wire = self._plan, self._wire
        model = plan.model
        if not plan.backend_checked:  # a detected profile's refusals: before anything is sent
            backend.check(plan.params, family=model.family_key, has_tools=bool(self._tools))
        tools = sends_tools(plan.params, backend=backend, has_tools=bool(self._tools))
        fields = build_request(plan.params, model=model, backend=backend, has_tools=tools)
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
        opened = model.opens_thought or wire.traits.opens_thought
        parser.start(
            in_thought=model.family_key == "gemma-4"
            and _may_open_thought(self._chat_ctx, thinking_on(fields, backend), wire.traits),
            opened_thought=GENERIC_THINKING[0] if opened else None,
            schemas=schemas,
        )
        # "replace": a lone surrogate in the context (a broken emoji escape in a tool's
        # output) would otherwise raise UnicodeEncodeError out of the stream
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "replace"
        )

    async def _run(self) -> None:
        self._attempt += 1
        wire, plan = self._wire, self._plan
        parser = ChunkParser(
            plan.model.unspoken,
            gemma4=plan.model.family_key == "gemma-4",
            estimate_usage=True,  # only when the server streams no usage (llama-cpp-python)
        )
        send = self._event_ch.send_nowait
        deadline = plan.first_token_timeout
        headers: Mapping[str, str] = {}
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
                content = self._body(backend, parser)
                # a Request built directly: the client's per-request merging of URL, headers
                # and cookies costs more than the rest of the request set-up together (the
                # client's defaults are merged once, in Wire)
                request = httpx.Request(
                    "POST",
                    wire.url,
                    content=content,
                    headers=wire.request_headers(plan.inference_class),
                    extensions={"timeout": self._timeout},
                )
                # a redirect is never followed (it could carry the credentials elsewhere)
                try:
                    response = await wire.http.send(request, stream=True, follow_redirects=False)
                except httpx.RemoteProtocolError:
                    # the server closed a kept-alive connection as it was reused (llama-server
                    # drops idle ones after 5 s): no response was read, nothing was said, so
                    # send once more at once, on a fresh connection, instead of a framework
                    # retry seconds later
                    response = await wire.http.send(request, stream=True, follow_redirects=False)
                try:
                    headers = response.headers
                    if not 200 <= response.status_code < 300:
                        raise await _HTTPStatus.read(response)
                    events = CompletionEvents(response)
                    waiting = deadline is not None
                    async for obj in events.objects():
                        for chunk in parser.feed(obj):
                            send(chunk)
                        if waiting and parser.emitted:
                            # the first word is out: a slow but steady reply is never cut
                            first_word.reschedule(None)
                            waiting = False
                    if not events.done and not parser.finished:
                        raise StreamError("the stream ended before the completion finished")
                    first_word.reschedule(None)
                    for chunk in parser.finish():
                        send(chunk)
                    if events.done:
                        # bounded: a server that keeps the body open costs the connection only
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(_DRAIN_TIMEOUT):
                                await events.drain()
                finally:
                    if parser.raw_thought_seen:
                        wire.traits.raw_thought = True
                    if parser.opened_thought_seen:
                        wire.traits.opens_thought = True
                    await response.aclose()
        except _HTTPStatus as e:
            error, wait = self._status_error(e.fault, parser.emitted)
            if wait:
                # the server named its wait and it fits the budget: the retry honours it
                await asyncio.sleep(wait)
            raise error from None
        except TimeoutError as e:
            # only the first-word deadline raises this (httpx raises its own timeouts)
            raise APITimeoutError(
                f"nothing speakable from {wire.endpoint.base_url} within {deadline}s "
                "(first_token_timeout)",
                retryable=not parser.emitted,
            ) from e
        except httpx.RequestError as e:
            error = _transport_error(
                e, url=wire.endpoint.base_url, timeout=self._timeout, retryable=not parser.emitted
            )
            if isinstance(e, httpx.LocalProtocolError):
                # its text quotes the request's bytes (an illegal header: the key itself), and
                # the framework's APIConnectionError repeats the cause's text
                raise error from None
            raise error from e
        except EmptyCompletion as e:
            # nothing was said: a retry (or the FallbackAdapter) can still give an answer
            raise APIError(e.message, retryable=True) from None
        except StreamError as e:
            retryable = e.retryable and not parser.emitted
            if e.status_code is not None:
                # an error event naming a status: the same rules as the HTTP status
                fault = _Fault(e.status_code, headers, e.body, request_id=None)
                error, wait = self._status_error(fault, not retryable)
                if wait:
                    await asyncio.sleep(wait)
                raise error from None
            # scrubbed: an error event may echo the request
            raise APIConnectionError(wire.endpoint.scrub(e.message), retryable=retryable) from None
        except RecursionError:
            # a chunk nested past Python's depth (json.loads is caught in decode_event;
            # this is its re-encoding in the chunk parser)
            raise APIConnectionError(
                "malformed stream event (nested too deeply)", retryable=not parser.emitted
            ) from None
