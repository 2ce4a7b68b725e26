"""SQL of the award pipeline: member references, the citizens' accounts and what
an award reads, and the one statement that writes a batch of evaluated activities
together with their postings.

These take the asyncpg connection itself: the pipeline decides per attempt
whether it runs in autocommit (optimistic) or in a transaction (pessimistic).
"""

import functools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger import AccountDelta, Posting
from service import compact_json
from service.models import Activity
from service.repositories import campaigns, ledger
from service.repositories.raw import Sql


@dataclass(frozen=True)
class StoredKey:
    request_hash: str
    status_code: int
    response: str


# a probe per reference, like the award context's lookups (see there)
_MEMBER_REFS = Sql.of(
    "SELECT k.ref, i.user_id FROM unnest(CAST(:refs AS text[])) AS k(ref), "
    "LATERAL (SELECT user_id FROM identities WHERE partner_id = :p AND ref = k.ref OFFSET 0) AS i"
)
_CAN_EARN = (
    "SELECT a.user_id FROM citizen_accounts a JOIN users u ON u.id = a.user_id "
    "WHERE a.user_id = ANY(CAST(:ids AS uuid[])) AND u.erased_at IS NULL "
)
_EXISTING = Sql.of(_CAN_EARN)
_LOCK = Sql.of(_CAN_EARN + "ORDER BY a.user_id FOR UPDATE OF a")
_LOCK_AVAILABLE = Sql.of(_CAN_EARN + "ORDER BY a.user_id FOR UPDATE OF a SKIP LOCKED")


async def resolve_member_refs(conn: asyncpg.Connection, partner_id: uuid.UUID, refs: Sequence[str]) -> dict[str, uuid.UUID]:
    if not refs:
        return {}
    rows = await conn.fetch(_MEMBER_REFS.text, *_MEMBER_REFS.args({"p": partner_id, "refs": list(refs)}))
    return {r["ref"]: r["user_id"] for r in rows}


_STORED_KEYS = Sql.of(
    "SELECT k.external_id, s.request_hash, s.status_code, s.response FROM unnest(CAST(:ids AS text[])) AS k(external_id), "
    "LATERAL (SELECT request_hash, status_code, response FROM activity_keys "
    "WHERE partner_id = :p AND external_id = k.external_id OFFSET 0) AS s"
)


async def stored_keys(conn: asyncpg.Connection, partner_id: uuid.UUID, external_ids: Sequence[str]) -> dict[str, StoredKey]:
    """The answers the partner was already given for these ids."""
    if not external_ids:
        return {}
    rows = await conn.fetch(_STORED_KEYS.text, *_STORED_KEYS.args({"p": partner_id, "ids": list(external_ids)}))
    return {r["external_id"]: StoredKey(r["request_hash"], r["status_code"], r["response"]) for r in rows}


async def _users(conn: asyncpg.Connection, sql: Sql, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    # the lock order is the statement's ORDER BY; the list needs none
    return {r["user_id"] for r in await conn.fetch(sql.text, *sql.args({"ids": list(set(user_ids))}))}


async def existing_citizens(conn: asyncpg.Connection, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """The citizens that can earn: they exist and are not erased."""
    return await _users(conn, _EXISTING, user_ids)


async def lock_citizens(conn: asyncpg.Connection, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Hold the citizens' account rows until commit, waiting for them, in a fixed order (no deadlocks)."""
    return await _users(conn, _LOCK, user_ids)


async def lock_available_citizens(conn: asyncpg.Connection, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Hold those of the citizens' rows that no other transaction holds, without waiting."""
    return await _users(conn, _LOCK_AVAILABLE, user_ids)


@dataclass
class AwardContextRows:
    """What an award reads, in one round trip and one snapshot."""

    versions: dict[uuid.UUID, int]
    """Citizens that can earn (they exist and are not erased), with their account versions."""
    keys: dict[str, StoredKey]
    usage: dict[tuple[uuid.UUID, date, str], int]
    fingerprints: dict[tuple[uuid.UUID, str], uuid.UUID]
    steps: dict[tuple[uuid.UUID, date], int]
    campaigns: dict[str, campaigns.LiveCampaign]
    """Active campaigns whose window and regions could cover the batch, with their budget shards."""
    campaign_spend: dict[tuple[uuid.UUID, str], int]
    """Bonus points each citizen already got from each of those campaigns."""


# The accounts and the day's usage come as arrays (one element per row), which asyncpg decodes
# natively: parsing a thousand uuids and dates out of JSON text cost more than the query.
_CONTEXT_ACCOUNTS = """
    SELECT acc.users, acc.versions,"""
# Every lookup below is a probe per key (LATERAL ... OFFSET 0: never flattened into a join), so
# it is an index lookup on the table's primary key whatever the statistics said when the plan
# was cached. As joins, the generic plan made while a table was small (a fresh database) was a
# hash join over a sequential scan of the whole table, or a scan of all the partner's keys, and
# it stayed cached while the table grew: each award read everything earned so far.
_CONTEXT_KEYS = """
      (SELECT coalesce(json_agg(json_build_array(k.external_id, s.request_hash, s.status_code, s.response)), '[]')
         FROM unnest(CAST(:external_ids AS text[])) AS k(external_id),
         LATERAL (SELECT request_hash, status_code, response FROM activity_keys
                   WHERE partner_id = :partner AND external_id = k.external_id OFFSET 0) AS s),"""
_CONTEXT_USAGE = """
      used.users, used.days, used.families, used.points,"""
_CONTEXT_FINGERPRINTS = """
      (SELECT coalesce(json_agg(json_build_array(f.user_id, f.fingerprint, f.activity_id)), '[]')
         FROM unnest(CAST(:f_user AS uuid[]), CAST(:f_fp AS text[])) AS k(user_id, fingerprint),
         LATERAL (SELECT * FROM fingerprints WHERE user_id = k.user_id AND fingerprint = k.fingerprint OFFSET 0) AS f),"""
_CONTEXT_STEPS = """
      (SELECT coalesce(json_agg(json_build_array(s.user_id, s.day, s.steps)), '[]')
         FROM unnest(CAST(:s_user AS uuid[]), CAST(:s_day AS date[])) AS k(user_id, day),
         LATERAL (SELECT * FROM daily_steps WHERE user_id = k.user_id AND day = k.day OFFSET 0) AS s),"""
_NOTHING = """
      CAST('[]' AS json),"""
_CONTEXT_FROM = """
    FROM (SELECT array_agg(a.user_id) AS users, array_agg(a.version) AS versions
            FROM unnest(CAST(:users AS uuid[])) AS k(user_id),
            LATERAL (SELECT a.user_id, a.version FROM citizen_accounts a JOIN users u ON u.id = a.user_id
                      WHERE a.user_id = k.user_id AND u.erased_at IS NULL OFFSET 0) AS a) AS acc,
         (SELECT array_agg(d.user_id) AS users, array_agg(d.day) AS days, array_agg(d.family) AS families,
                 array_agg(d.points) AS points
            FROM unnest(CAST(:u_user AS uuid[]), CAST(:u_day AS date[]), CAST(:u_family AS text[])) AS k(user_id, day, family),
            LATERAL (SELECT * FROM daily_usage WHERE user_id = k.user_id AND day = k.day AND family = k.family OFFSET 0) AS d
         ) AS used"""


@functools.cache
def _context_statement(keys: bool, fingerprints: bool, steps: bool) -> Sql:
    """What an award reads, without the tables this batch has nothing to look up in (as for the write)."""
    return Sql.of(
        _CONTEXT_ACCOUNTS
        + (_CONTEXT_KEYS if keys else _NOTHING)
        + _CONTEXT_USAGE
        + (_CONTEXT_FINGERPRINTS if fingerprints else _NOTHING)
        + (_CONTEXT_STEPS if steps else _NOTHING)
        + campaigns.CONTEXT_CAMPAIGNS
        + _CONTEXT_FROM
    )


async def award_context(
    conn: asyncpg.Connection,
    *,
    users: Sequence[uuid.UUID],
    partner_id: uuid.UUID | None,
    external_ids: Sequence[str],
    usage_keys: Sequence[tuple[uuid.UUID, date, str]],
    fingerprint_keys: Sequence[tuple[uuid.UUID, str]],
    step_keys: Sequence[tuple[uuid.UUID, date]],
    regions: Sequence[str],
    occurred: tuple[datetime, datetime],
) -> AwardContextRows:
    """The citizens' account versions, stored answers for the partner's keys, points used per
    day and cap family, credited fingerprints and counted steps."""
    params = {
        "users": list(set(users)),
        "partner": partner_id,
        "external_ids": list(external_ids),
        "u_user": [k[0] for k in usage_keys],
        "u_day": [k[1] for k in usage_keys],
        "u_family": [k[2] for k in usage_keys],
        "f_user": [k[0] for k in fingerprint_keys],
        "f_fp": [k[1] for k in fingerprint_keys],
        "s_user": [k[0] for k in step_keys],
        "s_day": [k[1] for k in step_keys],
        "regions": list(set(regions)),
        "occ_min": occurred[0],
        "occ_max": occurred[1],
    }
    statement = _context_statement(keys=bool(external_ids), fingerprints=bool(fingerprint_keys), steps=bool(step_keys))
    row = await conn.fetchrow(statement.text, *statement.args(params))
    assert row is not None
    users, versions, keys, used_users, used_days, used_families, used_points, fps, steps, live, spend = (
        # SQLAlchemy's asyncpg dialect decodes json on its connections; a bare connection would not
        json.loads(part) if isinstance(part, str) else part
        for part in row
    )
    return AwardContextRows(
        versions=dict(zip(users or (), versions or (), strict=True)),
        keys={k[0]: StoredKey(k[1], k[2], k[3]) for k in keys},
        usage={
            (u, d, f): p
            for u, d, f, p in zip(used_users or (), used_days or (), used_families or (), used_points or (), strict=True)
        },
        fingerprints={(uuid.UUID(u), fp): uuid.UUID(a) for u, fp, a in fps},
        steps={(uuid.UUID(u), date.fromisoformat(d)): int(n) for u, d, n in steps},
        campaigns=campaigns.live_campaigns(live),
        campaign_spend={(uuid.UUID(u), str(c)): int(n) for u, c, n in spend},
    )


@dataclass(slots=True)
class ActivityRow:
    user_id: uuid.UUID
    id: uuid.UUID
    partner_id: uuid.UUID | None
    external_id: str | None
    scenario: str
    family: str
    status: str
    reason: str | None
    region: str
    occurred_at: datetime
    reported_at: datetime
    carbon_g: int
    points: int
    bonus_points: int
    methodology_id: str | None
    fingerprint: str | None
    station_id: uuid.UUID | None
    measurements: dict[str, Any]
    breakdown: dict[str, Any]


@dataclass(slots=True)
class KeyRow:
    partner_id: uuid.UUID
    external_id: str
    user_id: uuid.UUID
    activity_id: uuid.UUID
    request_hash: str
    status_code: int
    response: str


@dataclass(slots=True)
class LotRow:
    user_id: uuid.UUID
    posting_n: int
    earned_at: datetime
    expires_at: datetime
    points: int


@dataclass
class AwardWrite:
    """Everything a batch of evaluated activities adds beside its ledger postings."""

    activities: list[ActivityRow]
    keys: list[KeyRow]
    fingerprints: list[tuple[uuid.UUID, str, uuid.UUID, uuid.UUID | None]]
    usage: dict[tuple[uuid.UUID, date, str], int]
    steps: dict[tuple[uuid.UUID, date], int]
    lots: list[LotRow]
    """One per posting, `posting_n` numbering the postings from 1."""
    shard_spend: list[tuple[str, int, int]] = field(default_factory=list)
    """(campaign id, shard, points) taken from campaign budget shards; each must fit under its cap."""
    citizen_spend: dict[tuple[uuid.UUID, str], int] = field(default_factory=dict)


# The write is composed of the parts a batch needs: every table a statement names is opened
# and locked on every execution, even when its part has no rows, so a plain trip does not
# pay for campaign shards, fingerprints or steps. Each shape is its own prepared statement.
_SHARDS = """
    , camp_shards AS (
        UPDATE campaign_budget_shards s SET spent = s.spent + d.points
        FROM json_to_recordset(CAST(:shards AS json)) AS d(campaign_id uuid, shard int, points bigint)
        WHERE s.campaign_id = d.campaign_id AND s.shard = d.shard AND (s.cap IS NULL OR s.spent + d.points <= s.cap)
        RETURNING 1
    )"""
_CITIZEN_SPEND = """
    , camp_citizens AS (
        INSERT INTO campaign_citizen_spend (user_id, campaign_id, spent)
        SELECT * FROM json_to_recordset(CAST(:citizen_spend AS json)) AS t(user_id uuid, campaign_id uuid, spent bigint)
        ON CONFLICT (user_id, campaign_id) DO UPDATE SET spent = campaign_citizen_spend.spent + EXCLUDED.spent
    )"""
_ACTIVITIES = """
    , act AS (
        INSERT INTO activities (user_id, id, partner_id, external_id, scenario, family, status, reason, region,
                                occurred_at, reported_at, carbon_g, points, bonus_points, methodology_id,
                                fingerprint, station_id, measurements, breakdown)
        SELECT user_id, id, partner_id, external_id, scenario, family, status, reason, region,
               occurred_at, reported_at, carbon_g, points, bonus_points, methodology_id,
               fingerprint, station_id, measurements, breakdown
        FROM jsonb_to_recordset(CAST(:activities AS jsonb))  -- jsonb: nested documents are parsed once
             AS t(user_id uuid, id uuid, partner_id uuid, external_id text, scenario text, family text, status text,
                  reason text, region text, occurred_at timestamptz, reported_at timestamptz, carbon_g bigint,
                  points bigint, bonus_points bigint, methodology_id text, fingerprint text, station_id uuid,
                  measurements jsonb, breakdown jsonb)"""
# a bonus that no longer fits under its shard's cap (a concurrent award took the room)
# fails the whole statement with serialization_failure, and the batch is evaluated again
_SHARDS_FIT = """
        WHERE tanpu_expect_accounts(CAST(:shard_count AS bigint), (SELECT count(*) FROM camp_shards)) IS NOT NULL"""
_KEYS = """
    ), act_keys AS (
        INSERT INTO activity_keys (partner_id, external_id, user_id, activity_id, request_hash, status_code, response)
        SELECT * FROM json_to_recordset(CAST(:keys AS json))
             AS t(partner_id uuid, external_id text, user_id uuid, activity_id uuid, request_hash text,
                  status_code int, response text)"""
_FINGERPRINTS = """
    ), act_fps AS (
        INSERT INTO fingerprints (user_id, fingerprint, activity_id, partner_id)
        SELECT * FROM json_to_recordset(CAST(:fingerprints AS json))
             AS t(user_id uuid, fingerprint text, activity_id uuid, partner_id uuid)"""
_USAGE = """
    ), act_usage AS (
        INSERT INTO daily_usage (user_id, day, family, points)
        SELECT * FROM json_to_recordset(CAST(:usage AS json)) AS t(user_id uuid, day date, family text, points bigint)
        ON CONFLICT (user_id, day, family) DO UPDATE SET points = daily_usage.points + EXCLUDED.points"""
_STEPS = """
    ), act_steps AS (
        INSERT INTO daily_steps (user_id, day, steps)
        SELECT * FROM json_to_recordset(CAST(:steps AS json)) AS t(user_id uuid, day date, steps int)
        ON CONFLICT (user_id, day) DO UPDATE SET steps = GREATEST(daily_steps.steps, EXCLUDED.steps)"""
_LOTS = """
    ), lot_in AS (
        SELECT t.*, sum(t.points) OVER (PARTITION BY t.user_id) AS credited,
               sum(t.points) OVER (PARTITION BY t.user_id ORDER BY t.posting_n) - t.points AS before_this
        FROM json_to_recordset(CAST(:lots AS json))
             AS t(user_id uuid, posting_n int, earned_at timestamptz, expires_at timestamptz, points bigint)
    ), act_lots AS (
        -- Lots hold what can still be spent: sum(remaining) = max(balance, 0). Points that
        -- repay a negative balance (after a refund of spent points) get no lot to expire.
        INSERT INTO expiry_lots (user_id, posting_id, earned_at, expires_at, points, remaining)
        SELECT t.user_id, ids.id, t.earned_at, t.expires_at, t.points,
               GREATEST(0, LEAST(t.points,
                   GREATEST(0, ab.balance) - GREATEST(0, ab.balance - t.credited) - t.before_this))
        FROM lot_in t
        JOIN ids ON ids.n = t.posting_n
        JOIN a AS ab ON ab.user_id = t.user_id"""


@functools.cache
def _write_statement(
    shards: bool, citizen_spend: bool, keys: bool, fingerprints: bool, usage: bool, steps: bool, lots: bool
) -> Sql:
    """The write for a batch of this shape (which parts have rows)."""
    parts = [_SHARDS if shards else "", _CITIZEN_SPEND if citizen_spend else "", _ACTIVITIES, _SHARDS_FIT if shards else ""]
    for wanted, part in ((keys, _KEYS), (fingerprints, _FINGERPRINTS), (usage, _USAGE), (steps, _STEPS), (lots, _LOTS)):
        if wanted:
            parts.append(part)
    return Sql.of("WITH " + ledger.LEDGER_CTES + "".join(parts) + "\n    )" + ledger.LEDGER_RESULT)


async def write(
    conn: asyncpg.Connection,
    w: AwardWrite,
    postings: Sequence[Posting],
    deltas: Sequence[AccountDelta],
    *,
    created_by: str | None,
    now: datetime,
    expected_versions: dict[uuid.UUID, int] | None,
) -> list[ledger.PostedIds]:
    """Activities, keys, fingerprints, usage, steps, lots and the postings, in one statement.

    With `expected_versions` the statement fails with serialization_failure when any
    citizen it credits has changed since those versions were read.
    """
    params = ledger.ledger_params(postings, deltas, created_by=created_by, now=now, expected_versions=expected_versions)
    # one JSON document per table: far cheaper to encode than an array per column
    params |= {
        # the row dataclasses' fields are the recordsets' columns, and orjson writes dataclasses itself
        "activities": compact_json.dumps(w.activities),
        "keys": compact_json.dumps(w.keys),
        "fingerprints": compact_json.dumps(
            [{"user_id": u, "fingerprint": fp, "activity_id": a, "partner_id": partner} for u, fp, a, partner in w.fingerprints]
        ),
        "usage": compact_json.dumps([{"user_id": u, "day": d, "family": f, "points": n} for (u, d, f), n in w.usage.items()]),
        "steps": compact_json.dumps([{"user_id": u, "day": d, "steps": n} for (u, d), n in w.steps.items()]),
        "shards": compact_json.dumps([{"campaign_id": c, "shard": n, "points": p} for c, n, p in w.shard_spend]),
        "shard_count": len(w.shard_spend),
        "citizen_spend": compact_json.dumps(
            [{"user_id": u, "campaign_id": c, "spent": p} for (u, c), p in w.citizen_spend.items()]
        ),
        "lots": compact_json.dumps(w.lots),
    }
    statement = _write_statement(
        shards=bool(w.shard_spend),
        citizen_spend=bool(w.citizen_spend),
        keys=bool(w.keys),
        fingerprints=bool(w.fingerprints),
        usage=bool(w.usage),
        steps=bool(w.steps),
        lots=bool(w.lots),
    )
    rows = await conn.fetch(statement.text, *statement.args(params))
    return ledger.posted_ids(rows, params)


async def get_activity(session: AsyncSession, activity_id: uuid.UUID) -> Activity | None:
    result = await session.execute(
        text("SELECT * FROM activities WHERE id = :id"),
        {"id": activity_id},
    )
    row = result.mappings().first()
    return Activity.model_validate(dict(row)) if row is not None else None
