"""Keeping credentials out of what the plugin repeats of a server's words (pure).

A server (or a proxy in front of it) may echo the request in an error, headers included: the
bearer key or the signed token would then reach ``str(error)``, the framework's log lines and
the command line. :func:`scrub` replaces each known secret in a text with ``***``;
:func:`scrub_value` does so inside a decoded JSON body. The endpoints know their current
secrets (``Endpoint.scrub``); :func:`credentials` picks out of what a request sent the values
that can be secrets (a header whose name looks like a credential's; the endpoints take every
query value); this module only finds and replaces. A server's text is hostile: masking is
linear in its length, and a body past :data:`SCRUBBED_LIMIT` is not walked.
"""

from __future__ import annotations

import base64
import bisect
import functools
import itertools
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

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


_CREDENTIAL_NAME = re.compile("|".join(_CREDENTIAL_WORDS))
# alternatives of fixed words, run over the names of headers the plugin sends (never over a
# server's text): linear

PART_MIN_CHARS = 8
"""A part of a ``Cookie`` or Digest-style value (``session=<id>``) shorter than this is taken
for a setting (``theme=dark``), not a secret: masking every short word a server repeats would
garble its message."""


def credentials(items: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The values among ``(name, value)`` pairs (headers, query parameters) that may be
    credentials; of an ``Authorization``-style value (``Bearer <token>``) the part after the
    scheme, so that a masked echo still reads ``Bearer ***``; of a value made of ``k=v`` parts
    (a ``Cookie``, Digest's parameters) each part's value too, since a server may echo one
    alone (``session <id> expired``)."""
    found: list[str] = []
    for name, value in items:
        if _CREDENTIAL_NAME.search(name.lower()) is None:
            continue
        value = value.strip()
        scheme, space, rest = value.partition(" ")
        rest = rest.strip()
        found.append(rest if space and rest and scheme.isalpha() else value)
        if "=" in value:
            found.extend(_parts(rest if space and scheme.isalpha() else value))
        if space and scheme.lower() == "basic":
            found.extend(_basic(rest))
    return tuple(found)


def _basic(encoded: str) -> list[str]:
    """Basic auth's ``user:password`` as a proxy that decoded it may repeat it: whole, and
    the password alone, or the user name when there is no password (anyone can decode what
    was sent, so it is as secret)."""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return []
    user, colon, password = decoded.partition(":")
    if not colon:
        return []
    # no password: the key is the user name (``curl -u KEY:``), a credential itself
    return [decoded, password] if password else [decoded, user]


_NOT_SECRET_PARTS = frozenset(("realm", "uri", "nonce", "nc", "qop", "algorithm", "opaque"))
"""Digest's parameters that the server chose or that name the request: masking them would
turn a server's ``POST /v1/chat/completions`` into ``POST ***``."""


def _parts(value: str) -> list[str]:
    """The values of ``k=v`` parts separated by ``;`` or ``,`` (quotes taken off)."""
    parts: list[str] = []
    for piece in value.replace(",", ";").split(";"):
        key, eq, part = piece.partition("=")
        part = part.strip().strip('"')
        if eq and len(part) >= PART_MIN_CHARS and key.strip().lower() not in _NOT_SECRET_PARTS:
            parts.append(part)
    return parts


MASK = "***"
MIN_SECRET_CHARS = 4
"""Shorter values (``api_key="x"`` for a server that wants none) are placeholders, not
secrets, and replacing them would garble the server's words."""


def _forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as written and as it reads echoed: escaped in a JSON string (``/`` also as
    ``\\/``, PHP's default), percent-encoded in a URL (``/`` kept or not, ``+`` for a space,
    escapes in upper or lower case), and each of those as ``repr`` renders it (backslashes
    doubled); longest first, so that a secret that contains another is replaced whole."""
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) >= MIN_SECRET_CHARS:
            escaped = json.dumps(secret)[1:-1]
            encoded = (quote(secret), quote(secret, safe=""), quote_plus(secret))
            forms.update((secret, escaped, escaped.replace("/", "\\/"), *encoded))
            # percent-escapes in lower case (%2b), as some servers and proxies write them
            forms.update(_lower_escapes(e) for e in encoded)
    # a server's text quoted with repr (an event that is not JSON) doubles each backslash
    forms.update([f.replace("\\", "\\\\") for f in forms if "\\" in f])
    return sorted(forms, key=len, reverse=True)


def _lower_escapes(encoded: str) -> str:
    """``encoded`` (percent-encoded: every ``%`` begins an escape) with its escapes' hex
    digits in lower case."""
    first, *rest = encoded.split("%")
    return first + "".join(f"%{part[:2].lower()}{part[2:]}" for part in rest)


_MIN_PREFIX = 8
"""A cut-off secret's beginning this long or longer is masked too."""

_LINE = re.compile(r"[^\r\n]+")
"""A line's text (one character class: linear)."""


@functools.lru_cache(maxsize=16)
def _prepared(secrets: tuple[str, ...]) -> tuple[list[str], dict[str, list[str]]]:
    """:class:`Masker`'s forms of ``secrets`` (short ones, and the rest by their beginning),
    computed once for the same secrets: every response's id is masked on the way to the first
    word, with the same few credentials turn after turn. Read only; a few entries."""
    forms = _forms(secrets)
    groups: dict[str, list[str]] = {}
    for form in forms:
        if len(form) >= _MIN_PREFIX:
            groups.setdefault(form[:_MIN_PREFIX], []).append(form)
    return [f for f in forms if len(f) < _MIN_PREFIX], groups


class Masker:
    """Masks secrets in texts in time linear in each text's length (a server's text is
    hostile). The forms of the secrets are grouped by their first :data:`_MIN_PREFIX`
    characters; each occurrence of such a beginning is extended as far as the text goes on
    agreeing with the longest-agreeing form of its group, and that much is masked: a secret cut
    in two (a server's text is cut to a length before it reaches us, or by us) leaves none of
    its beginning, and one form's partial match never spoils another's whole one. ``work``
    counts the characters examined."""

    __slots__ = ("groups", "short", "work")

    def __init__(self, secrets: Iterable[str]) -> None:
        self.short, self.groups = _prepared(tuple(secrets))
        self.work = 0

    def __bool__(self) -> bool:
        return bool(self.short or self.groups)

    def mask(self, text: str) -> str:
        spans = self._spans(text, short=True)
        if self.groups and ("\n" in text or "\r" in text):
            spans += self._broken(text)
        if not spans:
            return text
        spans.sort()
        parts: list[str] = []
        pos = 0
        for start, end in spans:
            if start >= pos:
                parts += (text[pos:start], MASK)
            pos = max(pos, end)  # a span inside or across one masked already joins it
        parts.append(text[pos:])
        return "".join(parts)

    def _spans(self, text: str, *, short: bool) -> list[tuple[int, int]]:
        """Where the secrets (and cut-off beginnings) are in ``text``; ``short``: the forms
        shorter than :data:`_MIN_PREFIX` too."""
        spans: list[tuple[int, int]] = []
        for anchor, forms in self.groups.items():
            self.work += len(text)
            i = text.find(anchor)
            while i >= 0:
                end = i + max(self._agreeing(text, i, form) for form in forms)
                spans.append((i, end))
                i = text.find(anchor, end)
        for form in self.short if short else ():
            self.work += len(text)
            i = text.find(form)
            while i >= 0:
                spans.append((i, i + len(form)))
                i = text.find(form, i + len(form))
        return spans

    def _broken(self, text: str) -> list[tuple[int, int]]:
        """Where secrets broken by line ends are in ``text`` (a stream event's data lines are
        joined with one; a server may wrap a long echo): found in the text without its line
        ends, each span then covering the line ends inside it. Not the short forms: a few
        characters across a line end are as likely two lines' words."""
        self.work += len(text)
        starts: list[int] = []  # where each line's text begins in ``text``
        lines: list[str] = []
        for line in _LINE.finditer(text):
            starts.append(line.start())
            lines.append(line.group())
        offsets = list(itertools.accumulate(map(len, lines), initial=0))

        def place(at: int) -> int:  # a place in the lines joined -> the same place in text
            k = bisect.bisect_right(offsets, at) - 1
            return starts[k] + at - offsets[k]

        return [(place(a), place(b - 1) + 1) for a, b in self._spans("".join(lines), short=False)]

    def _agreeing(self, text: str, i: int, form: str) -> int:
        """How many characters of ``text`` from ``i`` agree with ``form`` (its anchor does);
        each is passed over by the caller (a group holds a few forms of one secret), so the
        whole search stays linear."""
        n, end = _MIN_PREFIX, min(len(form), len(text) - i)
        while n < end and text[i + n] == form[n]:
            n += 1
        self.work += n
        return n


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret, or of a cut-off beginning of one (at
    least 8 characters), replaced by ``***``."""
    return Masker(secrets).mask(text)


SCRUBBED_LIMIT = 8 * 1024
"""Characters of a decoded body that are walked string by string; a larger one (a server's
4 MB error event) is kept as its JSON text, clipped to this, then masked."""


def scrub_value(value: object, secrets: Iterable[str], *, limit: int = SCRUBBED_LIMIT) -> object:
    """A decoded JSON body (or text) with each secret replaced in every string, keys included;
    a body larger than ``limit`` characters is kept as its JSON text, cut to ``limit``."""
    masker = Masker(secrets)
    if _larger(value, limit):
        # kept in the error (and every retry's log line) even when there is nothing to mask
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        cut = f"{text[:limit]}... ({len(text) - limit} more characters)"
        return masker.mask(cut)
    if not masker:
        return value

    def walk(item: object) -> object:
        if isinstance(item, str):
            return masker.mask(item)
        if isinstance(item, dict):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        return item

    return walk(value)


def _larger(value: object, limit: int) -> bool:
    """Whether ``value``'s strings and containers come to more than ``limit`` (a string counts
    its characters, a container its items): a container is counted before its items are
    visited, so a huge body costs no more than ``limit`` steps."""
    left = limit
    stack = [value]
    while stack:
        item = stack.pop()
        left -= len(item) if isinstance(item, str | dict | list | tuple) else 1
        if left < 0:
            return True
        if isinstance(item, dict):
            stack += item.keys()
            stack += item.values()
        elif isinstance(item, list | tuple):
            stack += item
    return False
