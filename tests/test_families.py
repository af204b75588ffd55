"""Model families recognised from any id a server uses; their thinking never reaches speech."""

from __future__ import annotations

import pytest

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted.models import FAMILIES, family_of, get_model
from tests.gateway import Gateway, Reply, user_ctx

GEMMA_4_IDS = [
    "google/gemma-4-31b-it",
    "google/gemma-4-31B-it",  # vLLM, Hugging Face casing
    "gemma4:31b",  # Ollama tag
    "gemma4",
    "RedHatAI/gemma-4-31b-it-FP8-dynamic",
    "unsloth/gemma-4-31b-it-GGUF:Q4_K_M",
    "/models/gemma-4-31B-it-Q4_K_M.gguf",  # llama-server reports the file path
    "hf.co/unsloth/gemma-4-31b-it-GGUF:Q8_0",
    "Gemma 4 31B IT",
    "google_gemma-4-e4b-it",
]
GEMMA_3_IDS = [
    "google/gemma-3-270m",
    "gemma3:270m",
    "google/gemma-3n-E4B-it",
    "ggml-org/gemma-3-1b-it-GGUF",
    "/models/gemma-3-270m-Q4_K_M.gguf",
]
OTHER_IDS = ["codegemma-7b", "gemma-40b", "acme/gemma4000", "Qwen/Qwen3-8B", "llama-3.1-8b", "m"]


@pytest.mark.parametrize("model_id", GEMMA_4_IDS)
def test_gemma_4_under_any_id(model_id: str) -> None:
    """A server's own id for Gemma 4 would not get Gemma 4's thinking format."""
    family = family_of(model_id)
    assert family is not None and family.key == "gemma-4"
    assert get_model(model_id).thinking == (("<|channel>thought", "<channel|>"),)


@pytest.mark.parametrize("model_id", GEMMA_3_IDS)
def test_gemma_3_under_any_id(model_id: str) -> None:
    """A Gemma 3 id would be taken for another family."""
    family = family_of(model_id)
    assert family is not None and family.key == "gemma-3"


@pytest.mark.parametrize("model_id", OTHER_IDS)
def test_other_ids_match_no_family(model_id: str) -> None:
    """An unrelated id would be treated as Gemma (a near-miss like gemma-40b included)."""
    assert family_of(model_id) is None


def test_families_are_listed() -> None:
    """The families the README and `livekit-hosted models` describe exist."""
    assert [f.key for f in FAMILIES] == [
        "gemma-4",
        "gemma-3",
        "deepseek-r1",
        "qwq",
        "qwen3-thinking",
    ]


THOUGHT = ["<|chan", "nel>thought\nThe user greets", " me.<chan", "nel|>Hi, how can I help?"]


@pytest.mark.parametrize("model_id", [*GEMMA_4_IDS[1:5], "acme/unknown-model"])
async def test_gemma_4_thought_never_spoken_under_any_id(gateway: Gateway, model_id: str) -> None:
    """A stream of Gemma 4 thought then the answer speaks only the answer, whatever the id
    (an unknown model included: the markers are special tokens of a known family)."""
    gateway._verify = False
    for backend in ("auto", "vllm", "llama.cpp", "ollama", "openai-compatible"):
        gateway.replies.append(Reply.text(*THOUGHT))
        model = hosted.LLM.self_hosted(model_id, base_url=gateway.url, backend=backend)
        result = await model.chat(chat_ctx=user_ctx()).collect()
        assert result.text == "Hi, how can I help?", (model_id, backend)
        await model.aclose()
