"""How an error reads on the command line: one line, the server's or the transport's words."""

from __future__ import annotations

import logging

import httpx2 as httpx
from livekit.agents import APIError, APIStatusError

FRAMEWORK_LOGGER = "livekit.agents"
RETRY_WARNING = "failed to generate LLM completion: "
"""How the framework's warning before each retry begins (``LLMStream._main_task``)."""
_GAVE_UP = "failed to generate LLM completion after "
_WHAT = "failed to generate LLM completion "
"""How the framework's error after the last attempt begins; its cause is the last error."""


def is_retry_warning(record: logging.LogRecord) -> bool:
    """Whether ``record`` is the framework's warning before a retry (chat prints its own line)."""
    name = record.name
    if name != FRAMEWORK_LOGGER and not name.startswith(FRAMEWORK_LOGGER + "."):
        return False
    return record.getMessage().startswith(RETRY_WARNING)


def _root(e: BaseException) -> BaseException | None:
    """The innermost ``__cause__`` (a chain may loop: stop at a repeat)."""
    seen, root, cause = {id(e)}, None, e.__cause__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        root, cause = cause, cause.__cause__
    return root


def describe(e: BaseException) -> str:
    """One line for ``e``: no field dumps, no tracebacks, the underlying error named."""
    return " ".join(_describe(e).split())


def _quotes_request(e: BaseException) -> bool:
    """Whether ``e``'s chain holds a local protocol error: its text quotes what was about to be
    sent (``Illegal header value b'Bearer <key>'``), so it is never printed."""
    seen: set[int] = set()
    cause = e.__cause__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, httpx.LocalProtocolError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__
    return False


def _describe(e: BaseException) -> str:
    if isinstance(e, APIError) and e.message.startswith(_GAVE_UP):
        # the framework's give-up error says how often, its cause says what went wrong
        text = "failed " + e.message.removeprefix(_WHAT).strip()
        cause = e.__cause__
        return f"{text}; last error: {describe(cause)}" if cause is not None else text
    if isinstance(e, APIStatusError):
        # the framework's __str__ is a field dump; the plugin's message is the server's words
        # (and already names the key to check on 401/403)
        text = e.message
        if e.request_id:
            text += f" (request id {e.request_id})"
        return text
    if isinstance(e, APIError):
        # the plugin's message names the URL and the transport error's type; its root cause
        # (e.g. a DNS or TLS failure) says why, when it says anything
        text = e.message
        root = _root(e)
        why = str(root).strip() if root is not None else ""
        if why and why not in text and not isinstance(root, APIError) and not _quotes_request(e):
            text += f" ({why})"
        return text
    if isinstance(e, RuntimeError):
        # the local engine appends its log tail; the first line names the log file
        return (str(e).strip().splitlines() or [type(e).__name__])[0]
    return str(e) or type(e).__name__
