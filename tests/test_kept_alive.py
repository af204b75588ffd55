"""A kept-alive connection the server closed is sent again at once only when not one byte of
a response came (review of issue 22, item 7).

httpcore says "Server disconnected without sending a response" both of a connection closed
while idle and of one cut after half a status line or header block: the second is a malformed
response, a fault the framework's retries judge (``max_retry=0``: none), never a silent resend.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import httpx2 as httpx
import pytest
from livekit.agents import APIConnectionError, APIConnectOptions

import livekit_plugins_hosted as hosted
from livekit_plugins_hosted import thinking
from tests.gateway import completion_chunks, user_ctx

NO_RETRY = APIConnectOptions(max_retry=0, timeout=10)


def _answer() -> bytes:
    body = b"".join(
        f"data: {json.dumps(c)}\n\n".encode() for c in completion_chunks(["Hi", " there"])
    )
    body += b"data: [DONE]\n\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


MODELS = json.dumps({"object": "list", "data": [{"id": "m", "owned_by": "vllm"}]}).encode()
MODELS_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + b"Content-Length: %d\r\n\r\n" % len(MODELS)
    + MODELS
)


class RawServer:
    """Answers the first connection's requests in turn from ``script`` (``None``: close with
    no byte sent), every later connection's with a completion; counts the completion
    requests that arrived."""

    def __init__(self, script: Sequence[bytes | None]) -> None:
        self.script = script
        self.posts = 0
        self.connections = 0
        self.url = ""

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        script = self.script if self.connections == 1 else ()
        try:
            for answer in script:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                if head.startswith(b"POST"):
                    self.posts += 1
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
            while script is not self.script:  # a later connection: each request answered
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                self.posts += 1
                writer.write(_answer())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.mark.parametrize(
    "cut", [b"HTTP/1.1 200 OK\r\nContent-Type: text/event", b"HTTP/1.1 2"], ids=["head", "line"]
)
async def test_a_cut_response_on_a_reused_connection_is_not_sent_again(cut: bytes) -> None:
    """A response cut after half its header block (or its status line) on a kept-alive
    connection passed for an idle close: the request was sent again at once, with
    ``max_retry=0``, and the turn answered from a second completion."""
    async with RawServer([_answer(), cut]) as server:
        model = hosted.LLM.self_hosted("m", base_url=server.url, backend="vllm")
        first = await model.chat(chat_ctx=user_ctx(), conn_options=NO_RETRY).collect()
        assert first.text == "Hi there"
        with pytest.raises(APIConnectionError):
            await model.chat(chat_ctx=user_ctx(), conn_options=NO_RETRY).collect()
        assert (server.posts, server.connections) == (2, 1)
        await model.aclose()


async def test_a_connection_prewarm_opened_and_the_server_closed_is_sent_again_at_once() -> None:
    """The connection prewarm opened (``GET /models``) and the server then closed without a
    byte is still an idle close: the completion is sent again at once on a fresh connection
    (with ``max_retry=0`` the turn would otherwise fail)."""
    async with RawServer([MODELS_ANSWER, None]) as server:
        model = hosted.LLM.self_hosted("m", base_url=server.url, backend="vllm")
        await model._prewarm_impl()  # what prewarm() runs in the background
        result = await model.chat(chat_ctx=user_ctx(), conn_options=NO_RETRY).collect()
        assert result.text == "Hi there"
        assert (server.posts, server.connections) == (2, 2)
        await model.aclose()


CONTROL = json.dumps({"success": True}).encode()
CONTROL_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + b"Content-Length: %d\r\n\r\n" % len(CONTROL)
    + CONTROL
)


async def test_a_connection_a_control_request_opened_and_the_server_closed_is_sent_again() -> None:
    """The connection a control request (``max_thinking_time`` on llama-server) or a
    rendering probe opened, which the server then closed while idle (llama-server does after
    5 s), was never sent again at once: those requests carried no trace, so its reads were
    never seen, and with ``max_retry=0`` the next turn failed."""
    async with RawServer([CONTROL_ANSWER, None]) as server:
        client = httpx.AsyncClient()
        model = hosted.LLM.self_hosted("m", base_url=server.url, backend="vllm", http_client=client)
        said = await thinking.end_reasoning(client, server.url, {}, completion_id="c", model="m")
        assert said is None
        result = await model.chat(chat_ctx=user_ctx(), conn_options=NO_RETRY).collect()
        assert result.text == "Hi there"
        assert (server.posts, server.connections) == (3, 2)
        await model.aclose()
        await client.aclose()


async def test_a_connection_the_user_opened_is_sent_again_once_a_turn_read_from_it() -> None:
    """A connection the ``http_client``'s own requests opened (no trace: its reads unseen)
    was never sent again at once. Once a turn has read a response from it, its reads are
    seen: closed by the server while idle, the next turn is sent again at once."""
    async with RawServer([MODELS_ANSWER, _answer(), None]) as server:
        client = httpx.AsyncClient()
        model = hosted.LLM.self_hosted("m", base_url=server.url, backend="vllm", http_client=client)
        assert (await client.get(f"{server.url}/models")).status_code == 200
        first = await model.chat(chat_ctx=user_ctx(), conn_options=NO_RETRY).collect()
        second = await model.chat(chat_ctx=user_ctx(), conn_options=NO_RETRY).collect()
        assert first.text == second.text == "Hi there"
        assert (server.posts, server.connections) == (3, 2)
        await model.aclose()
        await client.aclose()


@pytest.mark.parametrize(
    "cut", [None, b"HTTP/1.1 200 OK\r\nContent-Type: text/event"], ids=["nothing", "head"]
)
async def test_the_first_turn_on_a_connection_the_user_opened_is_not_sent_again(
    cut: bytes | None,
) -> None:
    """On a connection the ``http_client``'s own request opened, nothing a turn reads is
    seen before its first response: whether a byte of a response came cannot be told, so a
    failure there is the framework's to retry (``max_retry=0``: an error), never a resend."""
    async with RawServer([MODELS_ANSWER, cut]) as server:
        client = httpx.AsyncClient()
        model = hosted.LLM.self_hosted("m", base_url=server.url, backend="vllm", http_client=client)
        assert (await client.get(f"{server.url}/models")).status_code == 200
        with pytest.raises(APIConnectionError):
            await model.chat(chat_ctx=user_ctx(), conn_options=NO_RETRY).collect()
        assert (server.posts, server.connections) == (1, 1)
        await model.aclose()
        await client.aclose()
