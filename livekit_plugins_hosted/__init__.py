"""LiveKit Agents plugin for open-weight LLMs: LiveKit Inference (Gemma 4) and self-hosted servers.

    import livekit_plugins_hosted as hosted
    session = hosted.Session(llm="google/gemma-4-31b-it")      # resolves to hosted.LLM
    llm = hosted.LLM(model="google/gemma-4-31b-it", extra_kwargs={"temperature": 0.7})
    llm = hosted.LLM.self_hosted(model="google/gemma-3-270m", base_url="http://127.0.0.1:8080/v1")

Importing the package registers the plugin and makes ``LiveSession(llm="<id>")`` (2.x),
``AgentSession(llm="<id>")`` (1.8) and ``Agent(llm="<id>")`` resolve the catalogue's hosted ids
to :class:`LLM`; every other string goes to the framework as before. :data:`Session` is
whichever of the two session classes the installed framework offers.
"""

from typing import Any as _Any

from livekit.agents import Plugin as _Plugin
from livekit.agents import inference as _inference

from .backends import BACKENDS, Backend
from .endpoints import Endpoint, InferenceClass, LiveKitInference, SelfHosted
from .llm import LLM, LLMStream
from .log import logger as _logger
from .models import (
    FAMILIES,
    Family,
    HostedModels,
    LocalModels,
    ModelInfo,
    family_of,
    get_model,
    is_hosted_model,
    list_models,
    register_model,
)
from .params import ModelParams
from .session import Session
from .version import __version__

__all__ = [
    "BACKENDS",
    "FAMILIES",
    "LLM",
    "Backend",
    "Endpoint",
    "Family",
    "HostedModels",
    "InferenceClass",
    "LLMStream",
    "LiveKitInference",
    "LocalModels",
    "ModelInfo",
    "ModelParams",
    "SelfHosted",
    "Session",
    "__version__",
    "family_of",
    "get_model",
    "is_hosted_model",
    "list_models",
    "register_model",
]


def _install_descriptor_hook() -> None:
    """Wrap ``inference.llm_from_model_string`` so hosted ids resolve to :class:`LLM`.

    The framework looks the function up on the module at call time and keeps no registry, so a
    wrapper is the one way in. It delegates every id it does not own, and wraps only once.
    """
    current = _inference.llm_from_model_string
    if getattr(current, "__hosted_hook__", False):
        return

    def llm_from_model_string(model: str) -> _Any:
        if is_hosted_model(model):
            return LLM(model)
        return current(model)

    llm_from_model_string.__hosted_hook__ = True  # type: ignore[attr-defined]
    llm_from_model_string.__wrapped__ = current  # type: ignore[attr-defined]
    llm_from_model_string.__doc__ = current.__doc__
    _inference.llm_from_model_string = llm_from_model_string


class _HostedPlugin(_Plugin):
    def __init__(self) -> None:
        super().__init__(__name__, __version__, __package__ or __name__, _logger)


_install_descriptor_hook()
_Plugin.register_plugin(_HostedPlugin())
