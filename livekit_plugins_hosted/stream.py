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
from collections.abc import AsyncIterator
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
from .parsing import ChunkParser, EmptyCompletion, SSEDecoder, StreamError, decode_event
from .request import build_request, sends_tools, thinking_on

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


@dataclasses.dataclass(frozen=True)
class Wire:
    """How an LLM's streams reach the server: the endpoint and the connection pool."""

    endpoint: Endpoint
    http: httpx.AsyncClient
    completions_url: httpx.URL
    traits: ServerTraits = dataclasses.field(default_factory=ServerTraits)


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


async def _drain(lines: AsyncIterator[str]) -> None:
    """Read what follows ``[DONE]`` (normally nothing) so the connection can be reused.

    The reply is complete by then; a server that keeps the body open only costs the connection.
    """
    with contextlib.suppress(TimeoutError, httpx.RequestError):
        async with asyncio.timeout(_DRAIN_TIMEOUT):
            async for _ in lines:
                pass


class _HTTPStatus(Exception):
    """A 4xx/5xx response, read whole."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self.reason = response.reason_phrase
        self.body = faults.read_body(response.content)
        self.request_id = response.headers.get("x-request-id")


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
        self._timeout = httpx.Timeout(conn_options.timeout, connect=CONNECT_TIMEOUT).as_dict()
        self._attempt = 0

    def _status_error(self, e: _HTTPStatus, emitted: bool) -> tuple[APIStatusError, float]:
        """The framework error for a 4xx/5xx, and how long to wait before it is raised."""
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
        error = APIStatusError(  # scrubbed: a server may echo the request, token and key included
            self._wire.endpoint.scrub(verdict.message),
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
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

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
        try:
            async with asyncio.timeout(deadline) as first_word:
                backend = await wire.endpoint.backend(wire.http)
                content = self._body(backend, parser)
                # a Request built directly: the client's per-request merging of URL, headers
                # and cookies costs more than the rest of the request set-up together
                request = httpx.Request(
                    "POST",
                    wire.completions_url,
                    content=content,
                    headers=wire.endpoint.request_headers(inference_class=plan.inference_class),
                    extensions={"timeout": self._timeout},
                )
                response = await wire.http.send(request, stream=True)
                try:
                    if not 200 <= response.status_code < 300:
                        # a redirect is not followed (it could carry the token elsewhere)
                        await response.aread()
                        raise _HTTPStatus(response)
                    decoder = SSEDecoder()
                    done = False
                    waiting = deadline is not None
                    lines = response.aiter_lines()
                    async for line in lines:
                        event = decoder.feed(line)
                        if event is None:
                            continue
                        obj = decode_event(*event)
                        if obj is None:
                            done = True
                            break
                        for chunk in parser.feed(obj):
                            send(chunk)
                        if waiting and parser.emitted:
                            # the first word is out: a slow but steady reply is never cut
                            first_word.reschedule(None)
                            waiting = False
                    if not done and (event := decoder.flush()) is not None:
                        obj = decode_event(*event)
                        done = obj is None
                        if obj is not None:
                            for chunk in parser.feed(obj):
                                send(chunk)
                    if not done and not parser.finished:
                        raise StreamError("the stream ended before the completion finished")
                    first_word.reschedule(None)
                    for chunk in parser.finish():
                        send(chunk)
                    if done:
                        await _drain(lines)
                finally:
                    if parser.raw_thought_seen:
                        wire.traits.raw_thought = True
                    if parser.opened_thought_seen:
                        wire.traits.opens_thought = True
                    await response.aclose()
        except _HTTPStatus as e:
            error, wait = self._status_error(e, parser.emitted)
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
        except httpx.ConnectTimeout as e:
            raise APIConnectionError(
                f"connection to {wire.endpoint.base_url} not established within "
                f"{CONNECT_TIMEOUT:g}s",
                retryable=not parser.emitted,
            ) from e
        except httpx.TimeoutException as e:
            raise APITimeoutError(
                f"no response from {wire.endpoint.base_url} within {self._conn_options.timeout}s",
                retryable=not parser.emitted,
            ) from e
        except httpx.RequestError as e:
            raise APIConnectionError(
                f"connection to {wire.endpoint.base_url} failed: {type(e).__name__}",
                retryable=not parser.emitted,
            ) from e
        except EmptyCompletion as e:
            # nothing was said: a retry (or the FallbackAdapter) can still give an answer
            raise APIError(e.message, retryable=True) from None
        except StreamError as e:
            if e.status_code is not None:
                raise APIStatusError(
                    e.message, status_code=e.status_code, body=e.body, retryable=not parser.emitted
                ) from None
            raise APIConnectionError(e.message, retryable=not parser.emitted) from None
