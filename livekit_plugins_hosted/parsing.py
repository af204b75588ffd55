"""Pure stream parsing: JSON events to ``llm.ChatChunk`` (the events come from ``sse``).

Nothing here does I/O, so the rules that matter are tested directly: thinking text never
reaches ``content`` (tags split across chunks, ``reasoning``/``reasoning_content`` fields),
tool calls assemble from fragments (parallel calls, several in one chunk), only choice 0 is
spoken, usage is read with cached and reasoning tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from livekit.agents import llm

from . import shape
from .gemma4 import Gemma4Parser
from .models import GENERIC_THINKING
from .sse import StreamError as StreamError
from .sse import decode_event as decode_event
from .thoughts import THOUGHT_KEPT as THOUGHT_KEPT
from .thoughts import ThinkFilter as ThinkFilter
from .thoughts import open_thought
from .toolcalls import ServerToolCalls

_ID_KEPT = 200
"""Characters of a server's completion id repeated as the chunks' id (an id is a few dozen)."""


class EmptyCompletion(StreamError):
    """The completion finished with nothing to say and no tool call: silence, unless raised."""


def _text(content: Any) -> str:
    """``delta.content`` as a string: some servers send a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p if isinstance(p, str) else str(p.get("text") or "")
            for p in content
            if isinstance(p, str | dict)
        )
    return ""


def _chunk(id: str, content: str | None, tool_calls: list[llm.FunctionToolCall]) -> llm.ChatChunk:
    # model_construct: every field is ours and already of the right type, so pydantic's
    # validation would only cost time on the hot path.
    return llm.ChatChunk.model_construct(
        id=id,
        delta=llm.ChoiceDelta.model_construct(
            role="assistant", content=content, tool_calls=tool_calls, extra=None
        ),
        usage=None,
    )


class ChunkParser:
    """Turns ``chat.completion.chunk`` objects into ``llm.ChatChunk``; one per attempt."""

    def __init__(
        self,
        thinking: Sequence[tuple[str, str]],
        *,
        gemma4: bool = False,
        in_thought: bool = False,
        estimate_usage: bool = False,
    ) -> None:
        """``thinking``: marker pairs whose content is never spoken. ``gemma4``: the model is of
        the Gemma 4 family, so ``content`` is read with its own grammar (thought, native tool
        calls, turn boundaries) whenever the server did not parse it; ``in_thought``: the
        prompt may have opened a thought (the reply follows a tool result)."""
        self._markers = tuple(thinking)
        # a stray </think> teaches that this server's prompts open thoughts (not for Gemma 4,
        # whose own grammar has no <think>)
        self._learn = None if gemma4 else GENERIC_THINKING[0][1]
        self._thinking = ThinkFilter(self._markers, learn=self._learn)
        self._gemma4 = gemma4
        self._in_thought = in_thought
        self._schemas: Mapping[str, Mapping[str, Any]] | None = None
        self._native: Gemma4Parser | None = None
        self._tools = ServerToolCalls()
        self._id = ""
        self.mask: Callable[[str], str] | None = None
        """Masks the credentials the request carried out of the completion id the framework
        repeats (metrics, spans): a relay may echo them into it."""
        self._server_usage: llm.CompletionUsage | None = None
        self._earlier: llm.CompletionUsage | None = None  # this turn's earlier request's
        self._thought_base = 0  # thought deltas of the earlier request (counted in _earlier)
        self.estimate_usage = estimate_usage
        """Count content deltas as completion tokens when the server streams no usage."""
        self._content_deltas = 0
        self._finish_reason: object = None
        self._reasoning = 0  # deltas of thought in reasoning fields, and reasoning tokens
        self._thought_deltas = 0  # deltas of thought in reasoning fields
        self._reasoning_live = False  # the last text to come was in a reasoning field
        self.parsed_thought = False
        """Thought came in a reasoning field: the server parses the model's thinking (so it
        reads a thinking-token budget, where the engine takes one)."""
        self._calls_begun = False  # a server-parsed tool call has begun
        self._keep: tuple[list[str], list[str]] | None = None  # (reasoning, raw content) so far
        self._kept = 0  # characters offered to _keep
        self._overflow = False  # more than THOUGHT_KEPT: nothing is kept
        self._server_id: str | None = None
        self._opened: tuple[str, str] | None = None
        self.finished = False
        """Whether a finish reason for choice 0 was seen."""
        self.emitted = False
        """Whether text a caller hears (not only whitespace) or a tool call was returned: after
        that, a retry would repeat it, and the first word is out."""

    def start(
        self,
        *,
        in_thought: bool = False,
        opened_thought: tuple[str, str] | None = None,
        schemas: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """What the request told, before the first chunk: ``in_thought`` as for the
        constructor (Gemma 4); ``opened_thought``: the prompt ends inside a thought of this
        (start, end) pair (templates of the DeepSeek-R1 kind); ``schemas``: each offered tool's
        JSON-schema ``parameters`` by name, so native call values get the types the tool
        declares."""
        self._in_thought = in_thought
        self._schemas = schemas
        self._opened = opened_thought
        if opened_thought is not None:
            self._thinking = ThinkFilter(self._markers, opened=opened_thought, learn=self._learn)

    def follow_on(self, *, given_back: bool, in_thought: bool, opened: bool) -> ChunkParser:
        """A parser for the second request of this turn (its thought was stopped, nothing was
        said): the same model and tools, the thought deltas counted so far carried over.
        ``given_back``: the thought was given back closed, so the reply is the answer;
        ``in_thought`` and ``opened``: whether the second request's own prompt opens a thought
        (Gemma 4's; a template of the DeepSeek-R1 kind's), whatever the first request's did
        (asked again with thinking off, the answer is not held as a thought)."""
        nxt = ChunkParser(self._markers, gemma4=self._gemma4, estimate_usage=self.estimate_usage)
        nxt.start(
            in_thought=in_thought and not given_back,
            opened_thought=self._opened if opened and not given_back else None,
            schemas=self._schemas,
        )
        nxt.mask = self.mask
        nxt._thought_deltas = self._thought_deltas
        nxt._reasoning = self._reasoning
        # the first request's thought is in its own usage's reasoning tokens when the server
        # sent usage; else (a stream cut in its thought) the second request's estimate counts it
        nxt._thought_base = self._thought_deltas if self._server_usage is not None else 0
        # the turn's usage is both requests' (the framework reports one usage per turn)
        nxt._earlier = self.spent()
        return nxt

    def keep_thought(self) -> None:
        """Keep the thought's text until the first word (:meth:`thought`), so that a reply can
        continue from it; at most :data:`THOUGHT_KEPT` characters: past that nothing is kept
        (and the reply is asked again instead of continued)."""
        self._keep = ([], [])

    def _keep_text(self, which: int, text: str) -> None:
        keep = self._keep
        if keep is None or self.emitted:
            return
        self._kept += len(text)
        if self._kept > THOUGHT_KEPT:
            self._keep = None
            self._overflow = True
        else:
            keep[which].append(text)

    @property
    def kept(self) -> int:
        """Characters of thought held for a continuation now (bounded by :data:`THOUGHT_KEPT`)."""
        return 0 if self._keep is None else sum(len(t) for part in self._keep for t in part)

    @property
    def server_id(self) -> str | None:
        """The completion id the server streamed, if it sent one."""
        return self._server_id

    def thought(self) -> str:
        """The thought so far, without its markers (after :meth:`keep_thought`); empty when it
        was longer than :data:`THOUGHT_KEPT`."""
        if self._keep is None:
            return ""
        reasoning, raw = self._keep
        if reasoning:
            return "".join(reasoning).strip()
        return open_thought("".join(raw), self._markers)

    @property
    def thinking(self) -> bool:
        """A thought is under way and nothing of the answer has come: what
        ``max_thinking_time`` ends."""
        if self.emitted or self._calls_begun:
            return False
        native = self._native
        return (
            self._reasoning_live
            or (native is not None and native.thinking)
            or (self._thinking.inside and not self._gemma4)
            # a thought the prompt opened (Gemma 4 after a tool result): until it closes
            or (
                self._in_thought
                and native is not None
                and not native.saw_thought
                and not native.ended
            )
        )

    @property
    def thought_deltas(self) -> int:
        """Deltas of thought read so far (in reasoning fields or raw markers)."""
        return self._thought_deltas

    @property
    def thought_seen(self) -> bool:
        """Thought came, in a reasoning field, in markers, or as counted reasoning tokens."""
        return bool(self._reasoning) or self.raw_thought_seen or self._thinking.inside

    @property
    def finish_reason(self) -> object:
        return self._finish_reason

    @property
    def opened_thought_seen(self) -> bool:
        """A thought's end marker came with no start: this server's prompts open thoughts."""
        return self._thinking.stray_close

    @property
    def raw_thought_seen(self) -> bool:
        """Gemma 4 thought markers came in ``content``: the server passes them through."""
        return self._native is not None and self._native.saw_thought

    @property
    def id(self) -> str:
        """The provider's completion id (a generated one if it sends none)."""
        if not self._id:
            self._id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        return self._id

    def _call_id(self, server_id: str) -> str:
        """A tool call's id as the framework repeats it (its spans, logs): clipped, and masked
        like the completion id."""
        cid = server_id[:_ID_KEPT]
        return self.mask(cid) if self.mask is not None else cid

    def feed(self, obj: dict[str, Any]) -> list[llm.ChatChunk]:
        """The chunks one stream object yields (often one, sometimes none)."""
        if self._server_id is None and (cid := obj.get("id")):
            self._server_id = str(cid)
            if not self._id:
                cid = self._server_id[:_ID_KEPT]
                self._id = self.mask(cid) if self.mask is not None else cid
        out: list[llm.ChatChunk] = []
        for choice in shape.items(obj.get("choices")):
            # with n > 1 only choice 0 is spoken: never a mix of alternatives
            if shape.obj(choice).get("index", 0) != 0:
                continue
            out.extend(self._choice(choice))
        usage = obj.get("usage")
        if usage:
            # a label for metrics, never worth failing a reply already spoken: kept if a string
            tier = obj.get("service_tier")
            chunk = self._usage(shape.obj(usage), tier if type(tier) is str else None)
            self._server_usage = chunk.usage
            if chunk.usage is not None and chunk.usage.reasoning_tokens:
                self._reasoning += 1
            if self._earlier is not None:
                chunk.usage = _sum(self._earlier, chunk.usage)
            out.append(chunk)
        return out

    def finish(self) -> list[llm.ChatChunk]:
        """Flush at the end of the stream: pending tool calls, held-back text, estimated usage."""
        out: list[llm.ChatChunk] = []
        if self._gemma4:
            said, calls = self._gemma("", final=True)
            tail = self._thinking.feed(said, final=True)
        else:
            tail, calls = self._thinking.feed("", final=True), []
        calls += self._tools.take(self._call_id)
        if tail or calls:
            self.emitted = self.emitted or bool(calls) or not tail.isspace()
            out.append(_chunk(self.id, tail or None, calls))
        if not self.emitted:
            raise EmptyCompletion(self._silence())
        if self._server_usage is None and (spent := self.spent()) is not None:
            out.append(llm.ChatChunk(id=self.id, usage=spent))
        return out

    def _estimate(self) -> llm.CompletionUsage | None:
        if not self.estimate_usage or not self._content_deltas:
            return None
        # the server sent no usage: one content delta is one token on the engines that do
        # this (llama.cpp streams token by token); prompt tokens are unknown
        n = self._content_deltas
        return llm.CompletionUsage(completion_tokens=n, prompt_tokens=0, total_tokens=n)

    def spent(self, *, estimated: bool = True) -> llm.CompletionUsage | None:
        """The tokens this reply used, as the server counted them (else ``estimated``, as
        :meth:`finish` does); ``None`` when nothing tells."""
        return _sum(self._earlier, self._server_usage or (self._estimate() if estimated else None))

    def _silence(self) -> str:
        """Why a completion that said nothing ended, in words a developer can act on."""
        reason = self._finish_reason
        thought = " after thinking" if self._reasoning or self.raw_thought_seen else ""
        hint = (
            ": the token limit was used up before the answer (raise max_completion_tokens, or "
            "lower reasoning_effort)"
            if reason == "length"
            else ""
        )
        return (
            f"the model finished{thought} with nothing to say and no tool call "
            f"(finish_reason={reason!r}){hint}"
        )

    def _choice(self, choice: dict[str, Any]) -> list[llm.ChatChunk]:
        delta = shape.obj(choice.get("delta"))
        finish = choice.get("finish_reason")
        raw = delta.get("content")
        # "reasoning"/"reasoning_content" carry thinking: never spoken, so never read here
        server_calls = shape.items(delta.get("tool_calls"))
        reasoning = delta.get("reasoning") or delta.get("reasoning_content")
        if reasoning:
            self._reasoning += 1
            self._thought_deltas += 1
            self._reasoning_live = True
            self.parsed_thought = True
            if self._opened is not None and self._thinking.inside and not self._thinking.held:
                # the server parses the thought the prompt opened into its own field: what
                # comes in content is the answer (held to its end otherwise)
                self._opened = None
                self._thinking = ThinkFilter(self._markers, learn=self._learn)
            if isinstance(reasoning, str):
                self._keep_text(0, reasoning)
        if server_calls:
            self._calls_begun = True
        if finish is not None:
            self._finish_reason = finish
        if self._in_thought and self._native is None and (server_calls or reasoning):
            # the server parses the model's output (its own fields win): what comes in
            # content is the answer, not the inside of a thought the prompt opened
            self._in_thought = False
        content = ""
        calls: list[llm.FunctionToolCall] = []
        if raw is not None or finish is not None:
            text = raw if type(raw) is str else _text(raw)
            if self._gemma4:
                said, calls = self._gemma(text, final=finish is not None)
                # <think> blocks (not Gemma 4's own grammar) may come from a fine-tune too
                content = self._thinking.feed(said, final=finish is not None)
            else:
                content = self._thinking.feed(text, final=finish is not None)
            if text:
                self._content_deltas += 1
                if not content:
                    native = self._native
                    if (native is not None and native.thinking) or (
                        self._thinking.inside and not self._gemma4
                    ):
                        self._thought_deltas += 1  # thought in raw markers: reasoning tokens
                if self._reasoning_live and not text.isspace():
                    self._reasoning_live = False
                self._keep_text(1, text)
        for tc in server_calls:
            self._tools.add(shape.obj(tc))
        if finish is not None:
            self.finished = True
            calls += self._tools.take(self._call_id)
        if content or calls:
            if not self.emitted:
                self.emitted = bool(calls) or not content.isspace()
            return [_chunk(self.id, content or None, calls)]
        return []

    def _gemma(self, text: str, *, final: bool) -> tuple[str, list[llm.FunctionToolCall]]:
        """Gemma 4's own grammar: the speakable text and the native tool calls completed."""
        parser = self._native
        if parser is None:
            if not text and not final:
                return "", []
            parser = self._native = Gemma4Parser(in_thought=self._in_thought, schemas=self._schemas)
        said, native = parser.feed(text) if text else ("", [])
        if final:
            tail, more = parser.finish()
            said, native = said + tail, native + more
            if parser.dropped and not parser.called and not self._tools:
                # the model meant a call that cannot run: after "Let me check." the caller
                # would wait for a tool that never runs, in a turn that looks fine
                raise StreamError(
                    f"the model wrote {parser.dropped} tool call(s) that could not be read "
                    "(malformed, cut off, or past a size or count cap); none ran"
                )
        return said, [
            llm.FunctionToolCall(
                name=c.name, arguments=c.arguments, call_id=f"call_{uuid.uuid4().hex[:24]}"
            )
            for c in native
        ]

    def _usage(self, usage: dict[str, Any], service_tier: str | None) -> llm.ChatChunk:
        prompt_details = shape.obj(usage.get("prompt_tokens_details"))
        completion_details = shape.obj(usage.get("completion_tokens_details"))
        completion = shape.count(usage.get("completion_tokens"))
        prompt = shape.count(usage.get("prompt_tokens"))
        return llm.ChatChunk(
            id=self.id,
            usage=llm.CompletionUsage(
                completion_tokens=completion,
                prompt_tokens=prompt,
                prompt_cached_tokens=shape.count(prompt_details.get("cached_tokens")),
                # the framework's name for what OpenAI-style usage calls cache writes
                cache_creation_tokens=shape.count(prompt_details.get("cache_write_tokens")),
                # llama-server streams no count of its own: one thought delta is one token
                reasoning_tokens=shape.count(completion_details.get("reasoning_tokens"))
                or (self._thought_deltas - self._thought_base if self.estimate_usage else 0),
                total_tokens=shape.count(usage.get("total_tokens")) or completion + prompt,
                service_tier=service_tier,
            ),
        )


def _sum(
    earlier: llm.CompletionUsage | None, usage: llm.CompletionUsage | None
) -> llm.CompletionUsage | None:
    """The usage of a turn's two requests together (``usage``'s own fields otherwise)."""
    if earlier is None or usage is None:
        return usage or earlier
    return usage.model_copy(
        update={
            name: getattr(earlier, name) + getattr(usage, name)
            for name in (
                "completion_tokens",
                "prompt_tokens",
                "prompt_cached_tokens",
                "cache_creation_tokens",
                "cache_read_tokens",
                "reasoning_tokens",
                "total_tokens",
            )
        }
    )
