"""Where requests go: LiveKit Inference or a self-hosted server, each a small strategy object.

This is the only module that knows which of the two an ``LLM`` talks to:

* :class:`LiveKitInference` signs the inference token (cached, refreshed before expiry), adds
  the job's headers (room, job, agent ids) and the provider and priority headers, and
  refuses plain ``http`` to a host that is not loopback.
* :class:`SelfHosted` sends a plain bearer key (or none) and never the job's LiveKit headers;
  its backend profile is the one named, or the one detected from what the server says about
  itself (:func:`detect_backend`), once per endpoint. A key sent over plain ``http`` to a host
  that is not loopback is logged as a WARNING, once per server and process.

Both check what they are given when built (``auth.check_base_url``, ``auth.clean_credential``):
a URL with ``user:password@`` is refused, a key's surrounding whitespace is stripped. Both
:meth:`Endpoint.scrub` the server's words they repeat of their own secrets, and of every
credential the request answered carried beside them (:func:`sent_credentials`).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import urlsplit

import httpx2 as httpx

from . import auth, redact
from .backends import (
    LIVEKIT,
    OPENAI_COMPATIBLE,
    Backend,
    get_backend,
    identify_models,
    identify_ollama,
)
from .log import logger
from .sse import read_capped
from .transport import Connection, count_reads

InferenceClass = Literal["priority", "standard", "low"]
"""LiveKit Inference priority classes, sent as ``X-LiveKit-Inference-Priority``."""

INFERENCE_CLASSES: tuple[str, ...] = get_args(InferenceClass)


def check_inference_class(value: str | None) -> str | None:
    """``value`` if it is a known inference class (or ``None``), else ``ValueError``."""
    if value is not None and value not in INFERENCE_CLASSES:
        raise ValueError(
            f"inference_class={value!r} is invalid; allowed: "
            + ", ".join(repr(c) for c in INFERENCE_CLASSES)
        )
    return value


class Endpoint(abc.ABC):
    """What a stream needs to know about where it sends: URL, headers, backend profile."""

    base_url: str
    provider: str
    """``"livekit"`` or the self-hosted backend's name (the framework's ``LLM.provider``)."""
    credential_hint: str
    """Appended to a 401/403 message: which credential to check (the key's id, never the
    secret)."""
    undecided = False
    """The backend is not known, and the server has answered a probe without naming its
    engine (a proxy's 403; a busy answer is no such answer): :meth:`backend` gives the
    stand-in it will settle on, and this holds until the engine is known."""

    @abc.abstractmethod
    def request_headers(self, *, inference_class: str | None = None) -> dict[str, str]:
        """The headers of one request, the credentials included."""
        raise NotImplementedError

    @abc.abstractmethod
    def known_backend(self) -> Backend | None:
        """The backend profile, if it is known without asking the server."""
        raise NotImplementedError

    @abc.abstractmethod
    async def backend(self, http: httpx.AsyncClient) -> Backend:
        """The backend profile, finding it out first if needed (once per endpoint)."""
        raise NotImplementedError

    def probe_timed_out(self) -> None:
        """The request's bound ended the engine probe (half the first word's budget): counted
        as a busy answer, so that the next attempts send their request. A cancel by the caller
        (a barge-in) says nothing about the server and is not reported."""
        return  # an endpoint that never probes has nothing to count

    async def prewarm(self, http: httpx.AsyncClient) -> None:
        """Open a keep-alive connection (DNS and TLS done) with a request that spends no model
        tokens (``GET /models``), and find out the backend if it is not known yet."""
        if self.known_backend() is None:
            await self.backend(http)  # its probe is the same GET
            return
        with contextlib.suppress(httpx.HTTPError):
            await _get_json(http, f"{self.base_url}/models", self.request_headers())

    @abc.abstractmethod
    def describe(self) -> str:
        """``key=value`` pairs for ``repr`` (never a credential)."""
        raise NotImplementedError

    def secrets(self) -> tuple[str, ...]:
        """What must never be repeated: the key, secret and tokens this endpoint uses now."""
        return ()

    def scrub(self, text: str, sent: tuple[str, ...] = ()) -> str:
        """``text`` (a server's message, which may echo the request) with each of
        :meth:`secrets`, and each credential in ``sent`` (what the request answered carried,
        :func:`sent_credentials`), replaced by ``***``."""
        return redact.scrub(text, (*self.secrets(), *sent))

    def scrub_body(self, body: object, sent: tuple[str, ...] = ()) -> object:
        """A decoded error body with each of :meth:`secrets`, and each credential in
        ``sent``, replaced by ``***`` in every string."""
        return redact.scrub_value(body, (*self.secrets(), *sent))


def sent_credentials(request: httpx.Request) -> tuple[str, ...]:
    """The credentials ``request`` carried, as sent: the job's worker token, a key in the
    headers or query of the ``http_client`` given, what the client's ``auth`` added (it sets
    them on the request itself, so read after sending). A server may echo any of them into
    its answer to this request: each request's errors are masked with its own (a store of
    recent ones would let many requests at once, each signed anew, push one out)."""
    # every query value, whatever its name (Azure's sig= and code= are keys): a value in a
    # URL is never the server's to repeat
    query = request.url.params.multi_items() if request.url.query else []
    found = [v for _, v in query if len(v) >= redact.MIN_SECRET_CHARS]
    found += redact.credentials(request.headers.items())
    return tuple(dict.fromkeys(found))


class LiveKitInference(Endpoint):
    """LiveKit Inference: a LiveKit token signed from the API key and secret."""

    provider = "livekit"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        provider: str | None = None,
        inference_class: InferenceClass | None = None,
    ) -> None:
        self.base_url = auth.check_secure_url(auth.gateway_url(base_url))
        key, secret = auth.resolve_credentials(api_key, api_secret)
        if provider is not None:
            provider = auth.check_header_text("provider", provider)
        self.token = auth.InferenceToken(key, secret)
        self._secret = secret
        self.gateway_provider = provider
        self.inference_class = check_inference_class(inference_class)
        self.credential_hint = (
            f" (check the LiveKit API key {key!r} and its secret: api_key/api_secret, or "
            "LIVEKIT_INFERENCE_API_KEY/LIVEKIT_INFERENCE_API_SECRET, or "
            "LIVEKIT_API_KEY/LIVEKIT_API_SECRET)"
        )
        self._static = {
            "User-Agent": auth.USER_AGENT,
            "Accept": "text/event-stream",
            "Content-Type": "application/json",
        }
        if provider:
            self._static[auth.HEADER_PROVIDER] = provider

    def request_headers(self, *, inference_class: str | None = None) -> dict[str, str]:
        priority = inference_class or self.inference_class
        headers = {**self._static, **auth.job_headers(inference_class=priority)}
        headers["Authorization"] = f"Bearer {self.token.get()}"
        return headers

    def known_backend(self) -> Backend:
        return LIVEKIT

    def secrets(self) -> tuple[str, ...]:
        return (self._secret, *self.token.issued)

    async def backend(self, http: httpx.AsyncClient) -> Backend:
        return LIVEKIT

    def describe(self) -> str:
        return (
            f"base_url={self.base_url!r}, provider={self.gateway_provider!r}, "
            f"inference_class={self.inference_class!r}"
        )


class SelfHosted(Endpoint):
    """Any OpenAI-compatible server: a plain bearer key (or none), a backend profile."""

    def __init__(self, *, base_url: str, api_key: str | None = None, backend: str = "auto"):
        """``base_url`` with a ``user:password@`` part is refused (``ValueError``, the password
        not repeated): it would show wherever the URL is, and the transport would send it as
        Basic auth in place of ``api_key``. ``api_key`` is stripped of surrounding whitespace
        (a key read from a file keeps its newline) and must then be printable ASCII; ``None``
        or ``""`` sends no ``Authorization`` header. A key to a plain-``http`` host that is
        not loopback is sent, with a WARNING (once per server and process): a private network
        may be trusted, the internet is not."""
        self.base_url = auth.check_base_url(base_url)
        self._backend = None if backend == "auto" else get_backend(backend)
        self._undecided = 0
        self._busy = 0  # busy answers to the probe in a row
        self._waited = 0  # requests since the last of them
        """Answers to the probe that named no engine (settled on openai-compatible at
        ``DETECTION_TRIES``)."""
        self.credential_hint = " (check the api_key given to LLM.self_hosted)"
        self._headers = {
            "User-Agent": auth.USER_AGENT,
            "Accept": "text/event-stream",
            "Content-Type": "application/json",
        }
        self._key = auth.clean_credential("api_key", api_key) if api_key else None
        if self._key:
            self._headers["Authorization"] = f"Bearer {self._key}"
            _warn_clear_text(self.base_url)

    @property
    def provider(self) -> str:  # type: ignore[override]
        return self._backend.name if self._backend else "auto"

    def request_headers(self, *, inference_class: str | None = None) -> dict[str, str]:
        # never the job's LiveKit headers (the worker token among them), never a priority; a
        # copy, so that no caller can change the next request's headers
        return dict(self._headers)

    def known_backend(self) -> Backend | None:
        return self._backend

    async def backend(self, http: httpx.AsyncClient) -> Backend:
        if self._backend is None:
            if self._busy and self._waited < min(2 ** (self._busy - 1), BUSY_WAIT_MAX) - 1:
                self._waited += 1  # busy lately: not asked before every request
                return OPENAI_COMPATIBLE
            found = await detect_backend(http, self.base_url, self._headers)
            if isinstance(found, Undecided) and found.busy:
                return self._busy_answer(found)
            self._busy = 0
            # a guard's silence holds until the engine is known: a busy answer or a failed
            # connection between two 403s must not change what a turn is refused
            self.undecided = self.undecided or isinstance(found, Undecided)
            if found is None:
                # the server did not answer: the completion request will say why; ask again
                # next time rather than settle on a guess (it may still be starting)
                return OPENAI_COMPATIBLE
            if isinstance(found, Undecided):
                # it answered without saying what it is (403, 405, 500...): ask a bounded
                # number of times, not before every request for ever
                self._undecided += 1
                if self._undecided < DETECTION_TRIES or self._backend is not None:
                    return self._backend or OPENAI_COMPATIBLE
                self._backend = OPENAI_COMPATIBLE
                logger.warning(
                    "self-hosted server at %s: %s, %d times; taken as %s (pass backend= to "
                    "LLM.self_hosted to name the engine)",
                    self.base_url,
                    found.reason,
                    self._undecided,
                    OPENAI_COMPATIBLE.name,
                    extra={"base_url": self.base_url, "backend": OPENAI_COMPATIBLE.name},
                )
                return self._backend
            if self._backend is None:  # a concurrent first request may have found it too
                self._backend = found
                logger.info(
                    "self-hosted server at %s detected as %s",
                    self.base_url,
                    found.name,
                    extra={"base_url": self.base_url, "backend": found.name},
                )
        return self._backend

    def probe_timed_out(self) -> None:
        if self._backend is None:
            self._busy_answer(Undecided("GET /models did not answer in time", busy=True))

    def _busy_answer(self, found: Undecided) -> Backend:
        """The probe was answered busy (a timeout, 429, 5xx): nothing is settled or refused on
        it; asked again after 1, 2, 4... requests (at most every :data:`BUSY_WAIT_MAX`)."""
        self._busy += 1
        self._waited = 0
        if self._busy == 1:
            logger.warning(
                "self-hosted server at %s: %s; its engine is not known yet, so what depends on "
                "it (max_thinking_time) waits until it answers (asked again later)",
                self.base_url,
                found.reason,
                extra={"base_url": self.base_url},
            )
        return OPENAI_COMPATIBLE

    def describe(self) -> str:
        return f"base_url={self.base_url!r}, backend={self.provider!r}"

    def secrets(self) -> tuple[str, ...]:
        return (self._key,) if self._key else ()


_WARNED_CLEAR_TEXT: set[str] = set()


def _warn_clear_text(base_url: str) -> None:
    """Warn once per server that a key goes to it in clear text (a host other than loopback)."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or auth.is_loopback(parts.hostname):
        return
    if parts.netloc in _WARNED_CLEAR_TEXT:
        return
    _WARNED_CLEAR_TEXT.add(parts.netloc)
    logger.warning(
        "api_key is sent in clear text to %s (plain http to a host that is not loopback): "
        "anyone on the path can read it; use https unless the network is private",
        base_url,
        extra={"base_url": base_url},
    )


_PROBE_TIMEOUT = httpx.Timeout(2.0)
"""A models list answers in milliseconds; the probe is on the first word's path (a busy
answer: asked again after 1, 2, 4... requests)."""

PROBE_TOTAL = 4.0
"""Seconds the whole probe may take (its timeout bounds each read, not the sum)."""

MODELS_BODY_LIMIT = 1024 * 1024
"""Bytes of a ``GET /models`` answer that are read (a list of a few models is a few KiB)."""

DETECTION_TRIES = 3
"""Answers that name no engine before a self-hosted server is taken as ``openai-compatible``."""


_BUSY = frozenset({408, 425, 429})

BUSY_WAIT_MAX = 64
"""Requests at most between two probes of a server that keeps answering busy."""


@dataclass(frozen=True)
class Undecided:
    """The server answered the probe without saying which engine it is."""

    reason: str
    busy: bool = False
    """Busy or failing for the moment (a timeout, 429, 5xx): no more said than by silence, so
    nothing is settled or refused on it (a refusal on the strength of busy answers would be
    false, and lasting, on a server that honours the setting: vLLM answering 503 a while)."""


async def _get_json(
    http: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> tuple[int, object]:
    """The status and JSON of a GET (``None`` when the body is not JSON or too large)."""
    # traced: a completion request that reuses this connection can tell a server's idle close
    trace = {"trace": Connection()}
    async with http.stream(
        "GET", url, headers=headers, timeout=_PROBE_TIMEOUT, extensions=trace
    ) as response:
        count_reads(response)
        content, truncated = await read_capped(response, MODELS_BODY_LIMIT)
    if truncated:
        return response.status_code, None
    try:
        return response.status_code, json.loads(content)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        return response.status_code, None


async def detect_backend(
    http: httpx.AsyncClient, base_url: str, headers: dict[str, str]
) -> Backend | Undecided | None:
    """Which engine serves ``base_url``, from what it says about itself; ``None`` if it did
    not answer; :class:`Undecided` if it answered ``GET /models`` with an error other than 404
    or with a body that is not a models list (the caller asks again, a bounded number of
    times, rather than settle on a guess at once).

    One round trip for vLLM, llama-server and llama-cpp-python (``owned_by`` in
    ``GET /v1/models``, the request prewarm makes anyway); one more for Ollama
    (``GET /api/version`` at the server root). Anything else is ``openai-compatible``.
    """
    try:
        async with asyncio.timeout(PROBE_TOTAL):  # a body trickled a byte at a time too
            status, payload = await _get_json(http, f"{base_url}/models", headers)
    except (httpx.TimeoutException, TimeoutError):
        return Undecided("GET /models did not answer in time", busy=True)
    except httpx.HTTPError:
        return None
    if status not in (200, 404):
        # 401, 429, 5xx...: the server said nothing about itself
        busy = status in _BUSY or status >= 500
        return Undecided(f"GET /models answered {status}", busy=busy)
    if status == 200 and payload is None:
        return Undecided("GET /models answered 200 without a readable models list")
    if status == 200 and (found := identify_models(payload)) is not None:
        return found
    root = base_url.removesuffix("/v1")
    if root != base_url:
        with contextlib.suppress(httpx.HTTPError):
            status, payload = await _get_json(http, f"{root}/api/version", headers)
            if status == 200 and (found := identify_ollama(payload)) is not None:
                return found
    return OPENAI_COMPATIBLE
