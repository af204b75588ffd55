"""``livekit-hosted doctor``: check a LiveKit Inference setup step by step, never printing a secret.

Each check prints one aligned line; the first failure ends the run (the rest are "skipped").
The completion is read with the plugin's own stream reader and parser (``sse``, ``parsing``), so
an error the server reports inside a 200 stream fails the check with the server's words, and
every body is read within the same size caps as the plugin's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import httpx2 as httpx
from livekit import api

from .. import auth, faults
from ..endpoints import MODELS_BODY_LIMIT
from ..models import SPECIAL_THINKING
from ..parsing import ChunkParser
from ..sse import CompletionEvents, StreamError, read_capped
from .flags import DEFAULT_MODEL, add_connection_flags

HELP = "check the LiveKit Inference setup"
DESCRIPTION = (
    "Check, in order: credentials, token signing, the gateway, round-trip time, a 1-token "
    "completion and the rate limits it reports. Stops at the first failure."
)

CHECKS = ("credentials", "token", "gateway answers", "round trip", "completion", "rate limits")


def configure(parser: argparse.ArgumentParser) -> None:
    """The ``doctor`` options."""
    add_connection_flags(
        parser,
        base_url_help="the gateway (default: LIVEKIT_INFERENCE_URL, or LiveKit Cloud's)",
    )


class _CheckFailed(Exception):
    """A check failed; the message is the line's detail."""


class _Report:
    """Prints one aligned line per check and never a secret (every line is scrubbed)."""

    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.done = 0

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "<hidden>")
        return " ".join(text.split())

    def line(self, status: str, detail: str) -> None:
        name = CHECKS[self.done]
        self.done += 1
        print(f"{status:<8}{name:<17}{self.scrub(detail)}".rstrip(), flush=True)

    def skip_rest(self) -> None:
        while self.done < len(CHECKS):
            self.line("skipped", "")


def _first_set(*names: str) -> str | None:
    # the same precedence and truthiness as auth.resolve_credentials
    return next((n for n in names if os.environ.get(n)), None)


def _check_credentials() -> tuple[str, str, str]:
    key_var = _first_set("LIVEKIT_INFERENCE_API_KEY", "LIVEKIT_API_KEY")
    secret_var = _first_set("LIVEKIT_INFERENCE_API_SECRET", "LIVEKIT_API_SECRET")
    missing = []
    if key_var is None:
        missing.append("LIVEKIT_API_KEY (or LIVEKIT_INFERENCE_API_KEY)")
    if secret_var is None:
        missing.append("LIVEKIT_API_SECRET (or LIVEKIT_INFERENCE_API_SECRET)")
    if missing:
        raise _CheckFailed(f"not set: {' and '.join(missing)}")
    key, secret = auth.resolve_credentials(None, None)
    return key, secret, f"{key_var} and {secret_var} are set"


def _check_token(key: str, secret: str) -> str:
    try:
        token = auth.InferenceToken(key, secret).get()
        claims = api.TokenVerifier(key, secret).verify(token)
    except Exception as e:  # signing or verifying failed: the message says why
        raise _CheckFailed(f"cannot sign or verify: {type(e).__name__}: {e}") from None
    if not (claims.inference and claims.inference.perform):
        raise _CheckFailed("the signed token lacks the inference grant")
    return token


def _quota(headers: httpx.Headers) -> str:
    figures = faults.quota(headers)
    parts = []
    for label, dim in (("RPM", "rpm"), ("TPM", "tpm"), ("credits", "credits")):
        used, limit = figures.get(f"{dim}_used"), figures.get(f"{dim}_limit")
        # a dimension the gateway does not enforce is absent (faults.QUOTA_HEADERS)
        if used is not None or limit is not None:
            parts.append(f"{label} {used or '?'}/{limit or '?'} used")
    return ", ".join(parts) if parts else "not reported"


async def _status_failure(what: str, response: httpx.Response) -> _CheckFailed:
    """The failed check for a non-200 response, in the server's words (its body read up to
    ``faults.ERROR_BODY_LIMIT`` bytes)."""
    content, truncated = await read_capped(response, faults.ERROR_BODY_LIMIT)
    body = faults.read_body(content, truncated=truncated)
    message = faults.server_message(response.status_code, body, response.reason_phrase)
    detail = f"{what} -> {message[:240]}"
    if response.status_code in (401, 403):
        detail += " (the gateway rejected the token: check that the secret belongs to the key)"
    elif response.status_code == 429:
        detail += f"; {_quota(response.headers)}"
    return _CheckFailed(detail)


async def _get_models(client: httpx.AsyncClient, url: str) -> float:
    """Milliseconds for one ``GET /models`` that answers 200, its body read (within
    ``MODELS_BODY_LIMIT``: then the connection is reused for the next)."""
    started = time.perf_counter()
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise await _status_failure(f"GET {url}", response)
            await read_capped(response, MODELS_BODY_LIMIT)
    except httpx.HTTPError as e:
        raise _CheckFailed(f"GET {url}: {type(e).__name__}: {e}") from None
    return (time.perf_counter() - started) * 1000


async def _read_stream(response: httpx.Response) -> tuple[int, int | None]:
    """How many completion chunks arrived, and the completion tokens the usage reports.

    ``StreamError`` for an error event (``event: error`` or ``{"error": ...}``, with the
    server's message and code) or a malformed or oversized stream.
    """
    parser = ChunkParser(SPECIAL_THINKING)
    chunks, tokens = 0, None
    async for obj in CompletionEvents(response).objects():
        chunks += 1
        for chunk in parser.feed(obj):
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
    return chunks, tokens


async def _completion(client: httpx.AsyncClient, url: str, model: str) -> tuple[httpx.Headers, str]:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Say OK."}],
        "max_completion_tokens": 1,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    try:
        async with client.stream("POST", url, json=body) as response:
            if response.status_code != 200:
                raise await _status_failure(f"POST {url}", response)
            chunks, tokens = await _read_stream(response)
            headers = response.headers
    except StreamError as e:  # the server's own words, with its code when it sent one
        code = f"{e.status_code}: " if e.status_code is not None else ""
        raise _CheckFailed(f"POST {url} -> {code}{e.message}") from None
    except httpx.HTTPError as e:
        raise _CheckFailed(f"POST {url}: {type(e).__name__}: {e}") from None
    if chunks == 0:
        raise _CheckFailed(f"POST {url}: 200 but no completion chunk arrived")
    ms = (time.perf_counter() - started) * 1000
    counted = f"{tokens} completion token(s)" if tokens is not None else "usage not reported"
    return headers, f"{model}: {counted} in {ms:.0f} ms"


async def run(args: argparse.Namespace) -> int:
    """Run the checks in order; exit 1 at the first failure."""
    report = _Report()
    try:
        key, secret, detail = _check_credentials()
        report.secrets.append(secret)
        report.line("ok", detail)

        token = _check_token(key, secret)
        report.secrets.append(token)
        report.line("ok", f"signed and verified (inference grant, valid {auth.TOKEN_TTL:.0f} s)")

        gateway = auth.gateway_url(args.base_url).rstrip("/")
        try:
            auth.check_secure_url(gateway)
        except ValueError as e:
            raise _CheckFailed(str(e)) from None
        headers = {"Authorization": f"Bearer {token}", "User-Agent": auth.USER_AGENT}
        if args.provider:
            headers[auth.HEADER_PROVIDER] = args.provider
        models_url = f"{gateway}/models"
        async with httpx.AsyncClient(headers=headers, timeout=args.timeout) as client:
            ms = await _get_models(client, models_url)
            report.line("ok", f"GET {models_url} -> 200 in {ms:.0f} ms")

            times = [await _get_models(client, models_url) for _ in range(3)]
            report.line("ok", f"{statistics.median(times):.0f} ms (median of 3 GET /models)")

            model = args.model or DEFAULT_MODEL
            quota_headers, detail = await _completion(client, f"{gateway}/chat/completions", model)
            report.line("ok", detail)
            report.line("ok", _quota(quota_headers))
    except _CheckFailed as e:
        report.line("FAIL", str(e))
        report.skip_rest()
        return 1
    return 0
