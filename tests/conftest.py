from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from livekit_plugins_hosted import auth
from tests.clock import FakeClock
from tests.gateway import API_KEY, API_SECRET, Gateway

_ENV = (
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
    "LIVEKIT_INFERENCE_API_KEY",
    "LIVEKIT_INFERENCE_API_SECRET",
    "LIVEKIT_INFERENCE_URL",
    "LIVEKIT_URL",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own LiveKit credentials or gateway."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    async with Gateway() as gw:
        yield gw


@pytest.fixture
def gateway_env(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> Gateway:
    """The loopback gateway, with the environment pointing the plugin at it."""
    monkeypatch.setenv("LIVEKIT_INFERENCE_URL", gateway.url)
    monkeypatch.setenv("LIVEKIT_API_KEY", API_KEY)
    monkeypatch.setenv("LIVEKIT_API_SECRET", API_SECRET)
    return gateway


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The token's clock, stopped at ``now`` until the test moves it."""
    fake = FakeClock()
    monkeypatch.setattr(auth, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake
