"""Parameters + model + backend -> the top-level JSON fields of one completion request.

Every parameter goes under the name the backend reads (the open-weight
``add_generation_prompt`` / ``continue_final_message`` included, which the built-in LLM cannot
send), plus the user's explicit ``extra_body`` fields. On LiveKit Inference the model page
decides what is sent for a model; a self-hosted engine is described by its backend profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from livekit.agents import llm

from .backends import REASONING_BUDGETS, Backend
from .log import logger
from .models import ModelInfo
from .params import PARAMETER_NAMES, ModelParams
from .traits import ServerTraits


def dropped(params: ModelParams, *, model: ModelInfo, backend: Backend) -> list[str]:
    """The set parameters that will be left out of requests for ``model`` on ``backend``."""
    if not backend.model_support:
        return []
    return sorted(n for n in params.given() if n in PARAMETER_NAMES and model.drops(n))


def sends_tools(params: ModelParams, *, backend: Backend, has_tools: bool) -> bool:
    """Whether the tools go in the request: not with ``tool_choice="none"`` to an engine that
    does not read that field (leaving them out is the one way it is honoured there)."""
    return has_tools and (backend.tools_with_none or params.tool_choice != "none")


def build_request(
    params: ModelParams,
    *,
    model: ModelInfo,
    backend: Backend,
    has_tools: bool,
    budget: bool = True,
) -> dict[str, Any]:
    """The request's top-level JSON fields for validated parameters.

    Drops what the model does not support on LiveKit Inference (debug-logged, as the reference
    says the gateway ignores them) and the tool fields when no tools are sent; applies the
    backend's renames. ``reasoning_effort`` goes as a thinking-token budget too where the
    engine takes one (``budget=False``: the server refused it, so it is left out).
    """
    values = params.given()
    fields: dict[str, Any] = dict(values.pop("extra_body", None) or {})
    if not has_tools:
        values.pop("tool_choice", None)
        values.pop("parallel_tool_calls", None)
    elif values.get("tool_choice") == "auto" and not backend.sends_auto_tool_choice:
        del values["tool_choice"]
    if values.get("continue_final_message") is True and "add_generation_prompt" not in values:
        # the servers default add_generation_prompt to true and refuse it together with
        # continue_final_message, so continuing means saying both
        values["add_generation_prompt"] = False
    for name, value in values.items():
        if backend.model_support and model.drops(name):
            logger.debug(
                "dropping parameter the model does not support",
                extra={"parameter": name, "model": model.id},
            )
            continue
        fields[backend.renames.get(name, name)] = value
    family = model.family_key
    if family is not None:
        for name, value in backend.family_fields.get(family, {}).items():
            fields.setdefault(name, value)
        off = backend.thinking_off.get(family)
        if off and thinking_asked(fields) is None:
            # the engine would think by its own default: one default for the family everywhere
            fields.update(off)
    effort = fields.get("reasoning_effort")
    tokens = REASONING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget and tokens and backend.budget_field and backend.budget_field not in fields:
        # the one knob means the same on every engine: a level is a number of thinking tokens
        fields[backend.budget_field] = tokens
    return fields


def thinking_asked(fields: Mapping[str, Any]) -> bool | None:
    """What a request's fields say about thinking: on, off, or nothing (``None``).

    ``reasoning_effort`` ``none`` or ``chat_template_kwargs.enable_thinking=False`` is off;
    another effort or ``enable_thinking=True`` is on.
    """
    template = fields.get("chat_template_kwargs")
    switch = template.get("enable_thinking") if isinstance(template, Mapping) else None
    effort = fields.get("reasoning_effort")
    if effort == "none" or switch is False:
        return False
    if switch is True or effort in ("low", "medium", "high"):
        return True
    return None


def thinking_on(fields: Mapping[str, Any], backend: Backend) -> bool | None:
    """Whether the model thinks for a request of these fields on ``backend``; ``None`` when
    neither the request nor the engine's profile tells (the gateway, an unknown engine)."""
    asked = thinking_asked(fields)
    return backend.thinking_default if asked is None else asked


def thinks(fields: Mapping[str, Any], backend: Backend, model: ModelInfo) -> bool | None:
    """Whether the model thinks for a request of these fields: :func:`thinking_on`, except
    that a model whose template always opens a thought (DeepSeek-R1, QwQ, Qwen3 Thinking)
    thinks whatever the request says."""
    return True if model.opens_thought else thinking_on(fields, backend)


def may_think(fields: Mapping[str, Any], model: ModelInfo) -> bool:
    """Whether a thought may come for a request of these fields: unless the request switches
    thinking off (a model whose template always opens one thinks all the same). Engines'
    defaults differ by model (Qwen3, gpt-oss think unasked), so ``max_thinking_time`` watches
    such a request and acts only on a thought actually streaming."""
    return model.opens_thought or thinking_asked(fields) is not False


def opens_thought(fields: Mapping[str, Any], model: ModelInfo, traits: ServerTraits) -> bool:
    """Whether the prompt of a request of these fields ends inside a thought (a template of the
    DeepSeek-R1 kind): the model's always does; one learned from a stray close marker is
    evidence of thinking on, which a request that switches thinking off outweighs (its answer
    would be held to the end)."""
    return model.opens_thought or (traits.opens_thought and thinking_asked(fields) is not False)


def may_open_thought(
    chat_ctx: llm.ChatContext,
    fields: Mapping[str, Any],
    thinking: bool | None,
    traits: ServerTraits,
) -> bool:
    """Whether Gemma 4's chat template may have opened a thought at the end of the prompt.

    It does so after a tool result while thinking is on. ``thinking`` is what the request as
    sent says (:func:`thinking_on`: the fields actually sent to this endpoint, then the
    engine's own default), so a field the endpoint never receives (``reasoning_effort`` for
    Gemma 4 on LiveKit Inference) switches nothing on. Evidence wins over an engine's
    default: once this server has sent raw thought markers, thinking is on there, unless the
    request itself (``fields``) switches it off. Anywhere else the whole answer would be held
    back.
    """
    items = chat_ctx.items
    if not items or items[-1].type != "function_call_output":
        return False
    return thinking is True or (traits.raw_thought and thinking_asked(fields) is not False)
