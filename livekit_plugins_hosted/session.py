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
    # each line's own class is typed on that line, the other line's name is Any there (1.8
    # has no LiveSession; 2.x serves AgentSession from a module __getattr__), so a type
    # checker checks calls against the installed framework's class on either line
    from livekit.agents import AgentSession as _Session18
    from livekit.agents import LiveSession as _Session2  # type: ignore[attr-defined,unused-ignore]

    _SessionClass = type[_Session18[Any]] | type[_Session2[Any]]


def _session_class() -> _SessionClass:
    live: _SessionClass | None = getattr(_agents, "LiveSession", None)
    if live is not None:  # 2.x: the new name, so the alias's warning is never raised
        return live
    session: _SessionClass = _agents.AgentSession  # 1.8
    return session


Session = _session_class()
"""``livekit.agents.LiveSession`` on livekit-agents 2.x, ``AgentSession`` on 1.8."""
