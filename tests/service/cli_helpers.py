"""Running `tanpu` as a subprocess and making throwaway databases, for the CLI tests."""

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from service.database import create_engine, create_sessionmaker
from service.schema import upgrade_to_head
from service.seeding import load_reference

REPO = Path(__file__).resolve().parents[2]


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def admin_sql(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def sql(url: str, statement: str) -> None:
    """Run statements as the database owner (the tests connect as a superuser)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def unique_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"


async def fresh_database(server_url: str, name: str, template: str | None = None) -> str:
    """A database of its own: migrated and seeded like the suite's, or a copy of `template`."""
    if template is not None:
        await admin_sql(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return with_database(server_url, name)
    await admin_sql(server_url, f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    await asyncio.to_thread(upgrade_to_head, url)
    engine = create_engine(url, pool_size=1)
    async with create_sessionmaker(engine)() as session, session.begin():
        await load_reference(session)
    await engine.dispose()
    return url


async def drop_database(server_url: str, name: str) -> None:
    await admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def tanpu_command() -> list[str]:
    script = Path(sys.executable).parent / "tanpu"
    return [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]


async def run_tanpu(*args: str, env: Mapping[str, str | None], limit_s: float = 120) -> subprocess.CompletedProcess[str]:
    """`tanpu ARGS` with the environment changed by `env` (None removes a variable)."""
    environment = {k: v for k, v in os.environ.items() if k not in env}
    environment.update({k: v for k, v in env.items() if v is not None})
    return await asyncio.to_thread(
        subprocess.run,
        [*tanpu_command(), *args],
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=limit_s,
        check=False,
    )
