"""A running `tanpu serve` for the end-to-end tests."""

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from tests.bank_helpers import free_port
from tests.service.cli_helpers import REPO, tanpu_command


def bike_trip(user_id: uuid.UUID, external_id: str, metres: int) -> dict[str, Any]:
    """A partner's report of a 30-minute bike ride that ended 90 minutes ago."""
    start = datetime.now(UTC) - timedelta(hours=2)
    return {
        "external_id": external_id,
        "user": {"user_id": str(user_id)},
        "mode": "bike",
        "distance_m": metres,
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=30)).isoformat(),
    }


def other_redis_db(url: str, db: int) -> str:
    """The same Redis server, another database: for a server whose keys no other test may meet."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query)) | {"db": str(db)}
        return urlunsplit(parts._replace(query=urlencode(query)))
    return urlunsplit(parts._replace(path=f"/{db}"))


class Server:
    """`tanpu serve` as a process of its own, on a free port (`env`: more settings; `log`: a file
    for its output, which is discarded otherwise). A URL given as None is unset: the server starts
    its embedded one, as on a machine with only Python."""

    def __init__(self, database_url: str | None, redis_url: str | None, *, log: Path | None = None, **env: str) -> None:
        self.port = free_port()
        self.log = log
        urls = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in urls},
            **{k: v for k, v in urls.items() if v is not None},
            "TANPU_ENV": "development",
            "TANPU_LOG_LEVEL": "WARNING",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, *, within_s: float = 30) -> None:
        output = self.log.open("ab") if self.log is not None else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 (started once, then polled over HTTP)
                [*tanpu_command(), "serve", "--port", str(self.port)],
                env=self.env,
                cwd=REPO,
                stdout=output,
                stderr=output,
            )
        finally:
            if not isinstance(output, int):
                output.close()  # the process holds its own copy
        deadline = time.monotonic() + within_s
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


def logged_errors(server: Server) -> str:
    """What the server logged at level error, each with the last line of its traceback, counted."""
    if server.log is None or not server.log.exists():
        return "  (no log)"
    counts: dict[str, int] = {}
    for line in server.log.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("level") == "error":
            last = (record.get("exc") or "").strip().splitlines()[-1:] or [""]
            key = f"{record.get('logger')}: {record.get('msg', '').strip()}: {last[0][:200]}"
            counts[key] = counts.get(key, 0) + 1
    return "\n".join(f"  {n} x {key}" for key, n in counts.items()) or "  nothing"
