"""Special tokens of a raw model grammar, read at a ``<`` without regular expressions.

    token   := "<"{0,3} marker ("|" | ">"){0,2}         (the glue is the marker's markup)
    marker  := "<" ["|"] ["/"] NAME ["|"] ">"           NAME := [A-Za-z0-9_"]{1,32}
    partial := a prefix of a token at the end of the input (held until the next delta)

The glue: a model that drops or mangles a marker's pipe often leaves its own ``<`` and ``|``
beside the tag it did write (``<</tool_call>|``, ``<<|tool_call>|``, ``<tool_call|>|>``).
They belong to the marker, never to speech. Glue cut off by the input's end is the reader's
to drop from the next delta (:func:`glue`): a marker is acted on as soon as it is whole.
Gemma's string quote takes no glue: a string may begin or end with ``|``.

What a complete token means comes from a table (:data:`GEMMA4`): Gemma 4's markers with their
pipes, the same markers with their pipes lost, Gemma 3's turn markers and the tokenizer's
specials. Another family's raw grammar (harmony's ``<|channel|>``, Hermes' ``<tool_call>``,
DeepSeek's tool tokens) is another table beside it, read by the same :func:`token`.
Each call examines at most 41 characters, so reading a reply costs linear time however it
is cut.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "CH_CLOSE",
    "CH_OPEN",
    "DROP",
    "END",
    "GEMMA4",
    "IDENT",
    "LITERAL",
    "PARTIAL",
    "QUOTE",
    "QUOTE_TOKEN",
    "TAIL_MAX",
    "TC_CLOSE",
    "TC_OPEN",
    "WS",
    "XML_OPEN",
    "glue",
    "glued_token",
    "speakable_at_end",
    "token",
]

QUOTE_TOKEN = '<|"|>'
"""Gemma 4's string quote."""
WS = " \t\r\n"
IDENT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
"""The characters of a Python name (ASCII: what code a model writes names its tools with)."""

# What a complete ``<…>`` token means.
LITERAL = 0  # not a marker: the ``<`` is text
DROP = 1  # a special token with no meaning here: dropped
CH_OPEN = 2
CH_CLOSE = 3
TC_OPEN = 4
TC_CLOSE = 5
QUOTE = 6
END = 7
XML_OPEN = 8  # ``<call>`` / ``<tool_call>``: a call only if tool syntax follows
PARTIAL = -1  # could still become a marker: hold it

GEMMA4: Mapping[str, int] = {
    "<|channel>": CH_OPEN,
    "<channel|>": CH_CLOSE,
    "</channel>": CH_CLOSE,  # the XML spelling a small model writes for its thought's end
    "<|tool_call>": TC_OPEN,
    "<tool_call|>": TC_CLOSE,
    "</tool_call>": TC_CLOSE,
    "</call>": TC_CLOSE,
    "<tool_call>": XML_OPEN,
    "<call>": XML_OPEN,
    QUOTE_TOKEN: QUOTE,
    "<|turn>": END,
    "<turn|>": END,
    "<|tool_response>": END,
    "<tool_response|>": END,
    "<eos>": END,
    "<start_of_turn>": END,
    "<end_of_turn>": END,
    # the same markers with their pipes lost (a small or damaged model writes them as text,
    # seen from the Gemma 3 270M on llama-server): a thought opened, a turn ended, never speech
    "<channel>": CH_OPEN,
    "<turn>": END,
    # Gemma's tokenizer specials without a pipe (Gemma 3/3n, as google-ai-edge/LiteRT-LM names
    # its boi/eoi/boa/eoa tokens): never speech.
    "<bos>": DROP,
    "<pad>": DROP,
    "<unk>": DROP,
    "<mask>": DROP,
    "<start_of_image>": DROP,
    "<end_of_image>": DROP,
    "<image_soft_token>": DROP,
    "<start_of_audio>": DROP,
    "<end_of_audio>": DROP,
}
"""Gemma 4's table: every marker is ``<`` + optional ``|`` or ``/`` + a name + optional ``|``
+ ``>``."""

_NAME_MAX = 32
_NAME = frozenset('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"')


_LEAD_MAX = 3  # more "<" glued before a marker
TAIL_MAX = 2  # "|" or ">" glued after one
_TAIL = "|>"


def token(data: str, k: int, table: Mapping[str, int] = GEMMA4) -> tuple[int, int]:
    """What the ``<`` at ``data[k]`` starts: ``(kind, length)``, glue included."""
    kind, length, _glued = glued_token(data, k, table)
    return kind, length


def glued_token(data: str, k: int, table: Mapping[str, int] = GEMMA4) -> tuple[int, int, int]:
    """:func:`token`, and how many ``|`` or ``>`` of its length are glue after the marker
    (the next input may bring only the rest of :data:`TAIL_MAX`)."""
    n = len(data)
    j = k
    while j + 1 < n and data[j + 1] == "<" and j - k < _LEAD_MAX:
        j += 1
    kind, length = _marker(data, j, table)
    if kind == LITERAL:
        return LITERAL, 1, 0
    if kind == PARTIAL:
        return PARTIAL, 0, 0
    bare = j + length
    end = bare if kind == QUOTE else glue(data, bare)
    return kind, end - k, end - bare


def glue(data: str, i: int, most: int = TAIL_MAX) -> int:
    """Past the ``|`` and ``>`` glued after a marker at ``data[i]`` (at most ``most``)."""
    stop = min(len(data), i + most)
    while i < stop and data[i] in _TAIL:
        i += 1
    return i


def _marker(data: str, k: int, table: Mapping[str, int]) -> tuple[int, int]:
    """The marker (no glue) the ``<`` at ``data[k]`` starts."""
    n = len(data)
    j = k + 1
    pipe = j < n and data[j] == "|"
    if pipe:
        j += 1
    if j < n and data[j] == "/":
        j += 1
    start = j
    while j < n and j - start < _NAME_MAX and data[j] in _NAME:
        j += 1
    if j == n:
        return PARTIAL, 0  # "<", "<|tool_ca": the next delta decides
    named = j > start
    end_pipe = named and data[j] == "|"
    if end_pipe:
        j += 1
        if j == n:
            return PARTIAL, 0
    if named and data[j] == ">":
        text = data[k : j + 1]
        kind = table.get(text)
        if kind is None:
            kind = DROP if (pipe or end_pipe) else LITERAL
        return kind, j + 1 - k
    if pipe:
        return DROP, 2  # only special tokens start so: never speech
    if data.startswith("<<|", k):
        return DROP, 1  # a "<" glued to a special token: dropping either must not make "<|"
    if k == n - 2 and data[-1] == "<":
        return PARTIAL, 0  # "<<" at the end: the second may begin "<|"
    return LITERAL, 1


def speakable_at_end(held: str, table: Mapping[str, int] = GEMMA4) -> bool:
    """A possible marker's beginning left at the end of the stream: is it text to speak?"""
    return "|" not in held and not (len(held) > 1 and any(m.startswith(held) for m in table))
