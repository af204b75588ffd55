"""Keeping credentials out of what the plugin repeats of a server's words (pure).

A server (or a proxy in front of it) may echo the request in an error, headers included: the
bearer key or the signed token would then reach ``str(error)``, the framework's log lines and
the command line. :func:`scrub` replaces each known secret in a text with ``***``;
:func:`scrub_value` does so inside a decoded JSON body. The endpoints know their current
secrets (``Endpoint.scrub``); :func:`credentials` picks out of what a request sent the values
that can be secrets (a header or query parameter whose name looks like a credential's); this
module only finds and replaces.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

_CREDENTIAL_WORDS = (
    "auth",
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "cookie",
    "credential",
    "signature",
)
"""A header or query parameter whose name holds one of these may carry a credential:
``Authorization``, ``Proxy-Authorization``, ``X-Api-Key``, ``X-LiveKit-Worker-Token``,
``api-key``... (an identifier such as ``X-LiveKit-Room-ID`` is not one)."""


def credentials(items: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The values among ``(name, value)`` pairs (headers, query parameters) that may be
    credentials; of an ``Authorization``-style value (``Bearer <token>``) the part after the
    scheme, so that a masked echo still reads ``Bearer ***``."""
    found: list[str] = []
    for name, value in items:
        lowered = name.lower()
        if not any(word in lowered for word in _CREDENTIAL_WORDS):
            continue
        scheme, space, rest = value.strip().partition(" ")
        rest = rest.strip()
        found.append(rest if space and rest and scheme.isalpha() else value.strip())
    return tuple(found)


MASK = "***"
MIN_SECRET_CHARS = 4
"""Shorter values (``api_key="x"`` for a server that wants none) are placeholders, not
secrets, and replacing them would garble the server's words."""


def _forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as written and as a JSON string escapes it, longest first (so a secret
    that contains another is replaced whole)."""
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) >= MIN_SECRET_CHARS:
            forms.add(secret)
            forms.add(json.dumps(secret)[1:-1])
    return sorted(forms, key=len, reverse=True)


_MIN_PREFIX = 8
"""A cut-off secret's beginning this long or longer is masked too."""


def _mask(text: str, forms: Iterable[str]) -> str:
    for form in forms:
        text = text.replace(form, MASK)
        # a server's text is cut to a length before it reaches us (or by us): a secret cut in
        # two leaves its beginning, which no longer matches the whole
        for k in range(len(form) - 1, _MIN_PREFIX - 1, -1):
            if form[:k] in text:
                text = text.replace(form[:k], MASK)
                break
    return text


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret, or of a cut-off beginning of one (at
    least 8 characters), replaced by ``***``."""
    return _mask(text, _forms(secrets))


def scrub_value(value: object, secrets: Iterable[str]) -> object:
    """A decoded JSON body (or text) with each secret replaced in every string, keys included."""
    forms = _forms(secrets)
    if not forms:
        return value

    def walk(item: object) -> object:
        if isinstance(item, str):
            return _mask(item, forms)
        if isinstance(item, dict):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        return item

    return walk(value)
