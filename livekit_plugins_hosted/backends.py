"""How each kind of server treats the parameters, and how to tell the servers apart.

A parameter the user sets must be honoured by the server it goes to, or refused with a
``ValueError`` before anything is sent. The gateway takes the reference as it is; the
self-hosted engines differ (the README's engine table documents these profiles row by row,
and the tests hold each row against the real engine or its own request model).

Rules that hold on every backend:

* ``n`` must be 1. The plugin speaks exactly one choice (the framework's chunks have no choice
  index), so every extra choice is generation the caller never hears, paid for in server time
  and in the first word of everyone else's request (vLLM generates them all; llama-server
  occupies a slot per choice). Refusing is the one rule that is right on every engine.
* ``reasoning_effort`` is the one thinking knob. LiveKit Inference takes the reference's
  ``low``/``medium``/``high``; engines whose chat template reads it (vLLM, llama-server) also
  take ``none``, which switches Gemma 4 thinking off; an engine that has no such field refuses
  it.
* Gemma 4 thinks only when asked. Its official template has thinking off, but engines differ
  (llama-server's ``--reasoning auto`` and recent Ollama switch it on), so where an engine's
  own default is on, its own "off" (:attr:`Backend.thinking_off`) is sent unless the user asked
  for thinking (``reasoning_effort`` or ``chat_template_kwargs.enable_thinking``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from livekit.agents import APIError

from .params import ModelParams

ThoughtEnd = Literal["control", "continue", "reask"]
"""How an engine ends a thought at the deadline (``max_thinking_time``): ``control`` asks the
running completion to close its thought and the answer follows in the same stream
(llama-server); ``continue`` stops the stream and sends the thought so far back as a prefill
to continue from (vLLM, where its template renders it); ``reask`` stops and asks again with
thinking off (Ollama)."""

REASONING_BUDGETS: Mapping[str, int] = MappingProxyType(
    {"low": 1024, "medium": 8192, "high": 24576}
)
"""``reasoning_effort`` as thinking tokens, on engines that take a per-request budget (the
numbers Gemini's OpenAI-compatible API documents for the same three levels)."""


@dataclass(frozen=True)
class Continuation:
    """How an engine continues a reply from a thought given back to it: the request's final
    assistant message holds the thought in ``reasoning_key`` (its ``content`` empty), and
    ``fields`` make the server continue that message instead of starting a new one."""

    reasoning_key: str
    fields: Mapping[str, Any]
    probe: bool = False
    """Whether it renders depends on the model's chat template (older copies of Gemma 4's drop
    the thought): ask the server once how it renders such a message before relying on it."""


@dataclass(frozen=True)
class Refusal:
    """A parameter value the backend cannot honour."""

    name: str
    reason: str
    accepts: Callable[[Any], bool] = lambda _value: False
    """Values of the parameter the backend does honour (default: none)."""
    families: frozenset[str] | None = None
    """Only for models of these families (``None``: every model)."""


@dataclass(frozen=True)
class Backend:
    """One kind of server: what it renames and what it refuses."""

    name: str
    renames: Mapping[str, str] = field(default_factory=dict)
    refusals: tuple[Refusal, ...] = ()
    model_support: bool = False
    """Whether the model catalogue decides what is sent (LiveKit Inference: the model page);
    a self-hosted engine is described by its own profile alone."""
    sends_auto_tool_choice: bool = True
    """False: ``tool_choice="auto"`` is what the engine does anyway, and it does not read the
    field, so it is left out."""
    tools_with_none: bool = True
    """False: the engine does not read ``tool_choice="none"``, so the tools themselves are left
    out of that request (the model cannot call what it is not offered)."""
    thinking_off: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per model family (the key of :func:`~.models.family_of`): the fields that switch its
    thinking off on this engine, sent when the user did not ask for thinking, because the
    engine's own default is on."""
    family_fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per model family: fields always sent to this engine unless the user set them (in
    ``extra_body``)."""
    thinking_default: bool | None = None
    """Whether a model thinks when the request says nothing about it: ``False`` where the
    engine follows the template (Gemma 4's is off), ``None`` where it is not known."""
    budget_field: str | None = None
    """The per-request thinking-token budget the engine reads; ``reasoning_effort``
    ``low``/``medium``/``high`` is sent in it as :data:`REASONING_BUDGETS` tokens."""
    ends_thought: ThoughtEnd | None = None
    """How the engine ends a thought at ``max_thinking_time``; ``None``: it cannot be ended
    (``max_thinking_time`` is refused)."""
    continuation: Continuation | None = None
    """How a reply continues from a thought given back (after the deadline where the engine
    has no other means, or a thought that used up the token limit); ``None``: ask again with
    thinking off."""

    def check(
        self, params: ModelParams, *, family: str | None = None, has_tools: bool = True
    ) -> None:
        """Raise ``ValueError`` for a set parameter this backend would not honour (for a model
        of ``family``, the key of :func:`~.models.family_of`). Without tools, the tool fields
        are not sent, so they are not checked."""
        values = params.given()
        for rule in self.refusals:
            if rule.families is not None and family not in rule.families:
                continue
            if not has_tools and rule.name in TOOL_FIELDS:
                continue
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


def _is_named(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_text_only(value: Any) -> bool:
    return list(value) == ["text"]


def _one_of(*values: str) -> Callable[[Any], bool]:
    return lambda value: value in values


TOOL_FIELDS = frozenset({"tool_choice", "parallel_tool_calls"})
"""Sent only with tools."""


_ONE_CHOICE = Refusal(
    "n", "only one choice is ever spoken; more are generated and thrown away", _is_one
)
_TEXT_ONLY = Refusal("modalities", "the plugin takes text output only", _is_text_only)

EVERY_BACKEND: tuple[Refusal, ...] = (_ONE_CHOICE, _TEXT_ONLY)
"""Refusals every profile below makes, so they are checked while a backend is still to be
detected (``backend="auto"``): a value no engine honours fails when it is given."""


def check_thinking_time(value: float | None, backend: Backend) -> None:
    """Raise ``ValueError`` when ``max_thinking_time`` is set for a backend that cannot end a
    thought."""
    if value is not None and backend.ends_thought is None:
        raise ValueError(
            f"max_thinking_time is not supported by the {backend.name} backend: it has no way "
            "to end a thought early (reasoning_effort sets how long the model thinks; "
            "first_token_timeout ends an attempt that says nothing in time)"
        )


class Refused(APIError, ValueError):
    """A setting the engine detected by ``backend="auto"`` cannot honour, raised by every
    turn's stream before anything is sent: the framework's ``APIError``, not retryable, so
    that each turn ends in an error the framework acts on (a FallbackAdapter moves on), and a
    ``ValueError`` as bad input is."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def check_every_backend(params: ModelParams) -> None:
    """Raise ``ValueError`` for a set parameter that no backend honours."""
    values = params.given()
    for rule in EVERY_BACKEND:
        value = values.get(rule.name)
        if value is not None and not rule.accepts(value):
            raise ValueError(
                f"{rule.name}={value!r} is not supported by any backend: {rule.reason}"
            )


_GEMMA4_THINKING_OFF = {"gemma-4": {"reasoning_effort": "none"}}

LIVEKIT = Backend(
    name="livekit",
    refusals=(
        _ONE_CHOICE,
        Refusal(
            "reasoning_effort",
            "LiveKit Inference takes 'low', 'medium' or 'high' (the parameter reference)",
            _one_of("low", "medium", "high"),
        ),
        _TEXT_ONLY,
    ),
    model_support=True,
)
"""LiveKit Inference: the reference as it is, per model as the model page lists."""

OPENAI_COMPATIBLE = Backend(
    name="openai-compatible",
    renames={"max_completion_tokens": "max_tokens"},
    refusals=(_ONE_CHOICE, _TEXT_ONLY),
)
"""A server that is none of the known engines: everything is sent as the reference names it,
except the token limit, which goes as ``max_tokens``: the one name every OpenAI-compatible
engine reads (llama-cpp-python and older Ollama read nothing else; vLLM, SGLang and
llama-server read both)."""

VLLM = Backend(
    name="vllm",
    refusals=(
        _ONE_CHOICE,
        _TEXT_ONLY,
        Refusal(
            "tool_choice",
            "vLLM's gemma4 tool parser does not enforce 'required' or a named tool "
            "(supports_required_and_named = False): it would act as 'auto'",
            _one_of("auto", "none"),
            families=frozenset({"gemma-4"}),
        ),
        *_ignored(*_PLATFORM_ONLY),
    ),
    # Without --reasoning-parser, vLLM's default skip_special_tokens removes Gemma 4's
    # <|channel>/<channel|> from content, and a thought then cannot be told from the answer.
    # Its gemma4 reasoning and tool parsers read token ids, so they are unaffected.
    family_fields={"gemma-4": {"skip_special_tokens": False}},
    thinking_default=False,
    # needs --reasoning-parser (else a 400: the request is sent again without it)
    budget_field="thinking_token_budget",
    ends_thought="continue",
    # the thought in "reasoning" (in "content" it is a 400); rendered only by templates that
    # keep a final assistant message's thought, so probed once per LLM
    continuation=Continuation(
        "reasoning", {"continue_final_message": True, "add_generation_prompt": False}, probe=True
    ),
)
"""vLLM: honours nearly everything, the open-weight fields and ``reasoning_effort`` (passed to
the chat template; ``none`` switches thinking off) included. For Gemma 4 it is sent
``skip_special_tokens: false`` so that the model's markers reach the plugin's parser."""

LLAMA_CPP = Backend(
    name="llama.cpp",
    refusals=(
        _ONE_CHOICE,
        Refusal(
            "tool_choice",
            "llama-server silently downgrades a named tool_choice to 'auto'",
            lambda v: not _is_named(v),
        ),
        _TEXT_ONLY,
        *_ignored(*_PLATFORM_ONLY),
    ),
    thinking_off=_GEMMA4_THINKING_OFF,  # its default --reasoning auto switches thinking on
    thinking_default=False,  # (as sent: "none" unless the user asked for thinking)
    # server-common.cpp reads reasoning_budget_tokens, then thinking_budget_tokens
    budget_field="thinking_budget_tokens",
    # with "reasoning_control": true, POST /v1/chat/completions/control {"id", "action":
    # "reasoning_end"} closes the running thought; the answer follows in the same stream
    ends_thought="control",
    # the string "content" continues after the given thought ("reasoning_content" goes on
    # thinking)
    continuation=Continuation(
        "reasoning_content", {"continue_final_message": "content", "add_generation_prompt": False}
    ),
)
"""llama.cpp's ``llama-server``: reads ``continue_final_message`` (with
``add_generation_prompt: false`` only the continuation streams; without it the prefill is
echoed) and ``reasoning_effort`` (``none`` switches thinking off; Gemma 4 is sent ``none``
unless the user asks for thinking, since the server's default is on)."""

LLAMA_CPP_PYTHON = Backend(
    name="llama-cpp-python",
    renames={"max_completion_tokens": "max_tokens"},
    refusals=(
        Refusal("n", "the server always returns one choice", _is_one),
        Refusal("reasoning_effort", "the server has no such field"),
        Refusal("parallel_tool_calls", "the server has no such field"),
        Refusal(
            "tool_choice",
            "'required' is not enforced (a named tool is; 'auto' is the default and 'none' "
            "leaves the tools out)",
            lambda v: _is_named(v) or v in ("auto", "none"),
        ),
        Refusal("add_generation_prompt", "the server always adds the generation prompt", _is_true),
        Refusal("continue_final_message", "the server always starts a new turn", _is_false),
        _TEXT_ONLY,
        *_ignored(*_PLATFORM_ONLY),
    ),
    sends_auto_tool_choice=False,
    tools_with_none=False,
)
"""llama-cpp-python's server: reads only ``max_tokens`` (``max_completion_tokens`` would be
dropped and generation would run to the end of the context), streams no usage."""

OLLAMA = Backend(
    name="ollama",
    renames={"max_completion_tokens": "max_tokens"},
    refusals=(
        Refusal("n", "Ollama always returns one choice", _is_one),
        Refusal("logit_bias", "Ollama ignores it"),
        Refusal(
            "tool_choice",
            "Ollama ignores it ('auto' is its default; 'none' leaves the tools out)",
            _one_of("auto", "none"),
        ),
        Refusal("parallel_tool_calls", "Ollama ignores it", _is_true),
        Refusal("add_generation_prompt", "Ollama has no such field", _is_true),
        Refusal("continue_final_message", "Ollama has no such field"),
        _TEXT_ONLY,
        *_ignored(*_PLATFORM_ONLY),
    ),
    tools_with_none=False,
    thinking_off=_GEMMA4_THINKING_OFF,  # recent Ollama thinks by default
    thinking_default=False,
    ends_thought="reask",  # no budget and no prefill on its chat API
)
"""Ollama's ``/v1`` endpoint: reads ``max_tokens``, ignores ``n``, ``logit_bias`` and
``tool_choice``; ``reasoning_effort`` is its thinking switch (Gemma 4 is sent ``none`` unless
the user asks for thinking, since recent Ollama thinks by default)."""

BACKENDS: Mapping[str, Backend] = MappingProxyType(
    {b.name: b for b in (LIVEKIT, OPENAI_COMPATIBLE, VLLM, LLAMA_CPP, LLAMA_CPP_PYTHON, OLLAMA)}
)
"""Every profile by name; ``LLM.self_hosted(backend=...)`` takes these (but ``livekit``) and
``"auto"``."""


def get_backend(name: str) -> Backend:
    """The backend called ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        names = ", ".join(["auto", *sorted(BACKENDS)])
        raise ValueError(f"backend={name!r} is unknown; allowed: {names}") from None


# --- detection signals: what each engine says about itself ------------------------------------

OWNED_BY: dict[str, Backend] = {
    "vllm": VLLM,  # vllm/entrypoints/openai/serving_models.py: ModelCard(owned_by="vllm")
    "llamacpp": LLAMA_CPP,  # tools/server/server.cpp: {"owned_by", "llamacpp"}
    "me": LLAMA_CPP_PYTHON,  # llama_cpp/server/app.py: "owned_by": "me"
}
"""``owned_by`` of the models in ``GET /v1/models``, as each engine's code writes it."""


def identify_models(payload: object) -> Backend | None:
    """The engine that wrote a ``GET /v1/models`` answer, if its ``owned_by`` says so."""
    data = payload.get("data") if isinstance(payload, dict) else None
    items = [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
    owners = {o for item in items if isinstance(o := item.get("owned_by"), str)}
    found = {OWNED_BY[o].name for o in owners if o in OWNED_BY}
    return BACKENDS[found.pop()] if len(found) == 1 else None


def identify_ollama(payload: object) -> Backend | None:
    """Ollama answers ``GET /api/version`` with ``{"version": "..."}``."""
    if isinstance(payload, dict) and isinstance(payload.get("version"), str):
        return OLLAMA
    return None
