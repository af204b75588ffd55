"""The model catalogue: the hosted Gemma 4 entry, registration, and unknown ids."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from livekit_plugins_hosted import models
from livekit_plugins_hosted.models import (
    ModelInfo,
    get_model,
    is_hosted_model,
    list_models,
    register_model,
)
from livekit_plugins_hosted.params import PARAMETER_NAMES

GEMMA = "google/gemma-4-31b-it"
NEW_ID = "acme/test-model-7b"


@contextlib.contextmanager
def _catalogue_kept() -> Iterator[None]:
    before = dict(models._CATALOGUE)
    try:
        yield
    finally:
        models._CATALOGUE.clear()
        models._CATALOGUE.update(before)


@pytest.fixture
def restore_catalogue() -> Iterator[None]:
    """Remove whatever a test registers, and put back anything it replaced."""
    with _catalogue_kept():
        yield


def test_gemma_4_entry() -> None:
    """Session(llm="google/gemma-4-31b-it") would not resolve, or be mislabelled."""
    info = get_model(GEMMA)
    assert info.id == GEMMA
    assert info.family == "Gemma 4 31B IT"
    assert info.hosted
    assert info.supports_tools
    assert not info.reasoning
    assert is_hosted_model(GEMMA)
    assert GEMMA in [m.id for m in list_models()]


def test_gemma_4_thinking_markers() -> None:
    """Gemma 4's thinking channel would be read aloud."""
    assert get_model(GEMMA).thinking == (("<|channel>thought", "<channel|>"),)


def test_gemma_4_supported_params_match_model_page() -> None:
    """Parameters the Gemma 4 page lists would be dropped, or unlisted ones sent."""
    info = get_model(GEMMA)
    listed = {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
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
        "add_generation_prompt",
        "continue_final_message",
    }
    assert info.supported_params == listed
    assert all(not info.drops(name) for name in listed)
    assert all(info.drops(name) for name in PARAMETER_NAMES - listed)


def test_local_model_is_not_hosted() -> None:
    """Session(llm="google/gemma-3-270m") would be routed to LiveKit Inference."""
    assert not is_hosted_model("google/gemma-3-270m")
    assert get_model("google/gemma-3-270m").id == "google/gemma-3-270m"


def test_register_model(restore_catalogue: None) -> None:
    """A model added with register_model would not be resolvable by its id."""
    assert not is_hosted_model(NEW_ID)
    info = ModelInfo(id=NEW_ID, family="Acme 7B")
    register_model(info)
    assert is_hosted_model(NEW_ID)
    assert get_model(NEW_ID) is info
    assert list_models()[-1] is info


def test_register_non_hosted_model(restore_catalogue: None) -> None:
    """A registered self-hosted model would be routed to LiveKit Inference."""
    register_model(ModelInfo(id=NEW_ID, family="Acme 7B", hosted=False))
    assert not is_hosted_model(NEW_ID)
    assert get_model(NEW_ID).family == "Acme 7B"


def test_register_replaces(restore_catalogue: None) -> None:
    """Re-registering an id would keep the stale entry."""
    register_model(ModelInfo(id=NEW_ID, family="Old"))
    register_model(ModelInfo(id=NEW_ID, family="New"))
    assert get_model(NEW_ID).family == "New"
    assert [m.id for m in list_models()].count(NEW_ID) == 1


def test_catalogue_restored_after_registering() -> None:
    """A test that registers a model would leak it into the tests after it."""
    before = list_models()
    with _catalogue_kept():
        register_model(ModelInfo(id=NEW_ID, family="Acme 7B"))
        register_model(ModelInfo(id=GEMMA, family="replaced"))
        assert is_hosted_model(NEW_ID)
    assert NEW_ID not in models._CATALOGUE
    assert list_models() == before and get_model(GEMMA).family == "Gemma 4 31B IT"


def test_unknown_id_is_permissive() -> None:
    """A self-hosted model id would be refused, or lose parameters it supports."""
    info = get_model("acme/unknown-model")
    assert info.id == "acme/unknown-model"
    assert info.family == "acme/unknown-model"
    assert not info.hosted
    assert not info.reasoning
    assert info.supports_tools
    assert info.supported_params == PARAMETER_NAMES
    assert info.thinking == (("<think>", "</think>"),)
    assert not is_hosted_model("acme/unknown-model")
    assert "acme/unknown-model" not in models._CATALOGUE


def test_unknown_id_drops_only_reasoning_effort() -> None:
    """An unknown model would get reasoning_effort (which only reasoning models take)."""
    info = get_model("acme/unknown-model")
    assert {n for n in PARAMETER_NAMES if info.drops(n)} == {"reasoning_effort"}


def test_reasoning_model_drops() -> None:
    """A reasoning model would get sampling parameters it rejects, or lose reasoning_effort."""
    info = ModelInfo(id="acme/reasoner", family="R", reasoning=True)
    assert not info.drops("reasoning_effort")
    for name in ("temperature", "top_p", "n", "logprobs", "logit_bias", "frequency_penalty"):
        assert info.drops(name)
    assert not info.drops("max_completion_tokens")


def test_unknown_supported_param_rejected() -> None:
    """A typo in a ModelInfo's supported params would silently drop the real parameter."""
    with pytest.raises(ValueError, match="temprature"):
        ModelInfo(id="x", family="x", supported_params=frozenset({"temperature", "temprature"}))
