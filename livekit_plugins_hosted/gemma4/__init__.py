"""Gemma 4's raw output grammar, read as it streams: only the answer is ever released.

A server that does not parse Gemma 4 (vLLM without ``--reasoning-parser gemma4
--tool-call-parser gemma4``, llama-server with ``--reasoning-format none``, a relay, a small
Gemma 4 on MLX) puts the model's own grammar in ``delta.content``. A voice agent speaks
``content``, so :class:`Gemma4Parser` turns that text back into what may be spoken plus the
tool calls. Pure (stdlib only, no I/O), one pass, linear time, every held buffer capped.

    reply   := (text | thought | calls | code | token)* [turn end]
    thought := <|channel>thought … <channel|>          (also a bare "thought\\n" at the start)
    calls   := <|tool_call> call ([,;\\s] call)* <tool_call|>  |  call:NAME{…}  |  <tool_call>…
    call    := [:] (call:)* NAME ( {key:value,…} | (key=value,…) )
    value   := <|"|>sealed text<|"|> | text<|"|> | number | true | null | {…} | […] | "json"
    code    := ```tool_code … ``` | print(f(…)) | tool_code = f(…) / print(tool_code)
             | f(…) or name = f(…) on a line | print(f(…)) mid-line  (f declared)
             | ```python … ``` | a block (if x: and its indented lines)  (tools declared)

The pieces: :mod:`.lexer` (special tokens, with and without their pipes), :mod:`.body` (where
a call body ends, strings sealed), :mod:`.calls` (the body read by recursive descent),
:mod:`.pyscan`, :mod:`.pyform`, :mod:`.code`, :mod:`.block` and :mod:`.header` (the
Python form), :mod:`.lead` (lines that lead as a block's header would), :mod:`.values`
(schema typing), :mod:`.state`, :mod:`.tools`, :mod:`.codestate`, :mod:`.thought` and
:mod:`.stream` (the reply's states).

Another family's raw grammar is another table and another set of states beside these, not a
new parser: gpt-oss's harmony channels are a lexer table (``<|channel|>``, ``<|message|>``,
``<|end|>``…) with channel names deciding thought from answer as :mod:`.stream` does with
``<|channel>response``; Hermes/Qwen ``<tool_call>{json}</tool_call>`` and DeepSeek's or Kimi
K2's tool tokens are tables whose call bodies are JSON, read where :mod:`.calls` reads Gemma's
(JSON values are already one of its forms) and typed by :mod:`.values`. The lexer's
:func:`~.lexer.token` takes the table; the states take their markers' kinds from it.

The invariant: a reply ends in speech with no markup, in tool calls, or (``silent``) in
nothing the caller can hear, which the stream layer reports as an error; never markup or
thought spoken. Inside ``<|"|>…<|"|>`` nothing is markup: a quoted ``<tool_call|>`` neither
ends a call nor begins one.
"""

from .calls import ToolCall, parse_call
from .stream import Gemma4Parser
from .values import Schemas

__all__ = ["Gemma4Parser", "Schemas", "ToolCall", "parse_call"]
