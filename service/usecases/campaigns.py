"""Campaign administration: create, change, activate, pause (each audited), and simulate.

The rules (validation, matching, what a campaign pays) are in domain/campaigns.py;
this module stores campaigns, keeps their budget shards in step with the
budget, and streams stored activities through a simulation.
"""

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain import campaigns as rules
from domain.calendar import SHANGHAI
from domain.campaigns import Campaign, CampaignStatus, Candidate, Line, Occasion, Simulation
from domain.methodology import Methodology
from service import audit
from service.problems import ProblemError
from service.repositories import campaigns as repo
from service.repositories import raw

COLUMNS = (
    "id, code, name, regions, scenarios, starts_at, ends_at, multiplier, bonus, merchant_ids, store_ids, categories, "
    "per_citizen_cap, budget, stacking, status, created_at, updated_at"
)
EDITABLE = (
    "name",
    "regions",
    "scenarios",
    "starts_at",
    "ends_at",
    "multiplier",
    "bonus",
    "merchant_ids",
    "store_ids",
    "categories",
    "per_citizen_cap",
    "budget",
    "stacking",
)


def local_time(value: datetime) -> datetime:
    """api.md: a time without an offset is Asia/Shanghai local time."""
    return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value


def known_scenarios(methodologies: Sequence[Methodology]) -> list[str]:
    return sorted({scenario for m in methodologies for scenario in m.factors})


async def _validate(session: AsyncSession, fields: dict[str, Any], methodologies: Sequence[Methodology]) -> None:
    regions = [r for (r,) in (await session.execute(text("SELECT code FROM regions"))).all()]
    try:
        rules.validate(repo.campaign_of(fields), known_regions=regions, known_scenarios=known_scenarios(methodologies))
    except rules.InvalidCampaign as exc:
        raise ProblemError(422, exc.code, exc.detail) from None
    for kind, column, table, where in (
        ("merchant", "merchant_ids", "partners", "kind = 'merchant'"),
        ("store", "store_ids", "stores", "true"),
    ):
        wanted = fields.get(column)
        if wanted:
            found = await session.scalar(
                text(f"SELECT count(*) FROM {table} WHERE id = ANY(CAST(:ids AS uuid[])) AND {where}"),  # noqa: S608
                {"ids": list(set(wanted))},
            )
            if found != len(set(wanted)):
                raise ProblemError(422, f"unknown_{kind}", f"some of {column} are not known {kind}s")


def display_status(row: dict[str, Any], now: datetime) -> str:
    """Stored: draft, active or paused. Past its window a started campaign shows as ended (it still pays
    activities that occurred inside the window and are reported late)."""
    if row["status"] in (CampaignStatus.ACTIVE, CampaignStatus.PAUSED) and now >= row["ends_at"]:
        return str(CampaignStatus.ENDED)
    return str(row["status"])


async def describe(session: AsyncSession, rows: Sequence[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    spent = await repo.spent(session, [r["id"] for r in rows])
    out = []
    for r in rows:
        overlaps = await _overlaps(session, r)
        rule = {"multiplier": r["multiplier"]} if r["multiplier"] is not None else {"bonus": r["bonus"]}
        out.append(
            {
                **{k: r[k] for k in COLUMNS.split(", ") if k not in ("multiplier", "bonus", "status")},
                "rule": rule,
                "status": display_status(r, now),
                "spent": spent.get(r["id"], 0),
                "overlaps": overlaps,
            }
        )
    return out


async def _overlaps(session: AsyncSession, r: dict[str, Any]) -> list[dict[str, Any]]:
    """Other live campaigns that could pay the same activities (same region and scenario, windows meet):
    shown, not refused, since stacking decides how they combine."""
    rows = await session.execute(
        text(
            "SELECT id, name, stacking FROM campaigns WHERE id <> :id AND status <> 'draft' "
            "AND regions && CAST(:regions AS text[]) AND scenarios && CAST(:scenarios AS text[]) "
            "AND starts_at < :ends AND ends_at > :starts "
            "AND (merchant_ids IS NULL OR CAST(:m AS uuid[]) IS NULL OR merchant_ids && CAST(:m AS uuid[])) "
            "AND (store_ids IS NULL OR CAST(:s AS uuid[]) IS NULL OR store_ids && CAST(:s AS uuid[])) "
            "AND (categories IS NULL OR CAST(:c AS text[]) IS NULL OR categories && CAST(:c AS text[])) "
            "ORDER BY starts_at, id LIMIT 20"
        ),
        {
            "id": r["id"],
            "regions": r["regions"],
            "scenarios": r["scenarios"],
            "ends": r["ends_at"],
            "starts": r["starts_at"],
            "m": r["merchant_ids"],
            "s": r["store_ids"],
            "c": r["categories"],
        },
    )
    return [{"id": str(o.id), "name": o.name, "stacking": o.stacking} for o in rows]


async def get_row(session: AsyncSession, campaign_id: uuid.UUID, *, lock: bool = False) -> dict[str, Any]:
    row = (
        (
            await session.execute(
                text(f"SELECT {COLUMNS} FROM campaigns WHERE id = :id" + (" FOR UPDATE" if lock else "")),  # noqa: S608
                {"id": campaign_id},
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise ProblemError(404, "not_found", f"no campaign {campaign_id}")
    return dict(row)


async def create(
    session: AsyncSession, fields: dict[str, Any], *, admin_id: uuid.UUID | None, methodologies: Sequence[Methodology]
) -> dict[str, Any]:
    await _validate(session, fields, methodologies)
    campaign_id = fields.get("id") or uuid.uuid4()
    params = {k: fields.get(k) for k in EDITABLE} | {"id": campaign_id, "code": fields.get("code")}
    inserted = await session.execute(
        text(
            "INSERT INTO campaigns (id, code, name, regions, scenarios, starts_at, ends_at, multiplier, bonus, merchant_ids, "
            "store_ids, categories, per_citizen_cap, budget, stacking, status) VALUES (:id, :code, :name, :regions, "
            ":scenarios, :starts_at, :ends_at, :multiplier, :bonus, :merchant_ids, :store_ids, :categories, "
            ":per_citizen_cap, :budget, :stacking, 'draft') ON CONFLICT DO NOTHING RETURNING id"
        ),
        params,
    )
    if inserted.first() is None:
        raise ProblemError(409, "campaign_exists", f"a campaign with code {fields.get('code')!r} exists")
    await repo.create_shards(session, campaign_id, fields.get("budget"))
    row = await get_row(session, campaign_id)
    await audit.record(
        session,
        actor_kind="admin",
        actor_id=admin_id,
        action="campaign.create",
        target_kind="campaign",
        target_id=str(campaign_id),
        after=_auditable(row),
    )
    return row


async def patch(
    session: AsyncSession,
    campaign_id: uuid.UUID,
    changes: dict[str, Any],
    *,
    admin_id: uuid.UUID,
    methodologies: Sequence[Methodology],
) -> dict[str, Any]:
    before = await get_row(session, campaign_id, lock=True)
    fields = {**before, **changes}
    if "multiplier" in changes and changes["multiplier"] is not None:
        fields["bonus"] = None
    if "bonus" in changes and changes["bonus"] is not None:
        fields["multiplier"] = None
    await _validate(session, fields, methodologies)
    if "budget" in changes or "per_citizen_cap" in changes:
        spent = await repo.rebalance_shards(session, campaign_id, fields["budget"])
        if spent is None:
            raise ProblemError(409, "budget_below_spend", "the new budget is below what the campaign has already paid")
    await session.execute(
        text(
            "UPDATE campaigns SET name = :name, regions = :regions, scenarios = :scenarios, starts_at = :starts_at, "
            "ends_at = :ends_at, multiplier = :multiplier, bonus = :bonus, merchant_ids = :merchant_ids, "
            "store_ids = :store_ids, categories = :categories, per_citizen_cap = :per_citizen_cap, budget = :budget, "
            "stacking = :stacking, updated_at = now() WHERE id = :id"
        ),
        {k: fields[k] for k in EDITABLE} | {"id": campaign_id},
    )
    after = await get_row(session, campaign_id)
    await audit.record(
        session,
        actor_kind="admin",
        actor_id=admin_id,
        action="campaign.update",
        target_kind="campaign",
        target_id=str(campaign_id),
        before=_auditable(before),
        after=_auditable(after),
    )
    return after


_MOVES = {
    "activate": ({CampaignStatus.DRAFT, CampaignStatus.PAUSED, CampaignStatus.ACTIVE}, CampaignStatus.ACTIVE),
    "pause": ({CampaignStatus.ACTIVE, CampaignStatus.PAUSED}, CampaignStatus.PAUSED),
}


async def move(session: AsyncSession, campaign_id: uuid.UUID, action: str, *, admin_id: uuid.UUID) -> dict[str, Any]:
    """activate (draft or paused → active) or pause (active → paused); repeating one is harmless."""
    allowed, target = _MOVES[action]
    before = await get_row(session, campaign_id, lock=True)
    if before["status"] not in allowed:
        raise ProblemError(409, "invalid_status", f"a {before['status']} campaign cannot be {action}d")
    if before["status"] == target:
        return before
    await session.execute(
        text("UPDATE campaigns SET status = :s, updated_at = now() WHERE id = :id"), {"s": str(target), "id": campaign_id}
    )
    after = await get_row(session, campaign_id)
    await audit.record(
        session,
        actor_kind="admin",
        actor_id=admin_id,
        action=f"campaign.{action}",
        target_kind="campaign",
        target_id=str(campaign_id),
        before={"status": before["status"]},
        after={"status": after["status"]},
    )
    return after


def _auditable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


# -- simulation ------------------------------------------------------------------------------------


def candidate(
    user_id: str, region: str, scenario: str, occurred_at: datetime, points: int, extra: dict[str, Any] | None
) -> Candidate:
    """A stored activity as campaigns see it: its lines (base points, category) from the breakdown."""
    extra = extra or {}
    lines_doc = extra.get("lines")
    if isinstance(lines_doc, list) and lines_doc:
        lines = tuple(
            Line(str(line.get("scenario", scenario)), int(line.get("base_points", 0)), line.get("category")) for line in lines_doc
        )
    else:
        lines = (Line(scenario, points, extra.get("category")),)
    occasion = Occasion(region, occurred_at, extra.get("merchant_id"), extra.get("store_id"))
    return Candidate(user_id, occasion, scenario, lines)


_PAST = raw.Sql.of(
    """
    SELECT user_id::text, region, scenario, occurred_at, points,
           CASE WHEN breakdown ? 'lines' THEN (breakdown->'lines')::text END,
           breakdown->>'merchant_id', breakdown->>'store_id'
    FROM activities
    WHERE occurred_at >= :from AND occurred_at < :to AND status IN ('awarded', 'capped') AND points > 0
      AND region = ANY(CAST(:regions AS text[]))
      AND (scenario = ANY(CAST(:scenarios AS text[])) OR breakdown ? 'lines')
    ORDER BY occurred_at, id
    """
)


async def simulate_period(session: AsyncSession, campaign: Campaign, start: datetime, end: datetime) -> dict[str, Any]:
    """Replay the stored activities of [start, end) that fall in the campaign's window, in time order,
    streamed through a server-side cursor (a million rows never sit in memory), writing nothing."""
    sim = Simulation(campaign)
    conn = await raw.driver(session)
    # the time order is a sort of every matching row: give it memory rather than temporary files
    await conn.execute("SET LOCAL work_mem = '64MB'")
    params = {
        "from": max(start, campaign.starts_at),
        "to": min(end, campaign.ends_at),
        "regions": sorted(campaign.regions),
        "scenarios": sorted(campaign.scenarios),
    }
    async for user_id, region, scenario, occurred_at, points, lines, merchant_id, store_id in conn.cursor(
        _PAST.text, *_PAST.args(params), prefetch=5000
    ):
        extra = {"lines": json.loads(lines) if lines else None, "merchant_id": merchant_id, "store_id": store_id}
        sim.add(candidate(user_id, region, scenario, occurred_at, points, extra))
    return sim.summary()
