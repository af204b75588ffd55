"""The framework's session class, whichever line of ``livekit-agents`` is installed.

``livekit-agents`` 2.x names it ``LiveSession`` and keeps ``AgentSession`` as a deprecated
alias (a ``DeprecationWarning`` on every use); 1.8 has only ``AgentSession``. Code that runs on
both writes ``hosted.Session(...)``: the same class the framework itself would use, looked up
once here, so no caller touches the deprecated name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import livekit.agents as _agents

if TYPE_CHECKING:
    from livekit.agents import AgentSession


def _session_class() -> type[AgentSession[Any]]:
    live: type[AgentSession[Any]] | None = getattr(_agents, "LiveSession", None)
    if live is not None:  # 2.x: the new name, so the alias's warning is never raised
        return live
    session: type[AgentSession[Any]] = _agents.AgentSession  # 1.8
    return session


Session = _session_class()
"""``livekit.agents.LiveSession`` on livekit-agents 2.x, ``AgentSession`` on 1.8."""
