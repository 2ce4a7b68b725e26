"""The async engine and sessions; one place decides how URLs become asyncpg URLs."""

from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util.concurrency import await_


def asyncpg_url(url: str) -> str:
    """Accept `postgresql://` (and `postgres://`) URLs as well as `postgresql+asyncpg://`."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def create_engine(url: str, *, pool_size: int = 32) -> AsyncEngine:
    """At most `pool_size` and half as many again connections, opened as needed and kept.

    Not `max_overflow`: SQLAlchemy closes an overflow connection as soon as it comes back to a
    full pool, so under load the app kept opening connections (~7 a second in `bench travel`),
    each paying the connect, the type codecs' introspection and a fresh prepare of every hot
    statement. The ceiling is the same; idle connections are simply not thrown away."""
    # No pre-ping: it costs three round trips on every checkout. A connection the
    # server dropped fails its first statement instead, which answers 503 and is
    # discarded by the pool (quality.md R5: recover by itself).
    engine = create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size + pool_size // 2,
        max_overflow=0,
        pool_pre_ping=False,
        pool_timeout=5,
        # asyncpg's statement timeout keeps a stuck database from hanging a request forever.
        # Generic plans: PostgreSQL otherwise re-plans the award's one big write statement on
        # every execution (its custom plans look cheaper than the generic one), which cost
        # ~5 ms of the database's CPU per award (bench `stages`: 6.5 → 1.6 ms per write).
        # Every statement of the app is prepared once per connection and has a stable shape.
        connect_args={
            "command_timeout": 10,
            "timeout": 3,  # connecting: an unreachable host answers 503 within R5's 5 s, not after 60
            "server_settings": {"application_name": "tanpu", "plan_cache_mode": "force_generic_plan"},
        },
    )
    event.listen(engine.sync_engine, "checkout", _end_leaked_transaction)
    return engine


def _end_leaked_transaction(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
    """The award path drives asyncpg transactions itself (service/repositories/raw.py). If one
    was left open behind SQLAlchemy's back (a request cancelled mid-award), end it before the
    pool hands the connection out again."""
    adapted = dbapi_connection
    driver = getattr(adapted, "_connection", None)
    if driver is not None and driver.is_closed():
        # The award path and the directory use asyncpg directly, so SQLAlchemy never hears that the
        # server dropped the connection: without this the pool would hand it out again and again,
        # and the service would not recover from a restarted PostgreSQL by itself (R5).
        raise DisconnectionError("the server closed this connection")
    if driver is not None and getattr(adapted, "_transaction", None) is None and driver.is_in_transaction():
        await_(driver.execute("ROLLBACK"))


def create_sessionmaker(engine: AsyncEngine, *, info: dict[str, Any] | None = None) -> async_sessionmaker[AsyncSession]:
    """Sessions; `info` is copied into each session's `info`, for after-commit work that needs more than the
    database (the app's Redis client and leaderboard recorder)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)
