"""Campaigns as stored, their budget shards and what the award pipeline needs of them.

A campaign's spend lives in SHARDS rows. The budget is split over them (`cap`
per shard), an award takes its bonus from the citizen's home shard and, when
that one is short, from the others; a shard never passes its cap, so the
campaign never passes its budget, and concurrent awards in a season update 16
different rows instead of queueing on one.
"""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.campaigns import Campaign, Stacking, parse_multiplier

SHARDS = 16


@dataclass
class Shard:
    shard: int
    cap: int | None
    spent: int

    @property
    def room(self) -> int | None:
        return None if self.cap is None else self.cap - self.spent


@dataclass
class LiveCampaign:
    """A campaign that may pay in this award, with its shards as read (or as locked)."""

    campaign: Campaign
    shards: list[Shard]

    @property
    def budget_left(self) -> int | None:
        if self.campaign.budget is None:
            return None
        return sum(s.room or 0 for s in self.shards)


_parsed: dict[tuple[str, str], Campaign] = {}


_CONTEXT_FIELDS = (
    "id", "name", "regions", "scenarios", "starts_at", "ends_at", "multiplier", "bonus", "merchant_ids", "store_ids",
    "categories", "per_citizen_cap", "budget", "stacking",
)  # fmt: skip


def _instant(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _ids(values: Iterable[Any] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(str(v) for v in values)


def campaign_of(fields: Mapping[str, Any]) -> Campaign:
    """A campaign from its stored (or about to be stored) fields, as the rules see it."""
    return Campaign(
        id=str(fields.get("id") or "new"),
        name=fields["name"],
        regions=frozenset(fields["regions"]),
        scenarios=frozenset(fields["scenarios"]),
        starts_at=_instant(fields["starts_at"]),
        ends_at=_instant(fields["ends_at"]),
        stacking=Stacking(fields["stacking"]),
        multiplier=parse_multiplier(fields["multiplier"]) if fields.get("multiplier") is not None else None,
        bonus=fields.get("bonus"),
        merchant_ids=_ids(fields.get("merchant_ids")),
        store_ids=_ids(fields.get("store_ids")),
        categories=_ids(fields.get("categories")),
        per_citizen_cap=fields.get("per_citizen_cap"),
        budget=fields.get("budget"),
    )


def to_domain(row: Sequence[Any]) -> Campaign:
    """A campaign from its context row (the fields of CONTEXT_CAMPAIGNS in order, then updated_at),
    parsed once per version."""
    key = (str(row[0]), str(row[14]))
    hit = _parsed.get(key)
    if hit is not None:
        return hit
    if len(_parsed) > 1000:
        _parsed.clear()
    campaign = _parsed[key] = campaign_of(dict(zip(_CONTEXT_FIELDS, row, strict=False)))
    return campaign


CONTEXT_CAMPAIGNS = """
      (SELECT coalesce(json_agg(json_build_array(
                 c.id, c.name, c.regions, c.scenarios, c.starts_at, c.ends_at, c.multiplier, c.bonus, c.merchant_ids,
                 c.store_ids, c.categories, c.per_citizen_cap, c.budget, c.stacking, c.updated_at,
                 (SELECT json_agg(json_build_array(s.shard, s.cap, s.spent) ORDER BY s.shard)
                    FROM campaign_budget_shards s WHERE s.campaign_id = c.id))), '[]')
         FROM campaigns c
         WHERE c.status = 'active' AND c.starts_at <= :occ_max AND c.ends_at > :occ_min
           AND c.regions && CAST(:regions AS text[])),
      (SELECT coalesce(json_agg(json_build_array(cs.user_id, cs.campaign_id, cs.spent)), '[]')
         FROM campaign_citizen_spend cs JOIN campaigns c ON c.id = cs.campaign_id
         WHERE cs.user_id = ANY(CAST(:users AS uuid[])) AND c.status = 'active'
           AND c.starts_at <= :occ_max AND c.ends_at > :occ_min AND c.regions && CAST(:regions AS text[]))"""


def live_campaigns(rows: Iterable[Sequence[Any]]) -> dict[str, LiveCampaign]:
    return {
        str(row[0]): LiveCampaign(to_domain(row), [Shard(int(s), cap, int(spent)) for s, cap, spent in (row[15] or [])])
        for row in rows
    }


_LOCK_SHARDS = (
    "SELECT campaign_id, shard, cap, spent FROM campaign_budget_shards "
    "WHERE campaign_id = ANY($1::uuid[]) AND cap IS NOT NULL ORDER BY campaign_id, shard FOR UPDATE"
)


async def lock_budgets(conn: asyncpg.Connection, live: dict[str, LiveCampaign]) -> None:
    """Hold the budgeted campaigns' shards until commit (the pessimistic path) and read them as they are now."""
    budgeted = [uuid.UUID(cid) for cid, lc in live.items() if lc.campaign.budget is not None]
    if not budgeted:
        return
    fresh: dict[tuple[str, int], tuple[int | None, int]] = {
        (str(r["campaign_id"]), r["shard"]): (r["cap"], r["spent"]) for r in await conn.fetch(_LOCK_SHARDS, budgeted)
    }
    for cid, lc in live.items():
        for s in lc.shards:
            if (cid, s.shard) in fresh:
                s.cap, s.spent = fresh[(cid, s.shard)]


def home_shard(user_id: uuid.UUID, shards: int) -> int:
    return user_id.int % shards


def take_from_shards(lc: LiveCampaign, user_id: uuid.UUID, points: int) -> list[tuple[int, int]]:
    """Where `points` of bonus come from: the citizen's home shard first, then the roomiest others.
    Updates the shards as read, so later items of the same write see what earlier ones took."""
    if not lc.shards:
        raise ValueError(f"campaign {lc.campaign.id} has no budget shards")
    home = home_shard(user_id, len(lc.shards))
    others = sorted((s for s in lc.shards if s.shard != home), key=lambda s: -(s.room if s.room is not None else 0))
    order = [lc.shards[home], *others]
    taken: list[tuple[int, int]] = []
    left = points
    for s in order:
        if left == 0:
            break
        give = left if s.room is None else min(left, max(0, s.room))
        if give:
            s.spent += give
            taken.append((s.shard, give))
            left -= give
    if left:
        raise ValueError(f"campaign {lc.campaign.id} has {points - left} of {points} points of room left")
    return taken


def shard_caps(budget: int | None, spent: Sequence[int]) -> list[int | None]:
    """Caps that split what is left of `budget` evenly over the shards on top of what each has spent,
    so the caps always add up to the budget (a budget below the spend is refused before this)."""
    if budget is None:
        return [None] * len(spent)
    left = budget - sum(spent)
    if left < 0:
        raise ValueError("the budget is below what the campaign has spent")
    n = len(spent)
    return [s + left // n + (1 if i < left % n else 0) for i, s in enumerate(spent)]


async def create_shards(session: AsyncSession, campaign_id: uuid.UUID, budget: int | None) -> None:
    caps = shard_caps(budget, [0] * SHARDS)
    await session.execute(
        text(
            "INSERT INTO campaign_budget_shards (campaign_id, shard, cap, spent) "
            "SELECT :c, n - 1, cap, 0 FROM unnest(CAST(:caps AS bigint[])) WITH ORDINALITY AS t(cap, n)"
        ),
        {"c": campaign_id, "caps": caps},
    )


async def rebalance_shards(session: AsyncSession, campaign_id: uuid.UUID, budget: int | None) -> int | None:
    """Spread a changed budget over the shards (held locked); the spend so far, or None (and nothing
    changed) when the budget is below it."""
    rows = (
        await session.execute(
            text("SELECT shard, spent FROM campaign_budget_shards WHERE campaign_id = :c ORDER BY shard FOR UPDATE"),
            {"c": campaign_id},
        )
    ).all()
    spent = [int(r.spent) for r in rows]
    if budget is not None and budget < sum(spent):
        return None
    caps = shard_caps(budget, spent)
    await session.execute(
        text(
            "UPDATE campaign_budget_shards s SET cap = t.cap FROM unnest(CAST(:caps AS bigint[])) WITH ORDINALITY AS t(cap, n) "
            "WHERE s.campaign_id = :c AND s.shard = t.n - 1"
        ),
        {"c": campaign_id, "caps": caps},
    )
    return sum(spent)


async def spent(session: AsyncSession, campaign_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        text(
            "SELECT campaign_id, sum(spent) FROM campaign_budget_shards WHERE campaign_id = ANY(CAST(:ids AS uuid[])) "
            "GROUP BY campaign_id"
        ),
        {"ids": list(campaign_ids)},
    )
    return {r[0]: int(r[1]) for r in rows}
