"""SQL of the award pipeline: keys, member references, the citizens' locks and usage,
and the one statement that writes a batch of evaluated activities."""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.models import Activity
from service.repositories import raw
from service.repositories.raw import Sql


@dataclass(frozen=True)
class StoredKey:
    request_hash: str
    status_code: int
    response: str


_MEMBER_REFS = Sql.of("SELECT ref, user_id FROM identities WHERE partner_id = :p AND ref = ANY(CAST(:refs AS text[]))")
_LOCK = Sql.of(
    "SELECT a.user_id FROM citizen_accounts a JOIN users u ON u.id = a.user_id "
    "WHERE a.user_id = ANY(CAST(:ids AS uuid[])) AND u.erased_at IS NULL "
    "ORDER BY a.user_id FOR UPDATE OF a"
)


async def resolve_member_refs(session: AsyncSession, partner_id: uuid.UUID, refs: Sequence[str]) -> dict[str, uuid.UUID]:
    if not refs:
        return {}
    rows = await raw.fetch(session, _MEMBER_REFS, {"p": partner_id, "refs": list(refs)})
    return {r["ref"]: r["user_id"] for r in rows}


async def lock_citizens(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Hold the citizens' account rows until commit, in a fixed order (no deadlocks).

    Every award of a citizen passes here, so caps, step counts and fingerprints
    read after this are exact even under concurrent reports. Erased citizens
    are not found: nobody earns for an account that no longer exists.
    """
    rows = await raw.fetch(session, _LOCK, {"ids": sorted(set(user_ids))})
    return {r["user_id"] for r in rows}


@dataclass
class AwardContextRows:
    """What the pipeline reads under the citizens' locks, in one round trip."""

    keys: dict[str, StoredKey]
    usage: dict[tuple[uuid.UUID, date, str], int]
    fingerprints: dict[tuple[uuid.UUID, str], uuid.UUID]
    steps: dict[tuple[uuid.UUID, date], int]


_CONTEXT = Sql.of(
    """
    SELECT
      (SELECT coalesce(json_agg(json_build_array(external_id, request_hash, status_code, response)), '[]')
         FROM activity_keys WHERE partner_id = :partner AND external_id = ANY(CAST(:external_ids AS text[]))),
      (SELECT coalesce(json_agg(json_build_array(d.user_id, d.day, d.family, d.points)), '[]')
         FROM daily_usage d
         JOIN unnest(CAST(:u_user AS uuid[]), CAST(:u_day AS date[]), CAST(:u_family AS text[])) AS k(user_id, day, family)
           ON d.user_id = k.user_id AND d.day = k.day AND d.family = k.family),
      (SELECT coalesce(json_agg(json_build_array(f.user_id, f.fingerprint, f.activity_id)), '[]')
         FROM fingerprints f
         JOIN unnest(CAST(:f_user AS uuid[]), CAST(:f_fp AS text[])) AS k(user_id, fingerprint)
           ON f.user_id = k.user_id AND f.fingerprint = k.fingerprint),
      (SELECT coalesce(json_agg(json_build_array(s.user_id, s.day, s.steps)), '[]')
         FROM daily_steps s
         JOIN unnest(CAST(:s_user AS uuid[]), CAST(:s_day AS date[])) AS k(user_id, day)
           ON s.user_id = k.user_id AND s.day = k.day)
    """
)


async def award_context(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID | None,
    external_ids: Sequence[str],
    usage_keys: Sequence[tuple[uuid.UUID, date, str]],
    fingerprint_keys: Sequence[tuple[uuid.UUID, str]],
    step_keys: Sequence[tuple[uuid.UUID, date]],
) -> AwardContextRows:
    """Stored answers for the partner's keys, points used per day and cap family, credited
    fingerprints and counted steps. Read after the locks are held, in a fresh snapshot, so
    it sees everything committed by whoever held them before."""
    row = await raw.fetchrow(
        session,
        _CONTEXT,
        {
            "partner": partner_id,
            "external_ids": list(external_ids),
            "u_user": [k[0] for k in usage_keys],
            "u_day": [k[1] for k in usage_keys],
            "u_family": [k[2] for k in usage_keys],
            "f_user": [k[0] for k in fingerprint_keys],
            "f_fp": [k[1] for k in fingerprint_keys],
            "s_user": [k[0] for k in step_keys],
            "s_day": [k[1] for k in step_keys],
        },
    )
    assert row is not None
    keys, used, fps, steps = (json.loads(part) if isinstance(part, str) else part for part in row)
    return AwardContextRows(
        keys={k[0]: StoredKey(k[1], k[2], k[3]) for k in keys},
        usage={(uuid.UUID(u), date.fromisoformat(d), f): int(p) for u, d, f, p in used},
        fingerprints={(uuid.UUID(u), fp): uuid.UUID(a) for u, fp, a in fps},
        steps={(uuid.UUID(u), date.fromisoformat(d)): int(n) for u, d, n in steps},
    )


@dataclass
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


@dataclass
class KeyRow:
    partner_id: uuid.UUID
    external_id: str
    user_id: uuid.UUID
    activity_id: uuid.UUID
    request_hash: str
    status_code: int
    response: str


@dataclass
class LotRow:
    user_id: uuid.UUID
    posting_id: int
    earned_at: datetime
    expires_at: datetime
    points: int


@dataclass
class AwardWrite:
    """Everything a batch of evaluated activities adds beside the ledger postings."""

    activities: list[ActivityRow]
    keys: list[KeyRow]
    fingerprints: list[tuple[uuid.UUID, str, uuid.UUID, uuid.UUID | None]]
    usage: dict[tuple[uuid.UUID, date, str], int]
    steps: dict[tuple[uuid.UUID, date], int]
    lots: list[LotRow]


_WRITE = Sql.of(
    """
    WITH a AS (
        INSERT INTO activities (user_id, id, partner_id, external_id, scenario, family, status, reason, region,
                                occurred_at, reported_at, carbon_g, points, bonus_points, methodology_id,
                                fingerprint, station_id, measurements, breakdown)
        SELECT * FROM unnest(
            CAST(:a_user AS uuid[]), CAST(:a_id AS uuid[]), CAST(:a_partner AS uuid[]), CAST(:a_external AS text[]),
            CAST(:a_scenario AS text[]), CAST(:a_family AS text[]), CAST(:a_status AS text[]), CAST(:a_reason AS text[]),
            CAST(:a_region AS text[]), CAST(:a_occurred AS timestamptz[]), CAST(:a_reported AS timestamptz[]),
            CAST(:a_carbon AS bigint[]), CAST(:a_points AS bigint[]), CAST(:a_bonus AS bigint[]),
            CAST(:a_methodology AS text[]), CAST(:a_fingerprint AS text[]), CAST(:a_station AS uuid[]),
            CAST(:a_measurements AS jsonb[]), CAST(:a_breakdown AS jsonb[]))
    ), k AS (
        INSERT INTO activity_keys (partner_id, external_id, user_id, activity_id, request_hash, status_code, response)
        SELECT * FROM unnest(
            CAST(:k_partner AS uuid[]), CAST(:k_external AS text[]), CAST(:k_user AS uuid[]), CAST(:k_activity AS uuid[]),
            CAST(:k_hash AS text[]), CAST(:k_status AS int[]), CAST(:k_response AS text[]))
    ), f AS (
        INSERT INTO fingerprints (user_id, fingerprint, activity_id, partner_id)
        SELECT * FROM unnest(CAST(:f_user AS uuid[]), CAST(:f_fp AS text[]), CAST(:f_activity AS uuid[]),
                             CAST(:f_partner AS uuid[]))
    ), u AS (
        INSERT INTO daily_usage (user_id, day, family, points)
        SELECT * FROM unnest(CAST(:u_user AS uuid[]), CAST(:u_day AS date[]), CAST(:u_family AS text[]),
                             CAST(:u_points AS bigint[]))
        ON CONFLICT (user_id, day, family) DO UPDATE SET points = daily_usage.points + EXCLUDED.points
    ), s AS (
        INSERT INTO daily_steps (user_id, day, steps)
        SELECT * FROM unnest(CAST(:s_user AS uuid[]), CAST(:s_day AS date[]), CAST(:s_steps AS int[]))
        ON CONFLICT (user_id, day) DO UPDATE SET steps = GREATEST(daily_steps.steps, EXCLUDED.steps)
    ), l AS (
        INSERT INTO expiry_lots (user_id, posting_id, earned_at, expires_at, points, remaining)
        SELECT t.*, t.points FROM unnest(CAST(:l_user AS uuid[]), CAST(:l_posting AS bigint[]),
                                         CAST(:l_earned AS timestamptz[]), CAST(:l_expires AS timestamptz[]),
                                         CAST(:l_points AS bigint[])) AS t(user_id, posting_id, earned_at, expires_at, points)
    )
    SELECT 1
    """
)


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def write(session: AsyncSession, w: AwardWrite) -> None:
    acts = w.activities
    await raw.execute(
        session,
        _WRITE,
        {
            "a_user": [a.user_id for a in acts],
            "a_id": [a.id for a in acts],
            "a_partner": [a.partner_id for a in acts],
            "a_external": [a.external_id for a in acts],
            "a_scenario": [a.scenario for a in acts],
            "a_family": [a.family for a in acts],
            "a_status": [a.status for a in acts],
            "a_reason": [a.reason for a in acts],
            "a_region": [a.region for a in acts],
            "a_occurred": [a.occurred_at for a in acts],
            "a_reported": [a.reported_at for a in acts],
            "a_carbon": [a.carbon_g for a in acts],
            "a_points": [a.points for a in acts],
            "a_bonus": [a.bonus_points for a in acts],
            "a_methodology": [a.methodology_id for a in acts],
            "a_fingerprint": [a.fingerprint for a in acts],
            "a_station": [a.station_id for a in acts],
            "a_measurements": [_json(a.measurements) for a in acts],
            "a_breakdown": [_json(a.breakdown) for a in acts],
            "k_partner": [k.partner_id for k in w.keys],
            "k_external": [k.external_id for k in w.keys],
            "k_user": [k.user_id for k in w.keys],
            "k_activity": [k.activity_id for k in w.keys],
            "k_hash": [k.request_hash for k in w.keys],
            "k_status": [k.status_code for k in w.keys],
            "k_response": [k.response for k in w.keys],
            "f_user": [f[0] for f in w.fingerprints],
            "f_fp": [f[1] for f in w.fingerprints],
            "f_activity": [f[2] for f in w.fingerprints],
            "f_partner": [f[3] for f in w.fingerprints],
            "u_user": [k[0] for k in w.usage],
            "u_day": [k[1] for k in w.usage],
            "u_family": [k[2] for k in w.usage],
            "u_points": list(w.usage.values()),
            "s_user": [k[0] for k in w.steps],
            "s_day": [k[1] for k in w.steps],
            "s_steps": list(w.steps.values()),
            "l_user": [lot.user_id for lot in w.lots],
            "l_posting": [lot.posting_id for lot in w.lots],
            "l_earned": [lot.earned_at for lot in w.lots],
            "l_expires": [lot.expires_at for lot in w.lots],
            "l_points": [lot.points for lot in w.lots],
        },
    )


async def get_activity(session: AsyncSession, activity_id: uuid.UUID) -> Activity | None:
    result = await session.execute(
        text("SELECT * FROM activities WHERE id = :id"),
        {"id": activity_id},
    )
    row = result.mappings().first()
    return Activity.model_validate(dict(row)) if row is not None else None
