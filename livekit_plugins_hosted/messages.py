"""The chat context as the messages one model is sent, and the tools' schemas by name.

What a model is sent depends on what it is, not only on the OpenAI format:

* **Gemma 4** answers *as the caller* after a ``system`` turn in mid-conversation
  (livekit/agents#7020: replayed contexts were clean 1 time in 8 with a trailing system role,
  6 of 6 as a user turn). ``session.generate_reply(instructions=...)``, silence reminders and a
  greeting all add such turns, so for this family every system message after the conversation
  has begun goes as a ``user`` turn in ``<instructions>`` tags, as the framework's own Google,
  Anthropic, AWS and Mistral formats do (LiveKit Inference rewrites them too; a self-hosted
  server does not).
* **A text-only model** (the catalogue says which) gets no image parts: one warning per LLM,
  and the turn goes on, instead of a server error on every turn ("image input is not
  supported") once a vision agent adds video frames.
* **A video frame** is encoded with Pillow (the framework's ``images`` extra, offered as our
  ``[vision]`` extra); without it the turn fails with an error that says so, not an
  ``ImportError`` from inside the stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from livekit.agents import APIError, llm

from .log import logger
from .models import ModelInfo
from .traits import ServerTraits

VISION_EXTRA = "livekit-plugins-hosted[vision]"
"""The extra that brings Pillow, which the framework needs to encode a video frame."""


def mid_conversation_as_user(chat_ctx: llm.ChatContext) -> llm.ChatContext:
    """System messages after the conversation began, rewritten as user turns.

    The framework keeps this in a private module (``llm._provider_format.utils``); this is the
    one place the plugin calls it, and ``tests/test_framework_hooks.py`` fails if it moves.
    """
    from livekit.agents.llm._provider_format.utils import convert_mid_conversation_instructions

    return convert_mid_conversation_instructions(chat_ctx)


def _has_late_system(items: Sequence[llm.ChatItem]) -> bool:
    """Whether a system/developer message follows the start of the conversation (a cheap scan:
    most requests have none, and then nothing is rebuilt)."""
    seen_first = False
    for item in items:
        if seen_first and item.type == "message" and item.role in ("system", "developer"):
            return True
        seen_first = True
    return False


def _without_images(chat_ctx: llm.ChatContext) -> tuple[llm.ChatContext, bool]:
    items: list[llm.ChatItem] = []
    dropped = False
    for item in chat_ctx.items:
        if item.type == "message" and any(isinstance(c, llm.ImageContent) for c in item.content):
            dropped = True
            content = [c for c in item.content if not isinstance(c, llm.ImageContent)]
            if not content:
                continue
            item = item.model_copy(update={"content": content})
        items.append(item)
    return (llm.ChatContext(items) if dropped else chat_ctx), dropped


def provider_messages(
    chat_ctx: llm.ChatContext, model: ModelInfo, traits: ServerTraits
) -> list[dict[str, Any]]:
    """The ``messages`` of a request for ``model`` (see the module docstring)."""
    if model.images is False:
        chat_ctx, dropped = _without_images(chat_ctx)
        if dropped and not traits.images_dropped:
            traits.images_dropped = True
            logger.warning(
                "model %s reads no images: image parts are left out of its requests",
                model.id,
                extra={"model": model.id},
            )
    if model.family_key == "gemma-4" and _has_late_system(chat_ctx.items):
        chat_ctx = mid_conversation_as_user(chat_ctx)
    try:
        messages, _ = chat_ctx.to_provider_format("openai")
    except ImportError as e:
        # the framework encodes a video frame with Pillow, an optional dependency
        raise APIError(
            f"a video frame in the chat context needs Pillow to be encoded: "
            f"pip install '{VISION_EXTRA}' ({e})",
            retryable=False,
        ) from None
    return messages


def tool_schemas(specs: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Each tool's JSON-schema ``parameters`` by name, from OpenAI tool definitions."""
    out: dict[str, Mapping[str, Any]] = {}
    for spec in specs:
        fn = spec.get("function")
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            params = fn.get("parameters")
            out[fn["name"]] = params if isinstance(params, Mapping) else {}
    return out
