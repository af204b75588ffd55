"""Pure rules for server faults: what a status and its headers mean for a retry.

* A 429 for a per-minute limit (RPM/TPM) is transient: retried, after ``Retry-After`` when the
  server names a wait that fits the request's time budget; a longer wait fails at once so a
  ``FallbackAdapter`` can move on.
* A 429 for exhausted credits is terminal: never retried. It is told apart by the gateway's
  ``X-LiveKit-Inference-Credits-{Used,Limit}`` headers (used >= limit) or by the error body
  (``insufficient_quota``-style codes, or "credit"/"billing"/"quota exhausted" in the message).
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
        return f"{status}: {err['message']}"
    if isinstance(err, str) and err:
        return f"{status}: {err}"
    return f"{status}: {fallback}"


def read_body(content: bytes) -> object:
    """An error response's body: its JSON when it is JSON, else its text (``None`` if empty)."""
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class StatusVerdict:
    """What a 4xx/5xx means for the caller: the message, whether to retry, how long to wait."""

    message: str
    retryable: bool
    wait: float = 0.0
    """Seconds to wait before the error is raised (the server named a wait that fits)."""


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
