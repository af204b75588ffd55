"""Parameters + model + backend -> the top-level JSON fields of one completion request.

Every parameter goes under the name the backend reads (the open-weight
``add_generation_prompt`` / ``continue_final_message`` included, which the built-in LLM cannot
send), plus the user's explicit ``extra_body`` fields. On LiveKit Inference the model page
decides what is sent for a model; a self-hosted engine is described by its backend profile.
"""

from __future__ import annotations

from typing import Any

from .backends import Backend
from .log import logger
from .models import ModelInfo
from .params import PARAMETER_NAMES, ModelParams


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
) -> dict[str, Any]:
    """The request's top-level JSON fields for validated parameters.

    Drops what the model does not support on LiveKit Inference (debug-logged, as the reference
    says the gateway ignores them) and the tool fields when no tools are sent; applies the
    backend's renames.
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
    return fields
