"""The reference for quality.md's ratios: a bare FastAPI + asyncpg app doing the ledger write.

`POST /v1/admin/adjustments` with the real endpoint's request shape (JSON body validated by a
pydantic model, `Idempotency-Key` header required but not stored, no auth) writes the same rows in
the same tables of the same database: one posting, its two entries (citizen +points, the
`adjustment` system account -points) and the citizen's balance. No ORM, no idempotency record,
no audit row, no metrics: the floor a Python web stack can reach for this transaction.

BENCH_REFERENCE_MODE chooses how the transaction is sent:
- `cte` (default): one statement (a data-modifying CTE), one round trip, like service/repositories/ledger.py;
- `multi`: BEGIN; INSERT posting; INSERT 2 entries; UPDATE balance; COMMIT (five round trips).

The posting digest is computed with domain.ledger.digest_of so `tanpu check-ledger` accepts these rows.
Served by the harness: `uvicorn bench.reference_app:create --factory` with DATABASE_URL set.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, Field, StrictInt

from domain.ledger import digest_of

CREATED_BY = "bench:reference"

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


class AdjustmentIn(BaseModel):
    user_id: uuid.UUID
    points: StrictInt = Field(ge=-1_000_000, le=1_000_000)
    reason: str = Field(min_length=1, max_length=500)


def _dsn(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def create() -> FastAPI:
    dsn = _dsn(os.environ["DATABASE_URL"])
    pool_size = int(os.environ.get("BENCH_POOL_SIZE", "20"))
    mode = os.environ.get("BENCH_REFERENCE_MODE", "cte")
    if mode not in ("cte", "multi"):
        raise ValueError(f"BENCH_REFERENCE_MODE must be cte or multi, not {mode!r}")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Same ceiling as the app's engine (pool_size + the same overflow).
        app.state.pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=2 * pool_size)
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
        pool: asyncpg.Pool = request.app.state.pool
        async with pool.acquire() as conn:
            if mode == "cte":
                row = await conn.fetchrow(ONE_STATEMENT, body.user_id, now, memo, body.points, CREATED_BY, digest)
                if row is None:
                    raise HTTPException(404, "unknown citizen")
                posting_id, entry_id, balance = row["posting_id"], row["entry_id"], row["balance"]
            else:
                async with conn.transaction():
                    posting_id = await conn.fetchval(INSERT_POSTING, body.user_id, now, memo, CREATED_BY, digest)
                    entry_ids = await conn.fetch(INSERT_ENTRIES, body.user_id, posting_id, body.points, now)
                    entry_id = entry_ids[0]["id"]
                    balance = await conn.fetchval(UPDATE_BALANCE, body.user_id, body.points, now)
                    if balance is None:
                        raise HTTPException(404, "unknown citizen")
        return {
            "posting_id": posting_id,
            "entry_id": entry_id,
            "user_id": str(body.user_id),
            "points": body.points,
            "reason": memo,
            "balance": balance,
            "posted_at": now.isoformat(),
        }

    return app
