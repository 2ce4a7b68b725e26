"""The rewards catalogue, coupon pools and redemptions.

Stock is taken by one conditional UPDATE (`stock > 0`), and a pool code by
`FOR UPDATE SKIP LOCKED`: concurrent redemptions of the last item never both
get it, and never wait on each other for a code someone else is taking.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class RewardRow:
    id: uuid.UUID
    seq: int
    name: str
    description: str | None
    kind: str
    fulfilment: str
    points: int
    stock: int
    region: str | None
    valid_until: datetime | None
    active: bool
    created_at: datetime
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "fulfilment": self.fulfilment,
            "points": self.points,
            "stock": self.stock,
            "region": self.region,
            "valid_until": None if self.valid_until is None else self.valid_until.isoformat(),
            "active": self.active,
        }


REWARD_COLUMNS = (
    "id, seq, name, description, kind, fulfilment, points, stock, region, valid_until, active, created_at, updated_at"
)
EDITABLE = ("name", "description", "points", "stock", "region", "valid_until", "active")


async def insert_reward(session: AsyncSession, values: dict[str, Any]) -> RewardRow:
    columns = "id, name, description, kind, fulfilment, points, stock, region, valid_until, active"
    values_sql = ":id, :name, :description, :kind, :fulfilment, :points, :stock, :region, :valid_until, :active"
    sql = f"INSERT INTO rewards ({columns}) VALUES ({values_sql}) RETURNING {REWARD_COLUMNS}"  # noqa: S608 (constants)
    row = (await session.execute(text(sql), {"id": uuid.uuid4(), **values})).one()
    return RewardRow(*row)


async def get_reward(session: AsyncSession, reward_id: uuid.UUID, *, for_update: bool = False) -> RewardRow | None:
    lock = " FOR UPDATE" if for_update else ""
    row = (
        await session.execute(text(f"SELECT {REWARD_COLUMNS} FROM rewards WHERE id = :id{lock}"), {"id": reward_id})  # noqa: S608
    ).first()
    return None if row is None else RewardRow(*row)


async def update_reward(session: AsyncSession, reward_id: uuid.UUID, changes: dict[str, Any], now: datetime) -> RewardRow:
    sets = ", ".join(f"{name} = :{name}" for name in changes if name in EDITABLE)
    row = (
        await session.execute(
            text(f"UPDATE rewards SET {sets}, updated_at = :now WHERE id = :id RETURNING {REWARD_COLUMNS}"),  # noqa: S608 (names from EDITABLE)
            {**{k: v for k, v in changes.items() if k in EDITABLE}, "id": reward_id, "now": now},
        )
    ).one()
    return RewardRow(*row)


async def list_rewards(
    session: AsyncSession, *, after_seq: int | None, limit: int, offered_to_region: str | None, now: datetime | None
) -> list[RewardRow]:
    """Oldest first. With `offered_to_region` and `now`: only what a citizen of that region can redeem now."""
    offered = ""
    if offered_to_region is not None:
        offered = " AND active AND (region IS NULL OR region = :region) AND (valid_until IS NULL OR valid_until > :now)"
    rows = await session.execute(
        text(
            f"SELECT {REWARD_COLUMNS} FROM rewards WHERE (CAST(:after AS bigint) IS NULL OR seq > :after){offered} "  # noqa: S608
            "ORDER BY seq LIMIT :limit"
        ),
        {"after": after_seq, "limit": limit, "region": offered_to_region, "now": now},
    )
    return [RewardRow(*row) for row in rows]


async def take_stock(session: AsyncSession, reward_id: uuid.UUID) -> bool:
    """One item of stock, if any is left (the row lock makes concurrent takers queue and re-check)."""
    row = (
        await session.execute(
            text("UPDATE rewards SET stock = stock - 1 WHERE id = :id AND stock > 0 RETURNING stock"), {"id": reward_id}
        )
    ).first()
    return row is not None


async def return_stock(session: AsyncSession, reward_id: uuid.UUID) -> None:
    await session.execute(text("UPDATE rewards SET stock = stock + 1 WHERE id = :id"), {"id": reward_id})


async def take_code(session: AsyncSession, reward_id: uuid.UUID, redemption_id: uuid.UUID, now: datetime) -> str | None:
    row = (
        await session.execute(
            text(
                """
                UPDATE reward_codes SET redemption_id = :r, taken_at = :now
                WHERE id = (SELECT id FROM reward_codes WHERE reward_id = :id AND redemption_id IS NULL
                            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING code
                """
            ),
            {"id": reward_id, "r": redemption_id, "now": now},
        )
    ).first()
    return None if row is None else str(row[0])


async def add_codes(session: AsyncSession, reward_id: uuid.UUID, codes: Sequence[str]) -> int:
    """Add codes to the pool (a code already there is skipped); the stock grows by the number added."""
    added = await session.scalar(
        text(
            """
            WITH ins AS (
                INSERT INTO reward_codes (reward_id, code) SELECT :id, c FROM unnest(CAST(:codes AS text[])) AS c
                ON CONFLICT (reward_id, code) DO NOTHING RETURNING 1
            ), n AS (SELECT count(*) AS n FROM ins)
            UPDATE rewards SET stock = stock + n.n FROM n WHERE id = :id RETURNING n.n
            """
        ),
        {"id": reward_id, "codes": list(codes)},
    )
    return int(added or 0)


async def free_codes(session: AsyncSession, reward_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            text("SELECT count(*) FROM reward_codes WHERE reward_id = :id AND redemption_id IS NULL"), {"id": reward_id}
        )
        or 0
    )


# --- redemptions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedemptionRow:
    id: uuid.UUID
    seq: int
    user_id: uuid.UUID
    reward_id: uuid.UUID
    reward_name: str
    points: int
    status: str
    code: str | None
    hold_posting_id: int
    release_posting_id: int | None
    created_at: datetime
    completed_at: datetime | None
    cancelled_at: datetime | None

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "reward_id": str(self.reward_id),
            "reward_name": self.reward_name,
            "points": self.points,
            "status": self.status,
            "code": self.code,
            "created_at": self.created_at.isoformat(),
            "completed_at": None if self.completed_at is None else self.completed_at.isoformat(),
            "cancelled_at": None if self.cancelled_at is None else self.cancelled_at.isoformat(),
        }


_REDEMPTION = """
    SELECT d.id, d.seq, d.user_id, d.reward_id, r.name, d.points, d.status, d.code, d.hold_posting_id,
           d.release_posting_id, d.created_at, d.completed_at, d.cancelled_at
    FROM redemptions d JOIN rewards r ON r.id = d.reward_id
"""


async def insert_redemption(
    session: AsyncSession,
    *,
    redemption_id: uuid.UUID,
    user_id: uuid.UUID,
    reward_id: uuid.UUID,
    points: int,
    status: str,
    code: str | None,
    hold_posting_id: int,
    now: datetime,
) -> None:
    await session.execute(
        text(
            """
            INSERT INTO redemptions (user_id, id, reward_id, points, status, code, hold_posting_id, created_at, completed_at)
            VALUES (:u, :id, :reward, :points, :status, :code, :hold, :now, :completed_at)
            """
        ),
        {
            "u": user_id,
            "id": redemption_id,
            "reward": reward_id,
            "points": points,
            "status": status,
            "code": code,
            "hold": hold_posting_id,
            "now": now,
            "completed_at": now if status == "completed" else None,
        },
    )


async def get_redemption(
    session: AsyncSession, redemption_id: uuid.UUID, *, user_id: uuid.UUID | None = None
) -> RedemptionRow | None:
    """One redemption; with `user_id`, only if it is that citizen's."""
    row = (
        await session.execute(
            text(_REDEMPTION + " WHERE d.id = :id AND (CAST(:u AS uuid) IS NULL OR d.user_id = :u)"),
            {"id": redemption_id, "u": user_id},
        )
    ).first()
    return None if row is None else RedemptionRow(*row)


async def citizen_redemptions(
    session: AsyncSession, user_id: uuid.UUID, *, before_seq: int | None, limit: int | None
) -> list[RedemptionRow]:
    rows = await session.execute(
        text(
            _REDEMPTION
            + " WHERE d.user_id = :u AND (CAST(:before AS bigint) IS NULL OR d.seq < :before) ORDER BY d.seq DESC LIMIT :limit"
        ),
        {"u": user_id, "before": before_seq, "limit": limit},
    )
    return [RedemptionRow(*row) for row in rows]


async def all_redemptions(
    session: AsyncSession, *, status: str | None, reward_id: uuid.UUID | None, before_seq: int | None, limit: int
) -> list[RedemptionRow]:
    """Every citizen's redemptions, newest first (operators fulfil the held ones)."""
    rows = await session.execute(
        text(
            _REDEMPTION
            + """ WHERE (CAST(:status AS text) IS NULL OR d.status = :status)
                  AND (CAST(:reward AS uuid) IS NULL OR d.reward_id = :reward)
                  AND (CAST(:before AS bigint) IS NULL OR d.seq < :before)
                ORDER BY d.seq DESC LIMIT :limit"""
        ),
        {"status": status, "reward": reward_id, "before": before_seq, "limit": limit},
    )
    return [RedemptionRow(*row) for row in rows]


async def finish(
    session: AsyncSession,
    redemption_id: uuid.UUID,
    *,
    status: str,
    now: datetime,
    code: str | None = None,
    release_posting_id: int | None = None,
) -> None:
    await session.execute(
        text(
            """
            UPDATE redemptions SET status = :status, code = coalesce(:code, code),
                   release_posting_id = :release,
                   completed_at = :completed_at, cancelled_at = :cancelled_at
            WHERE id = :id AND status = 'held'
            """
        ),
        {
            "id": redemption_id,
            "status": status,
            "code": code,
            "release": release_posting_id,
            "completed_at": now if status == "completed" else None,
            "cancelled_at": now if status == "cancelled" else None,
        },
    )
