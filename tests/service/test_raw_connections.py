"""The award path's direct asyncpg use stays inside SQLAlchemy's transaction handling."""

import uuid

from sqlalchemy import text

from service.database import create_engine, create_sessionmaker
from service.repositories import raw
from service.repositories.raw import Sql


def test_named_parameters_become_positional_once_per_name() -> None:
    sql = Sql.of("SELECT :a, CAST(:b AS int), :a WHERE x::text = 'y:z'")
    assert sql.text == "SELECT $1, CAST($2 AS int), $1 WHERE x::text = 'y:z'"
    assert sql.args({"a": 1, "b": 2}) == [1, 2]


async def test_raw_writes_roll_back_with_the_session(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)
    sessionmaker = create_sessionmaker(engine)
    code = f"adjustment:raw-{uuid.uuid4().hex[:8]}"
    try:
        async with sessionmaker() as session:
            await raw.execute(session, Sql.of("INSERT INTO system_accounts (code, kind) VALUES (:c, 'adjustment')"), {"c": code})
            await session.rollback()
        async with sessionmaker() as session:
            assert await session.scalar(text("SELECT count(*) FROM system_accounts WHERE code = :c"), {"c": code}) == 0
    finally:
        await engine.dispose()


async def test_a_transaction_left_open_on_the_driver_is_ended_before_reuse(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with sessionmaker() as session:
            driver = await raw.connection(session)
            await driver.execute("BEGIN")  # as if a request were cancelled in the middle of an award
            await driver.execute("SELECT 1")
        async with sessionmaker() as session:
            driver = await raw.connection(session)
            assert not driver.is_in_transaction()
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()


async def test_the_award_write_is_planned_once_per_connection(database_url: str) -> None:
    """Generic plans on the app's connections: left to itself, PostgreSQL re-planned the award's
    one big write on every execution (its custom plans looked cheaper), ~5 ms of its CPU each."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            assert await session.scalar(text("SHOW plan_cache_mode")) == "force_generic_plan"
    finally:
        await engine.dispose()
