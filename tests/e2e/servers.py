"""A running `tanpu serve` for the end-to-end tests."""

import asyncio
import os
import signal
import subprocess
import time

import httpx

from tests.bank_helpers import free_port
from tests.service.cli_helpers import REPO, tanpu_command


class Server:
    """`tanpu serve` as a process of its own, on a free port (`env`: more settings)."""

    def __init__(self, database_url: str, redis_url: str, **env: str) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "TANPU_ENV": "development",
            "TANPU_LOG_LEVEL": "WARNING",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: ASYNC220 (started once, then polled over HTTP)
            [*tanpu_command(), "serve", "--port", str(self.port)],
            env=self.env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=self.url) as http:
            while time.monotonic() < deadline:
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("tanpu serve did not become ready")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
