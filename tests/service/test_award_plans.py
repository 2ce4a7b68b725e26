"""The award's lookups stay index probes in the plan PostgreSQL caches.

The app forces generic plans (service/database.py), and a generic plan is made once per
connection from the statistics of that moment. Made while a table was small (a fresh
database), a join over the keys became a sequential scan of the whole table, and that plan
stayed while the table grew. Here the tables are fresh empty copies, never analyzed, in a
transaction that is rolled back: the state in which that went wrong.
"""

import re

import asyncpg
import pytest

from service.repositories import activities
from service.repositories.raw import Sql

PROBED = ("activity_keys", "daily_usage", "fingerprints", "daily_steps", "citizen_accounts", "users", "identities")


async def _generic_plan(dsn: str, statement: str, params: int) -> str:
    conn = await asyncpg.connect(dsn)
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute("CREATE SCHEMA fresh")
        for table in PROBED:
            await conn.execute(f"CREATE TABLE fresh.{table} (LIKE public.{table} INCLUDING ALL)")
        await conn.execute("SET LOCAL search_path = fresh, public")
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE probe AS {statement}")
        nulls = ", ".join(["NULL"] * params)  # a generic plan does not look at the values
        return "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN EXECUTE probe({nulls})"))
    finally:
        await transaction.rollback()
        await conn.close()


@pytest.mark.parametrize(
    ("statement", "tables"),
    [
        (activities._context_statement(keys=True, fingerprints=True, steps=True), PROBED[:6]),
        (activities._MEMBER_REFS, ("identities",)),
    ],
    ids=["award context", "member references"],
)
async def test_lookups_are_index_probes_even_on_a_fresh_table(database_url: str, statement: Sql, tables: tuple[str, ...]) -> None:
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    plan = await _generic_plan(dsn, statement.text, len(statement.names))
    for table in tables:
        assert f"Seq Scan on {table}" not in plan, plan
        assert re.search(rf"Index (Only )?Scan using \w+ on {table}\b", plan), plan
