"""Points expiry (`tanpu expire`, and hourly inside `tanpu serve`): one expiry posting per
citizen for the lots due at `as_of`, which are emptied in the same transaction.

Exactly once, however many runs overlap: a run holds the citizens' account rows
(in one order, so runs never deadlock) before it reads their due lots, and
reads only lots that still hold points. A second run waits for the first, then
finds those lots empty and posts nothing. Citizens go in batches, each its own
transaction, so a long run never holds many rows for long and a crash loses
nothing that a rerun will not do.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import ledger
from domain import lots as rules
from domain.redemption import expiry
from service.observability import LEDGER_POSTINGS
from service.repositories import ledger as ledger_repo
from service.repositories import lots as lots_repo

BATCH = 500


@dataclass(frozen=True)
class ExpiryRun:
    as_of: datetime
    citizens: int
    points: int


async def _expire_batch(
    session: AsyncSession, user_ids: Sequence[uuid.UUID], *, as_of: datetime, now: datetime
) -> tuple[int, int]:
    locked = await lots_repo.lock_accounts(session, user_ids)
    due = await lots_repo.due_lots(session, locked, as_of)
    postings: list[ledger.Posting] = []
    plans: list[tuple[uuid.UUID, list[rules.OpenLot], list[rules.LotMove]]] = []
    for user_id in locked:
        lots = due.get(user_id, [])
        moves = rules.due(lots, as_of)
        points = -sum(m.points for m in moves)
        if points:
            postings.append(expiry(user_id=str(user_id), points=points, as_of=as_of, posted_at=now))
            plans.append((user_id, lots, moves))
    if not postings:
        return 0, 0
    deltas = [ledger.account_delta(p.kind, p.citizen_points, 0) for p in postings]
    posted = await ledger_repo.insert_postings(session, postings, deltas, created_by="expiry", now=now)
    for (user_id, lots, moves), ids in zip(plans, posted, strict=True):
        await lots_repo.expire(session, user_id, ids.posting_id, lots, moves)
    return len(postings), -sum(p.citizen_points for p in postings)


async def expire_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    as_of: datetime,
    now: datetime,
    users: Sequence[uuid.UUID] | None = None,
    batch: int = BATCH,
) -> ExpiryRun:
    """Expire every lot due at `as_of` (its expiry instant included); with `users`, only theirs."""
    if as_of.tzinfo is None:
        raise ValueError("as_of needs a timezone")
    citizens = points = 0
    after: uuid.UUID | None = None
    while True:
        async with sessionmaker() as session, session.begin():
            if users is not None:
                ids = sorted(set(users))
            else:
                ids = await lots_repo.citizens_with_due_lots(session, as_of=as_of, after=after, limit=batch)
            n = p = 0
            if ids:
                n, p = await _expire_batch(session, ids, as_of=as_of, now=now)
        if n:  # committed
            LEDGER_POSTINGS.labels("expiry").inc(n)
        citizens, points = citizens + n, points + p
        if users is not None or len(ids) < batch:
            return ExpiryRun(as_of=as_of, citizens=citizens, points=points)
        after = ids[-1]
