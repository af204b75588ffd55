"""How an LLM's streams reach their server (:class:`Wire`) and what one ``chat()`` asks
(:class:`Plan`): the two small frozen objects ``LLM.chat()`` hands each stream."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import httpx2 as httpx

from .drains import Drains
from .endpoints import Endpoint
from .models import ModelInfo
from .params import ModelParams
from .traits import ServerTraits

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
    # both may hold the client's credentials (an X-Api-Key, a key in the query): never in the
    # repr (a traceback that records locals, as Sentry's default does, prints it)
    url: httpx.URL = dataclasses.field(init=False, repr=False)
    """``completions_url`` with the client's query parameters."""
    headers: dict[str, str] = dataclasses.field(init=False, repr=False)
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
