"""SQL of refunds: the order as awarded, what was refunded before, and the refund's own writes."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger import EntryKind, StoredEntry, StoredPosting
from service.repositories.campaigns import SHARDS, home_shard


@dataclass(frozen=True)
class Order:
    user_id: uuid.UUID
    activity_id: uuid.UUID
    status: str
    lines: list[dict[str, Any]]
    region: str
    occurred_at: datetime


@dataclass(frozen=True)
class StoredRefund:
    request_hash: str
    status_code: int
    response: str


async def find_order(session: AsyncSession, partner_id: uuid.UUID, order_id: str) -> Order | None:
    """The merchant's own order as it was recorded (another merchant's order is not found)."""
    row = (
        await session.execute(
            text(
                "SELECT a.user_id, a.id, a.status, a.measurements, a.region, a.occurred_at FROM activity_keys k "
                "JOIN activities a ON a.user_id = k.user_id AND a.id = k.activity_id "
                "WHERE k.partner_id = :p AND k.external_id = :o AND a.scenario = 'purchase.green'"
            ),
            {"p": partner_id, "o": order_id},
        )
    ).first()
    if row is None:
        return None
    return Order(row[0], row[1], row[2], list(row[3].get("lines", [])), row[4], row[5])


async def stored_refund(session: AsyncSession, partner_id: uuid.UUID, refund_id: str) -> StoredRefund | None:
    row = (
        await session.execute(
            text("SELECT request_hash, status_code, response FROM refunds WHERE partner_id = :p AND refund_id = :r"),
            {"p": partner_id, "r": refund_id},
        )
    ).first()
    return StoredRefund(row[0], row[1], row[2]) if row else None


async def claim(
    session: AsyncSession, *, partner_id: uuid.UUID, refund_id: str, order: Order, order_id: str, request_hash: str
) -> bool:
    """Take the refund id (a concurrent twin waits on the key, then finds it taken)."""
    claimed = await session.execute(
        text(
            "INSERT INTO refunds (partner_id, refund_id, order_id, user_id, activity_id, request_hash, status_code, response) "
            "VALUES (:p, :r, :o, :u, :a, :h, 0, '') ON CONFLICT DO NOTHING RETURNING 1"
        ),
        {"p": partner_id, "r": refund_id, "o": order_id, "u": order.user_id, "a": order.activity_id, "h": request_hash},
    )
    return claimed.first() is not None


async def refunded_before(session: AsyncSession, order: Order) -> dict[str, int]:
    rows = await session.execute(
        text("SELECT sku, sum(quantity) FROM refund_lines WHERE user_id = :u AND activity_id = :a GROUP BY sku"),
        {"u": order.user_id, "a": order.activity_id},
    )
    return {sku: int(qty) for sku, qty in rows}


async def order_postings(
    session: AsyncSession, order: Order
) -> tuple[list[StoredPosting], dict[int, str | None], dict[int, int]]:
    """The order's award and bonus postings with what earlier reversals took back (points by entry, carbon by posting)."""
    params = {"u": order.user_id, "a": order.activity_id}
    rows = (
        await session.execute(
            text(
                """
                SELECT p.id, p.kind, p.memo, p.scenario, p.campaign_id,
                       json_agg(json_build_array(e.id, e.account, e.points, e.carbon_g) ORDER BY e.leg)
                FROM postings p JOIN entries e ON e.user_id = p.user_id AND e.posting_id = p.id
                WHERE p.user_id = :u AND p.activity_id = :a AND p.kind IN ('award', 'bonus')
                GROUP BY p.user_id, p.id
                ORDER BY p.id
                """
            ),
            params,
        )
    ).all()
    # what earlier refunds took back: points by original entry, carbon by original posting
    reversed_entries: dict[int, int] = dict(
        (
            await session.execute(
                text(
                    "SELECT reverses_entry_id, sum(points) FROM entries WHERE user_id = :u AND activity_id = :a "
                    "AND kind = 'reversal' AND reverses_entry_id IS NOT NULL GROUP BY reverses_entry_id"
                ),
                params,
            )
        ).all()
    )
    carbon: dict[int, int] = {
        pid: -int(grams)
        for pid, grams in (
            await session.execute(
                text(
                    "SELECT reverses_posting_id, sum(carbon_g) FROM postings WHERE user_id = :u AND activity_id = :a "
                    "AND kind = 'reversal' GROUP BY reverses_posting_id"
                ),
                params,
            )
        ).all()
    }
    postings: list[StoredPosting] = []
    memos: dict[int, str | None] = {}
    for pid, kind, memo, scenario, campaign_id, entries in rows:
        postings.append(
            StoredPosting(
                id=pid,
                user_id=str(order.user_id),
                kind=EntryKind(kind),
                entries=tuple(StoredEntry(e[0], e[1], e[2], EntryKind(kind), e[3]) for e in entries),
                scenario=scenario,
                activity_id=str(order.activity_id),
                campaign_id=str(campaign_id) if campaign_id else None,
                reversed_points={e[0]: int(reversed_entries[e[0]]) for e in entries if e[0] in reversed_entries},
            )
        )
        memos[pid] = memo
    return postings, memos, carbon


async def lots_of(session: AsyncSession, user_id: uuid.UUID, posting_ids: Sequence[int]) -> dict[int, int]:
    """The expiry lot each of these postings created (a refund takes back from its award's lot first)."""
    rows = await session.execute(
        text("SELECT posting_id, id FROM expiry_lots WHERE user_id = :u AND posting_id = ANY(CAST(:p AS bigint[]))"),
        {"u": user_id, "p": list(posting_ids)},
    )
    return {int(posting_id): int(lot_id) for posting_id, lot_id in rows}


async def give_back_campaign_spend(session: AsyncSession, user_id: uuid.UUID, by_campaign: dict[str, int]) -> None:
    """A reversed bonus returns to its campaign's budget (through the citizen's home shard) and cap."""
    for campaign_id, points in sorted(by_campaign.items()):
        await session.execute(
            text("UPDATE campaign_budget_shards SET spent = spent - :n WHERE campaign_id = :c AND shard = :s"),
            {"n": points, "c": campaign_id, "s": home_shard(user_id, SHARDS)},
        )
        await session.execute(
            text("UPDATE campaign_citizen_spend SET spent = spent - :n WHERE user_id = :u AND campaign_id = :c"),
            {"n": points, "u": user_id, "c": campaign_id},
        )


async def give_back_daily_room(session: AsyncSession, user_id: uuid.UUID, day: date, family: str, points: int) -> None:
    """Base points a refund takes back stop counting against their day's cap: the cap bounds what a
    citizen keeps from a day, so a returned order does not block the next purchase that day."""
    if points:
        await session.execute(
            text("UPDATE daily_usage SET points = GREATEST(0, points - :n) WHERE user_id = :u AND day = :d AND family = :f"),
            {"n": points, "u": user_id, "d": day, "f": family},
        )


async def record(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    refund_id: str,
    order: Order,
    quantities: dict[str, int],
    status_code: int,
    response: str,
) -> None:
    await session.execute(
        text(
            "INSERT INTO refund_lines (partner_id, refund_id, sku, user_id, activity_id, quantity) "
            "SELECT :p, :r, sku, :u, :a, qty FROM unnest(CAST(:skus AS text[]), CAST(:qtys AS bigint[])) AS t(sku, qty)"
        ),
        {
            "p": partner_id,
            "r": refund_id,
            "u": order.user_id,
            "a": order.activity_id,
            "skus": list(quantities),
            "qtys": list(quantities.values()),
        },
    )
    await session.execute(
        text("UPDATE refunds SET status_code = :s, response = :b WHERE partner_id = :p AND refund_id = :r"),
        {"s": status_code, "b": response, "p": partner_id, "r": refund_id},
    )
