"""``LLM`` and ``LLMStream``: the I/O around the parameter model and the stream parser.

Exceptions reaching the caller (the framework's family, from ``livekit.agents``)::

    ValueError                bad parameters or missing credentials; raised before any request
    APIError
     ├── APIStatusError       the server answered 4xx/5xx (4xx other than 408/429 not retried),
     │                        or sent an error event inside the stream
     ├── APITimeoutError      no byte for ``conn_options.timeout`` seconds
     └── APIConnectionError   refused, reset, or the stream ended before the completion did

Every ``APIError`` raised after any text or tool call reached the caller has
``retryable=False``: a retry then would make the agent say it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

import httpx2 as httpx
import openai
from livekit.agents import APIConnectionError, APIError, APIStatusError, APITimeoutError, llm
from livekit.agents.llm import ToolChoice
from livekit.agents.llm import utils as llm_utils
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)
from livekit.agents.utils import is_given

from . import auth, faults
from .backends import LIVEKIT, Backend, get_backend
from .log import logger
from .models import HostedModels, ModelInfo, get_model
from .params import ModelParams, build_request, merge, validate
from .parsing import ChunkParser, SSEDecoder, StreamError, decode_event

_CONNECT_TIMEOUT = 15.0
# A LiveKit job runs in a process of its own, so one LLM rarely has more than a few streams at
# once. Beyond 50, streams queue for a connection instead of all slowing down together: under
# a loopback overload (200 at once) that halves the slowest first word.
_POOL = httpx.Limits(max_connections=50, max_keepalive_connections=50, keepalive_expiry=120)


@dataclasses.dataclass
class _Options:
    model: str
    info: ModelInfo
    params: ModelParams
    backend: Backend
    provider: str | None
    strict_tool_schema: bool


class LLM(llm.LLM[Literal["metrics_collected", "error"]]):
    """An open-weight model on LiveKit Inference, or on any OpenAI-compatible server.

    ``LLM(model=...)`` talks to LiveKit Inference with a token signed from the LiveKit API key
    and secret; :meth:`self_hosted` talks to a server of your own.
    """

    def __init__(
        self,
        model: HostedModels | str,
        *,
        provider: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        extra_kwargs: Mapping[str, Any] | None = None,
        strict_tool_schema: bool = False,
        client: openai.AsyncClient | None = None,
    ) -> None:
        """Use ``model`` on LiveKit Inference.

        Args:
            model: a model id, e.g. ``"google/gemma-4-31b-it"``.
            provider: ask the gateway for a specific provider (``X-LiveKit-Inference-Provider``).
            base_url: the gateway; default ``LIVEKIT_INFERENCE_URL`` or LiveKit Cloud's.
            api_key, api_secret: default ``LIVEKIT_INFERENCE_API_KEY/SECRET``, then
                ``LIVEKIT_API_KEY/SECRET``; missing raises ``ValueError`` naming them.
            extra_kwargs: model parameters, names as in the parameter reference; validated now.
            strict_tool_schema: send tool schemas in OpenAI's strict form (some open-weight
                servers reject it, so it is off by default).
            client: an ``openai.AsyncClient`` to use; it is never closed by this object.
        """
        super().__init__()
        url = auth.gateway_url(base_url)
        if client is not None:
            # requests go where the client points; the token must not go anywhere else
            client_url = str(client.base_url).rstrip("/")
            if base_url and base_url.rstrip("/") != client_url:
                raise ValueError(
                    f"base_url {base_url!r} differs from the client's base_url {client_url!r}; "
                    "pass one of them"
                )
            url = client_url
        auth.check_secure_url(url)
        key, secret = auth.resolve_credentials(api_key, api_secret)
        self._token: auth.InferenceToken | None = auth.InferenceToken(key, secret)
        self._credential_hint = (
            f" (check the LiveKit API key {key!r} and its secret: api_key/api_secret, or "
            "LIVEKIT_INFERENCE_API_KEY/LIVEKIT_INFERENCE_API_SECRET, or "
            "LIVEKIT_API_KEY/LIVEKIT_API_SECRET)"
        )
        headers = {"User-Agent": auth.USER_AGENT}
        if provider:
            headers[auth.HEADER_PROVIDER] = provider
        self._setup(
            model=model,
            base_url=url,
            api_key=None,  # every request carries the signed token (an injected client too)
            headers=headers,
            backend=LIVEKIT,
            provider=provider,
            extra_kwargs=extra_kwargs,
            strict_tool_schema=strict_tool_schema,
            client=client,
        )

    @classmethod
    def self_hosted(
        cls,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        extra_kwargs: Mapping[str, Any] | None = None,
        backend: str = "openai-compatible",
        strict_tool_schema: bool = False,
        client: openai.AsyncClient | None = None,
    ) -> LLM:
        """Use ``model`` on any OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama).

        Args:
            model: the id the server knows the model by.
            base_url: the server's OpenAI API root, e.g. ``"http://127.0.0.1:8080/v1"``.
            api_key: a plain bearer key, or ``None`` to send no ``Authorization`` header.
            extra_kwargs: model parameters, validated now and checked against ``backend``.
            backend: which engine serves ``base_url``, so that every parameter is sent in the
                form it honours or refused before sending (see the README's engine table).
        """
        self = cls.__new__(cls)
        llm.LLM.__init__(self)
        self._token = None
        self._credential_hint = " (check the api_key given to LLM.self_hosted)"
        self._setup(
            model=model,
            base_url=base_url,
            api_key=api_key,
            headers={"User-Agent": auth.USER_AGENT},
            backend=get_backend(backend),
            provider=None,
            extra_kwargs=extra_kwargs,
            strict_tool_schema=strict_tool_schema,
            client=client,
        )
        return self

    def _setup(
        self,
        *,
        model: str,
        base_url: str,
        api_key: Any,
        headers: dict[str, str],
        backend: Backend,
        provider: str | None,
        extra_kwargs: Mapping[str, Any] | None,
        strict_tool_schema: bool,
        client: openai.AsyncClient | None,
    ) -> None:
        if not model or not isinstance(model, str):
            raise ValueError(f"model must be a non-empty string, got {model!r}")
        params = validate(extra_kwargs)
        backend.check(params)
        info = get_model(model)
        self._opts = _Options(
            model=model,
            info=info,
            params=params,
            backend=backend,
            provider=provider,
            strict_tool_schema=strict_tool_schema,
        )
        self._warn_dropped()
        self._base_url = base_url
        self._owns_client = client is None
        if client is None:
            client = openai.AsyncClient(
                api_key=api_key or "unused",  # the SDK insists on one; see the headers below
                base_url=base_url,
                max_retries=0,  # the framework owns retries
                http_client=httpx.AsyncClient(
                    timeout=httpx.Timeout(
                        DEFAULT_API_CONNECT_OPTIONS.timeout, connect=_CONNECT_TIMEOUT
                    ),
                    limits=_POOL,
                ),
            )
        else:
            self._base_url = str(client.base_url).rstrip("/")
            if api_key is None:
                api_key = client.api_key  # a self-hosted client brings its own key
        self._client = client
        # Completions go out through the client's own connection pool and come back through
        # its status-error mapping, but skip the SDK's per-request machinery (a transform of
        # every message, option merging): that is most of the time before the first word.
        self._http = client._client
        root = str(client.base_url).rstrip("/")
        self._completions_url = httpx.URL(f"{root}/chat/completions")  # parsed once
        self._models_url = f"{root}/models"
        # the client's own default headers, without the SDK's per-platform telemetry ones
        static = {
            k: v
            for k, v in client.default_headers.items()
            if isinstance(v, str) and not k.lower().startswith("x-stainless")
        }
        static.update(headers)
        static["Accept"] = "text/event-stream"
        if api_key and self._token is None:
            static["Authorization"] = f"Bearer {api_key}"
        self._headers = static

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model={self._opts.model!r}, base_url={self._base_url!r}, "
            f"backend={self._opts.backend.name!r}, provider={self._opts.provider!r})"
        )

    @property
    def model(self) -> str:
        """The model id requests are sent for."""
        return self._opts.model

    @property
    def provider(self) -> str:
        """``"livekit"`` on LiveKit Inference, else the self-hosted backend's name."""
        return "livekit" if self._token is not None else self._opts.backend.name

    @property
    def base_url(self) -> str:
        """The server's OpenAI API root."""
        return self._base_url

    @property
    def extra_kwargs(self) -> dict[str, Any]:
        """The persistent model parameters, as given (a copy)."""
        return self._opts.params.given()

    def update_options(
        self,
        *,
        model: NotGivenOr[HostedModels | str] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[Mapping[str, Any]] = NOT_GIVEN,
    ) -> None:
        """Change the model and/or replace the persistent parameters (validated first).

        ``extra_kwargs`` replaces the persistent dict; pass ``{}`` to clear it. Takes effect on
        the next ``chat()``.
        """
        opts = self._opts
        if is_given(model) and (not model or not isinstance(model, str)):
            raise ValueError(f"model must be a non-empty string, got {model!r}")
        params = validate(extra_kwargs) if is_given(extra_kwargs) else opts.params
        opts.backend.check(params)
        if is_given(model):
            opts.model, opts.info = model, get_model(model)
        opts.params = params
        self._warn_dropped()

    def _warn_dropped(self) -> None:
        dropped = sorted(n for n in self._opts.params.given() if self._opts.info.drops(n))
        if dropped:
            logger.warning(
                "model %s does not support %s; they will not be sent",
                self._opts.model,
                ", ".join(dropped),
            )

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[ToolChoice] = NOT_GIVEN,
        response_format: NotGivenOr[Any] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[Mapping[str, Any]] = NOT_GIVEN,
    ) -> LLMStream:
        """Start one completion. Per-call values win over the persistent ``extra_kwargs``.

        Raises ``ValueError`` (before anything is sent) for invalid parameters.
        """
        opts = self._opts
        params = opts.params
        per_call: dict[str, Any] = dict(extra_kwargs) if is_given(extra_kwargs) else {}
        if is_given(parallel_tool_calls):
            per_call["parallel_tool_calls"] = parallel_tool_calls
        if is_given(tool_choice):
            per_call["tool_choice"] = tool_choice
        if per_call:
            params = merge(params, validate(per_call, what="chat(...)"))
            opts.backend.check(params)
        fields = build_request(params, model=opts.info, backend=opts.backend, has_tools=bool(tools))
        if is_given(response_format):
            fields["response_format"] = llm_utils.to_openai_response_format(response_format)
        return LLMStream(
            self,
            chat_ctx=chat_ctx,
            tools=tools or [],
            conn_options=conn_options,
            fields=fields,
        )

    def _request_headers(self) -> dict[str, str]:
        if self._token is None:
            # a self-hosted server never gets the job's LiveKit headers (the worker token
            # among them)
            return self._headers
        headers = {**self._headers, **auth.job_headers()}
        headers["Authorization"] = f"Bearer {self._token.get()}"
        return headers

    async def _prewarm_impl(self) -> None:
        # a token-free GET that leaves a warm keep-alive connection (DNS + TLS done)
        response = await self._http.get(self._models_url, headers=self._request_headers())
        await response.aclose()

    async def aclose(self) -> None:
        """Cancel a prewarm in flight and close the HTTP client if this object created it."""
        await super().aclose()
        if self._owns_client:
            await self._client.close()


_DRAIN_TIMEOUT = 1.0


async def _drain(lines: AsyncIterator[str]) -> None:
    """Read what follows ``[DONE]`` (normally nothing) so the connection can be reused.

    The reply is complete by then; a server that keeps the body open only costs the connection.
    """
    with contextlib.suppress(TimeoutError, httpx.RequestError):
        async with asyncio.timeout(_DRAIN_TIMEOUT):
            async for _ in lines:
                pass


class LLMStream(llm.LLMStream):
    """One completion's stream of ``llm.ChatChunk``; the framework retries ``_run``."""

    def __init__(
        self,
        llm_v: LLM,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
        fields: dict[str, Any],
    ) -> None:
        super().__init__(llm_v, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._owner = llm_v
        opts = llm_v._opts
        self._model = opts.model
        self._think_tags = opts.info.think_tags
        self._strict = opts.strict_tool_schema
        self._estimate_usage = not opts.backend.streams_usage
        self._params = fields
        self._timeout = httpx.Timeout(conn_options.timeout, connect=_CONNECT_TIMEOUT).as_dict()
        self._attempt = 0

    def _status_error(
        self, e: openai.APIStatusError, emitted: bool
    ) -> tuple[APIStatusError, float]:
        """The framework error for a 4xx/5xx, and how long to wait before it is raised."""
        status, headers = e.status_code, e.response.headers
        message = faults.server_message(status, e.body, e.message)
        retryable, wait = not emitted, 0.0
        if status == 429:
            figures = faults.quota(headers)
            logger.warning(
                "rate limited (429) %s",
                " ".join(f"{k}={v}" for k, v in figures.items()) or "(no quota headers)",
                extra={"model": self._model, "request_id": e.request_id, **figures},
            )
            after = faults.retry_after(headers)
            budget = self._conn_options.timeout
            if faults.credits_exhausted(e.body, figures):
                retryable = False
                message += " (credits exhausted: not retried; check your LiveKit Cloud plan)"
            elif after is not None and after > budget:
                retryable = False
                message += f" (server asks to wait {after:.1f}s, beyond the {budget:.1f}s budget)"
            elif after is not None and self._attempt > self._conn_options.max_retry:
                retryable = False
                message += " (no retries left)"
            elif after is not None and retryable:
                wait = after
        elif status in (401, 403):
            message += self._owner._credential_hint
        error = APIStatusError(
            message, status_code=status, request_id=e.request_id, body=e.body, retryable=retryable
        )
        return error, wait

    async def _run(self) -> None:
        self._attempt += 1
        owner = self._owner
        parser = ChunkParser(self._think_tags, estimate_usage=self._estimate_usage)
        send = self._event_ch.send_nowait
        try:
            messages, _ = self._chat_ctx.to_provider_format("openai")
            tools = (
                llm.ToolContext(self._tools).parse_function_tools("openai", strict=self._strict)
                if self._tools
                else None
            )
            body: dict[str, Any] = {
                **self._params,
                "model": self._model,
                "messages": messages,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            if tools:
                body["tools"] = tools
            # a Request built directly: the client's per-request merging of URL, headers and
            # cookies costs more than the rest of the request set-up together
            request = httpx.Request(
                "POST",
                owner._completions_url,
                content=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
                headers=owner._request_headers(),
                extensions={"timeout": self._timeout},
            )
            response = await owner._http.send(request, stream=True)
            try:
                if not 200 <= response.status_code < 300:
                    # a redirect is not followed (it could carry the token elsewhere)
                    await response.aread()
                    raise owner._client._make_status_error_from_response(response)
                decoder = SSEDecoder()
                done = False
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
                if not done and (event := decoder.flush()) is not None:
                    obj = decode_event(*event)
                    done = obj is None
                    if obj is not None:
                        for chunk in parser.feed(obj):
                            send(chunk)
                if not done and not parser.finished:
                    raise StreamError("the stream ended before the completion finished")
                for chunk in parser.finish():
                    send(chunk)
                if done:
                    await _drain(lines)
            finally:
                await response.aclose()
        except openai.APIStatusError as e:
            error, wait = self._status_error(e, parser.emitted)
            if wait:
                # the server named its wait and it fits the budget: the retry honours it
                await asyncio.sleep(wait)
            raise error from None
        except (openai.APITimeoutError, httpx.TimeoutException) as e:
            raise APITimeoutError(
                f"no response from {owner._base_url} within {self._conn_options.timeout}s",
                retryable=not parser.emitted,
            ) from e
        except (openai.APIConnectionError, httpx.RequestError) as e:
            raise APIConnectionError(
                f"connection to {owner._base_url} failed: {type(e).__name__}",
                retryable=not parser.emitted,
            ) from e
        except StreamError as e:
            if e.status_code is not None:
                raise APIStatusError(
                    e.message, status_code=e.status_code, body=e.body, retryable=not parser.emitted
                ) from None
            raise APIConnectionError(e.message, retryable=not parser.emitted) from None


__all__ = ["LLM", "APIError", "LLMStream"]
