"""Peers' own Gemma 4 cases, streamed: what vLLM, Ollama, SGLang, vllm-mlx, mlx-vlm, NVIDIA
Dynamo, OpenVINO Model Server, transformers and mistral.rs read as speech and calls, we do too.

Each case in ``tests/data/gemma4_peers/cases.json`` is an input and its expected outcome
harvested from a peer's test suite (``source``: repository, file, test name), reduced to what a
voice agent's streamed reply needs: the speech heard and the tool calls run. Where our answer
differs from the peer's on purpose, the case says why in ``note``. Each case is streamed whole,
one character at a time and split at random points; every way must give the same outcome.
Speech is compared with whitespace runs collapsed (peers strip and join whitespace each their
own way; a listener hears no difference) but never with words glued or split.

Left out, and why:

* Ollama ``TestGemma4Parser/thinking_*`` ``expectedThinking`` values, vLLM ``reasoning`` values:
  the thought text itself is never spoken, so only its absence from speech is checked.
* Ollama ``TestRepairGemma4MissingStringDelimiter/closes_at_end``,
  ``TestRepairGemma4MissingObjectClose/*``, ``TestRepairGemma4RawTerminalStringValue/
  wraps_known_string_property_terminal_value``, ``TestParseGemma4ToolCall_RepairsIssue15315
  Examples/raw multiline string`` and ``TestGemma4RepairCandidates/*``: a body with no closing
  brace. In a stream that is what a reply cut off by ``max_tokens`` looks like; running it would
  run a function with a truncated argument, so such a body is never run (and never spoken).
  ``TestGemma4RepairCandidates`` also tests a helper's intermediate output, not a result.
* Ollama ``TestGemma4Parser_HasToolSupport``/``HasThinkingSupport``, vLLM
  ``test_gemma4_adjust_request``, ``TestHasToolResponseTag``,
  ``test_gemma4_previous_turn_reasoning_is_reasoning_end``: server configuration and prompt
  analysis, not a reply's content.
* vLLM ``TestParseGemma4Args::test_empty_value`` (``key:`` read as ``""``): a call with a
  missing value is dropped rather than run with an argument the model never wrote.
* vLLM ``TestParseGemma4Array::test_stray_closing_bracket`` (``42,]trailing`` read as ``[42]``)
  and the ``partial=True`` tests (``*_partial_withheld``, ``test_malformed_partial_array``):
  streaming argument diffs of an unfinished call; we hand over only complete calls.
* vLLM ``TestStreamingExtraction::test_streaming_no_extra_brace`` /
  ``test_streaming_no_unquoted_keys`` / ``test_streaming_name_no_call_prefix``: the same input as
  ``test_streaming_multi_arg``'s neighbours (checked there); their assertions are on vLLM's
  delta encoding.
* vllm-mlx ``test_think_tags_stripped``: ``<think>`` blocks are not Gemma 4's grammar; the
  thinking layer in ``parsing.py`` drops them after this reader. ``test_tool_call_id_generated``
  and the streaming tests' delta shapes: ids and encoding, not content.
* Dynamo ``args_grammar_empty_value_*`` and ``args_grammar_unterminated_string_takes_remainder``:
  a missing value or a cut-off string is never run (as for vLLM's ``test_empty_value`` above);
  ``args_grammar_keyword_prefix_not_consumed`` (``x:nullable`` an error there): a bare word is
  read as text here, as vLLM reads it.
* OpenVINO Model Server ``ParseToolCallOutputWithNoToolsInTheRequest`` (the call's text
  spoken when the request had no tools) and ``ToolCallsWithoutToolsInTheRequestStreaming`` (the
  same, streamed): markup is never spoken here, tools or not.
* SGLang ``test_parse_gemma4_args_empty`` and ``test_parse_gemma4_value_types``' empty value:
  a helper's output for a body no call has.
* mistral.rs ``matched_braces_*``, ``args_to_json_mixed_types``, ``prefix_detection`` and
  ``strict_grammar_no_strict_unchanged``: a helper's output or the constrained-decoding grammar,
  not a reply's content. Its tests before ``single_tool_call`` in the file were not read.
* transformers: only ``tests/models/gemma4/test_response_template_gemma4.py`` holds Gemma 4
  reply cases (its chat-parsing tests are generic).
* Not found in the time available: Gemma 4 tool-parser tests of mlx-lm (it has
  ``mlx_lm/tool_parsers/gemma4.py``; no test of it was located) and LocalAI (searched by file
  and by string).
* llama.cpp ``tests/test-chat.cpp``: its Gemma 4 cases were not located in the time available
  (the stored file is 331k characters; the only mirror here predates Gemma 4).
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

from tests.test_gemma4 import FORBIDDEN, _feed

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "gemma4_peers" / "cases.json").read_text("utf-8")
)["cases"]
IDS = [c["id"] for c in CASES]


def _words(text: str) -> str:
    return " ".join(text.split())


def _splits(text: str, seed: str) -> list[list[str]]:
    """The ways a server may cut the reply: whole, per character, and five random cuttings."""
    rng = random.Random(seed)
    ways = [[text], list(text)]
    for _ in range(5):
        cuts = sorted(rng.sample(range(len(text) + 1), min(len(text) + 1, rng.randint(1, 12))))
        bounds = [0, *cuts, len(text)]
        ways.append([text[a:b] for a, b in itertools.pairwise(bounds)])
    return ways


def test_cases_are_unique_and_sourced() -> None:
    """Every harvested case says where it comes from, so a failure can be traced to a peer."""
    assert len(set(IDS)) == len(IDS)
    assert all(c["source"].count(" ") >= 1 and "::" in c["source"] for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_peer_case(case: dict[str, Any]) -> None:
    """What a peer reads as the answer and the calls is what the caller hears and what runs."""
    want_calls = [(name, args) for name, args in case["calls"]]
    for pieces in _splits(case["text"], case["id"]):
        speech, calls, _ = _feed(pieces, case.get("in_thought", False), case.get("schemas"))
        assert _words(speech) == _words(case["speech"]), pieces
        assert [(c.name, json.loads(c.arguments)) for c in calls] == want_calls, pieces
        for marker in FORBIDDEN:
            assert marker not in speech, pieces
