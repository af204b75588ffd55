"""The two private framework hooks the plugin relies on: each fails loudly here if it moves.

livekit-agents offers no public way to (1) build the job's inference headers (room, job, agent,
session ids, the worker token, a job's own priority override) or (2) resolve a model string to
an LLM other than by the module attribute ``inference.llm_from_model_string``. The plugin uses
each in exactly one place (``auth.job_headers``, ``__init__._install_descriptor_hook``).
"""

from __future__ import annotations

import inspect

from livekit.agents import inference

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted import Session, auth
from tests.gateway import Gateway


def test_job_headers_helper_exists_with_inference_class() -> None:
    """The gateway would lose the room/job ids and the priority if the helper moved."""
    from livekit.agents.inference._utils import get_inference_headers

    assert "inference_class" in inspect.signature(get_inference_headers).parameters
    headers = get_inference_headers(inference_class="low")
    assert headers["X-LiveKit-Inference-Priority"] == "low"
    assert auth.job_headers(inference_class="low") == {"X-LiveKit-Inference-Priority": "low"}


async def test_descriptor_hook_point_is_the_module_attribute(gateway_env: Gateway) -> None:
    """Session(llm="<id>") would stop resolving to hosted.LLM if the framework moved it."""
    assert getattr(inference.llm_from_model_string, "__hosted_hook__", False)
    session = Session(llm="google/gemma-4-31b-it")
    assert isinstance(session.llm, hosted.LLM)
    await session.llm.aclose()
