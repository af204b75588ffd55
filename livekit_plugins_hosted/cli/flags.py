"""What more than one command shares: the model-parameter flags, the connection flags, checks.

The model-parameter flags are generated from :class:`~livekit_plugins_hosted.params.ModelParams`,
with the help text the library's own errors use (:func:`~livekit_plugins_hosted.params.allowed`),
so a new parameter gets its flag without a change here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable
from typing import Any, Literal

from .. import auth
from ..local import INSTALL_HINT, local_engine_available
from ..models import GEMMA_4_31B_IT, LOCAL_MODEL_ID
from ..params import ModelParams, allowed

DEFAULT_MODEL = GEMMA_4_31B_IT
"""The model ``chat`` and ``doctor`` use without ``--model`` (LiveKit Inference)."""

DEFAULT_TIMEOUT = 10.0
"""Seconds without a byte before a request gives up (``--timeout``)."""


# --- value types -------------------------------------------------------------------------


def positive_float(text: str) -> float:
    """A finite number > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number > 0")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def header_text(text: str) -> str:
    """A value sent as an HTTP header (argparse type): printable ASCII, checked by the same
    rule the library applies, so that the flag is named and nothing is signed or sent."""
    try:
        return auth.check_header_text("value", text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def header_secret(text: str) -> str:
    """A key sent as a bearer token (argparse type): as :func:`header_text`, and the error
    never repeats the value."""
    try:
        return auth.clean_credential("the key", text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def url_text(text: str) -> str:
    """A server's URL (argparse type), checked by the library's own rule when parsed, so that
    a URL no request could use is a usage error naming the flag before a token is signed."""
    try:
        return auth.check_base_url(text, name="value")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# --- the connection flags chat and doctor share ----------------------------------------------


def add_connection_flags(
    parser: argparse.ArgumentParser, *, base_url_help: str, local: bool = False
) -> None:
    """``--model``, ``--provider``, ``--base-url`` and ``--timeout``, defined once.

    With ``local``, ``--local`` (the embedded engine) is added too, exclusive with ``--base-url``.
    """
    default = f"default {DEFAULT_MODEL}" + (f", or {LOCAL_MODEL_ID} with --local" if local else "")
    parser.add_argument("--model", help=f"model id ({default})")
    parser.add_argument(
        "--provider", type=header_text, help="ask LiveKit Inference for a specific provider"
    )
    where = parser.add_mutually_exclusive_group()
    if local:
        where.add_argument(
            "--local", action="store_true", help=f"start the embedded engine ({LOCAL_MODEL_ID})"
        )
    where.add_argument("--base-url", type=url_text, help=base_url_help)
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds without a byte before giving up (default {DEFAULT_TIMEOUT:g})",
    )


def require_local_engine() -> None:
    """Raise ``ValueError`` (a configuration error, exit 2) if the ``[local]`` extra is missing."""
    if not local_engine_available():
        raise ValueError(INSTALL_HINT)


# --- model parameter flags, generated from ModelParams -------------------------------------


@dataclasses.dataclass(frozen=True)
class ParamFlag:
    """How one :class:`ModelParams` field is spelled and parsed on the command line."""

    name: str
    kind: Literal["bool", "int", "float", "str", "list", "json"]
    choices: tuple[str, ...] | None = None
    word_ok: bool = False
    """For ``json`` fields that also take plain strings (``--tool-choice auto``)."""

    @property
    def option(self) -> str:
        """The flag, e.g. ``--max-completion-tokens``."""
        return "--" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        """The namespace attribute (a prefix keeps parameters apart from the CLI's own options)."""
        return f"param_{self.name}"


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


def _string_literal(tp: Any) -> tuple[str, ...] | None:
    if typing.get_origin(tp) is Literal:
        values = typing.get_args(tp)
        if all(isinstance(v, str) for v in values):
            return tuple(values)
    return None


_SIMPLE: dict[Any, Literal["bool", "int", "float", "str"]] = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
}


def _classify(name: str, annotation: Any) -> ParamFlag:
    members = _union_members(annotation)
    if len(members) == 1:
        (tp,) = members
        if tp in _SIMPLE:
            return ParamFlag(name, _SIMPLE[tp])
        if (choices := _string_literal(tp)) is not None:
            return ParamFlag(name, "str", choices)
        if typing.get_origin(tp) is list:
            (item,) = typing.get_args(tp)
            if item is str:
                return ParamFlag(name, "list")
            if (choices := _string_literal(item)) is not None:
                return ParamFlag(name, "list", choices)
    if set(members) == {str, list[str]}:  # stop: a repeatable flag always sends the list form
        return ParamFlag(name, "list")
    # dicts and structured values: JSON on the command line
    word_ok = any(m is str or _string_literal(m) is not None for m in members)
    return ParamFlag(name, "json", word_ok=word_ok)


PARAM_FLAGS: tuple[ParamFlag, ...] = tuple(
    _classify(name, field.annotation) for name, field in ModelParams.model_fields.items()
)
"""One flag per model parameter, in the parameter reference's order."""


def _json_type(flag: ParamFlag) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            if flag.word_ok:
                return text
            raise argparse.ArgumentTypeError(
                f"{text!r} is not valid JSON ({e.msg}, column {e.colno})"
            ) from None

    return parse


_METAVARS = {"int": "INT", "float": "NUMBER", "str": "TEXT"}
_CONVERTERS: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str}
# parameters the plugin leaves out of a request without tools, as chat's always is
_TOOL_ONLY = frozenset({"tool_choice", "parallel_tool_calls"})


def add_param_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per model parameter, in a group of its own."""
    group = parser.add_argument_group(
        "model parameters",
        "validated before anything is sent; unset ones are not sent "
        "(values the model or backend would ignore are refused or dropped, see README)",
    )
    for flag in PARAM_FLAGS:
        help_text = allowed(flag.name).replace("%", "%%")
        if flag.name in _TOOL_ONLY:
            help_text += " (chat sends no tools, so it is not sent)"
        if flag.kind == "bool":
            # "true or false" says nothing about an on/off flag; keep only the rule, if any
            rule = help_text.removeprefix("true or false").strip()
            group.add_argument(
                flag.option,
                dest=flag.dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=rule or None,
            )
        elif flag.kind == "list":
            group.add_argument(
                flag.option,
                dest=flag.dest,
                action="append",
                choices=flag.choices,
                metavar=None if flag.choices else "TEXT",
                help=f"repeatable; {help_text}",
            )
        elif flag.kind == "json":
            group.add_argument(
                flag.option,
                dest=flag.dest,
                type=_json_type(flag),
                metavar="JSON",
                help=f"JSON: {help_text}",
            )
        else:
            group.add_argument(
                flag.option,
                dest=flag.dest,
                type=_CONVERTERS[flag.kind],
                choices=flag.choices,
                metavar=None if flag.choices else _METAVARS[flag.kind],
                help=help_text if not flag.choices else None,
            )


def collect_params(args: argparse.Namespace) -> dict[str, Any]:
    """The model parameters given on the command line, by their reference names."""
    values: dict[str, Any] = {}
    for flag in PARAM_FLAGS:
        value = getattr(args, flag.dest, None)
        if value is not None:
            values[flag.name] = value
    return values
