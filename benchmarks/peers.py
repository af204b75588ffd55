"""The five clients compared, behind one small interface.

A peer makes an instance bound to a ``base_url`` (the benchmark server encodes the stream's
shape in it), streams one completion from it as an async generator of content strings, and
closes it. The generator calls ``chat()`` / ``create()`` at its first ``__anext__``, so a
caller that reads the clock just before that call times from ``chat()`` to the first content.
It sends the one-message prompt, or a longer conversation (:func:`conversation`) passed in the
form the peer takes (:attr:`Peer.context`).
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
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


# -- conversations of a given length (the "turns" section) -------------------------------------

_WORDS = (
    "the a to and of in that it is was for on you with as have be at this but not they we "
    "from or by one all would there their what so up out if about who get which go me when "
    "make can like time just him know take people into year your good some could them see "
    "other than then now look only come its over think also back after use two how our work "
    "first well way even new want because any these give day most us order booking table "
    "tomorrow evening morning price delivery address account card number help question thanks "
    "sure right okay maybe please available change cancel check email phone call minutes "
    "hours week weekend appointment doctor flight hotel room restaurant menu weather meeting"
)
_VOCAB = _WORDS.split()


def message_text(i: int) -> str:
    """Message ``i`` of the benchmark conversation: 20–60 words in short sentences, the same
    text in every run (seeded by ``i``), ASCII with commas, periods and question marks."""
    rng = random.Random(1_000_003 * (i + 1))
    n = rng.randint(20, 60)
    out: list[str] = []
    start = True
    for k in range(n):
        w = rng.choice(_VOCAB)
        out.append(w.capitalize() if start else w)
        start = False
        if k == n - 1:
            out[-1] += "?" if rng.random() < 0.3 else "."
        elif rng.random() < 0.1:
            out[-1] += rng.choice((".", ".", ",", "?"))
            start = not out[-1].endswith(",")
    return " ".join(out)


def conversation(turns: int) -> list[dict[str, str]]:
    """A context of ``turns`` turns that ends with a user message: ``turns - 1`` user and
    assistant pairs, then the user message of the last turn, whose answer is the stream
    (``2 * turns - 1`` messages). A shorter conversation is a prefix of a longer one."""
    return [
        {"role": "assistant" if i % 2 else "user", "content": message_text(i)}
        for i in range(2 * turns - 1)
    ]


def request_body(messages: list[dict[str, str]]) -> bytes:
    """The JSON body the raw httpx peer sends for ``messages`` (the same for every request)."""
    return json.dumps(
        {
            "model": MODEL,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()


def chat_ctx_from(messages: list[dict[str, str]]) -> Any:
    """A ``ChatContext`` holding ``messages`` (built once per conversation length)."""
    from livekit.agents import llm

    ctx = llm.ChatContext.empty()
    for m in messages:
        ctx.add_message(role=m["role"], content=m["content"])  # type: ignore[arg-type]
    return ctx


def _as_is(messages: list[dict[str, str]]) -> Any:
    return messages


@dataclass(frozen=True)
class Peer:
    key: str
    label: str
    make: Callable[[str], Any]
    """``base_url`` -> instance (called inside the event loop)."""
    stream: Callable[..., AsyncIterator[str]]
    """``stream(inst)`` streams the one-message prompt; ``stream(inst, context)`` a
    conversation (``context`` made by :attr:`context`)."""
    close: Callable[[Any], Any]
    """instance -> awaitable."""
    requires: tuple[str, ...] = ()
    """Modules the peer needs (a peer whose module is missing is skipped, with a note)."""
    context: Callable[[list[dict[str, str]]], Any] = _as_is
    """messages -> what ``stream(inst, context)`` takes for a conversation: a ``ChatContext``
    for the plugins, the list itself for the raw peers (``stream(inst)`` sends ``MESSAGES``)."""

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


async def _plugin_stream(inst: Any, ctx: Any = None) -> AsyncIterator[str]:
    global _CTX
    if ctx is None:
        if _CTX is None:
            _CTX = chat_ctx()
        ctx = _CTX
    async with inst.chat(chat_ctx=ctx) as stream:
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


async def _sdk_stream(client: Any, messages: Any = None) -> AsyncIterator[str]:
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES if messages is None else messages,
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


_RAW_BODY = request_body(MESSAGES)


async def _httpx_stream(raw: _Raw, messages: Any = None) -> AsyncIterator[str]:
    # the one-message body is serialised once; a conversation's on every request (after the
    # caller's clock started), as a client that builds its body directly has to
    body = _RAW_BODY if messages is None else request_body(messages)
    async with raw.client.stream(
        "POST", raw.url, content=body, headers={"Content-Type": "application/json"}
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
        Peer(
            "hosted",
            "hosted.LLM",
            _make_hosted,
            _plugin_stream,
            _plugin_close,
            context=chat_ctx_from,
        ),
        Peer(
            "builtin",
            "inference.LLM",
            _make_builtin,
            _plugin_stream,
            _plugin_close,
            context=chat_ctx_from,
        ),
        Peer(
            "openai",
            "openai.LLM (plugin)",
            _make_openai_plugin,
            _plugin_stream,
            _plugin_close,
            requires=("livekit.plugins.openai",),
            context=chat_ctx_from,
        ),
        Peer("sdk", "openai SDK (raw)", _make_sdk, _sdk_stream, _sdk_close),
        Peer("httpx", "httpx lines (floor)", _make_httpx, _httpx_stream, _httpx_close),
    )
}
BASELINE = "builtin"
SUBJECT = "hosted"


# -- the thinking section: a model that thinks before it answers --------------------------------

THINKING_PEERS = ("hosted", "builtin", "sdk")
"""The peers of the thinking section (the others wait out a thought as the raw SDK does)."""
THINK_FIRST_TOKEN_TIMEOUT = 30.0
"""``first_token_timeout`` of the thinking ``hosted`` peer: well past the thought, so that only
``max_thinking_time`` acts (it must be less than this)."""


def _make_hosted_thinking(max_thinking_time: float) -> Callable[[str], Any]:
    def make(base_url: str) -> Any:
        import livekit_plugins_hosted as hosted

        return hosted.LLM.self_hosted(
            MODEL,
            base_url=base_url,
            backend="llama.cpp",
            first_token_timeout=THINK_FIRST_TOKEN_TIMEOUT,
            max_thinking_time=max_thinking_time,
            extra_kwargs={"reasoning_effort": "high"},
        )

    return make


def thinking_peers(selected: Sequence[Peer], max_thinking_time: float) -> list[Peer]:
    """The peers of the thinking section among ``selected``, in their order: ``hosted`` as a
    llama-server client with ``max_thinking_time`` and thinking on (``reasoning_effort``
    ``"high"``), ``builtin`` and ``sdk`` as they are (neither has a way to end a thought)."""
    out = []
    for p in selected:
        if p.key == SUBJECT:
            out.append(replace(p, make=_make_hosted_thinking(max_thinking_time)))
        elif p.key in THINKING_PEERS:
            out.append(p)
    return out


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
