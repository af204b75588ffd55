"""How each kind of server treats the parameters: renames and refusals, per backend.

A parameter the user sets must be honoured by the server it goes to, or refused with a
``ValueError`` before anything is sent. The gateway takes the reference as it is; the
self-hosted engines differ (see the README's engine table, which this module implements).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .params import ModelParams

BackendName = Literal[
    "livekit", "openai-compatible", "vllm", "llama.cpp", "llama-cpp-python", "ollama"
]


@dataclass(frozen=True)
class Refusal:
    """A parameter value the backend cannot honour."""

    name: str
    reason: str
    accepts: Callable[[Any], bool] = lambda _value: False
    """Values of the parameter the backend does honour (default: none)."""


@dataclass(frozen=True)
class Backend:
    """One kind of server: what it renames, what it refuses, whether it streams usage."""

    name: str
    renames: Mapping[str, str] = field(default_factory=dict)
    refusals: tuple[Refusal, ...] = ()
    omitted: frozenset[str] = frozenset()
    """Accepted because the engine does it anyway, so not sent."""
    streams_usage: bool = True
    """Whether the engine sends usage in streams (if not, it is estimated)."""

    def check(self, params: ModelParams) -> None:
        """Raise ``ValueError`` for a set parameter this backend would not honour."""
        if not self.refusals:
            return
        values = params.given()
        for rule in self.refusals:
            value = values.get(rule.name)
            if value is not None and not rule.accepts(value):
                raise ValueError(
                    f"{rule.name}={value!r} is not supported by the {self.name} backend: "
                    f"{rule.reason}"
                )


# OpenAI-platform fields every engine below accepts and silently ignores.
_PLATFORM_ONLY = (
    "user",
    "service_tier",
    "metadata",
    "store",
    "prediction",
    "web_search_options",
    "verbosity",
    "prompt_cache_key",
    "safety_identifier",
)


def _ignored(*names: str) -> tuple[Refusal, ...]:
    return tuple(Refusal(n, "the engine accepts it and silently ignores it") for n in names)


def _is_one(value: Any) -> bool:
    return bool(value == 1)


def _is_true(value: Any) -> bool:
    return value is True


def _is_false(value: Any) -> bool:
    return value is False


def _is_auto(value: Any) -> bool:
    return bool(value == "auto")


def _is_named(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_text_only(value: Any) -> bool:
    return list(value) == ["text"]


LIVEKIT = Backend(name="livekit")
"""LiveKit Inference: the reference as it is."""

OPENAI_COMPATIBLE = Backend(name="openai-compatible")
"""An unknown OpenAI-compatible server: everything is sent as the reference names it."""

VLLM = Backend(
    name="vllm",
    refusals=_ignored(*_PLATFORM_ONLY, "modalities"),
)
"""vLLM: honours nearly everything, the open-weight fields included."""

LLAMA_CPP = Backend(
    name="llama.cpp",
    refusals=(
        Refusal(
            "n", "llama-server returns one choice per slot; older builds refuse n != 1", _is_one
        ),
        Refusal(
            "tool_choice",
            "llama-server silently downgrades a named tool_choice to 'auto'",
            lambda v: not _is_named(v),
        ),
        Refusal(
            "reasoning_effort",
            "depends on the llama-server build; use "
            "extra_body={'chat_template_kwargs': {'enable_thinking': False}}",
        ),
        Refusal("modalities", "only text output is supported", _is_text_only),
        *_ignored(*_PLATFORM_ONLY),
    ),
    omitted=frozenset({"continue_final_message"}),
)
"""llama.cpp's ``llama-server``: a trailing assistant message is always continued, so
``continue_final_message`` is honoured by the message list itself and not sent."""

LLAMA_CPP_PYTHON = Backend(
    name="llama-cpp-python",
    renames={"max_completion_tokens": "max_tokens"},
    refusals=(
        Refusal("n", "the server always returns one choice", _is_one),
        Refusal("reasoning_effort", "the server has no such field"),
        Refusal("parallel_tool_calls", "the server has no such field"),
        Refusal(
            "tool_choice",
            "only a named tool is enforced; 'auto', 'required' and 'none' are not",
            _is_named,
        ),
        Refusal("add_generation_prompt", "the server always adds the generation prompt", _is_true),
        Refusal("continue_final_message", "the server always starts a new turn", _is_false),
        Refusal("modalities", "only text output is supported", _is_text_only),
        *_ignored(*_PLATFORM_ONLY),
    ),
    streams_usage=False,
)
"""llama-cpp-python's server: reads only ``max_tokens`` (``max_completion_tokens`` would be
dropped and generation would run to the end of the context), streams no usage."""

OLLAMA = Backend(
    name="ollama",
    renames={"max_completion_tokens": "max_tokens"},
    refusals=(
        Refusal("n", "Ollama always returns one choice", _is_one),
        Refusal("logit_bias", "Ollama ignores it"),
        Refusal("tool_choice", "Ollama ignores it; tools are always offered", _is_auto),
        Refusal("parallel_tool_calls", "Ollama ignores it", _is_true),
        Refusal("add_generation_prompt", "Ollama has no such field", _is_true),
        Refusal("continue_final_message", "Ollama has no such field"),
        Refusal("modalities", "only text output is supported", _is_text_only),
        *_ignored(*_PLATFORM_ONLY),
    ),
)
"""Ollama's ``/v1`` endpoint: reads ``max_tokens``, ignores ``n``, ``logit_bias`` and
``tool_choice``."""

BACKENDS: dict[str, Backend] = {
    b.name: b for b in (LIVEKIT, OPENAI_COMPATIBLE, VLLM, LLAMA_CPP, LLAMA_CPP_PYTHON, OLLAMA)
}


def get_backend(name: str) -> Backend:
    """The backend called ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"backend={name!r} is unknown; allowed: {', '.join(sorted(BACKENDS))}"
        ) from None
