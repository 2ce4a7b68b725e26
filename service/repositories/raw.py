"""asyncpg directly, inside the session's own transaction, for the award path.

SQLAlchemy costs about 0.2 ms of CPU per statement on top of asyncpg's 0.07 ms
(measured here), and the award path runs several statements per request, so
the hot statements go to the driver. They stay in the session's transaction:
the session begins it, commits it and rolls it back as usual.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Sql:
    """A statement written with `:name` parameters, turned once into asyncpg's `$n`."""

    text: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, named: str) -> "Sql":
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        return cls(_NAMED.sub(number, named), tuple(names))

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]

    def call(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver's arguments: the statement, then its parameters in order."""
        return (self.text, *self.args(params))


async def driver(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection of the session, its transaction begun (SQLAlchemy begins lazily)."""
    connection = await session.connection()
    adapted: Any = (await connection.get_raw_connection()).dbapi_connection
    if adapted._transaction is None and adapted.isolation_level != "autocommit":
        await adapted._start_transaction()
    raw: asyncpg.Connection = adapted._connection
    return raw


async def fetch(session: AsyncSession, sql: Sql, params: Mapping[str, Any]) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await (await driver(session)).fetch(sql.text, *sql.args(params))
    return rows


async def execute(session: AsyncSession, sql: Sql, params: Mapping[str, Any]) -> None:
    await (await driver(session)).execute(sql.text, *sql.args(params))


async def connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection of the session, as it is: in the session's transaction if one
    was begun, else in autocommit (each statement its own transaction)."""
    connection = await session.connection()
    adapted: Any = (await connection.get_raw_connection()).dbapi_connection
    raw: asyncpg.Connection = adapted._connection
    return raw
