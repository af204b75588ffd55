"""What an LLM's streams learn about its server's output, for the next ones (a leaf: the
stream writes it, the message conversion reads it)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class ServerTraits:
    """What an LLM's streams have learned about the server's output, for the next ones."""

    raw_thought: bool = False
    """Gemma 4 thought markers arrived in ``content``: the server does not parse them and
    thinking is on, so after a tool result the template may have opened a thought."""
    opens_thought: bool = False
    """A reply began inside a thought (an end marker with no start): this server's template
    opens one at the end of the prompt, so later replies start inside it."""
    images_dropped: bool = False
    """Image parts were left out for a text-only model (warned once per LLM)."""
    budget_refused: bool = False
    """The server answered 400 to the thinking-token budget (vLLM without a reasoning
    parser): ``reasoning_effort`` goes without it."""
    continuation_renders: bool | None = None
    """Whether the server's chat template renders a thought given back in a continued
    message (asked once, when first needed)."""
