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
    streams_usage: bool = True

    def check(self, params: ModelParams) -> None:
        """Raise ``ValueError`` for a set parameter this backend would not honour."""
        for rule in self.refusals:
            value = getattr(params, rule.name)
            if value is not None and not rule.accepts(value):
                raise ValueError(
                    f"{rule.name}={value!r} is not supported by the {self.name} backend: "
                    f"{rule.reason}"
                )


LIVEKIT = Backend(name="livekit")
"""LiveKit Inference: the reference as it is."""

OPENAI_COMPATIBLE = Backend(name="openai-compatible")
"""An unknown OpenAI-compatible server: everything is sent as the reference names it."""

BACKENDS: dict[str, Backend] = {b.name: b for b in (LIVEKIT, OPENAI_COMPATIBLE)}


def get_backend(name: str) -> Backend:
    """The backend called ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"backend={name!r} is unknown; allowed: {', '.join(sorted(BACKENDS))}"
        ) from None
