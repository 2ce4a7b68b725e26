"""The reference for quality.md's ratios: a bare FastAPI + asyncpg app doing the ledger write.

`POST /v1/admin/adjustments` with the real endpoint's request shape (JSON body validated by a
pydantic model, `Idempotency-Key` header required but not stored, no auth) writes the same rows in
the same tables of the same database: one posting, its two entries (citizen +points, the
`adjustment` system account -points), the citizen's balance and the points' expiry lot (as every
credit has one; `tanpu check-ledger` checks the lots against the balance). No ORM, no idempotency record,
no audit row, no metrics: the floor a Python web stack can reach for this transaction.

BENCH_REFERENCE_MODE chooses how the transaction is sent:
- `cte` (default): one statement (a data-modifying CTE), one round trip, like service/repositories/ledger.py;
- `multi`: BEGIN; INSERT posting; INSERT 2 entries; UPDATE balance; INSERT lot; COMMIT (six round trips);
- `award` (travel only): the app's own SQL transaction for a trip, sent as the app sends it: its context
  read (account version, the partner's key, the day's usage, live campaigns), then its one write
  statement (activity, idempotency key, posting, 2 entries, account, lot, daily usage), both through
  service/repositories/activities.py on a bare asyncpg connection. Everything the app does around
  that SQL is left out: auth, the partner's facts, the methodology and caps (points = distance × a
  constant), the request digest (a sha256 of the raw body), SQLAlchemy, after-commit work, metrics.
  The activities are the partner BENCH_REFERENCE_PARTNER's (the bench makes one for the reference).

`POST /v1/activities/travel` (the travel benchmark, P1) takes the real endpoint's body shape
({external_id, user: {user_id}, mode, distance_m, started_at, ended_at}, validated by a pydantic
model of the same fields), turns the distance into points with one multiplication (no methodology,
no caps, no idempotency, no activity row) and writes the same posting + 2 entries + balance +
lot as the adjustment route, the memo being the external_id.

The posting digest is computed with domain.ledger.digest_of so `tanpu check-ledger` accepts these rows.
Served by the harness: `uvicorn bench.reference_app:create --factory` with DATABASE_URL set.
"""

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
import orjson
from fastapi import FastAPI, Header, HTTPException, Request, Response
from pydantic import AwareDatetime, BaseModel, Field, StrictInt

from domain import ledger
from domain.calendar import local_day, lot_expiry
from domain.ledger import digest_of
from service.repositories import activities

CREATED_BY = "bench:reference"
REGION = "huangpu"

ONE_STATEMENT = """
WITH p AS (
    INSERT INTO postings (user_id, kind, posted_at, carbon_g, memo, created_by, digest)
    VALUES ($1, 'adjustment', $2, 0, $3, $5, $6)
    RETURNING id
), e AS (
    INSERT INTO entries (user_id, posting_id, leg, account, kind, points, carbon_g, posted_at)
    SELECT $1, p.id, l.leg, l.account, 'adjustment', l.points, 0, $2
    FROM p, (VALUES (1, 'citizen', $4::bigint), (2, 'adjustment', -$4::bigint)) AS l(leg, account, points)
    RETURNING id, account
), a AS (
    UPDATE citizen_accounts SET balance = balance + $4, updated_at = $2 WHERE user_id = $1
    RETURNING balance
), l AS (
    INSERT INTO expiry_lots (user_id, posting_id, earned_at, expires_at, points, remaining)
    SELECT $1, p.id, $2, $7, $4, $4 FROM p WHERE $4::bigint > 0
)
SELECT p.id AS posting_id, (SELECT e.id FROM e WHERE e.account = 'citizen') AS entry_id, a.balance FROM p, a
"""

INSERT_POSTING = """
INSERT INTO postings (user_id, kind, posted_at, carbon_g, memo, created_by, digest)
VALUES ($1, 'adjustment', $2, 0, $3, $4, $5) RETURNING id
"""
INSERT_ENTRIES = """
INSERT INTO entries (user_id, posting_id, leg, account, kind, points, carbon_g, posted_at)
VALUES ($1, $2, 1, 'citizen', 'adjustment', $3, 0, $4), ($1, $2, 2, 'adjustment', 'adjustment', -$3::bigint, 0, $4)
RETURNING id
"""
UPDATE_BALANCE = "UPDATE citizen_accounts SET balance = balance + $2, updated_at = $3 WHERE user_id = $1 RETURNING balance"
INSERT_LOT = """
INSERT INTO expiry_lots (user_id, posting_id, earned_at, expires_at, points, remaining) VALUES ($1, $2, $3, $4, $5, $5)
"""


class AdjustmentIn(BaseModel):
    user_id: uuid.UUID
    points: StrictInt = Field(ge=-1_000_000, le=1_000_000)
    reason: str = Field(min_length=1, max_length=500)


class UserRefIn(BaseModel):
    user_id: uuid.UUID


class TravelIn(BaseModel):
    external_id: str = Field(min_length=1, max_length=128)
    user: UserRefIn
    mode: Literal["metro", "bus", "bike"]
    distance_m: StrictInt = Field(ge=1, le=10_000_000)
    started_at: AwareDatetime
    ended_at: AwareDatetime


GRAMS_PER_KM = {"metro": 46.8, "bus": 35.0, "bike": 40.0}
MODES = ("cte", "multi", "award")


def _dsn(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


async def _keep(connection: asyncpg.Connection) -> None:
    """What a released connection needs before its next request here: nothing (no session state is set)."""


def create() -> FastAPI:
    dsn = _dsn(os.environ["DATABASE_URL"])
    pool_size = int(os.environ.get("BENCH_POOL_SIZE", "20"))
    mode = os.environ.get("BENCH_REFERENCE_MODE", "cte")
    if mode not in MODES:
        raise ValueError(f"BENCH_REFERENCE_MODE must be one of {MODES}, not {mode!r}")
    partner = uuid.UUID(os.environ["BENCH_REFERENCE_PARTNER"]) if mode == "award" else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Same ceiling as the app's engine (pool_size + the same overflow).
        # No reset on release: asyncpg's default sends one more statement (RESET ALL, UNLISTEN *, ...)
        # each time a connection goes back to the pool, a round trip per request the app does not make
        # (SQLAlchemy's reset is a rollback, sent only when a transaction is open).
        # `award` sends the app's SQL, so it runs it as the app does: with generic plans (service/database.py);
        # re-planned at every execution, the award's write costs PostgreSQL several times its CPU.
        settings = {"plan_cache_mode": "force_generic_plan"} if mode == "award" else {}
        app.state.pool = await asyncpg.create_pool(
            dsn, min_size=pool_size, max_size=2 * pool_size, reset=_keep, server_settings=settings
        )
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title="Tanpu benchmark reference", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/admin/adjustments", status_code=201)
    async def create_adjustment(
        body: AdjustmentIn, request: Request, idempotency_key: Annotated[str, Header(alias="Idempotency-Key")]
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        memo = body.reason.strip()
        digest = digest_of(
            user_id=str(body.user_id),
            kind="adjustment",
            posted_at=now,
            carbon_g=0,
            scenario=None,
            activity_id=None,
            campaign_id=None,
            reverses_posting_id=None,
            memo=memo,
            legs=[("citizen", body.points, None), ("adjustment", -body.points, None)],
        )
        posting_id, entry_id, balance = await write(request.app.state.pool, body.user_id, now, memo, body.points, digest)
        return {
            "posting_id": posting_id,
            "entry_id": entry_id,
            "user_id": str(body.user_id),
            "points": body.points,
            "reason": memo,
            "balance": balance,
            "posted_at": now.isoformat(),
        }

    @app.post("/v1/activities/travel", status_code=201)
    async def report_trip(body: TravelIn, request: Request) -> Any:
        now = datetime.now(UTC)
        carbon_g = int(body.distance_m * GRAMS_PER_KM[body.mode] / 1000)
        if partner is not None:
            digest = hashlib.sha256(await request.body()).hexdigest()
            for attempt in range(1, 4):  # as the app does: a write that lost a race to another award is sent again
                try:
                    return await award_trip(request.app.state.pool, partner, body, digest, carbon_g, now)
                except asyncpg.SerializationError:
                    if attempt == 3:
                        raise
        points = carbon_g
        memo = body.external_id
        user_id = body.user.user_id
        digest = digest_of(
            user_id=str(user_id),
            kind="adjustment",
            posted_at=now,
            carbon_g=0,
            scenario=None,
            activity_id=None,
            campaign_id=None,
            reverses_posting_id=None,
            memo=memo,
            legs=[("citizen", points, None), ("adjustment", -points, None)],
        )
        posting_id, entry_id, balance = await write(request.app.state.pool, user_id, now, memo, points, digest)
        return {
            "activity_id": str(uuid.uuid4()),
            "status": "awarded",
            "scenario": f"travel.{body.mode}",
            "carbon_g": carbon_g,
            "points": points,
            "bonus_points": 0,
            "posting_id": posting_id,
            "entry_id": entry_id,
            "balance": balance,
        }

    async def award_trip(
        pool: asyncpg.Pool, partner_id: uuid.UUID, body: TravelIn, digest: str, carbon_g: int, now: datetime
    ) -> Response:
        user_id, day, scenario = body.user.user_id, local_day(body.ended_at), f"travel.{body.mode}"
        async with pool.acquire() as conn:
            context = await activities.award_context(
                conn,
                users=[user_id],
                partner_id=partner_id,
                external_ids=[body.external_id],
                usage_keys=[(user_id, day, "travel")],
                fingerprint_keys=[],
                step_keys=[],
                regions=[REGION],
                occurred=(body.ended_at, body.ended_at),
            )
            stored = context.keys.get(body.external_id)
            if stored is not None:
                return Response(stored.response, status_code=stored.status_code, media_type="application/json")
            if user_id not in context.versions:
                raise HTTPException(404, "unknown citizen")
            activity_id = uuid.uuid4()
            breakdown = {
                "methodology": "bench",
                "factor": {"name": scenario, "value": GRAMS_PER_KM[body.mode], "unit": "g CO2e/km"},
                "quantity": {"distance_m": body.distance_m},
                "carbon_g": carbon_g,
                "rate": {"points_per_g": 1},
                "points": carbon_g,
                "caps": [],
            }
            answer = orjson.dumps(
                {
                    "activity_id": str(activity_id),
                    "status": "awarded",
                    "scenario": scenario,
                    "carbon_g": carbon_g,
                    "points": carbon_g,
                    "bonus_points": 0,
                    "breakdown": breakdown,
                }
            ).decode()
            posting = ledger.transfer(
                user_id=str(user_id),
                kind=ledger.EntryKind.AWARD,
                system_account=ledger.issuance_account(scenario),
                points=carbon_g,
                posted_at=now,
                carbon_g=carbon_g,
                scenario=scenario,
                activity_id=str(activity_id),
            )
            rows = activities.AwardWrite(
                activities=[
                    activities.ActivityRow(
                        user_id=user_id,
                        id=activity_id,
                        partner_id=partner_id,
                        external_id=body.external_id,
                        scenario=scenario,
                        family="travel",
                        status="awarded",
                        reason=None,
                        region=REGION,
                        occurred_at=body.ended_at,
                        reported_at=now,
                        carbon_g=carbon_g,
                        points=carbon_g,
                        bonus_points=0,
                        methodology_id=None,
                        fingerprint=None,
                        station_id=None,
                        measurements=body.model_dump(mode="json", exclude={"external_id", "user"}),
                        breakdown=breakdown,
                    )
                ],
                keys=[activities.KeyRow(partner_id, body.external_id, user_id, activity_id, digest, 201, answer)],
                fingerprints=[],
                usage={(user_id, day, "travel"): carbon_g},
                steps={},
                lots=[activities.LotRow(user_id, 1, now, lot_expiry(now), carbon_g)],
            )
            await activities.write(
                conn,
                rows,
                [posting],
                [ledger.account_delta(posting.kind, carbon_g, carbon_g)],
                created_by=CREATED_BY,
                now=now,
                expected_versions={user_id: context.versions[user_id]},
            )
        return Response(answer, status_code=201, media_type="application/json")

    async def write(
        pool: asyncpg.Pool, user_id: uuid.UUID, now: datetime, memo: str, points: int, digest: str
    ) -> tuple[int, int, int]:
        async with pool.acquire() as conn:
            if mode == "cte":
                row = await conn.fetchrow(ONE_STATEMENT, user_id, now, memo, points, CREATED_BY, digest, lot_expiry(now))
                if row is None:
                    raise HTTPException(404, "unknown citizen")
                posting_id, entry_id, balance = row["posting_id"], row["entry_id"], row["balance"]
            else:
                async with conn.transaction():
                    posting_id = await conn.fetchval(INSERT_POSTING, user_id, now, memo, CREATED_BY, digest)
                    entry_ids = await conn.fetch(INSERT_ENTRIES, user_id, posting_id, points, now)
                    entry_id = entry_ids[0]["id"]
                    balance = await conn.fetchval(UPDATE_BALANCE, user_id, points, now)
                    if balance is None:
                        raise HTTPException(404, "unknown citizen")
                    if points > 0:
                        await conn.execute(INSERT_LOT, user_id, posting_id, now, lot_expiry(now), points)
        return posting_id, entry_id, balance

    return app
