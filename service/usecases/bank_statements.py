"""A bank's daily statement (Asia/Shanghai day) and reconciliation of the bank's totals against it."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain import statements
from domain.calendar import local_day
from service.problems import ProblemError
from service.repositories import banks as repo

FIRST_DAY = date(2020, 1, 1)


async def statement(session: AsyncSession, *, bank_id: uuid.UUID, day: date, now: datetime) -> statements.Statement:
    if day < FIRST_DAY:
        raise ProblemError(422, "date_out_of_range", f"statements begin on {FIRST_DAY.isoformat()}")
    if day > local_day(now):
        raise ProblemError(422, "date_in_future", f"{day.isoformat()} has not begun yet in Shanghai")
    start, end = statements.day_bounds(day)
    rows = await repo.statement_entries(session, bank_id=bank_id, start=start, end=end)
    return statements.build(
        day,
        (
            statements.StatementEntry(
                posting_id=r.posting_id,
                link_id=str(r.link_id),
                kind=r.kind,
                points=r.points,
                carbon_g=r.carbon_g,
                posted_at=r.occurred_at,
            )
            for r in rows
        ),
    )


def totals(t: statements.KindTotal) -> dict[str, int]:
    return {"count": t.count, "points": t.points, "carbon_g": t.carbon_g}


def statement_answer(s: statements.Statement, *, now: datetime) -> dict[str, Any]:
    start, end = statements.day_bounds(s.day)
    return {
        "date": s.day.isoformat(),
        "timezone": "Asia/Shanghai",
        "from": start.isoformat(),
        "to": end.isoformat(),
        "complete": now >= end,
        "count": s.count,
        "points": s.points,
        "carbon_g": s.carbon_g,
        "by_kind": {k: totals(t) for k, t in s.by_kind.items()},
        "digest": s.digest,
        "digest_algorithm": "sha256 over 'posting_id,link_id,kind,points,carbon_g,posted_at' lines ordered by posting_id",
        "entries": [
            {
                "posting_id": e.posting_id,
                "link_id": e.link_id,
                "kind": e.kind,
                "points": e.points,
                "carbon_g": e.carbon_g,
                "posted_at": e.posted_at.isoformat(),
            }
            for e in s.entries
        ],
    }


def reconciliation_answer(s: statements.Statement, r: statements.Reconciliation) -> dict[str, Any]:
    return {
        "date": s.day.isoformat(),
        "agrees": r.agrees,
        "differences": [{"field": d.field, "ours": d.ours, "theirs": d.theirs} for d in r.differences],
        "missing_at_bank": list(r.missing_at_bank),
        "unknown_to_tanpu": list(r.unknown_to_us),
        "ours": {"count": s.count, "points": s.points, "carbon_g": s.carbon_g, "digest": s.digest},
    }
