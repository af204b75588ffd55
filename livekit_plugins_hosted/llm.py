"""``LLM``: one model on one endpoint, its options validated; ``chat()`` starts an ``LLMStream``.

Exceptions reaching the caller (the framework's family, from ``livekit.agents``)::

    ValueError                bad parameters, a value the backend would not honour, missing
                              credentials; raised before the completion request is sent
                              (for an engine ``backend="auto"`` detected, by the stream as
                              ``Refused``: also a non-retryable ``APIError``, every turn)
    APIError                  the completion ended with nothing to say and no tool call
     │                        (retryable: it would have been silence)
     ├── APIStatusError       the server answered 4xx/5xx (4xx other than 408/429 not retried)
     │                        or a redirect (never followed, not retried), or sent an error
     │                        event inside the stream
     ├── APITimeoutError      no byte for ``conn_options.timeout`` seconds, nothing
     │                        speakable within ``first_token_timeout``, or no free connection
     └── APIConnectionError   refused, reset, the stream ended before the completion did or
                              broke its bounds, the server sent 499 (which the framework
                              would take for the caller hanging up), or the LLM was closed

Every ``APIError`` raised after any text or tool call reached the caller has
``retryable=False``: a retry then would make the agent say it twice.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Literal

import httpx2 as httpx
from livekit.agents import APIError, llm
from livekit.agents.llm import ToolChoice
from livekit.agents.llm import utils as llm_utils
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)
from livekit.agents.utils import is_given

from .backends import check_every_backend, check_thinking_time
from .endpoints import (
    Endpoint,
    InferenceClass,
    LiveKitInference,
    SelfHosted,
    check_inference_class,
)
from .log import logger
from .models import HostedModels, ModelInfo, get_model
from .params import ModelParams, merge, validate
from .request import dropped
from .stream import CONNECT_TIMEOUT, LLMStream, Plan, Wire

# A LiveKit job runs in a process of its own, so one LLM rarely has more than a few streams at
# once. Beyond 50, streams queue for a connection instead of all slowing down together: under
# a loopback overload (200 at once) that halves the slowest first word.
_POOL = httpx.Limits(max_connections=50, max_keepalive_connections=50, keepalive_expiry=120)

DEFAULT_FIRST_TOKEN_TIMEOUT = 10.0
"""Seconds from sending a request to its first speakable word (see the README's timeouts)."""


def check_first_token_timeout(value: float | None) -> float | None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf
    ):
        raise ValueError(
            f"first_token_timeout={value!r} is invalid; allowed: a number of seconds > 0, "
            "or None for no deadline"
        )
    return value


def check_max_thinking_time(value: float | None, first_token_timeout: float | None) -> float | None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf
    ):
        raise ValueError(
            f"max_thinking_time={value!r} is invalid; allowed: a number of seconds > 0, or None "
            "to let the model think as long as it does"
        )
    if value is not None and first_token_timeout is not None and value >= first_token_timeout:
        raise ValueError(
            f"max_thinking_time={value!r} must be less than first_token_timeout="
            f"{first_token_timeout!r}: the attempt would end before the thought is cut short"
        )
    return value


@dataclasses.dataclass
class _Options:
    model: ModelInfo
    params: ModelParams
    strict_tool_schema: bool
    first_token_timeout: float | None
    max_thinking_time: float | None


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
        inference_class: InferenceClass | None = None,
        first_token_timeout: float | None = DEFAULT_FIRST_TOKEN_TIMEOUT,
        max_thinking_time: float | None = None,
        strict_tool_schema: bool = False,
        http_client: httpx.AsyncClient | None = None,
        endpoint: Endpoint | None = None,
    ) -> None:
        """Use ``model`` on LiveKit Inference (or on ``endpoint``).

        Args:
            model: a model id, e.g. ``"google/gemma-4-31b-it"``.
            provider: ask the gateway for a specific provider (``X-LiveKit-Inference-Provider``).
            base_url: the gateway; default ``LIVEKIT_INFERENCE_URL`` or LiveKit Cloud's (https,
                or plain http to loopback only; no ``user:password@``).
            api_key, api_secret: default ``LIVEKIT_INFERENCE_API_KEY/SECRET``, then
                ``LIVEKIT_API_KEY/SECRET``; missing raises ``ValueError`` naming them.
                Surrounding whitespace (a file's newline) is stripped; a control or
                non-ASCII character left is a ``ValueError`` naming the source, not the value.
            extra_kwargs: model parameters, names as in the parameter reference; validated now.
            inference_class: LiveKit Inference priority: ``"priority"``, ``"standard"`` or
                ``"low"`` (``X-LiveKit-Inference-Priority``).
            first_token_timeout: seconds from sending a request to the first text the agent can
                speak or the first complete tool call (thought does not count); past it the
                attempt fails retryable so a retry or ``FallbackAdapter`` takes over. ``None``:
                no deadline. It never cuts a reply that has begun.
            max_thinking_time: seconds from sending a request after which a thought still
                under way is ended and the answer streamed (by the engine's means: see the
                README's "Thinking in a voice agent"); ``None`` (default): the model thinks as
                long as it does. Must be less than ``first_token_timeout``. A backend with no
                means (LiveKit Inference, an unknown engine) refuses it with ``ValueError``.
            strict_tool_schema: send tool schemas in OpenAI's strict form (some open-weight
                servers reject it, so it is off by default).
            http_client: an ``httpx2.AsyncClient`` to send through (proxies, TLS settings); it
                is never closed by this object.
            endpoint: where requests go, instead of LiveKit Inference (see :meth:`self_hosted`);
                then ``provider``, ``base_url``, ``api_key``, ``api_secret`` and
                ``inference_class`` belong to the endpoint and must not be given here.
        """
        super().__init__()
        if endpoint is None:
            endpoint = LiveKitInference(
                base_url=base_url,
                api_key=api_key,
                api_secret=api_secret,
                provider=provider,
                inference_class=inference_class,
            )
        else:
            given = [
                name
                for name, value in (
                    ("provider", provider),
                    ("base_url", base_url),
                    ("api_key", api_key),
                    ("api_secret", api_secret),
                    ("inference_class", inference_class),
                )
                if value is not None
            ]
            if given:
                raise ValueError(f"{', '.join(given)}: set on the endpoint, not with endpoint=")
        self._opts = _Options(
            model=_model_info(model),
            params=validate(extra_kwargs),
            strict_tool_schema=strict_tool_schema,
            first_token_timeout=check_first_token_timeout(first_token_timeout),
            max_thinking_time=check_max_thinking_time(max_thinking_time, first_token_timeout),
        )
        self._endpoint = endpoint
        self._given_backend = endpoint.known_backend()
        """The engine named at construction (``None`` for ``backend="auto"``): what ``chat()``
        checks input against; a detected one is checked by each turn's stream."""
        self._check(self._opts.params, thinking_time=max_thinking_time)
        self._owns_http = http_client is None
        http = http_client or httpx.AsyncClient(
            timeout=httpx.Timeout(DEFAULT_API_CONNECT_OPTIONS.timeout, connect=CONNECT_TIMEOUT),
            limits=_POOL,
            # a jar that keeps nothing: every response's Set-Cookie would be kept for the LLM's
            # life (memory a server can grow) and sent back with each probe and control request
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
        )
        # parsed once: a Request built from a parsed URL skips the client's URL merging
        self._wire = Wire(endpoint, http, httpx.URL(f"{endpoint.base_url}/chat/completions"))

    @classmethod
    def self_hosted(
        cls,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        extra_kwargs: Mapping[str, Any] | None = None,
        backend: str = "auto",
        first_token_timeout: float | None = DEFAULT_FIRST_TOKEN_TIMEOUT,
        max_thinking_time: float | None = None,
        strict_tool_schema: bool = False,
        http_client: httpx.AsyncClient | None = None,
    ) -> LLM:
        """Use ``model`` on any OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama).

        Args:
            model: the id the server knows the model by (its family is recognised from it).
            base_url: the server's OpenAI API root, e.g. ``"http://127.0.0.1:8080/v1"``. A
                ``user:password@`` part is refused: give the key as ``api_key`` (it would be
                shown wherever the URL is, and sent as Basic auth in place of the key).
            api_key: a plain bearer key, or ``None`` to send no ``Authorization`` header;
                stripped of surrounding whitespace. Sent over plain ``http`` to a host that is
                not loopback, it is logged as a WARNING once per server.
            extra_kwargs: model parameters, validated now and checked against the backend.
            backend: which engine serves ``base_url`` (see the README's engine table), so that
                every parameter is sent in the form it honours or refused before sending;
                ``"auto"`` finds out from what the server reports, once, before the first
                request (or during prewarm).
            first_token_timeout, max_thinking_time, strict_tool_schema, http_client: as for
                :class:`LLM` (``max_thinking_time`` works on vLLM, llama-server and Ollama).
        """
        return cls(
            model,
            endpoint=SelfHosted(base_url=base_url, api_key=api_key, backend=backend),
            extra_kwargs=extra_kwargs,
            first_token_timeout=first_token_timeout,
            max_thinking_time=max_thinking_time,
            strict_tool_schema=strict_tool_schema,
            http_client=http_client,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, {self._endpoint.describe()})"

    @property
    def model(self) -> str:
        """The model id requests are sent for."""
        return self._opts.model.id

    @property
    def provider(self) -> str:
        """``"livekit"`` on LiveKit Inference, else the self-hosted backend's name."""
        return self._endpoint.provider

    @property
    def base_url(self) -> str:
        """The server's OpenAI API root."""
        return self._endpoint.base_url

    @property
    def endpoint(self) -> Endpoint:
        """Where requests go (LiveKit Inference or a self-hosted server)."""
        return self._endpoint

    @property
    def extra_kwargs(self) -> dict[str, Any]:
        """The persistent model parameters, as given (a copy)."""
        return self._opts.params.given()

    def update_options(
        self,
        *,
        model: NotGivenOr[HostedModels | str] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[Mapping[str, Any]] = NOT_GIVEN,
        inference_class: NotGivenOr[InferenceClass | None] = NOT_GIVEN,
        first_token_timeout: NotGivenOr[float | None] = NOT_GIVEN,
        max_thinking_time: NotGivenOr[float | None] = NOT_GIVEN,
    ) -> None:
        """Change options for the next ``chat()``; everything is validated before anything changes.

        ``extra_kwargs`` replaces the persistent dict; pass ``{}`` to clear it.
        """
        opts = self._opts
        info = _model_info(model) if is_given(model) else opts.model
        params = validate(extra_kwargs) if is_given(extra_kwargs) else opts.params
        deadline = (
            check_first_token_timeout(first_token_timeout)
            if is_given(first_token_timeout)
            else opts.first_token_timeout
        )
        thinking_time = check_max_thinking_time(
            max_thinking_time if is_given(max_thinking_time) else opts.max_thinking_time, deadline
        )
        priority = self._priority(inference_class) if is_given(inference_class) else None
        self._check(params, info, thinking_time=thinking_time)
        opts.model, opts.params, opts.first_token_timeout = info, params, deadline
        opts.max_thinking_time = thinking_time
        if is_given(inference_class):
            assert isinstance(self._endpoint, LiveKitInference)  # _priority checked it
            self._endpoint.inference_class = priority

    def _priority(self, value: str | None) -> str | None:
        """A validated inference class; ``ValueError`` on a self-hosted server."""
        if not isinstance(self._endpoint, LiveKitInference):
            raise ValueError(
                "inference_class applies to LiveKit Inference only, not a self-hosted server"
            )
        return check_inference_class(value)

    def _check(
        self,
        params: ModelParams,
        info: ModelInfo | None = None,
        *,
        thinking_time: float | None = None,
    ) -> None:
        """Refuse what the backend would not honour; warn once about what will not be sent."""
        info = info or self._opts.model
        backend = self._endpoint.known_backend()
        if backend is not None:
            check_thinking_time(thinking_time, backend)
        if backend is None:
            # the detected profile's own refusals are checked before the first request; what
            # no engine honours fails now
            check_every_backend(params)
            return
        backend.check(params, family=info.family_key)
        if names := dropped(params, model=info, backend=backend):
            logger.warning(
                "model %s does not support %s; they will not be sent",
                info.id,
                ", ".join(names),
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
        inference_class: NotGivenOr[InferenceClass] = NOT_GIVEN,
        max_thinking_time: NotGivenOr[float | None] = NOT_GIVEN,
    ) -> LLMStream:
        """Start one completion. Per-call values win over the persistent ones.

        Raises ``ValueError`` (before anything is sent) for invalid parameters.
        """
        opts = self._opts
        params = opts.params
        thinking_time = opts.max_thinking_time
        if is_given(max_thinking_time):
            thinking_time = check_max_thinking_time(max_thinking_time, opts.first_token_timeout)
        per_call: dict[str, Any] = dict(extra_kwargs) if is_given(extra_kwargs) else {}
        if is_given(parallel_tool_calls):
            per_call["parallel_tool_calls"] = parallel_tool_calls
        if is_given(tool_choice):
            per_call["tool_choice"] = tool_choice
        if per_call:
            params = merge(params, validate(per_call, what="chat(...)"))
        backend = self._given_backend
        if backend is not None:
            check_thinking_time(thinking_time, backend)
            backend.check(params, family=opts.model.family_key, has_tools=bool(tools))
        elif per_call:
            check_every_backend(params)
        priority = self._priority(inference_class) if is_given(inference_class) else None
        plan = Plan(
            model=opts.model,
            params=params,
            strict_tool_schema=opts.strict_tool_schema,
            first_token_timeout=opts.first_token_timeout,
            max_thinking_time=thinking_time,
            response_format=(
                llm_utils.to_openai_response_format(response_format)
                if is_given(response_format)
                else None
            ),
            inference_class=priority,
            # checked here against the backend given; a detected one by every turn's stream,
            # so that its refusal is the same APIError on the turn that detected it and after
            backend_checked=backend is not None,
        )
        return LLMStream(
            self, self._wire, plan, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
        )

    async def _prewarm_impl(self) -> None:
        await self._wire.endpoint.prewarm(self._wire.http)

    async def aclose(self) -> None:
        """Cancel a prewarm in flight and close the connection pool if this object made it."""
        await super().aclose()
        await self._wire.drains.aclose()
        if self._owns_http:
            await self._wire.http.aclose()


def _model_info(model: object) -> ModelInfo:
    if not model or not isinstance(model, str):
        raise ValueError(f"model must be a non-empty string, got {model!r}")
    if any(not ch.isprintable() for ch in model):
        # a line break in an id read from a file or the environment: it would go to the
        # server and into every log line as it is
        raise ValueError(f"model={model!r} contains a control character; allowed: printable text")
    return get_model(model)


__all__ = ["LLM", "APIError", "LLMStream"]
