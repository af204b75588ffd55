"""What the Gemma 4 parser costs: ``python -m benchmarks.gemma4_cost``.

1. CPU per chunk of ``Gemma4Parser.feed`` on a plain answer (the fast path) against a bare
   ``str`` pass-through function and one returning ``(text, [])`` like ``feed``, over 200-chunk
   replies, 1000 replies; also a reply with a thought and
   one with a tool call, where the slow path runs.
2. Speech held back before the first word: characters and chunks fed before ``feed`` (or
   ``finish``) first returns text, for a plain answer, an answer after a thought, and a direct
   answer with ``in_thought=True`` (which the grammar cannot tell from a thought until the end).
3. Parser throughput on markup-heavy replies: MB/s and characters of work per character
   (``Gemma4Parser.work``) for a plain answer, a reply of thoughts and blocks of calls with
   nested values and quoted markup, and 128 KB hostile shapes, fed in word-sized chunks.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable

from livekit_plugins_hosted.gemma4 import Gemma4Parser, ToolCall

Q = '<|"|>'
_TEXT = (
    "It is eighteen degrees in Paris right now, with light rain expected later this afternoon "
    "and a cool breeze from the west; take an umbrella if you go out."
)
_WORDS = _TEXT.split()
# a voice agent's tools: a delta ending in a word that begins one's name (``get``, ``search``)
# is held to see whether a call follows
_VOICE_TOOLS: dict[str, dict[str, object]] = {
    name: {}
    for name in ("get_weather", "search", "save_note", "lookup_order", "transfer_call", "end_call")
}


def _tokens(text: str) -> list[str]:
    """Chunks shaped like a server's deltas: one word (with its leading space) at a time."""
    return [t for t in re.split(r"(?=[ <])", text) if t]


def _plain(n: int) -> list[str]:
    words = [_WORDS[i % len(_WORDS)] for i in range(n)]
    return [("" if i == 0 else " ") + w for i, w in enumerate(words)]


def _identity(text: str) -> str:
    return text


def _pass_through(text: str) -> tuple[str, list[ToolCall]]:
    return text, []


def _per_chunk(
    makers: dict[str, Callable[[], Callable[[str], object]]], chunks: list[str], reps: int
) -> dict[str, float]:
    """Seconds per chunk of calling ``make()`` on every chunk of a reply, ``reps`` replies.

    The candidates take turns (10 rounds, best round kept) so that a busy machine slows them
    alike."""
    best = dict.fromkeys(makers, float("inf"))
    for _ in range(10):
        for name, make in makers.items():
            total = 0.0
            for _ in range(reps):
                fn = make()
                t0 = time.perf_counter()
                for c in chunks:
                    fn(c)
                total += time.perf_counter() - t0
            best[name] = min(best[name], total / (reps * len(chunks)))
    return best


def _held(prefix: list[str], answer: list[str], in_thought: bool) -> tuple[int, int, bool]:
    """Answer characters and chunks fed before its first word came out (the ``prefix`` chunks,
    thought or markers, are not counted); whether it took ``finish()``."""
    p = Gemma4Parser(in_thought=in_thought)
    for c in prefix:
        p.feed(c)
    chars = 0
    for i, c in enumerate(answer):
        text, _ = p.feed(c)
        if text.strip():
            return chars, i, False
        chars += len(c)
    return chars, len(answer), True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=200)
    ap.add_argument("--reps", type=int, default=1000)
    a = ap.parse_args()

    plain = _plain(a.chunks)
    thought = _tokens("<|channel>thought\nThe user asks about the weather.<channel|>") + plain
    call = [
        *plain[: a.chunks // 2],
        *_tokens(f"<|tool_call>call:get_weather{{city:{Q}Paris{Q},days:2}}<tool_call|>"),
        *plain[a.chunks // 2 :],
    ]

    def parser() -> Callable[[str], object]:
        return Gemma4Parser().feed

    def parser_tools() -> Callable[[str], object]:
        return Gemma4Parser(schemas=_VOICE_TOOLS).feed

    print(f"CPU per chunk ({a.chunks}-chunk replies x {a.reps}, best of 10 interleaved rounds):")
    for label, chunks in (
        ("plain answer", plain),
        ("thought + answer", thought),
        ("tool call", call),
    ):
        got = _per_chunk(
            {
                "loop calling len()": lambda: len,
                "str pass-through": lambda: _identity,
                "(str, []) pass-through": lambda: _pass_through,
                "Gemma4Parser.feed": parser,
                "feed, 6 tools declared": parser_tools,
            },
            chunks,
            a.reps,
        )
        print(f"  {label} ({len(chunks)} chunks):")
        for k, v in got.items():
            print(f"    {k:24s} {v * 1e9:7.1f} ns")

    print("\nAnswer held back before its first word came out (chars, chunks of the answer):")
    answer = _tokens("It is 18 degrees in Paris, with light rain later this afternoon.")
    cases = [
        ("plain answer", [], answer, False),
        ("answer starting 'calm'", [], _tokens("calm winds today, 18 degrees."), False),
        ("answer starting '<b>'", [], _tokens("<b>Bold</b> move: it is 18 degrees."), False),
        (
            "after <|channel>thought…<channel|>",
            _tokens("<|channel>thought\nSaid 18.<channel|>"),
            answer,
            False,
        ),
        ("in_thought: thought, <channel|>", _tokens("The tool said 18.<channel|>"), answer, True),
        ("in_thought: direct answer", [], answer, True),
    ]
    for name, prefix, chunks, in_thought in cases:
        chars, n, at_end = _held(prefix, chunks, in_thought)
        where = f"  of {len(chunks)}: only at finish()" if at_end else ""
        print(f"  {name:36s} {chars:4d} chars, {n:3d} chunks{where}")
    throughput()


def _markup_heavy(n: int) -> str:
    """About ``n`` characters of thoughts, answers and blocks of calls with nested values."""
    part = (
        "<|channel>thought\nThe user wants the weather and a note.<channel|>Let me check. "
        f"<|tool_call>call:get_weather{{city:{Q}Paris, France{Q},days:2,opts:{{units:{Q}metric"
        f"{Q},hours:[6,12,18]}}}}call:save_note{{text:{Q}call me at <tool_call|> ok{Q}}}"
        "<tool_call|>It is 18 degrees. "
    )
    return part * (n // len(part) + 1)


def _throughput(text: str, chunk: int, reps: int) -> tuple[float, float]:
    """(MB/s, work per character) of feeding ``text`` in ``chunk``-character deltas."""
    pieces = [text[i : i + chunk] for i in range(0, len(text), chunk)]
    best = float("inf")
    work = 0
    for _ in range(reps):
        p = Gemma4Parser(schemas={"get_weather": {}, "save_note": {}})
        t0 = time.perf_counter()
        for c in pieces:
            p.feed(c)
        p.finish()
        best = min(best, time.perf_counter() - t0)
        work = p.work
    return len(text) / best / 1e6, work / len(text)


def _python_code(n: int) -> str:
    """Replies as small Gemma 4 models write them: a sentence, a ``tool_code`` fence with an
    assignment and a call, a ``print(`` line over several lines, a sentence after."""
    unit = (
        'Let me check that.\n```tool_code\ncity = "Paris"\nget_weather(city=city)\n```\n'
        'print(get_weather(\n    city="Lyon",\n))\nprint(helper(\n    1,\n))\nDone.\n'
    )
    return unit * (n // len(unit) + 1)


def throughput(reps: int = 5) -> None:
    kb = 128 * 1024
    shapes = {
        "plain answer": " ".join(_WORDS[i % len(_WORDS)] for i in range(kb // 6))[:kb],
        "thoughts + blocks of calls": _markup_heavy(kb)[:kb],
        "<tool_call> + 128 KB of spaces": "<tool_call>" + " " * kb + "!",
        "unclosed string + run of }": f"<|tool_call>call:f{{a:{Q}" + "}" * kb,
        "call:call:… run": "Sure, call:" + "call:" * (kb // 5),
        "Python code (fences, print lines)": _python_code(kb)[:kb],
    }
    print("\nParser throughput, 128 KB replies in 6-character chunks (best of 5):")
    for name, text in shapes.items():
        mbs, per = _throughput(text, 6, reps)
        print(f"  {name:32s} {mbs:6.1f} MB/s  {per:4.1f} chars of work per char")


if __name__ == "__main__":
    main()
