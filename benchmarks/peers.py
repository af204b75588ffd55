"""The five clients compared, behind one small interface.

A peer makes an instance bound to a ``base_url`` (the benchmark server encodes the stream's
shape in it), streams one completion from it as an async generator of content strings, and
closes it. The generator calls ``chat()`` / ``create()`` at its first ``__anext__``, so a
caller that reads the clock just before that call times from ``chat()`` to the first content.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

MODEL = "google/gemma-4-31b-it"
PROMPT = "Say something."
MESSAGES = [{"role": "user", "content": PROMPT}]
API_KEY = "k"
API_SECRET = "s" * 32
# a raw client is given the largest pool any plugin uses, so that it is a floor, not a queue
RAW_POOL = 250


def chat_ctx() -> Any:
    from livekit.agents import llm

    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content=PROMPT)
    return ctx


@dataclass(frozen=True)
class Peer:
    key: str
    label: str
    make: Callable[[str], Any]
    """``base_url`` -> instance (called inside the event loop)."""
    stream: Callable[[Any], AsyncIterator[str]]
    close: Callable[[Any], Any]
    """instance -> awaitable."""
    requires: tuple[str, ...] = ()
    """Modules the peer needs (a peer whose module is missing is skipped, with a note)."""

    def missing(self) -> str | None:
        import importlib.util

        for name in self.requires:
            try:
                if importlib.util.find_spec(name) is None:
                    return name
            except ModuleNotFoundError:
                return name
        return None


# -- plugins: async for chunk in llm.chat(chat_ctx=ctx) ----------------------------------------

_CTX: Any = None


async def _plugin_stream(inst: Any) -> AsyncIterator[str]:
    global _CTX
    if _CTX is None:
        _CTX = chat_ctx()
    async with inst.chat(chat_ctx=_CTX) as stream:
        async for chunk in stream:
            delta = chunk.delta
            if delta is not None and delta.content:
                yield delta.content


async def _plugin_close(inst: Any) -> None:
    await inst.aclose()


def _make_hosted(base_url: str) -> Any:
    import livekit_plugins_hosted as hosted

    return hosted.LLM(MODEL, base_url=base_url, api_key=API_KEY, api_secret=API_SECRET)


def _make_builtin(base_url: str) -> Any:
    from livekit.agents import inference

    return inference.LLM(model=MODEL, base_url=base_url, api_key=API_KEY, api_secret=API_SECRET)


def _make_openai_plugin(base_url: str) -> Any:
    from livekit.plugins import openai as lk_openai

    return lk_openai.LLM(model=MODEL, base_url=base_url, api_key="x")


# -- raw openai SDK: client.chat.completions.create(stream=True) -------------------------------


def _make_sdk(base_url: str) -> Any:
    import httpx2 as httpx
    import openai

    return openai.AsyncClient(
        api_key="x",
        base_url=base_url,
        max_retries=0,
        http_client=httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=15.0),
            limits=httpx.Limits(max_connections=RAW_POOL, max_keepalive_connections=50),
        ),
    )


async def _sdk_stream(client: Any) -> AsyncIterator[str]:
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    async with stream:
        async for chunk in stream:
            if chunk.choices and (content := chunk.choices[0].delta.content):
                yield content


async def _sdk_close(client: Any) -> None:
    await client.close()


# -- raw httpx: POST, aiter_lines, json.loads (the floor) --------------------------------------


@dataclass
class _Raw:
    client: Any
    url: str


def _make_httpx(base_url: str) -> _Raw:
    import httpx2 as httpx

    return _Raw(
        httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=15.0),
            limits=httpx.Limits(max_connections=RAW_POOL, max_keepalive_connections=50),
            headers={"Authorization": "Bearer x"},
        ),
        base_url + "/chat/completions",
    )


_RAW_BODY = json.dumps(
    {
        "model": MODEL,
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
).encode()


async def _httpx_stream(raw: _Raw) -> AsyncIterator[str]:
    async with raw.client.stream(
        "POST", raw.url, content=_RAW_BODY, headers={"Content-Type": "application/json"}
    ) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                # read on to the end of the body (a few bytes) so the connection is reused
                continue
            choices = json.loads(data).get("choices")
            if choices and (content := choices[0].get("delta", {}).get("content")):
                yield content


async def _httpx_close(raw: _Raw) -> None:
    await raw.client.aclose()


PEERS: dict[str, Peer] = {
    p.key: p
    for p in (
        Peer("hosted", "hosted.LLM", _make_hosted, _plugin_stream, _plugin_close),
        Peer("builtin", "inference.LLM", _make_builtin, _plugin_stream, _plugin_close),
        Peer(
            "openai",
            "openai.LLM (plugin)",
            _make_openai_plugin,
            _plugin_stream,
            _plugin_close,
            requires=("livekit.plugins.openai",),
        ),
        Peer("sdk", "openai SDK (raw)", _make_sdk, _sdk_stream, _sdk_close),
        Peer("httpx", "httpx lines (floor)", _make_httpx, _httpx_stream, _httpx_close),
    )
}
BASELINE = "builtin"
SUBJECT = "hosted"


# -- the local engine: the plugin vs a raw openai client against the same server ---------------


def local_engine_factory() -> tuple[Any, str]:
    """``(start_local_engine, "")`` when the local engine can run, else ``(None, reason)``."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError as e:
        return None, f"llama_cpp is not importable ({e})"
    try:
        from livekit_plugins_hosted import local
    except ImportError as e:
        return None, f"livekit_plugins_hosted.local does not exist yet ({e})"
    start = getattr(local, "start_local_engine", None)
    if start is None:
        return None, "livekit_plugins_hosted.local has no start_local_engine()"
    return start, ""


def local_peers(engine_llm: Any, max_tokens: int) -> dict[str, Peer]:
    """The plugin LLM the engine yields, and a raw openai client on its ``base_url``."""
    import openai

    base_url = engine_llm.base_url
    model = engine_llm.model

    async def plugin_stream(inst: Any) -> AsyncIterator[str]:
        global _CTX
        if _CTX is None:
            _CTX = chat_ctx()
        async with inst.chat(
            chat_ctx=_CTX, extra_kwargs={"max_tokens": max_tokens, "temperature": 0.0}
        ) as stream:
            async for chunk in stream:
                if chunk.delta is not None and chunk.delta.content:
                    yield chunk.delta.content

    async def raw_stream(client: Any) -> AsyncIterator[str]:
        stream = await client.chat.completions.create(
            model=model,
            messages=MESSAGES,
            stream=True,
            max_tokens=max_tokens,
            temperature=0.0,
        )
        async with stream:
            async for chunk in stream:
                if chunk.choices and (content := chunk.choices[0].delta.content):
                    yield content

    async def no_close(_inst: Any) -> None:
        return None

    return {
        "local_plugin": Peer(
            "local_plugin", "hosted (local engine)", lambda _u: engine_llm, plugin_stream, no_close
        ),
        "local_raw": Peer(
            "local_raw",
            "openai SDK (local engine)",
            lambda _u: openai.AsyncClient(api_key="x", base_url=base_url, max_retries=0),
            raw_stream,
            _sdk_close,
        ),
    }
