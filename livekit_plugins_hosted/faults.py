"""Pure rules for server faults: what a status and its headers mean for a retry.

* A 429 for a per-minute limit (RPM/TPM) is transient: retried, after ``Retry-After`` when the
  server names a wait that fits the request's time budget; a longer wait fails at once so a
  ``FallbackAdapter`` can move on.
* A 429 for exhausted credits is terminal: never retried. It is told apart by the gateway's
  ``X-LiveKit-Inference-Credits-{Used,Limit}`` headers (used >= limit) or by the error body
  (``insufficient_quota``-style codes, or "credit"/"billing"/"quota exhausted" in the message).
* A redirect (3xx) is never followed (it could carry the credentials elsewhere) and never
  retried: asking again gets the same answer.
* A 499 the *server* sends (its upstream hung up on it) is a failure on the server's side,
  reported as a connection error: the framework takes a ``499`` status for "the caller went
  away" and would end the turn in silence.
* An error event inside a stream is judged as the status its ``code`` (or ``type``) names
  (:func:`status_of_error`), by the same rules.
* A 400 is a refusal of one request field (the thinking-token budget) only when the error
  names that field as what it refuses (:func:`refuses_field`), not when it merely repeats the
  request.
* Error bodies are read up to :data:`ERROR_BODY_LIMIT` bytes and a server's message is cut at
  :data:`MESSAGE_LIMIT` characters: a huge body must not end up whole in an exception and in
  every retry's log line.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

QUOTA_HEADERS: dict[str, str] = {
    "X-LiveKit-Inference-RPM-Limit": "rpm_limit",
    "X-LiveKit-Inference-RPM-Used": "rpm_used",
    "X-LiveKit-Inference-TPM-Limit": "tpm_limit",
    "X-LiveKit-Inference-TPM-Used": "tpm_used",
    "X-LiveKit-Inference-Credits-Limit": "credits_limit",
    "X-LiveKit-Inference-Credits-Used": "credits_used",
}
"""Quota headers the gateway stamps on completions, 429s included; an absent dimension is not
enforced (never zero)."""

_TERMINAL_CODES = frozenset(
    {"insufficient_quota", "credits_exhausted", "quota_exhausted", "billing_hard_limit_reached"}
)
_TERMINAL_WORDS = ("credit", "billing", "insufficient_quota", "quota exhausted", "payment")

ERROR_BODY_LIMIT = 8 * 1024
"""Bytes of an error response's body that are read (a JSON error is a few hundred)."""
MESSAGE_LIMIT = 1000
"""Characters of a server's message kept in an error's text."""

# OpenAI-style error codes and types (the platform's, Anthropic's, vLLM's), as HTTP statuses
_CODE_STATUS: dict[str, int] = {
    **dict.fromkeys(_TERMINAL_CODES, 429),
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "invalid_request_error": 400,
    "context_length_exceeded": 400,
    "bad_request": 400,
    "invalid_api_key": 401,
    "authentication_error": 401,
    "permission_error": 403,
    "permission_denied": 403,
    "not_found_error": 404,
    "model_not_found": 404,
    "server_error": 500,
    "internal_error": 500,
    "api_error": 500,
    "overloaded_error": 503,
    "service_unavailable": 503,
}


def status_of_error(err: object) -> int | None:
    """The HTTP status an in-stream error names, if it names one.

    ``code`` first, then ``type``: an integer 100-599 or a string of one (``"400"``) is that
    status; a known OpenAI-style name (``"insufficient_quota"``, ``"server_error"``...) is the
    status it stands for; a boolean or anything else names none. An error that names no status
    but reads as exhausted credits is a 429, so that the credits rule applies.
    """
    if not isinstance(err, dict):
        return 429 if credits_exhausted(err, {}) else None
    for key in ("code", "type"):
        value = err.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and 100 <= value <= 599:
            return value
        if isinstance(value, str):
            text = value.strip().lower()
            if len(text) == 3 and text.isascii() and text.isdigit() and 100 <= int(text) <= 599:
                return int(text)
            if text in _CODE_STATUS:
                return _CODE_STATUS[text]
    return 429 if credits_exhausted(err, {}) else None


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def quota(headers: Mapping[str, str]) -> dict[str, str]:
    """The quota figures the gateway sent, by short name (``rpm_used`` ...)."""
    return {name: v for header, name in QUOTA_HEADERS.items() if (v := headers.get(header))}


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, else ``Retry-After`` (seconds or an
    HTTP date); ``None`` when absent or unreadable."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def credits_exhausted(body: object, figures: Mapping[str, str]) -> bool:
    """Whether a 429 means the account is out of credits (terminal), not a per-minute limit."""
    used, limit = _number(figures.get("credits_used")), _number(figures.get("credits_limit"))
    if used is not None and limit is not None and used >= limit:
        return True
    err: Any = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(err, dict):
        for key in ("code", "type"):
            if str(err.get(key, "")).lower() in _TERMINAL_CODES:
                return True
        err = err.get("message", "")
    text = str(err or "").lower()
    return any(word in text for word in _TERMINAL_WORDS)


def server_message(status: int, body: object, fallback: str) -> str:
    """The server's own error message, prefixed with the status."""
    err: Any = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        return f"{status}: {clip(err['message'])}"
    if isinstance(err, str) and err:
        return f"{status}: {clip(err)}"
    return f"{status}: {clip(fallback)}"


def read_body(content: bytes, *, truncated: bool = False) -> object:
    """An error response's body: its JSON when it is JSON, else its text (``None`` if empty).

    ``truncated``: only the first bytes were read; they are kept as text, clipped.
    """
    if not content:
        return None
    if not truncated:
        try:
            return json.loads(content)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            pass
    text = content.decode("utf-8", errors="replace")
    return clip(text) + (" (body truncated)" if truncated else "")


@dataclass(frozen=True)
class StatusVerdict:
    """What a 4xx/5xx means for the caller: the message, whether to retry, how long to wait."""

    message: str
    retryable: bool
    wait: float = 0.0
    """Seconds to wait before the error is raised (the server named a wait that fits)."""
    connection_error: bool = False
    """Report it as a connection error, not a status: the framework ends a turn quietly on a
    499 status, taking it for the caller's own cancellation."""


def judge_status(
    status: int,
    headers: Mapping[str, str],
    body: object,
    *,
    reason: str,
    emitted: bool,
    budget: float,
    retries_left: bool,
    credential_hint: str,
) -> StatusVerdict:
    """The verdict on a status error; ``emitted`` (content already reached the caller) forbids
    every retry, since a retry would make the agent say it twice."""
    message = server_message(status, body, reason)
    retryable = not emitted
    if 300 <= status < 400:
        location = headers.get("location")
        return StatusVerdict(
            message
            + f" (a redirect{f' to {clip(location, 200)}' if location else ''} is not followed:"
            " set base_url to the final URL)",
            retryable=False,
        )
    if status == 499:
        return StatusVerdict(
            message + " (sent by the server: a failure on its side, not a cancellation here)",
            retryable=retryable,
            connection_error=True,
        )
    if status == 429:
        after = retry_after(headers)
        if credits_exhausted(body, quota(headers)):
            return StatusVerdict(
                message + " (credits exhausted: not retried; check your LiveKit Cloud plan)",
                retryable=False,
            )
        if after is not None and after > budget:
            return StatusVerdict(
                message + f" (server asks to wait {after:.1f}s, beyond the {budget:.1f}s budget)",
                retryable=False,
            )
        if after is not None and not retries_left:
            return StatusVerdict(message + " (no retries left)", retryable=False)
        if after is not None and retryable:
            return StatusVerdict(message, retryable=True, wait=after)
    elif status in (401, 403):
        message += credential_hint
    return StatusVerdict(message, retryable=retryable)


def _error_of(body: object) -> tuple[object, object]:
    """An error body's ``(message, param)``: OpenAI's ``{"error": {...}}``, vLLM's older flat
    form, or the body's text."""
    err: Any = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(err, dict):
        return err.get("message"), err.get("param")
    return err, None


_ECHO_SEPARATORS = ":="
_QUOTES = "\\\"'"


def _echoed(message: str, end: int, value: str) -> bool:
    """Whether the field name ending at ``end`` is a key followed by the value sent
    (``"name": 24576``, ``'name': 24576``, ``name=24576``): the request repeated."""
    tail = message[end : end + 16 + len(value)].lstrip(_QUOTES).lstrip()
    if not tail or tail[0] not in _ECHO_SEPARATORS:
        return False
    return tail[1:].lstrip().lstrip(_QUOTES).startswith(value)


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def refuses_field(body: object, name: str, value: object) -> bool:
    """Whether an error body names the request field ``name`` as the thing refused: its
    ``param`` is ``name``, or its message names it other than as a key followed by the
    ``value`` sent (a proxy's or a server's echo of the whole request names every field, and
    refuses none of them). Read in linear time; a bare mention inside a longer name
    (``max_thinking_token_budget``) is another field."""
    message, param = _error_of(body)
    if param == name:
        return True
    if not isinstance(message, str):
        return False
    sent = json.dumps(value)
    start = 0
    while (at := message.find(name, start)) != -1:
        start = end = at + len(name)
        if at > 0 and _is_word(message[at - 1]):
            continue
        if end < len(message) and _is_word(message[end]):
            continue
        if not _echoed(message, end, sent):
            return True
    return False
