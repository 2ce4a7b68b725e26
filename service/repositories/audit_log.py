"""Reading the audit log (written by service/audit.py), newest first."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    target_kind: str | None = None
    target_id: str | None = None
    actor_id: uuid.UUID | None = None
    at_from: datetime | None = None
    at_to: datetime | None = None


async def records(session: AsyncSession, where: AuditFilter, *, before_id: int | None, limit: int) -> list[Any]:
    """Records matching every given filter, `at` in [at_from, at_to), newest (highest id) first."""
    conditions, params = [], {}
    for column in ("action", "target_kind", "target_id", "actor_id"):
        value = getattr(where, column)
        if value is not None:
            conditions.append(f"{column} = :{column}")
            params[column] = value
    if where.at_from is not None:
        conditions.append("at >= :at_from")
        params["at_from"] = where.at_from
    if where.at_to is not None:
        conditions.append("at < :at_to")
        params["at_to"] = where.at_to
    if before_id is not None:
        conditions.append("id < :before_id")
        params["before_id"] = before_id
    # Only the fixed fragments above are spliced in; every value is a bound parameter.
    clause = ("WHERE " + " AND ".join(conditions) + " ") if conditions else ""
    columns = "id, at, actor_kind, actor_id, action, target_kind, target_id, before, after, request_id"
    sql = f"SELECT {columns} FROM audit_log {clause}ORDER BY id DESC LIMIT :limit"  # noqa: S608
    return list(await session.execute(text(sql), params | {"limit": limit}))
