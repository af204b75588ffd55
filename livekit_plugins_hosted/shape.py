"""Shape checks for what a server sent in a stream chunk: a wrong shape is the server's fault
(``StreamError``), not an ``AttributeError`` deep in the parser."""

from __future__ import annotations

from typing import Any

from .sse import StreamError


def obj(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StreamError(f"malformed chunk: expected an object, got {type(value).__name__}")
    return value


def items(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise StreamError(f"malformed chunk: expected a list, got {type(value).__name__}")
    return value


def text(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise StreamError(f"malformed chunk: the {what} is a {type(value).__name__}, not a string")


def count(value: Any) -> int:
    if value is None:
        return 0
    if type(value) is not int or value < 0:
        raise StreamError(f"malformed usage: expected a token count, got {value!r}")
    return value
