"""The model catalogue: hosted ids, model families recognised from any id, thinking formats.

Two kinds of knowledge live here:

* **Families.** A server may know a model by any id: ``google/gemma-4-31B-it`` (vLLM, Hugging
  Face casing), ``gemma4:31b`` (Ollama), ``RedHatAI/gemma-4-31b-it-FP8-dynamic``,
  ``unsloth/gemma-4-31b-it-GGUF:Q4_K_M``, a GGUF file path (llama-server). :func:`family_of`
  matches the id case-insensitively anywhere after a separator, so organisation prefixes,
  sizes, quantisation and GGUF suffixes and Ollama tags do not matter, and the family's output
  format (its thinking markers) applies wherever the family is found.
* **Hosted ids.** The exact ids LiveKit Inference serves as open-weight models, with the
  parameters the model page lists; ``hosted.Session(llm="<id>")`` resolves these to ``LLM``.
  ``register_model`` adds more.

A model that matches nothing still works (``str`` is always accepted): it gets the generic
thinking format, and the markers of every known family are still kept out of speech.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, get_args

from .params import PARAMETER_NAMES

HostedModels = Literal["google/gemma-4-31b-it"]
"""Model ids LiveKit Inference hosts as open-weight models (any ``str`` is accepted too)."""

GEMMA_4_31B_IT: str = get_args(HostedModels)[0]
"""The first hosted model, and the default of the command line and the examples."""

LocalModels = Literal["google/gemma-3-270m"]
"""Model ids the embedded local engine serves."""

LOCAL_MODEL_ID: str = get_args(LocalModels)[0]
"""The model id the embedded engine serves."""

ThinkingFormat = tuple[tuple[str, str], ...]
"""Pairs of (start, end) markers around thought that can reach ``content``."""

GENERIC_THINKING: ThinkingFormat = (("<think>", "</think>"),)
GEMMA_4_THINKING: ThinkingFormat = (("<|channel>thought", "<channel|>"),)


@dataclass(frozen=True)
class Family:
    """A model family: how to recognise its ids, and how its raw output is shaped."""

    key: str
    """Short stable name, e.g. ``"gemma-4"``."""
    name: str
    """Human-readable name, e.g. ``"Gemma 4"``."""
    pattern: re.Pattern[str]
    """Matched (``search``) against the lower-cased id."""
    thinking: ThinkingFormat = GENERIC_THINKING
    opens_thought: bool = False
    """The family's chat template ends the prompt inside a thought (``<think>\\n``), so a reply
    starts in it and only the end marker tells thought from answer."""
    images: bool | None = None
    """Whether the family reads images (``None``: not known, image parts are sent)."""
    text_only: re.Pattern[str] | None = None
    """Ids of the family's text-only sizes (matched against the lower-cased id)."""


MATCHING_RULE = (
    "An id is matched case-insensitively: the family's name may stand anywhere after the start "
    "or a separator (/ - _ . : space or backslash), so organisation prefixes, sizes, "
    "quantisation and GGUF suffixes, Ollama tags and file paths do not matter; the version "
    "must not run on into more digits (gemma-40b is not Gemma 4)."
)
"""How :func:`family_of` matches an id, in words (the command line and README show it)."""

_SEP = r"(?:^|[/\\\-_.: ])"

FAMILIES: tuple[Family, ...] = (
    Family(
        key="gemma-4",
        name="Gemma 4",
        pattern=re.compile(_SEP + r"gemma[-_ ]?4(?![0-9])"),
        thinking=GEMMA_4_THINKING,
        images=True,
    ),
    Family(
        key="gemma-3",
        name="Gemma 3",
        # gemma-3, gemma3:270m, gemma-3n-e4b-it (3n shares Gemma 3's turn format)
        pattern=re.compile(_SEP + r"gemma[-_ ]?3(?![0-9])"),
        images=True,
        # the 270M and 1B sizes read text only (the 4B and larger, and 3n, read images)
        text_only=re.compile(r"(?:^|[^0-9a-z.])(?:270m|1b)(?![0-9a-z])"),
    ),
    Family(
        key="deepseek-r1",
        name="DeepSeek-R1",
        # and its distilled models (DeepSeek-R1-Distill-Qwen-7B, deepseek-r1:8b)
        pattern=re.compile(_SEP + r"deepseek[-_ ]?r1(?![0-9])"),
        opens_thought=True,
    ),
    Family(
        key="qwq",
        name="QwQ",
        pattern=re.compile(_SEP + r"qwq(?![0-9a-z])"),
        opens_thought=True,
    ),
    Family(
        key="qwen3-thinking",
        name="Qwen3 Thinking",
        # Qwen3-30B-A3B-Thinking-2507, qwen3-235b-a22b-thinking (the hybrid Qwen3 writes its
        # own <think>, so it is left to the generic format)
        pattern=re.compile(_SEP + r"qwen3[-_.a-z0-9]*[-_]thinking(?![a-z])"),
        opens_thought=True,
    ),
)
"""Every family the plugin knows, most specific first."""

SPECIAL_THINKING: ThinkingFormat = tuple(
    dict.fromkeys([*GENERIC_THINKING, *(pair for fam in FAMILIES for pair in fam.thinking)])
)
"""The thinking markers of every known family: kept out of speech from any model."""


def family_of(model_id: str) -> Family | None:
    """The family ``model_id`` belongs to, from any id a server uses; ``None`` if unknown."""
    lowered = model_id.lower()
    for family in FAMILIES:
        if family.pattern.search(lowered):
            return family
    return None


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

# The parameters the model page lists for the open-weight hosted models. What is not here is
# "silently ignored" by the gateway (the parameter reference), so we drop it before sending.
OPEN_WEIGHT_PARAMS: frozenset[str] = frozenset(
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
    thinking: ThinkingFormat | None = None
    """Markers around thought that can reach ``content``; by default the recognised family's
    (or the generic ``<think>`` ... ``</think>``). It is never spoken."""
    supported_params: frozenset[str] = field(default=PARAMETER_NAMES)
    """What LiveKit Inference takes for this model; the rest is dropped before sending."""
    hosted: bool = True
    """Served by LiveKit Inference, so ``hosted.Session(llm=id)`` resolves to this plugin."""
    images: bool | None = None
    """Whether the model reads images; by default what its family says (``None``: unknown,
    image parts are sent). A text-only model's requests leave image parts out."""
    family_key: str | None = field(default=None, init=False)
    """The family recognised from the id (``"gemma-4"`` ...), if any."""
    opens_thought: bool = field(default=False, init=False)
    """The family's template ends the prompt inside a thought (see :class:`Family`)."""
    unspoken: ThinkingFormat = field(default=(), init=False)
    """The markers kept out of speech: this model's own and every known family's."""

    def __post_init__(self) -> None:
        unknown = self.supported_params - PARAMETER_NAMES
        if unknown:
            raise ValueError(f"ModelInfo({self.id!r}): unknown parameters {sorted(unknown)}")
        fam = family_of(self.id)
        object.__setattr__(self, "family_key", fam.key if fam else None)
        object.__setattr__(self, "opens_thought", fam.opens_thought if fam else False)
        if self.images is None and fam is not None:
            text_only = fam.text_only is not None and fam.text_only.search(self.id.lower())
            object.__setattr__(self, "images", False if text_only else fam.images)
        if self.thinking is None:
            object.__setattr__(self, "thinking", fam.thinking if fam else GENERIC_THINKING)
        own = self.thinking or ()
        object.__setattr__(self, "unspoken", tuple(dict.fromkeys([*own, *SPECIAL_THINKING])))

    def drops(self, name: str) -> bool:
        """Whether a LiveKit Inference request for this model leaves out parameter ``name``."""
        if name not in self.supported_params:
            return True
        if self.reasoning:
            return name in REASONING_UNSUPPORTED
        return name in REASONING_ONLY


_CATALOGUE: dict[str, ModelInfo] = {}


def register_model(info: ModelInfo) -> None:
    """Add (or replace) a model in the catalogue.

    A hosted model registered here is resolved by ``hosted.Session(llm=info.id)`` from then on.
    """
    _CATALOGUE[info.id] = info


def get_model(model: str) -> ModelInfo:
    """The catalogue entry for ``model``, else what its family says (``hosted=False``)."""
    info = _CATALOGUE.get(model)
    if info is not None:
        return info
    fam = family_of(model)
    return ModelInfo(id=model, family=fam.name if fam else model, hosted=False)


def is_hosted_model(model: str) -> bool:
    """Whether ``model`` is an open-weight model this plugin serves on LiveKit Inference."""
    info = _CATALOGUE.get(model)
    return info is not None and info.hosted


def list_models() -> list[ModelInfo]:
    """Every model in the catalogue, in registration order."""
    return list(_CATALOGUE.values())


register_model(
    ModelInfo(
        id=GEMMA_4_31B_IT,
        family="Gemma 4 31B IT",
        supports_tools=True,
        supported_params=OPEN_WEIGHT_PARAMS,
    )
)
register_model(
    ModelInfo(
        id=LOCAL_MODEL_ID,
        family="Gemma 3 270M (base, local)",
        supports_tools=False,
        supported_params=OPEN_WEIGHT_PARAMS,
        hosted=False,
    )
)
