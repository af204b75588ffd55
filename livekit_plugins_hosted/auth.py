"""LiveKit Inference credentials: the signed token (cached, refreshed before expiry) and headers.

The secret and the tokens signed with it never appear in a ``repr``, a log line or an error.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import platform
import time
from urllib.parse import urlsplit

from livekit import api

from .version import __version__

DEFAULT_INFERENCE_URL = "https://agent-gateway.livekit.cloud/v1"
STAGING_INFERENCE_URL = "https://agent-gateway.staging.livekit.cloud/v1"

HEADER_PROVIDER = "X-LiveKit-Inference-Provider"
HEADER_PRIORITY = "X-LiveKit-Inference-Priority"
USER_AGENT = f"livekit-plugins-hosted/{__version__} (python {platform.python_version()})"

TOKEN_TTL = 600.0
"""Lifetime of a signed token, in seconds (the built-in LLM uses the same)."""
REFRESH_MARGIN = 60.0
"""A cached token is re-signed once it has less than this many seconds left."""


def gateway_url(base_url: str | None = None) -> str:
    """The gateway URL: the argument, ``LIVEKIT_INFERENCE_URL``, staging, or production."""
    if base_url:
        return base_url
    if url := os.environ.get("LIVEKIT_INFERENCE_URL"):
        return url
    if ".staging.livekit.cloud" in os.environ.get("LIVEKIT_URL", ""):
        return STAGING_INFERENCE_URL
    return DEFAULT_INFERENCE_URL


def resolve_credentials(api_key: str | None, api_secret: str | None) -> tuple[str, str]:
    """Key and secret from the arguments, then the environment, as the built-in LLM does."""
    key = (
        api_key or os.environ.get("LIVEKIT_INFERENCE_API_KEY") or os.environ.get("LIVEKIT_API_KEY")
    )
    if not key:
        raise ValueError(
            "LiveKit API key missing: pass api_key=... or set LIVEKIT_INFERENCE_API_KEY "
            "or LIVEKIT_API_KEY"
        )
    secret = (
        api_secret
        or os.environ.get("LIVEKIT_INFERENCE_API_SECRET")
        or os.environ.get("LIVEKIT_API_SECRET")
    )
    if not secret:
        raise ValueError(
            "LiveKit API secret missing: pass api_secret=... or set LIVEKIT_INFERENCE_API_SECRET "
            "or LIVEKIT_API_SECRET"
        )
    return key, secret


def credentials_available() -> bool:
    """Whether LiveKit credentials can be found in the environment."""
    try:
        resolve_credentials(None, None)
    except ValueError:
        return False
    return True


def check_secure_url(url: str) -> None:
    """Refuse to send LiveKit credentials in clear text to a host other than loopback."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme != "http":
        raise ValueError(f"base_url must be an http(s) URL, got scheme {parts.scheme!r}")
    host = parts.hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(
        f"base_url {url!r} is plain http to a non-loopback host: LiveKit credentials are only "
        "sent over https (or to loopback)"
    )


class InferenceToken:
    """Signs the inference-grant JWT once and re-signs it only when it nears expiry."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        ttl: float = TOKEN_TTL,
        refresh_margin: float = REFRESH_MARGIN,
    ) -> None:
        if ttl <= refresh_margin:
            raise ValueError(f"ttl ({ttl}) must be longer than refresh_margin ({refresh_margin})")
        self._api_key = api_key
        self._api_secret = api_secret
        self._ttl = ttl
        self._margin = refresh_margin
        self._token = ""
        self._refresh_at = 0.0
        self.signed = 0
        """How many tokens were signed (for tests and diagnostics)."""

    def __repr__(self) -> str:
        return f"InferenceToken(api_key={self._api_key!r}, api_secret=<hidden>, ttl={self._ttl})"

    @property
    def api_key(self) -> str:
        return self._api_key

    def get(self) -> str:
        """The current token, signed anew when it has less than the margin left."""
        now = time.monotonic()
        if now >= self._refresh_at:
            self._token = (
                api.AccessToken(self._api_key, self._api_secret)
                .with_identity("agent")
                .with_inference_grants(api.access_token.InferenceGrants(perform=True))
                .with_ttl(datetime.timedelta(seconds=self._ttl))
                .to_jwt()
            )
            self._refresh_at = now + self._ttl - self._margin
            self.signed += 1
        return self._token


def job_headers(*, inference_class: str | None = None) -> dict[str, str]:
    """Room, job, agent and session headers inside a LiveKit job, and the priority header.

    Delegates to the framework's own function so the gateway sees what it sees from the
    built-in LLM (a job's own ``inference_headers`` outrank the configured priority, as there);
    the plugin's User-Agent is set separately. This is the one place that reaches for the
    framework's private helper: ``tests/test_framework_hooks.py`` fails if it moves.
    """
    try:
        from livekit.agents.inference._utils import get_inference_headers
    except ImportError:  # a framework release that moved it: identification is best-effort
        return {HEADER_PRIORITY: inference_class} if inference_class else {}
    headers = get_inference_headers(inference_class=inference_class)
    headers.pop("User-Agent", None)
    return headers
