"""A stopped clock for the inference token, moved by the test instead of waited for."""

from __future__ import annotations


class FakeClock:
    """Stands in for the ``time`` module inside ``livekit_plugins_hosted.auth``.

    The token's refresh point is read from ``time.monotonic()`` there; a test moves ``now``
    instead of sleeping until a token nears its expiry (the ``clock`` fixture installs it).
    """

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now
