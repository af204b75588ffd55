"""The public surface: ``__all__`` is exactly the public names of the package (as httpx pins it)."""

from __future__ import annotations

import types

import livekit_plugins_hosted as hosted


def test_all_is_the_public_surface() -> None:
    """A public name missing from __all__, or an __all__ entry that does not exist."""
    public = {
        name
        for name, value in vars(hosted).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(hosted.__all__) - {"__version__"}
    assert all(hasattr(hosted, name) for name in hosted.__all__)


def test_pinned_names() -> None:
    """Renaming or dropping a public name would break users' imports."""
    assert set(hosted.__all__) == {
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
    }


def test_session_is_the_installed_framework_s_own_class() -> None:
    """``hosted.Session`` would be the deprecated alias on livekit-agents 2.x (a warning on
    every use) or missing on 1.8."""
    import livekit.agents as agents

    expected = getattr(agents, "LiveSession", None) or agents.AgentSession
    assert hosted.Session is expected
