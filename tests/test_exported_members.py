"""The public surface: ``__all__`` is exactly the public names of the package (as httpx pins it)."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

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


def test_session_is_typed_as_the_installed_framework_s_class(tmp_path: Path) -> None:
    """A type checker would see ``hosted.Session`` as ``Any`` on livekit-agents 2.x (where
    ``AgentSession`` comes from a module ``__getattr__``) and let any call through."""
    user = tmp_path / "user_code.py"
    user.write_text(
        "import livekit_plugins_hosted as hosted\n"
        'hosted.Session(llm="google/gemma-4-31b-it", no_such_option=1)\n'
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(user)],  # the CI mypy step's cache
        capture_output=True,
        text=True,
        cwd=root,
        env={"PATH": "", "PYTHONPATH": str(root)},
        timeout=600,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'Unexpected keyword argument "no_such_option"' in done.stdout, done.stdout
