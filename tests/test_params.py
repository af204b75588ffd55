"""The parameter model: every validation rule, merging, and the request split.

Errors are checked through :func:`params.validate` (the path every user value takes: the
constructor, ``update_options`` and ``chat(extra_kwargs=...)``), so each rejection must name
the field and, for ranges, the allowed range.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from livekit_plugins_hosted import models
from livekit_plugins_hosted.backends import LIVEKIT
from livekit_plugins_hosted.models import REASONING_UNSUPPORTED, ModelInfo
from livekit_plugins_hosted.params import (
    PARAMETER_NAMES,
    ModelParams,
    allowed,
    merge,
    validate,
)
from livekit_plugins_hosted.request import build_request

GEMMA = "google/gemma-4-31b-it"


def rejects(values: dict[str, Any], *fragments: str) -> str:
    """Assert ``validate(values)`` raises ValueError whose message contains every fragment."""
    with pytest.raises(ValueError) as info:
        validate(values)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# --- ranges -----------------------------------------------------------------------------------

RANGES: list[tuple[str, float, float, str]] = [
    ("temperature", 0, 2, "0 to 2"),
    ("top_p", 0, 1, "0 to 1"),
    ("frequency_penalty", -2, 2, "-2.0 to 2.0"),
    ("presence_penalty", -2, 2, "-2.0 to 2.0"),
]


@pytest.mark.parametrize(("name", "low", "high", "text"), RANGES)
def test_float_range_boundaries_accepted(name: str, low: float, high: float, text: str) -> None:
    """A user setting a parameter to the very edge of its documented range would be refused."""
    assert getattr(validate({name: float(low)}), name) == low
    assert getattr(validate({name: float(high)}), name) == high


@pytest.mark.parametrize(("name", "low", "high", "text"), RANGES)
def test_float_range_just_outside_rejected(name: str, low: float, high: float, text: str) -> None:
    """An out-of-range value would reach the server, or the error would not say what is allowed."""
    rejects({name: low - 0.001}, name, text)
    rejects({name: high + 0.001}, name, text)


def test_float_nan_and_inf_rejected() -> None:
    """temperature=nan or inf would be sent to the server instead of being refused."""
    rejects({"temperature": float("nan")}, "temperature", "0 to 2")
    rejects({"temperature": float("inf")}, "temperature", "0 to 2")


def test_top_logprobs_boundaries() -> None:
    """top_logprobs 0 or 20 would be refused, or 21 / -1 would reach the server."""
    assert validate({"logprobs": True, "top_logprobs": 0}).top_logprobs == 0
    assert validate({"logprobs": True, "top_logprobs": 20}).top_logprobs == 20
    rejects({"logprobs": True, "top_logprobs": 21}, "top_logprobs", "0 to 20")
    rejects({"logprobs": True, "top_logprobs": -1}, "top_logprobs", "0 to 20")


# --- cross-field rules ------------------------------------------------------------------------


def test_temperature_with_top_p_rejected() -> None:
    """The reference's "set this or top_p, but not both" would not be enforced."""
    rejects({"temperature": 0.5, "top_p": 0.9}, "temperature", "top_p")


def test_temperature_or_top_p_alone_accepted() -> None:
    """Setting only one of temperature / top_p would be refused."""
    assert validate({"temperature": 0.5}).given() == {"temperature": 0.5}
    assert validate({"top_p": 0.9}).given() == {"top_p": 0.9}


def test_top_logprobs_requires_logprobs_true() -> None:
    """top_logprobs without logprobs=True would be sent and silently do nothing."""
    rejects({"top_logprobs": 3}, "top_logprobs", "logprobs=True")
    rejects({"top_logprobs": 3, "logprobs": False}, "top_logprobs", "logprobs=True")
    assert validate({"top_logprobs": 3, "logprobs": True}).top_logprobs == 3


def test_max_tokens_with_max_completion_tokens_rejected() -> None:
    """Both token limits together would be sent with an ambiguous meaning."""
    rejects({"max_tokens": 10, "max_completion_tokens": 10}, "max_tokens", "max_completion_tokens")


@pytest.mark.parametrize(
    ("agp", "cfm"),
    [(True, None), (None, True), (False, True), (True, False), (False, False)],
)
def test_generation_prompt_flags_compatible(agp: bool | None, cfm: bool | None) -> None:
    """Prefilling the reply (continue_final_message) would be refused in a valid combination."""
    values = {"add_generation_prompt": agp, "continue_final_message": cfm}
    assert validate(values).given() == {k: v for k, v in values.items() if v is not None}


def test_generation_prompt_with_continue_final_message_rejected() -> None:
    """add_generation_prompt=True with continue_final_message=True would reach the server."""
    rejects(
        {"add_generation_prompt": True, "continue_final_message": True},
        "add_generation_prompt",
        "continue_final_message",
    )


# --- stop -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", ["\n", ["a"], ["a", "b", "c", "d"]])
def test_stop_accepted(stop: str | list[str]) -> None:
    """A documented stop value (a string or up to 4 strings) would be refused."""
    assert validate({"stop": stop}).stop == stop


@pytest.mark.parametrize("stop", [["a", "b", "c", "d", "e"], "", [], ["a", ""]])
def test_stop_rejected(stop: str | list[str]) -> None:
    """More than 4 stop sequences or an empty one would reach the server."""
    rejects({"stop": stop}, "stop", allowed("stop"))


def test_stop_wrong_type_rejected() -> None:
    """stop=5 would reach the server instead of a clear error."""
    rejects({"stop": 5}, "stop", allowed("stop"))


# --- counts and types -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["n", "max_tokens", "max_completion_tokens"])
def test_counts_at_least_one(name: str) -> None:
    """A count of 1 would be refused, or 0 / -1 would reach the server."""
    assert getattr(validate({name: 1}), name) == 1
    rejects({name: 0}, name, ">= 1")
    rejects({name: -1}, name, ">= 1")


@pytest.mark.parametrize(
    "name", ["n", "max_tokens", "max_completion_tokens", "seed", "top_logprobs"]
)
def test_bool_not_accepted_as_int(name: str) -> None:
    """max_tokens=True would be sent as 1 instead of being refused as a mistake."""
    extra = {"logprobs": True} if name == "top_logprobs" else {}
    rejects({name: True, **extra}, name)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("temperature", "0 to 2"),
        ("top_p", "0 to 1"),
        ("frequency_penalty", "-2.0 to 2.0"),
        ("presence_penalty", "-2.0 to 2.0"),
    ],
)
def test_bool_and_str_not_accepted_as_float(name: str, text: str) -> None:
    """temperature=True or temperature="0.7" would be coerced silently instead of refused."""
    rejects({name: True}, name, text)
    rejects({name: "0.7"}, name, text)


@pytest.mark.parametrize("name", ["n", "max_tokens", "max_completion_tokens", "seed"])
def test_str_and_float_not_accepted_as_int(name: str) -> None:
    """max_tokens="100" or 100.0 would be coerced silently instead of refused."""
    rejects({name: "100"}, name)
    rejects({name: 100.5}, name)


def test_int_accepted_as_float() -> None:
    """temperature=1 (an int) would be refused although it is a valid number."""
    assert validate({"temperature": 1}).temperature == 1.0
    assert validate({"frequency_penalty": -2}).frequency_penalty == -2.0


@pytest.mark.parametrize(
    "name", ["logprobs", "parallel_tool_calls", "store", "add_generation_prompt"]
)
def test_bools_reject_non_bool(name: str) -> None:
    """logprobs=1 or "true" would be coerced instead of refused."""
    rejects({name: 1}, name, "true or false")
    rejects({name: "true"}, name, "true or false")


@pytest.mark.parametrize("name", ["user", "prompt_cache_key", "safety_identifier"])
def test_strings_reject_non_str(name: str) -> None:
    """user=123 would be coerced to a string instead of refused."""
    assert getattr(validate({name: "abc"}), name) == "abc"
    rejects({name: 123}, name, "a string")


# --- tool_choice ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "choice",
    ["auto", "required", "none", {"type": "function", "function": {"name": "get_weather"}}],
)
def test_tool_choice_forms_accepted(choice: Any) -> None:
    """A documented tool_choice form would be refused."""
    assert validate({"tool_choice": choice}).given() == {"tool_choice": choice}


@pytest.mark.parametrize(
    "choice",
    [
        "AUTO",
        "any",
        {"type": "function"},
        {"type": "tool", "function": {"name": "f"}},
        {"type": "function", "function": {"name": ""}},
        {"type": "function", "function": {}},
        {"type": "function", "function": {"name": "f"}, "extra": 1},
        {"type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"function": {"name": "f"}},
        ["auto"],
    ],
)
def test_tool_choice_wrong_forms_rejected(choice: Any) -> None:
    """A malformed tool_choice would reach the server instead of a clear error."""
    rejects({"tool_choice": choice}, "tool_choice", "'auto', 'required', 'none'")


# --- logit_bias, metadata ---------------------------------------------------------------------


def test_logit_bias_accepted() -> None:
    """A valid logit_bias (token-id strings to -100..100) would be refused."""
    bias = {"50256": -100, "1": 100, "42": 0}
    assert validate({"logit_bias": bias}).logit_bias == bias


@pytest.mark.parametrize(
    "bias",
    [
        {"abc": 1},
        {"-1": 1},
        {"": 1},
        {"1": 101},
        {"1": -101},
        {"1": 1.5},
        {"1": True},
        {"1": "1"},
        {1: 1},
    ],
)
def test_logit_bias_rejected(bias: dict[Any, Any]) -> None:
    """A logit_bias key that is not a token id, or a bias outside -100..100, would be sent."""
    rejects({"logit_bias": bias}, "logit_bias", "-100 to 100")


def test_logit_bias_non_ascii_digit_key_rejected() -> None:
    """logit_bias={"²": 5} would be sent to the server although "²" is not a token id."""
    rejects({"logit_bias": {"²": 5}}, "logit_bias")


def test_metadata_limits_accepted() -> None:
    """Metadata at the documented limits (16 keys, 64-char keys, 512-char values) is refused."""
    meta = {f"k{i}": "v" for i in range(15)}
    meta["k" * 64] = "v" * 512
    assert len(meta) == 16
    assert validate({"metadata": meta}).metadata == meta


@pytest.mark.parametrize(
    "meta",
    [
        {f"k{i}": "v" for i in range(17)},
        {"k" * 65: "v"},
        {"k": "v" * 513},
        {"k": 1},
        {"k": None},
    ],
)
def test_metadata_limits_rejected(meta: dict[str, Any]) -> None:
    """Metadata beyond the limits (or with non-string values) would reach the server."""
    rejects({"metadata": meta}, "metadata", "at most 16")


# --- prediction, modalities, literals ---------------------------------------------------------


@pytest.mark.parametrize(
    "prediction",
    [
        {"type": "content", "content": "Hello"},
        {"type": "content", "content": [{"type": "text", "text": "Hello"}]},
    ],
)
def test_prediction_accepted(prediction: dict[str, Any]) -> None:
    """A documented predicted-output value would be refused."""
    assert validate({"prediction": prediction}).given() == {"prediction": prediction}


@pytest.mark.parametrize(
    "prediction",
    [
        "Hello",
        {"type": "text", "content": "Hello"},
        {"type": "content"},
        {"type": "content", "content": [{"type": "image", "text": "x"}]},
        {"type": "content", "content": 5},
    ],
)
def test_prediction_rejected(prediction: Any) -> None:
    """A malformed prediction would reach the server."""
    rejects({"prediction": prediction}, "prediction", "'type': 'content'")


@pytest.mark.parametrize("modalities", [["text"], ["audio"], ["text", "audio"]])
def test_modalities_accepted(modalities: list[str]) -> None:
    """A documented modalities list would be refused."""
    assert validate({"modalities": modalities}).modalities == modalities


@pytest.mark.parametrize("modalities", [[], ["video"], "text", ["TEXT"]])
def test_modalities_rejected(modalities: Any) -> None:
    """An empty or unknown modalities value would reach the server."""
    rejects({"modalities": modalities}, "modalities", "'text' and/or 'audio'")


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("service_tier", ["auto", "default", "flex", "scale", "priority"], ["fast", "AUTO", 1]),
        ("verbosity", ["low", "medium", "high"], ["max", "LOW", 1]),
        # "none" is the thinking switch of self-hosted engines (LiveKit Inference refuses it)
        ("reasoning_effort", ["none", "low", "medium", "high"], ["minimal", "off", "HIGH", 2]),
    ],
)
def test_literal_fields(name: str, good: list[str], bad: list[Any]) -> None:
    """A documented service_tier / verbosity / reasoning_effort value would be refused, or an
    undocumented one sent."""
    for value in good:
        assert getattr(validate({name: value}), name) == value
    for value in bad:
        rejects({name: value}, name, "one of")


def test_web_search_options_must_be_dict() -> None:
    """web_search_options="on" would reach the server instead of a clear error."""
    assert validate({"web_search_options": {}}).web_search_options == {}
    rejects({"web_search_options": "on"}, "web_search_options", "a dict")


# --- unknown names and extra_body -------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("temprature", "temperature"), ("max_completion_token", "max_completion_tokens")],
)
def test_unknown_name_suggests_the_right_one(typo: str, suggestion: str) -> None:
    """A misspelled parameter would be silently ignored or the error would not help fix it."""
    rejects({typo: 1}, typo, f"Did you mean {suggestion!r}")


def test_unknown_name_without_close_match() -> None:
    """A made-up parameter would be sent, or the error would not point to extra_body."""
    msg = rejects({"zzzzzz": 1}, "zzzzzz", "extra_body")
    assert "Did you mean" not in msg


def test_non_mapping_rejected() -> None:
    """extra_kwargs=[...] would fail with an obscure error instead of saying it must be a dict."""
    with pytest.raises(ValueError, match="must be a dict"):
        validate([("temperature", 1)])  # type: ignore[arg-type]


def test_none_is_empty() -> None:
    """extra_kwargs=None would fail instead of meaning "no parameters"."""
    assert validate(None).given() == {}


def test_extra_body_arbitrary_keys_accepted() -> None:
    """Server-specific fields (e.g. top_k) could not be passed at all."""
    body = {"top_k": 40, "min_p": 0.05, "chat_template_kwargs": {"enable_thinking": False}}
    assert validate({"extra_body": body}).extra_body == body


@pytest.mark.parametrize(
    "key", ["temperature", "add_generation_prompt", "messages", "model", "stream", "tools"]
)
def test_extra_body_rejects_parameters_and_reserved(key: str) -> None:
    """A model parameter smuggled through extra_body would bypass validation, or overwrite the
    messages/model/stream/tools the plugin sets."""
    rejects({"extra_body": {key: 1}}, "extra_body", key)


# --- merge ------------------------------------------------------------------------------------


def test_merge_per_call_wins() -> None:
    """A per-call value would not override the persistent one."""
    base = validate({"temperature": 0.2, "seed": 1})
    merged = merge(base, validate({"temperature": 0.9, "max_completion_tokens": 50}))
    assert merged.given() == {"temperature": 0.9, "seed": 1, "max_completion_tokens": 50}


def test_merge_empty_override_keeps_base() -> None:
    """A call without per-call parameters would lose the persistent ones."""
    base = validate({"temperature": 0.2})
    assert merge(base, ModelParams()).given() == {"temperature": 0.2}


def test_merge_extra_body_combined() -> None:
    """Per-call extra_body would wipe out the persistent extra_body instead of adding to it."""
    base = validate({"extra_body": {"top_k": 40, "min_p": 0.1}})
    merged = merge(base, validate({"extra_body": {"top_k": 10}}))
    assert merged.extra_body == {"top_k": 10, "min_p": 0.1}


@pytest.mark.parametrize(
    "base, override, expected",
    [
        ({"temperature": 0.2, "seed": 1}, {"top_p": 0.5}, {"top_p": 0.5, "seed": 1}),
        ({"max_tokens": 10}, {"max_completion_tokens": 20}, {"max_completion_tokens": 20}),
        (
            {"add_generation_prompt": True},
            {"continue_final_message": True},
            {"continue_final_message": True},
        ),
        ({"logprobs": True, "top_logprobs": 3}, {"logprobs": False}, {"logprobs": False}),
    ],
)
def test_merge_per_call_replaces_exclusive_partner(
    base: dict[str, Any], override: dict[str, Any], expected: dict[str, Any]
) -> None:
    """A per-call value would be refused (or both sent) because its persistent partner is set."""
    assert merge(validate(base), validate(override)).given() == expected


# --- build_request ----------------------------------------------------------------------------


def test_build_request_sends_open_weight_flags_top_level() -> None:
    """Open-weight flags and extra_body fields would not reach the wire as top-level fields."""
    params = validate(
        {
            "temperature": 0.7,
            "max_completion_tokens": 100,
            "add_generation_prompt": False,
            "continue_final_message": True,
            "extra_body": {"top_k": 40},
        }
    )
    body = build_request(params, model=models.get_model(GEMMA), backend=LIVEKIT, has_tools=False)
    assert body == {
        "temperature": 0.7,
        "max_completion_tokens": 100,
        "add_generation_prompt": False,
        "continue_final_message": True,
        "top_k": 40,
    }


def test_build_request_does_not_mutate_params() -> None:
    """Building one request would change the parameters used for the next one."""
    params = validate({"extra_body": {"top_k": 40}, "continue_final_message": True})
    build_request(params, model=models.get_model(GEMMA), backend=LIVEKIT, has_tools=False)
    assert params.extra_body == {"top_k": 40}


def test_build_request_drops_tool_fields_without_tools() -> None:
    """tool_choice sent without tools makes the server reject the request."""
    params = validate({"tool_choice": "required", "parallel_tool_calls": False, "seed": 3})
    model = models.get_model(GEMMA)
    body = build_request(params, model=model, backend=LIVEKIT, has_tools=False)
    assert body == {"seed": 3}
    body = build_request(params, model=model, backend=LIVEKIT, has_tools=True)
    assert body == {"tool_choice": "required", "parallel_tool_calls": False, "seed": 3}


def test_build_request_gemma_drops_unlisted_parameters() -> None:
    """Parameters the Gemma 4 model page does not list would be sent (and silently ignored)."""
    params = validate(
        {
            "temperature": 0.5,
            "seed": 7,
            "stop": ["\n"],
            "reasoning_effort": "low",
            "user": "u1",
            "metadata": {"a": "b"},
            "store": True,
            "service_tier": "auto",
            "verbosity": "low",
            "modalities": ["text"],
            "prompt_cache_key": "k",
            "safety_identifier": "s",
            "web_search_options": {},
            "prediction": {"type": "content", "content": "x"},
            "add_generation_prompt": True,
        }
    )
    body = build_request(params, model=models.get_model(GEMMA), backend=LIVEKIT, has_tools=False)
    assert body == {"temperature": 0.5, "seed": 7, "stop": ["\n"], "add_generation_prompt": True}


def test_build_request_unknown_model_keeps_all_but_reasoning_effort() -> None:
    """An unknown (self-hosted) model would lose parameters, or get reasoning_effort that only
    reasoning models take."""
    given = {
        "temperature": 0.5,
        "user": "u1",
        "metadata": {"a": "b"},
        "reasoning_effort": "high",
        "logprobs": True,
        "top_logprobs": 2,
        "add_generation_prompt": False,
    }
    body = build_request(
        validate(given),
        model=models.get_model("acme/unknown-model"),
        backend=LIVEKIT,
        has_tools=False,
    )
    assert body == {k: v for k, v in given.items() if k != "reasoning_effort"}


def test_build_request_reasoning_model() -> None:
    """A reasoning model would get temperature & co. (which it rejects) or lose
    reasoning_effort."""
    info = ModelInfo(id="acme/reasoner", family="Reasoner", reasoning=True)
    given = {
        "temperature": 0.5,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.1,
        "n": 2,
        "logprobs": True,
        "top_logprobs": 2,
        "logit_bias": {"1": 5},
        "reasoning_effort": "high",
        "max_completion_tokens": 500,
        "seed": 1,
    }
    body = build_request(validate(given), model=info, backend=LIVEKIT, has_tools=False)
    assert body == {"reasoning_effort": "high", "max_completion_tokens": 500, "seed": 1}
    top_p_only = validate({"top_p": 0.5, "reasoning_effort": "low"})
    assert build_request(top_p_only, model=info, backend=LIVEKIT, has_tools=False) == {
        "reasoning_effort": "low"
    }
    assert (
        set(given) - {"reasoning_effort", "max_completion_tokens", "seed"} <= REASONING_UNSUPPORTED
    )


# --- the reference ---------------------------------------------------------------------------


# Every parameter of the reference (the model-parameters page and the Gemma 4 page's table).
REFERENCE_PARAMETERS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "reasoning_effort",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "stop",
    "n",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "parallel_tool_calls",
    "tool_choice",
    "user",
    "service_tier",
    "metadata",
    "store",
    "prediction",
    "modalities",
    "web_search_options",
    "verbosity",
    "prompt_cache_key",
    "safety_identifier",
    "add_generation_prompt",
    "continue_final_message",
)

DATA = Path(__file__).parent / "data"
"""The two source documents (model page, parameter reference), as published."""
# A reference line starts with the parameter name glued to its type, e.g. "temperaturefloat"
# or "add_generation_promptbooltrue" (a type word, with an optional default, must not run on
# into lowercase, or "prediction" would parse as "pre" + "dict").
_NAME_THEN_TYPE = re.compile(
    r"^([a-z][a-z_]*?)"
    r"(?=(?:float|int|bool|str|dict)(?:true|false)?(?![a-z])|list\[|\"|Metadata|ChatCompletion|WebSearch|ToolChoice)"
)


def _seed_names(path: Path, start: str, end: str) -> set[str]:
    text = path.read_text(encoding="utf-8")
    section = text.split(start, 1)[1].split(end, 1)[0]
    return {m.group(1) for line in section.splitlines() if (m := _NAME_THEN_TYPE.match(line))}


def test_reference_parameters_are_fields() -> None:
    """A parameter of the reference could not be set (unknown-parameter error)."""
    missing = set(REFERENCE_PARAMETERS) - set(ModelParams.model_fields)
    assert not missing
    assert set(REFERENCE_PARAMETERS) == PARAMETER_NAMES


def test_seed_reference_parameters_are_fields() -> None:
    """A parameter named in the reference pages could not be set (unknown-parameter error)."""
    names = _seed_names(DATA / "parameter_reference.txt", "Model parameters", "\nUsage")
    names |= _seed_names(DATA / "model_page.txt", "ParameterTypeDefaultNotes", "String descriptors")
    assert len(names) >= 25, sorted(names)  # the parse found the lists, not a few stray lines
    assert names <= set(ModelParams.model_fields), sorted(names - set(ModelParams.model_fields))
    assert names == set(REFERENCE_PARAMETERS)


_VALID_RANGE = re.compile(r"Valid range: (-?\d+(?:\.\d+)?)-(-?\d+(?:\.\d+)?)")


def test_ranges_match_the_model_page_table() -> None:
    """A range the model page documents would be enforced differently, or said differently."""
    text = (DATA / "model_page.txt").read_text(encoding="utf-8")
    table = text.split("ParameterTypeDefaultNotes", 1)[1].split("String descriptors", 1)[0]
    ranges = {
        m.group(1): r.groups()
        for line in table.splitlines()
        if (m := _NAME_THEN_TYPE.match(line)) and (r := _VALID_RANGE.search(line))
    }
    assert set(ranges) == {
        "temperature",
        "top_p",
        "frequency_penalty",
        "presence_penalty",
        "top_logprobs",
    }
    for name, (low, high) in ranges.items():
        assert f"{low} to {high}" in allowed(name), (name, allowed(name))
        field = ModelParams.model_fields[name]
        bounds = {type(m).__name__: getattr(m, type(m).__name__.lower()) for m in field.metadata}
        assert (bounds["Ge"], bounds["Le"]) == (float(low), float(high)), name
