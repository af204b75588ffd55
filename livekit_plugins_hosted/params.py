"""The parameter model: every parameter of the reference, validated, and per-call merging.

Every parameter of the LiveKit Inference parameter reference is a field of :class:`ModelParams`
under the reference's own name. Values are checked when they are given (constructor,
``update_options``, ``chat(extra_kwargs=...)``) and a violation raises ``ValueError`` naming the
field and what it allows; nothing invalid reaches the wire.

Each limit is written once: in the field's own definition (``ge``/``le``, a ``Literal``) or in a
constant below, and the words of every error about it (:func:`allowed`) are made from there.

This module is a leaf: it knows nothing of models, backends or the wire (``request.py`` turns
parameters into a request body).
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

MAX_STOP = 4
"""At most this many stop sequences (the reference: "Up to 4 sequences")."""
LOGIT_BIAS_RANGE = (-100, 100)
METADATA_MAX_KEYS, METADATA_MAX_KEY_CHARS, METADATA_MAX_VALUE_CHARS = 16, 64, 512
JSON_MAX_DEPTH = 64
"""How deep a free-form value (``extra_body``, ``web_search_options``) may nest."""
JSON_VALUES = (
    "JSON values only (strings, finite numbers, true/false, None, lists, dicts with string keys)"
)
_FREE_FORM = ("web_search_options", "extra_body")
"""The fields whose contents are not typed: each value in them is checked to be JSON."""


class _Function(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    name: str = Field(min_length=1)


class _NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    type: Literal["function"]
    function: _Function


class _PredictionText(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    type: Literal["text"]
    text: str


class _Prediction(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    type: Literal["content"]
    content: str | list[_PredictionText]


def _described(text: str) -> Any:
    """A field whose allowed values are not a plain range or choice: say them in words."""
    return Field(default=None, description=text)


class ModelParams(BaseModel):
    """The Chat Completions parameters of the LiveKit Inference reference, validated.

    ``None`` means "not set": the field is not sent. Only the fields a user gave are sent.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    reasoning_effort: Literal["none", "low", "medium", "high"] | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    seed: int | None = None
    stop: str | list[str] | None = _described(
        f"a non-empty string or a list of 1 to {MAX_STOP} non-empty strings"
    )
    n: int | None = Field(default=None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(
        default=None, ge=0, le=20, description="an integer from 0 to 20 (requires logprobs=True)"
    )
    logit_bias: dict[str, int] | None = _described(
        "a dict mapping token-id strings to integers from "
        f"{LOGIT_BIAS_RANGE[0]} to {LOGIT_BIAS_RANGE[1]}"
    )
    parallel_tool_calls: bool | None = None
    tool_choice: Literal["auto", "required", "none"] | _NamedToolChoice | None = _described(
        "'auto', 'required', 'none' or {'type': 'function', 'function': {'name': '<tool name>'}}"
    )
    user: str | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    metadata: dict[str, str] | None = _described(
        f"a dict of at most {METADATA_MAX_KEYS} string keys (<= {METADATA_MAX_KEY_CHARS} chars) "
        f"to string values (<= {METADATA_MAX_VALUE_CHARS} chars)"
    )
    store: bool | None = None
    prediction: _Prediction | None = _described(
        "{'type': 'content', 'content': <str or list of {'type': 'text', 'text': str}>}"
    )
    modalities: list[Literal["text", "audio"]] | None = Field(
        default=None, min_length=1, description="a list of 'text' and/or 'audio'"
    )
    web_search_options: dict[str, Any] | None = _described(f"a dict; {JSON_VALUES}")
    verbosity: Literal["low", "medium", "high"] | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    add_generation_prompt: bool | None = _described(
        "true or false (not together with continue_final_message=True)"
    )
    continue_final_message: bool | None = _described(
        "true or false (not together with add_generation_prompt=True)"
    )
    extra_body: dict[str, Any] | None = _described(
        f"a dict of server-specific fields that are not model parameters; {JSON_VALUES}"
    )

    @model_validator(mode="after")
    def _check_rules(self) -> ModelParams:
        if self.temperature is not None and self.top_p is not None:
            raise ValueError(
                "temperature and top_p: set one or the other, not both "
                "(the parameter reference: 'You can set this or top_p, but not both')"
            )
        if self.max_tokens is not None and self.max_completion_tokens is not None:
            raise ValueError(
                "max_tokens and max_completion_tokens: set one, not both "
                "(max_completion_tokens is preferred)"
            )
        if self.top_logprobs is not None and self.logprobs is not True:
            raise ValueError("top_logprobs requires logprobs=True")
        if self.add_generation_prompt is True and self.continue_final_message is True:
            raise ValueError(
                "add_generation_prompt and continue_final_message cannot both be True: "
                "set add_generation_prompt=False to continue the final message"
            )
        if self.stop is not None:
            stops = [self.stop] if isinstance(self.stop, str) else self.stop
            if not 1 <= len(stops) <= MAX_STOP or any(not s for s in stops):
                raise ValueError(f"stop={self.stop!r} is invalid: allowed {allowed('stop')}")
        if self.logit_bias is not None:
            low, high = LOGIT_BIAS_RANGE
            for token, bias in self.logit_bias.items():
                if not (token.isascii() and token.isdigit()) or not low <= bias <= high:
                    raise ValueError(
                        f"logit_bias[{token!r}]={bias!r} is invalid: "
                        f"allowed {allowed('logit_bias')}"
                    )
        if self.metadata is not None and (
            len(self.metadata) > METADATA_MAX_KEYS
            or any(
                len(k) > METADATA_MAX_KEY_CHARS or len(v) > METADATA_MAX_VALUE_CHARS
                for k, v in self.metadata.items()
            )
        ):
            raise ValueError(f"metadata is invalid: allowed {allowed('metadata')}")
        for name in _FREE_FORM:
            if (value := getattr(self, name)) is not None:
                check_json(value, name)
        if self.extra_body is not None:
            clash = sorted(set(self.extra_body) & (PARAMETER_NAMES | WIRE_RESERVED))
            if clash:
                raise ValueError(
                    f"extra_body must not carry {clash}: model parameters go in extra_kwargs, "
                    "where they are validated; messages/model/stream/tools are set by the plugin"
                )
        return self

    def given(self) -> dict[str, Any]:
        """The fields that were set, as plain JSON-ready values."""
        return self.model_dump(exclude_none=True)


PARAMETER_NAMES: frozenset[str] = frozenset(ModelParams.model_fields) - {"extra_body"}
"""Every model parameter name of the reference (``extra_body`` is not one)."""

WIRE_RESERVED: frozenset[str] = frozenset(
    {"messages", "model", "stream", "stream_options", "tools", "response_format"}
)
"""Request fields the plugin sets itself; never from user input."""


def check_json(
    value: Any, path: str, *, _depth: int = 0, _seen: frozenset[int] = frozenset()
) -> None:
    """Raise ``ValueError`` naming the path (``extra_body['a'][0]``) of the first part of
    ``value`` that has no faithful JSON form: NaN or infinity (they would go on the wire as the
    non-JSON words ``NaN``/``Infinity``), a set, bytes or any other object (the request would
    fail to serialise inside the stream), a key that is not a string, a string with a lone
    surrogate (not UTF-8), a container that holds itself, or nesting deeper than
    :data:`JSON_MAX_DEPTH`."""
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(
                f"{path}={value!r} is not JSON (it has no NaN or infinity); allowed: {JSON_VALUES}"
            )
        return
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"{path} is a string with a lone surrogate (not UTF-8); allowed: {JSON_VALUES}"
            ) from None
        return
    if not isinstance(value, dict | list | tuple):
        raise ValueError(
            f"{path} is a {type(value).__name__}, which is not JSON; allowed: {JSON_VALUES}"
        )
    if id(value) in _seen:
        raise ValueError(f"{path} contains itself; allowed: {JSON_VALUES}")
    if _depth >= JSON_MAX_DEPTH:
        raise ValueError(f"{path.split('[')[0]} is nested deeper than {JSON_MAX_DEPTH} levels")
    seen = _seen | {id(value)}
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(value, dict) and not isinstance(key, str):
            raise ValueError(
                f"{path} has the key {key!r} ({type(key).__name__}); JSON keys are strings"
            )
        check_json(item, f"{path}[{key!r}]", _depth=_depth + 1, _seen=seen)


def _words(value: Any) -> str:
    return repr(value) if isinstance(value, str) else f"{value}"


def _describe_type(annotation: Any, metadata: list[Any]) -> str:
    members = [
        a
        for a in (
            typing.get_args(annotation)
            if typing.get_origin(annotation) in (typing.Union, types.UnionType)
            else (annotation,)
        )
        if a is not type(None)
    ]
    # pydantic keeps ge/le as annotated_types.Ge/Le objects in the field's metadata
    low = next((m.ge for m in metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in metadata if hasattr(m, "le")), None)
    if len(members) == 1:
        (tp,) = members
        if typing.get_origin(tp) is Literal:
            return "one of " + ", ".join(_words(v) for v in typing.get_args(tp))
        if tp is bool:
            return "true or false"
        if tp is str:
            return "a string"
        if tp in (int, float):
            noun = "an integer" if tp is int else "a number"
            if low is not None and high is not None:
                return f"{noun} from {low} to {high}"
            if low is not None:
                return f"{noun} >= {low}"
            return noun
    return "a value of type " + " or ".join(getattr(m, "__name__", str(m)) for m in members)


def allowed(name: str) -> str:
    """What parameter ``name`` allows, in the words every error about it uses."""
    field = ModelParams.model_fields[name]
    if field.description:
        return field.description
    return _describe_type(field.annotation, field.metadata)


def validate(values: Mapping[str, Any] | None, *, what: str = "extra_kwargs") -> ModelParams:
    """Validate a user's parameter dict; raise ``ValueError`` naming the field and its range."""
    if values is None:
        return ModelParams()
    if not isinstance(values, Mapping):
        raise ValueError(f"{what} must be a dict, got {type(values).__name__}")
    for name in values:
        if not isinstance(name, str) or name not in ModelParams.model_fields:
            hint = difflib.get_close_matches(str(name), ModelParams.model_fields, n=1, cutoff=0.6)
            suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
            raise ValueError(
                f"{what}: unknown parameter {name!r}.{suggestion} Server-specific fields go in "
                f"{what}['extra_body']."
            )
    try:
        return ModelParams.model_validate(dict(values))
    except ValidationError as e:
        raise ValueError(_explain(e, values, what)) from None


def _explain(error: ValidationError, values: Mapping[str, Any], what: str) -> str:
    first = error.errors(include_url=False)[0]
    loc = first["loc"]
    if not loc:  # a cross-field rule: its message already names the fields
        return f"{what}: {first['msg'].removeprefix('Value error, ')}"
    name = str(loc[0])
    return f"{what}: {name}={values.get(name)!r} is invalid; allowed: {allowed(name)}"


_TRUE_EXCLUSIVE = (
    ("continue_final_message", "add_generation_prompt"),
    ("add_generation_prompt", "continue_final_message"),
)
# Setting one of these per call replaces its persistent partner (they are exclusive).
_PARTNERS = {
    "temperature": "top_p",
    "top_p": "temperature",
    "max_tokens": "max_completion_tokens",
    "max_completion_tokens": "max_tokens",
}


def merge(base: ModelParams, override: ModelParams) -> ModelParams:
    """Per-call values win over persistent ones, an exclusive partner included (a per-call
    ``top_p`` replaces a persistent ``temperature``); the result is validated as a whole."""
    if not override.model_fields_set:
        return base
    over = override.given()
    merged = base.given()
    for name in over:
        partner = _PARTNERS.get(name)
        if partner is not None and partner not in over:
            merged.pop(partner, None)
    # these two may not both be True: a per-call True displaces a persistent True
    for a, b in _TRUE_EXCLUSIVE:
        if over.get(a) is True and b not in over and merged.get(b) is True:
            del merged[b]
    if "logprobs" in over and over["logprobs"] is not True and "top_logprobs" not in over:
        merged.pop("top_logprobs", None)
    merged.update(over)
    if base.extra_body is not None and override.extra_body is not None:
        merged["extra_body"] = {**base.extra_body, **override.extra_body}
    return validate(merged, what="extra_kwargs (persistent merged with per-call)")
