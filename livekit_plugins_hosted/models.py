"""The model catalogue: ids, family names, capabilities and thinking tags.

A model that is not in the catalogue still works (``str`` is always accepted); it is treated
as a plain chat model that supports every parameter. ``register_model`` adds ids, and the ids
registered here are the ones ``AgentSession(llm="...")`` resolves to :class:`~.LLM`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .params import PARAMETER_NAMES, REASONING_ONLY, REASONING_UNSUPPORTED

HostedModels = Literal["google/gemma-4-31b-it"]
"""Model ids LiveKit Inference hosts as open-weight models (any ``str`` is accepted too)."""

LocalModels = Literal["google/gemma-3-270m"]
"""Model ids the embedded local engine serves."""

# The parameters the model page lists for the open-weight hosted models. What is not here is
# "silently ignored" by the gateway (the parameter reference), so we drop it before sending.
_OPEN_WEIGHT_PARAMS: frozenset[str] = frozenset(
    {
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
)


@dataclass(frozen=True)
class ModelInfo:
    """What the plugin knows about one model id."""

    id: str
    family: str
    """Human-readable family name, e.g. "Gemma 4 31B IT"."""
    supports_tools: bool = True
    reasoning: bool = False
    """An OpenAI-style reasoning model: sampling parameters are stripped, reasoning_effort kept."""
    think_tags: tuple[str, str] = ("<think>", "</think>")
    """Delimiters of thinking text that can reach ``content``; it is never spoken."""
    supported_params: frozenset[str] = field(default=PARAMETER_NAMES)
    hosted: bool = True
    """Served by LiveKit Inference, so ``AgentSession(llm=id)`` resolves to this plugin."""

    def __post_init__(self) -> None:
        unknown = self.supported_params - PARAMETER_NAMES
        if unknown:
            raise ValueError(f"ModelInfo({self.id!r}): unknown parameters {sorted(unknown)}")

    def drops(self, name: str) -> bool:
        """Whether a request for this model must leave out parameter ``name``."""
        if name not in self.supported_params:
            return True
        if self.reasoning:
            return name in REASONING_UNSUPPORTED
        return name in REASONING_ONLY


_CATALOGUE: dict[str, ModelInfo] = {}


def register_model(info: ModelInfo) -> None:
    """Add (or replace) a model in the catalogue.

    A hosted model registered here is resolved by ``AgentSession(llm=info.id)`` from then on.
    """
    _CATALOGUE[info.id] = info


def get_model(model: str) -> ModelInfo:
    """The catalogue entry for ``model``, or a permissive default for an unknown id."""
    info = _CATALOGUE.get(model)
    if info is None:
        return ModelInfo(id=model, family=model, hosted=False)
    return info


def is_hosted_model(model: str) -> bool:
    """Whether ``model`` is an open-weight model this plugin serves on LiveKit Inference."""
    info = _CATALOGUE.get(model)
    return info is not None and info.hosted


def list_models() -> list[ModelInfo]:
    """Every model in the catalogue, in registration order."""
    return list(_CATALOGUE.values())


register_model(
    ModelInfo(
        id="google/gemma-4-31b-it",
        family="Gemma 4 31B IT",
        supports_tools=True,
        think_tags=("<|channel>thought", "<channel|>"),
        supported_params=_OPEN_WEIGHT_PARAMS,
    )
)
register_model(
    ModelInfo(
        id="google/gemma-3-270m",
        family="Gemma 3 270M (base, local)",
        supports_tools=False,
        think_tags=("<think>", "</think>"),
        supported_params=_OPEN_WEIGHT_PARAMS,
        hosted=False,
    )
)
