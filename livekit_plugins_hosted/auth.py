"""Credentials and the URLs they go to: the LiveKit Inference token (cached, refreshed before
expiry), the checks every key, secret and ``base_url`` pass when an endpoint is built, headers.

The secret, a self-hosted key and the tokens signed with it never appear in a ``repr``, a log
line or an error; an error about one names where it came from (``api_key``,
``LIVEKIT_API_SECRET``), never its value.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import platform
import time
from urllib.parse import urlsplit

import httpx2 as httpx
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


def _bad_character(text: str, *, where: bool = True) -> str | None:
    """How the first character that cannot go in an HTTP header reads, if there is one
    (``where``: which character and where; never for a secret, of which it would tell one
    character and a bound on the length)."""
    for i, ch in enumerate(text):
        if not " " <= ch <= "~":
            kind = (
                "a line break or other control character"
                if ch.isascii()
                else "a non-ASCII character"
            )
            return f"{kind} (U+{ord(ch):04X} at position {i})" if where else kind
    return None


def clean_credential(name: str, value: object) -> str:
    """``value`` without surrounding whitespace, checked to be printable ASCII.

    A key read from a file or a CRLF ``.env`` keeps its line ending; HTTP cannot carry one in a
    header (and drops surrounding whitespace from a header value anyway), so it is stripped.
    What is left must be printable ASCII: anything else fails on every request and can make the
    transport print the whole header, key included. The error names ``name``, never the value.
    """
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    cleaned = value.strip()
    if not cleaned:
        raise ValueError(f"{name} is blank (only whitespace)")
    if (bad := _bad_character(cleaned, where=False)) is not None:
        raise ValueError(f"{name} contains {bad}; a key or secret is printable ASCII")
    return cleaned


def check_header_text(name: str, value: object) -> str:
    """``value`` if it can be sent as a header value (printable ASCII, not empty, no space at
    either end), else ``ValueError``."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    if (bad := _bad_character(value)) is not None:
        raise ValueError(f"{name}={value!r} contains {bad}; allowed: printable ASCII")
    if value != value.strip(" "):
        # HTTP drops it from a header value, and the transport refuses to send one that has it
        raise ValueError(f"{name}={value!r} starts or ends with a space; allowed: printable ASCII")
    if not value:
        raise ValueError(f"{name} is empty; leave it out (None) to send none")
    return value


def hide_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` shown as ``***@`` (for error messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, authority_end)
    return url if at < 0 else f"{scheme}://***@{rest[at + 1 :]}"


def check_base_url(url: object, *, name: str = "base_url") -> str:
    """A server's OpenAI API root, checked, without surrounding whitespace or trailing ``/``.

    Refused with ``ValueError``: anything but an ``http(s)`` URL with a host; control characters
    or whitespace inside; a query or fragment (``/chat/completions`` is appended to the URL, so
    a query would end up in the path; a key in it would be shown with the URL); and a
    ``user:password@`` part: it would be shown wherever the URL is (``repr``, logs, errors) and
    the transport would send it as Basic auth in place of the bearer key. The message never
    repeats the password or the query.
    """
    if not isinstance(url, str):
        raise ValueError(f"{name} must be an http(s) URL, got {type(url).__name__}")
    url = url.strip()
    # what messages show: never the password, nor a query (it may carry a key)
    shown = hide_userinfo(url)
    cut = min((i for i in (shown.find("?"), shown.find("#")) if i >= 0), default=-1)
    if cut >= 0:
        shown = shown[:cut] + "?..."
    for i, ch in enumerate(url):
        if ch.isspace() or not ch.isprintable():
            raise ValueError(
                f"{name} contains whitespace or a control character (U+{ord(ch):04X} at "
                f"position {i}); allowed: an http(s) URL"
            )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        raise ValueError(f"{name}={shown!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{name} must be an http(s) URL, got {shown!r} (scheme {parts.scheme!r})")
    if not parts.hostname:
        raise ValueError(f"{name}={shown!r} has no host; allowed: an http(s) URL with a host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError(
            f"{name}={shown!r} carries a user name or password (user:password@host): it would "
            "be shown wherever the URL is and sent as Basic auth in place of the key; give the "
            "URL without it and the key as api_key (a proxy that wants Basic auth: an "
            "http_client=httpx2.AsyncClient(auth=...))"
        )
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        root = f"{parts.scheme}://{parts.netloc}{parts.path}"
        raise ValueError(
            f"{name}={root + '?...'!r} has a query or fragment; allowed: the API root without "
            "one (/chat/completions is appended to it), e.g. https://host/v1"
        )
    return url.rstrip("/")


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a URL's host name) is this machine: ``localhost`` or a loopback IP."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def gateway_url(base_url: str | None = None) -> str:
    """The gateway URL: the argument, ``LIVEKIT_INFERENCE_URL``, staging, or production."""
    if base_url:
        return base_url
    if url := os.environ.get("LIVEKIT_INFERENCE_URL"):
        return url
    if ".staging.livekit.cloud" in os.environ.get("LIVEKIT_URL", ""):
        return STAGING_INFERENCE_URL
    return DEFAULT_INFERENCE_URL


def _first(given: str | None, name: str, *variables: str) -> tuple[str | None, str]:
    """The first value set (truthy), and where it came from."""
    if given:
        return given, name
    for variable in variables:
        if value := os.environ.get(variable):
            return value, variable
    return None, name


class MissingCredentials(ValueError):
    """No LiveKit key or secret was given or set in the environment (a set one that cannot be
    used is a plain ``ValueError`` naming its variable)."""


def resolve_credentials(api_key: str | None, api_secret: str | None) -> tuple[str, str]:
    """Key and secret from the arguments, then the environment, as the built-in LLM does;
    cleaned by :func:`clean_credential` (an error names the argument or variable)."""
    key, key_from = _first(api_key, "api_key", "LIVEKIT_INFERENCE_API_KEY", "LIVEKIT_API_KEY")
    if not key:
        raise MissingCredentials(
            "LiveKit API key missing: pass api_key=... or set LIVEKIT_INFERENCE_API_KEY "
            "or LIVEKIT_API_KEY"
        )
    secret, secret_from = _first(
        api_secret, "api_secret", "LIVEKIT_INFERENCE_API_SECRET", "LIVEKIT_API_SECRET"
    )
    if not secret:
        raise MissingCredentials(
            "LiveKit API secret missing: pass api_secret=... or set LIVEKIT_INFERENCE_API_SECRET "
            "or LIVEKIT_API_SECRET"
        )
    return clean_credential(key_from, key), clean_credential(secret_from, secret)


def credentials_available() -> bool:
    """Whether LiveKit credentials are set in the environment. One that is set but cannot be
    used (blank, a character HTTP cannot carry), or a key without its secret (or the other
    way round), raises ``ValueError`` naming the variable: a caller that fell back to another
    LLM as if none were set would hide the typo."""
    try:
        resolve_credentials(None, None)
    except MissingCredentials:
        if any(os.environ.get(name) for name in _CREDENTIAL_VARIABLES):
            raise  # half a pair (the other misspelt, unset or empty): named, not hidden
        return False
    return True


_CREDENTIAL_VARIABLES = (
    "LIVEKIT_INFERENCE_API_KEY",
    "LIVEKIT_API_KEY",
    "LIVEKIT_INFERENCE_API_SECRET",
    "LIVEKIT_API_SECRET",
)


def check_secure_url(url: str) -> str:
    """Refuse to send LiveKit credentials in clear text to a host other than loopback; the URL
    is checked by :func:`check_base_url` first (and returned as it normalises it)."""
    url = check_base_url(url)
    parts = urlsplit(url)
    if parts.scheme == "https" or is_loopback(parts.hostname):
        return url
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
        self._previous = ""
        self._refresh_at = 0.0
        self.signed = 0
        """How many tokens were signed (for tests and diagnostics)."""

    def __repr__(self) -> str:
        return f"InferenceToken(api_key={self._api_key!r}, api_secret=<hidden>, ttl={self._ttl})"

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def issued(self) -> tuple[str, ...]:
        """The current token and the one before it (a request in flight may still carry it):
        what :meth:`~.endpoints.Endpoint.scrub` hides."""
        return tuple(t for t in (self._token, self._previous) if t)

    def get(self) -> str:
        """The current token, signed anew when it has less than the margin left."""
        now = time.monotonic()
        if now >= self._refresh_at:
            self._previous = self._token
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
