"""A status the server answered with, as the framework's error, never repeating a credential.

A response that is not 2xx is read (its body up to ``faults.ERROR_BODY_LIMIT`` bytes) into a
:class:`Fault`, as is an error event that names a status; :func:`status_error` turns it into
the framework's ``APIStatusError`` (or ``APIConnectionError`` for a server's own 499) by the
rules of :mod:`.faults`, every text of the server's masked by the caller's ``scrub``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import httpx2 as httpx
from livekit.agents import APIConnectionError, APIError, APIStatusError

from . import faults
from .log import logger
from .sse import read_capped


@dataclasses.dataclass(frozen=True)
class Fault:
    """A status the server answered with (4xx/5xx/3xx) or named in an error event."""

    status: int
    headers: Mapping[str, str]
    body: object
    reason: str = ""
    request_id: str | None = None


class HTTPStatus(Exception):
    """A response that is not 2xx; its body read up to ``faults.ERROR_BODY_LIMIT`` bytes."""

    def __init__(self, fault: Fault) -> None:
        self.fault = fault

    @classmethod
    async def read(cls, response: httpx.Response) -> HTTPStatus:
        content, truncated = await read_capped(response, faults.ERROR_BODY_LIMIT)
        return cls(
            Fault(
                status=response.status_code,
                headers=response.headers,
                body=faults.read_body(content, truncated=truncated),
                reason=response.reason_phrase,
                request_id=response.headers.get("x-request-id"),
            )
        )


def status_error(
    e: Fault,
    *,
    emitted: bool,
    scrub: Callable[[str], str],
    scrub_body: Callable[[object], object],
    model: str,
    budget: float,
    retries_left: bool,
    credential_hint: str,
) -> tuple[APIError, float]:
    """The framework error for a status, and how long to wait before it is raised."""
    # a server may echo the request, token and key included, in any of its words
    request_id = scrub(faults.clip(e.request_id, 200)) if e.request_id else None
    if e.status == 429:
        figures = {k: scrub(v) for k, v in faults.quota(e.headers).items()}
        logger.warning(
            "rate limited (429) %s",
            " ".join(f"{k}={v}" for k, v in figures.items()) or "(no quota headers)",
            extra={"model": model, "request_id": request_id, **figures},
        )
    verdict = faults.judge_status(
        e.status,
        e.headers,
        e.body,
        reason=e.reason,
        emitted=emitted,
        budget=budget,
        retries_left=retries_left,
        credential_hint=credential_hint,
    )
    message = scrub(verdict.message)
    if verdict.connection_error:
        return APIConnectionError(message, retryable=verdict.retryable), verdict.wait
    error = APIStatusError(
        message,
        status_code=e.status,
        request_id=request_id,
        body=scrub_body(e.body),
        retryable=verdict.retryable,
    )
    return error, verdict.wait
