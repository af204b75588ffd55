"""The parameter model: validation, per-model and per-backend stripping, request building.

Every parameter of the LiveKit Inference parameter reference is a field of :class:`ModelParams`
under the reference's own name. Values are checked when they are given (constructor,
``update_options``, ``chat(extra_kwargs=...)``) and a violation raises ``ValueError`` naming the
field and what it allows; nothing invalid reaches the wire.

:func:`build_request` turns validated parameters into the top-level JSON fields of the
request: every parameter under the name the backend reads (the open-weight
``add_generation_prompt`` / ``continue_final_message`` included, which the built-in LLM cannot
send), plus the user's explicit ``extra_body`` fields.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .log import logger

if TYPE_CHECKING:
    from .backends import Backend
    from .models import ModelInfo


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


# What each field allows, in words; used in every error message about that field.
ALLOWED: dict[str, str] = {
    "temperature": "a number from 0 to 2",
    "top_p": "a number from 0 to 1",
    "max_tokens": "an integer >= 1",
    "max_completion_tokens": "an integer >= 1",
    "reasoning_effort": "one of 'low', 'medium', 'high'",
    "frequency_penalty": "a number from -2.0 to 2.0",
    "presence_penalty": "a number from -2.0 to 2.0",
    "seed": "an integer",
    "stop": "a non-empty string or a list of 1 to 4 non-empty strings",
    "n": "an integer >= 1",
    "logprobs": "true or false",
    "top_logprobs": "an integer from 0 to 20 (requires logprobs=True)",
    "logit_bias": "a dict mapping token-id strings to integers from -100 to 100",
    "parallel_tool_calls": "true or false",
    "tool_choice": "'auto', 'required', 'none' or "
    "{'type': 'function', 'function': {'name': '<tool name>'}}",
    "user": "a string",
    "service_tier": "one of 'auto', 'default', 'flex', 'scale', 'priority'",
    "metadata": "a dict of at most 16 string keys (<= 64 chars) to string values (<= 512 chars)",
    "store": "true or false",
    "prediction": "{'type': 'content', 'content': <str or list of {'type': 'text', 'text': str}>}",
    "modalities": "a list of 'text' and/or 'audio'",
    "web_search_options": "a dict",
    "verbosity": "one of 'low', 'medium', 'high'",
    "prompt_cache_key": "a string",
    "safety_identifier": "a string",
    "add_generation_prompt": "true or false (not together with continue_final_message=True)",
    "continue_final_message": "true or false (not together with add_generation_prompt=True)",
    "extra_body": "a dict of server-specific fields that are not model parameters",
}


class ModelParams(BaseModel):
    """The Chat Completions parameters of the LiveKit Inference reference, validated.

    ``None`` means "not set": the field is not sent. Only the fields a user gave are sent.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    logit_bias: dict[str, int] | None = None
    parallel_tool_calls: bool | None = None
    tool_choice: Literal["auto", "required", "none"] | _NamedToolChoice | None = None
    user: str | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    prediction: _Prediction | None = None
    modalities: list[Literal["text", "audio"]] | None = Field(default=None, min_length=1)
    web_search_options: dict[str, Any] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    add_generation_prompt: bool | None = None
    continue_final_message: bool | None = None
    extra_body: dict[str, Any] | None = None

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
            if not 1 <= len(stops) <= 4 or any(not s for s in stops):
                raise ValueError(f"stop={self.stop!r} is invalid: allowed {ALLOWED['stop']}")
        if self.logit_bias is not None:
            for token, bias in self.logit_bias.items():
                if not (token.isascii() and token.isdigit()) or not -100 <= bias <= 100:
                    allowed = ALLOWED["logit_bias"]
                    raise ValueError(
                        f"logit_bias[{token!r}]={bias!r} is invalid: allowed {allowed}"
                    )
        if self.metadata is not None and (
            len(self.metadata) > 16
            or any(len(k) > 64 or len(v) > 512 for k, v in self.metadata.items())
        ):
            raise ValueError(f"metadata is invalid: allowed {ALLOWED['metadata']}")
        if self.extra_body is not None:
            clash = sorted(
                (set(self.extra_body) & PARAMETER_NAMES) | (set(self.extra_body) & _WIRE_RESERVED)
            )
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

# Only OpenAI-style reasoning models take these.
REASONING_ONLY: frozenset[str] = frozenset({"reasoning_effort"})
# "Not supported by reasoning models" in the parameter reference.
REASONING_UNSUPPORTED: frozenset[str] = frozenset(
    {
        "temperature",
        "top_p",
        "frequency_penalty",
        "presence_penalty",
        "n",
        "logprobs",
        "top_logprobs",
        "logit_bias",
    }
)
# Set by the plugin itself; never from user input.
_WIRE_RESERVED: frozenset[str] = frozenset(
    {"messages", "model", "stream", "stream_options", "tools", "response_format"}
)


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
        raise ValueError(_describe(e, values, what)) from None


def _describe(error: ValidationError, values: Mapping[str, Any], what: str) -> str:
    first = error.errors(include_url=False)[0]
    loc = first["loc"]
    if not loc:  # a cross-field rule: its message already names the fields
        return f"{what}: {first['msg'].removeprefix('Value error, ')}"
    name = str(loc[0])
    allowed = ALLOWED.get(name, first["msg"])
    return f"{what}: {name}={values.get(name)!r} is invalid; allowed: {allowed}"


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


def build_request(
    params: ModelParams,
    *,
    model: ModelInfo,
    backend: Backend,
    has_tools: bool,
) -> dict[str, Any]:
    """The request's top-level JSON fields for validated parameters.

    Drops what the model does not support (debug-logged, as the reference says the gateway
    ignores them) and the tool fields when no tools are sent; applies the backend's mapping.
    """
    values = params.given()
    fields: dict[str, Any] = dict(values.pop("extra_body", None) or {})
    if not has_tools:
        values.pop("tool_choice", None)
        values.pop("parallel_tool_calls", None)
    if (
        values.get("continue_final_message") is True
        and "add_generation_prompt" not in values
        and "continue_final_message" not in backend.omitted
    ):
        # the servers default add_generation_prompt to true and refuse it together with
        # continue_final_message, so continuing means saying both
        values["add_generation_prompt"] = False
    for name, value in values.items():
        if name in backend.omitted:
            continue
        if model.drops(name):
            logger.debug(
                "dropping parameter the model does not support",
                extra={"parameter": name, "model": model.id},
            )
            continue
        fields[backend.renames.get(name, name)] = value
    return fields
