"""Expiry lots: the one place that moves their remaining points.

Every caller holds the citizen's account row (`lock_account`) for the whole
transaction: the balance it checks, the lots it changes and the posting it
writes then agree, and a concurrent award, redemption or expiry waits. Which
lots to take is decided in domain/lots.py; each move is recorded in
`lot_moves` (append-only) beside the posting that made it.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain import lots as rules
from domain.lots import LotMove, OpenLot


@dataclass(frozen=True)
class LockedAccount:
    user_id: uuid.UUID
    balance: int
    region: str
    erased: bool


async def lock_account(session: AsyncSession, user_id: uuid.UUID) -> LockedAccount | None:
    """Hold the citizen's account row until the transaction ends (always first, before any lot)."""
    row = (
        await session.execute(
            text(
                """
                SELECT a.user_id, a.balance, u.region, u.erased_at IS NOT NULL AS erased
                FROM citizen_accounts a JOIN users u ON u.id = a.user_id
                WHERE a.user_id = :u FOR UPDATE OF a
                """
            ),
            {"u": user_id},
        )
    ).first()
    return None if row is None else LockedAccount(row.user_id, int(row.balance), row.region, bool(row.erased))


_LOT_COLUMNS = "id, expires_at, remaining, points"


async def open_lots(session: AsyncSession, user_id: uuid.UUID) -> list[OpenLot]:
    rows = await session.execute(
        text(f"SELECT {_LOT_COLUMNS} FROM expiry_lots WHERE user_id = :u AND remaining > 0 ORDER BY expires_at, id"),  # noqa: S608
        {"u": user_id},
    )
    return [OpenLot(*row) for row in rows]


async def _lots(session: AsyncSession, user_id: uuid.UUID, ids: Sequence[int]) -> list[OpenLot]:
    rows = await session.execute(
        text(f"SELECT {_LOT_COLUMNS} FROM expiry_lots WHERE user_id = :u AND id = ANY(:ids)"),  # noqa: S608
        {"u": user_id, "ids": list(ids)},
    )
    return [OpenLot(*row) for row in rows]


async def _apply(
    session: AsyncSession, user_id: uuid.UUID, posting_id: int, lots: Sequence[OpenLot], moves: Sequence[LotMove]
) -> None:
    after = rules.apply(lots, moves)  # refuses to overdraw or overfill a lot
    if not moves:
        return
    await session.execute(
        text(
            """
            WITH m AS (
                INSERT INTO lot_moves (user_id, posting_id, lot_id, points)
                SELECT :u, :p, lot_id, points
                FROM unnest(CAST(:move_ids AS bigint[]), CAST(:move_points AS bigint[])) AS t(lot_id, points)
            )
            UPDATE expiry_lots AS l SET remaining = t.remaining
            FROM unnest(CAST(:lot_ids AS bigint[]), CAST(:remaining AS bigint[])) AS t(id, remaining)
            WHERE l.user_id = :u AND l.id = t.id
            """
        ),
        {
            "u": user_id,
            "p": posting_id,
            "move_ids": [m.lot_id for m in moves],
            "move_points": [m.points for m in moves],
            "lot_ids": list(after),
            "remaining": list(after.values()),
        },
    )


async def consume(
    session: AsyncSession, user_id: uuid.UUID, posting_id: int, points: int, *, first_lot_id: int | None = None
) -> list[LotMove]:
    """Take `points` from the citizen's lots for `posting_id`, soonest to expire first
    (`first_lot_id` first of all); beyond what the lots hold, the balance is debt."""
    lots = await open_lots(session, user_id)
    moves = rules.consumption(lots, points, first_lot_id=first_lot_id)
    await _apply(session, user_id, posting_id, lots, moves)
    return moves


async def restore(
    session: AsyncSession, user_id: uuid.UUID, *, taken_by: int, posting_id: int, balance_before: int, points: int
) -> list[LotMove]:
    """Give back to the lots what posting `taken_by` took from them, recorded under `posting_id`
    (which credits `points` to a balance that was `balance_before`: a debt is repaid first).
    A lot that expired meanwhile gets its points back and is expired again by the next run."""
    rows = await session.execute(
        text("SELECT lot_id, points FROM lot_moves WHERE user_id = :u AND posting_id = :p"), {"u": user_id, "p": taken_by}
    )
    taken = [LotMove(int(lot_id), int(p)) for lot_id, p in rows]
    lots = await _lots(session, user_id, [m.lot_id for m in taken])
    expires = {lot.id: (lot.expires_at, lot.id) for lot in lots}
    taken.sort(key=lambda m: expires[m.lot_id])  # in the order they were taken: soonest to expire first
    moves = rules.restoration(taken, up_to=rules.credited_lot_points(balance_before, points))
    await _apply(session, user_id, posting_id, lots, moves)
    return moves


async def create(
    session: AsyncSession, user_id: uuid.UUID, *, posting_id: int, earned_at: datetime, expires_at: datetime, points: int
) -> None:
    if points <= 0:
        return
    await session.execute(
        text(
            "INSERT INTO expiry_lots (user_id, posting_id, earned_at, expires_at, points, remaining) "
            "VALUES (:u, :p, :earned, :expires, :points, :points)"
        ),
        {"u": user_id, "p": posting_id, "earned": earned_at, "expires": expires_at, "points": points},
    )


# --- expiry runs -------------------------------------------------------------------------------


async def citizens_with_due_lots(
    session: AsyncSession, *, as_of: datetime, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    rows = await session.execute(
        text(
            """
            SELECT DISTINCT user_id FROM expiry_lots
            WHERE remaining > 0 AND expires_at <= :as_of AND (CAST(:after AS uuid) IS NULL OR user_id > :after)
            ORDER BY user_id LIMIT :limit
            """
        ),
        {"as_of": as_of, "after": after, "limit": limit},
    )
    return [row[0] for row in rows]


async def lock_accounts(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Hold many citizens' account rows, in one fixed order (so two runs never deadlock)."""
    rows = await session.execute(
        text("SELECT user_id FROM citizen_accounts WHERE user_id = ANY(:ids) ORDER BY user_id FOR UPDATE"),
        {"ids": list(user_ids)},
    )
    return [row[0] for row in rows]


async def due_lots(session: AsyncSession, user_ids: Sequence[uuid.UUID], as_of: datetime) -> dict[uuid.UUID, list[OpenLot]]:
    rows = await session.execute(
        text(
            f"SELECT user_id, {_LOT_COLUMNS} FROM expiry_lots "  # noqa: S608
            "WHERE user_id = ANY(:ids) AND remaining > 0 AND expires_at <= :as_of ORDER BY user_id, id"
        ),
        {"ids": list(user_ids), "as_of": as_of},
    )
    out: dict[uuid.UUID, list[OpenLot]] = {}
    for user_id, *lot in rows:
        out.setdefault(user_id, []).append(OpenLot(*lot))
    return out


async def expire(
    session: AsyncSession, user_id: uuid.UUID, posting_id: int, lots: Sequence[OpenLot], moves: Sequence[LotMove]
) -> None:
    await _apply(session, user_id, posting_id, lots, moves)
