"""Property tests of the parameter model against an independent reading of the reference.

The oracle below is written from the LiveKit Inference parameter reference and the plugin's
documented ranges (``ALLOWED``), not from the package's code: it decides on its own which
parameter dicts are valid and which fields are to blame, and the tests check that
:func:`params.validate`, :func:`params.merge` and :func:`params.build_request` agree with it.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import example, given, note, settings
from hypothesis import strategies as st

from livekit_plugins_hosted import backends, models, params, request
from livekit_plugins_hosted.backends import REASONING_BUDGETS
from livekit_plugins_hosted.params import ModelParams

SETTINGS = settings(max_examples=300, deadline=None)

GEMMA = "google/gemma-4-31b-it"
UNKNOWN_MODEL = "acme/some-unlisted-model"

# --- the oracle -------------------------------------------------------------------------------

_DIGITS = frozenset("0123456789")
_TOOL_CHOICE_STRINGS = frozenset({"auto", "required", "none"})
_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "frequency_penalty": (-2, 2),
    "presence_penalty": (-2, 2),
}
_COUNTS = ("n", "max_tokens", "max_completion_tokens")
_BOOLS = ("logprobs", "add_generation_prompt", "continue_final_message")


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return type(value) is int


def _field_ok(name: str, value: Any) -> bool:
    """Whether one set (non-None) value is allowed for ``name`` on its own."""
    if name in _RANGES:
        low, high = _RANGES[name]
        return _is_number(value) and low <= value <= high
    if name in _COUNTS:
        return _is_int(value) and value >= 1
    if name == "top_logprobs":
        return _is_int(value) and 0 <= value <= 20
    if name in _BOOLS:
        return type(value) is bool
    if name == "stop":
        stops = [value] if isinstance(value, str) else value
        return (
            isinstance(stops, list)
            and 1 <= len(stops) <= 4
            and all(isinstance(s, str) and s != "" for s in stops)
        )
    if name == "tool_choice":
        if isinstance(value, str):
            return value in _TOOL_CHOICE_STRINGS
        if not isinstance(value, dict) or set(value) != {"type", "function"}:
            return False
        function = value["function"]
        return (
            value["type"] == "function"
            and isinstance(function, dict)
            and set(function) == {"name"}
            and isinstance(function["name"], str)
            and function["name"] != ""
        )
    if name == "logit_bias":
        return isinstance(value, dict) and all(
            isinstance(k, str) and k != "" and set(k) <= _DIGITS and _is_int(v) and -100 <= v <= 100
            for k, v in value.items()
        )
    raise AssertionError(f"the oracle does not know {name!r}")


def blamed(values: dict[str, Any]) -> set[str]:
    """The fields the reference says are wrong in ``values`` (empty: the dict is valid).

    A pair rule blames both fields of the pair, and only applies to values that are valid
    on their own (an invalid value is already to blame by itself).
    """
    bad = {n for n, v in values.items() if v is not None and not _field_ok(n, v)}
    ok = {n: v for n, v in values.items() if v is not None and n not in bad}
    for a, b in (("temperature", "top_p"), ("max_tokens", "max_completion_tokens")):
        if a in ok and b in ok:
            bad |= {a, b}
    if "top_logprobs" in ok and values.get("logprobs") is not True:
        bad |= {"top_logprobs", "logprobs"}
    if ok.get("add_generation_prompt") is True and ok.get("continue_final_message") is True:
        bad |= {"add_generation_prompt", "continue_final_message"}
    return bad


def names_field(message: str, name: str) -> bool:
    """Whether ``message`` mentions ``name`` as a whole identifier (``n`` is not in ``invalid``)."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message) is not None


# --- strategies: valid and invalid values per field -------------------------------------------


def _floats(low: float, high: float) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.floats(low, high),
        st.integers(-2, 5),
        st.booleans(),
        st.sampled_from(["0.5", "1", "", "high"]),
        st.none(),
    )


_COUNT_VALUES = st.one_of(
    st.integers(-2, 5), st.booleans(), st.sampled_from([1.0, 2.5, "1"]), st.none()
)
_BOOL_VALUES = st.one_of(st.booleans(), st.none(), st.sampled_from([0, 1, "true"]))
_STOP_VALUES = st.one_of(
    st.text(max_size=3),
    st.lists(st.text(max_size=3), max_size=6),
    st.sampled_from([3, ["a", 1]]),
    st.none(),
)
_NAMED_CHOICE = st.builds(
    lambda kind, name, extra: {"type": kind, "function": {"name": name}, **extra},
    st.sampled_from(["function", "function", "tool"]),
    st.one_of(st.text(max_size=4), st.just(5)),
    st.sampled_from([{}, {}, {"strict": True}]),
)
_TOOL_CHOICE_VALUES = st.one_of(
    st.sampled_from(["auto", "required", "none", "AUTO", "", "any", "function"]),
    _NAMED_CHOICE,
    st.sampled_from(
        [
            {"type": "function"},
            {"function": {"name": "x"}},
            {"type": "function", "function": "x"},
            {"type": "function", "function": {"name": "x", "arguments": "{}"}},
            1,
            True,
        ]
    ),
    st.none(),
)
_LOGIT_KEYS = st.one_of(
    st.from_regex(r"[0-9]{1,5}", fullmatch=True),
    st.text(max_size=3),
    st.sampled_from(["", "-1", " 1", "12a", "1.5", "²", "١٢", "０"]),
)
_LOGIT_BIAS_VALUES = st.one_of(
    st.dictionaries(
        _LOGIT_KEYS,
        st.one_of(st.integers(-150, 150), st.booleans(), st.just(1.0)),
        max_size=3,
    ),
    st.sampled_from([[], "1:5"]),
    st.none(),
)

MIXED_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "temperature": _floats(-1, 3),
    "top_p": _floats(-0.5, 1.5),
    "frequency_penalty": _floats(-3, 3),
    "presence_penalty": _floats(-3, 3),
    "top_logprobs": st.one_of(st.integers(-5, 30), st.booleans(), st.just(2.0), st.none()),
    "logprobs": _BOOL_VALUES,
    "stop": _STOP_VALUES,
    "n": _COUNT_VALUES,
    "max_tokens": _COUNT_VALUES,
    "max_completion_tokens": _COUNT_VALUES,
    "add_generation_prompt": _BOOL_VALUES,
    "continue_final_message": _BOOL_VALUES,
    "tool_choice": _TOOL_CHOICE_VALUES,
    "logit_bias": _LOGIT_BIAS_VALUES,
}

_TOOL_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
VALID_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "temperature": st.one_of(st.floats(0, 2), st.integers(0, 2)),
    "top_p": st.one_of(st.floats(0, 1), st.integers(0, 1)),
    "frequency_penalty": st.one_of(st.floats(-2, 2), st.integers(-2, 2)),
    "presence_penalty": st.one_of(st.floats(-2, 2), st.integers(-2, 2)),
    "top_logprobs": st.integers(0, 20),
    "logprobs": st.booleans(),
    "stop": st.one_of(
        st.text(min_size=1, max_size=3),
        st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=4),
    ),
    "n": st.integers(1, 5),
    "max_tokens": st.integers(1, 5000),
    "max_completion_tokens": st.integers(1, 5000),
    "add_generation_prompt": st.booleans(),
    "continue_final_message": st.booleans(),
    "tool_choice": st.one_of(
        st.sampled_from(sorted(_TOOL_CHOICE_STRINGS)),
        _TOOL_NAMES.map(lambda name: {"type": "function", "function": {"name": name}}),
    ),
    "logit_bias": st.dictionaries(
        st.from_regex(r"[0-9]{1,5}", fullmatch=True), st.integers(-100, 100), max_size=3
    ),
}

# Fields outside the oracle's scope, valid only; they exercise the per-model and per-backend
# handling in build_request.
_OTHER_VALID: dict[str, st.SearchStrategy[Any]] = {
    "reasoning_effort": st.sampled_from(["low", "medium", "high"]),
    "seed": st.integers(-(2**31), 2**31),
    "parallel_tool_calls": st.booleans(),
    "user": st.text(max_size=5),
    "service_tier": st.sampled_from(["auto", "default", "flex", "scale", "priority"]),
    "store": st.booleans(),
    "modalities": st.sampled_from([["text"], ["text", "audio"], ["audio"]]),
    "verbosity": st.sampled_from(["low", "medium", "high"]),
    "prompt_cache_key": st.text(max_size=5),
    "safety_identifier": st.text(max_size=5),
    "extra_body": st.dictionaries(
        st.sampled_from(["top_k", "min_p", "repetition_penalty", "chat_template_kwargs"]),
        st.one_of(st.integers(0, 50), st.just({"enable_thinking": False})),
        max_size=2,
    ),
}

mixed_dicts = st.fixed_dictionaries({}, optional=MIXED_FIELDS)
valid_field_dicts = st.fixed_dictionaries({}, optional=VALID_FIELDS)


def resolve_conflicts(values: dict[str, Any]) -> dict[str, Any]:
    """Make a dict of individually valid values obey the pair rules of the reference."""
    values = dict(values)
    if "temperature" in values:
        values.pop("top_p", None)
    if "max_completion_tokens" in values:
        values.pop("max_tokens", None)
    if "top_logprobs" in values:
        values["logprobs"] = True
    if values.get("continue_final_message") is True:
        values.pop("add_generation_prompt", None)
    return values


valid_dicts = st.fixed_dictionaries({}, optional={**VALID_FIELDS, **_OTHER_VALID}).map(
    resolve_conflicts
)


# --- validate ---------------------------------------------------------------------------------


@SETTINGS
@given(mixed_dicts)
def test_accepted_combinations_obey_the_reference(values: dict[str, Any]) -> None:
    """An invalid parameter combination would reach the server instead of being refused."""
    try:
        params.validate(values)
    except ValueError:
        return
    assert blamed(values) == set(), f"accepted, but the reference forbids {values!r}"


@SETTINGS
@given(mixed_dicts)
def test_rejections_name_an_invalid_field(values: dict[str, Any]) -> None:
    """A refused parameter dict would not say which field is wrong (or would blame a good one)."""
    try:
        params.validate(values)
    except ValueError as e:
        message = str(e).removeprefix("extra_kwargs:")
        bad = blamed(values)
        note(f"message={message!r} blamed={sorted(bad)}")
        assert any(names_field(message, name) for name in bad), (
            f"{message!r} names none of {sorted(bad)}"
        )


@SETTINGS
@given(st.one_of(mixed_dicts, valid_field_dicts))
def test_oracle_and_model_agree(values: dict[str, Any]) -> None:
    """A valid parameter dict would be refused, or an invalid one accepted."""
    oracle_valid = not blamed(values)
    try:
        params.validate(values)
        accepted = True
    except ValueError as e:
        note(str(e))
        accepted = False
    assert accepted == oracle_valid, f"oracle valid={oracle_valid}, model accepted={accepted}"


@SETTINGS
@given(
    st.from_regex(r"[a-z_]{3,20}", fullmatch=True).filter(
        lambda name: name not in ModelParams.model_fields
    ),
    st.one_of(st.integers(), st.text(max_size=3), st.none()),
)
def test_unknown_names_are_refused_by_name(name: str, value: Any) -> None:
    """A misspelled parameter would be silently dropped or the error would not say which."""
    with pytest.raises(ValueError) as info:
        params.validate({name: value})
    assert name in str(info.value)


# --- merge ------------------------------------------------------------------------------------


@SETTINGS
@given(valid_dicts, valid_dicts)
def test_merge_override_wins(base_values: dict[str, Any], override_values: dict[str, Any]) -> None:
    """A per-call parameter would be lost or replaced by the persistent one."""
    base = params.validate(base_values)
    override = params.validate(override_values)
    over = override.given()
    merged = params.merge(base, override).given()
    plain = {k: v for k, v in merged.items() if k != "extra_body"}
    assert not blamed({k: v for k, v in plain.items() if k in MIXED_FIELDS}), plain
    # what a per-call value may displace from the persistent set: its exclusive partner
    displaced = {_PAIR.get(name) for name in over}
    if over.get("continue_final_message") is True:
        displaced.add("add_generation_prompt")
    if over.get("add_generation_prompt") is True:
        displaced.add("continue_final_message")
    if "logprobs" in over and over["logprobs"] is not True:
        displaced.add("top_logprobs")
    for name, value in over.items():
        if name != "extra_body":
            assert name in merged and merged[name] == value, name
    for name, value in base.given().items():
        if name == "extra_body" or name in over:
            continue
        if name in merged:
            assert merged[name] == value, name
        else:
            assert name in displaced, f"{name} lost without a per-call partner"
    for key, value in (override.extra_body or {}).items():
        assert merged["extra_body"].get(key) == value, f"extra_body[{key!r}]"


_PAIR = {
    "temperature": "top_p",
    "top_p": "temperature",
    "max_tokens": "max_completion_tokens",
    "max_completion_tokens": "max_tokens",
}


_EXTRA_BODIES = _OTHER_VALID["extra_body"]


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["top_k", "min_p"]), st.integers(0, 50), min_size=1, max_size=2
    ),
    _EXTRA_BODIES,
)
@example(base_extra={"top_k": 40}, override_extra={})
def test_merge_combines_extra_body(
    base_extra: dict[str, Any], override_extra: dict[str, Any]
) -> None:
    """A per-call extra_body would wipe out the persistent one instead of adding to it."""
    base = params.validate({"extra_body": base_extra})
    merged = params.merge(base, params.validate({"extra_body": override_extra}))
    assert merged.extra_body == {**base_extra, **override_extra}


# --- build_request ----------------------------------------------------------------------------

_TOOL_FIELDS = ("tool_choice", "parallel_tool_calls")


@SETTINGS
@given(valid_dicts, st.booleans())
def test_build_request_sends_each_parameter_once(values: dict[str, Any], has_tools: bool) -> None:
    """A parameter the user set would be sent under the wrong name, with another value, or not
    at all; or a field would be sent that nobody gave."""
    model_params = params.validate(values)
    given_values = model_params.given()
    user_extra = given_values.pop("extra_body", {})
    for model in (models.get_model(GEMMA), models.get_model(UNKNOWN_MODEL)):
        for backend in backends.BACKENDS.values():
            try:
                backend.check(model_params)
            except ValueError:
                continue
            body = request.build_request(
                model_params, model=model, backend=backend, has_tools=has_tools
            )
            where = f"model={model.id} backend={backend.name}"
            expected_keys = set(user_extra)
            for name, value in given_values.items():
                if not has_tools and name in _TOOL_FIELDS:
                    assert name not in body, f"{name} sent ({where})"
                    continue
                if backend.model_support and model.drops(name):
                    continue
                if name == "tool_choice" and value == "auto" and not backend.sends_auto_tool_choice:
                    assert name not in body, f"auto tool_choice sent ({where})"
                    continue
                wire = backend.renames.get(name, name)
                expected_keys.add(wire)
                assert wire in body, f"{name} as {wire} ({where})"
                assert body[wire] == value, f"{name} ({where})"
            for key, value in user_extra.items():
                assert body.get(key) == value, f"extra_body[{key!r}] ({where})"
            if given_values.get("continue_final_message") is True:
                expected_keys.add("add_generation_prompt")
            family = model.family_key or ""
            # the engine's own fields for the family, and its "thinking off" when not asked
            for key, value in backend.family_fields.get(family, {}).items():
                assert key in body and (key in user_extra or body[key] == value), where
                expected_keys.add(key)
            off = backend.thinking_off.get(family)
            if off and request.thinking_asked({**given_values, **user_extra}) is None:
                assert {k: body.get(k) for k in off} == dict(off), where
                expected_keys.update(off)
            # a reasoning level goes as a token budget too, where the engine takes one
            tokens = REASONING_BUDGETS.get(str(body.get("reasoning_effort")))
            if backend.budget_field and tokens and backend.budget_field not in user_extra:
                assert body.get(backend.budget_field) == tokens, where
                expected_keys.add(backend.budget_field)
            unexpected = set(body) - expected_keys
            assert not unexpected, f"never given: {sorted(unexpected)} ({where})"
