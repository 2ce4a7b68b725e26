"""Writing and reading the ledger.

Postings are written in one statement (one round trip) however many there
are: the posting rows, their entries and the citizens' account rows together.
System accounts have no row to update, so concurrent awards for different
citizens never wait on each other.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger import CITIZEN, AccountDelta, Posting, system_account_kind
from domain.levels import Level
from domain.lots import OpenLot
from service import compact_json
from service.repositories import raw
from service.repositories.raw import Sql


class UnknownAccount(Exception):
    """The posting names a citizen who has no account."""


@dataclass(frozen=True)
class PostedIds:
    posting_id: int
    citizen_entry_id: int
    balance_after: int
    """The citizen's balance once every posting of the same write is applied."""


# The ledger's part of a write statement. Other writers (the award pipeline) put
# their own CTEs beside these in the same statement; theirs may join `ids`, the
# posting ids by posting number, to point at the postings.
LEDGER_CTES = """
    ids AS MATERIALIZED (
        -- posting ids are drawn once, so postings and their entries agree on them
        SELECT n, nextval('postings_id_seq') AS id FROM generate_series(1, CAST(:count AS int)) AS n
    ), pin AS MATERIALIZED (
        SELECT * FROM json_to_recordset(CAST(:postings AS json))
            AS t(n int, user_id uuid, kind text, posted_at timestamptz, carbon_g bigint, scenario text,
                 activity_id uuid, campaign_id uuid, reverses bigint, memo text, digest text)
    ), p AS (
        INSERT INTO postings (user_id, id, kind, posted_at, carbon_g, scenario, activity_id, campaign_id,
                              reverses_posting_id, memo, created_by, digest)
        SELECT pin.user_id, ids.id, pin.kind, pin.posted_at, pin.carbon_g, pin.scenario, pin.activity_id,
               pin.campaign_id, pin.reverses, pin.memo, :created_by, pin.digest
        FROM pin JOIN ids ON ids.n = pin.n
        RETURNING id, user_id
    ), e AS (
        INSERT INTO entries (user_id, posting_id, leg, account, kind, points, carbon_g, scenario,
                             activity_id, campaign_id, reverses_entry_id, posted_at)
        SELECT pin.user_id, ids.id, t.leg, t.account, pin.kind, t.points,
               CASE WHEN t.account = 'citizen' THEN pin.carbon_g ELSE 0 END,
               pin.scenario, pin.activity_id, pin.campaign_id, t.reverses, pin.posted_at
        FROM json_to_recordset(CAST(:entries AS json)) AS t(n int, leg int, account text, points bigint, reverses bigint)
        JOIN pin ON pin.n = t.n
        JOIN ids ON ids.n = t.n
        ORDER BY t.n, t.leg  -- entry ids ascend in leg order within a posting
        RETURNING id, posting_id, account
    ), sys AS (
        -- System accounts come into being with their first posting (a campaign's when it first pays).
        INSERT INTO system_accounts (code, kind)
        SELECT * FROM unnest(CAST(:s_code AS text[]), CAST(:s_kind AS text[]))
        ON CONFLICT DO NOTHING
    ), a AS (
        -- With expected versions (an optimistic award), a row that moved on is not updated,
        -- and tanpu_expect_accounts below fails the whole statement.
        UPDATE citizen_accounts AS ca
        SET balance = ca.balance + d.balance,
            lifetime_earned = ca.lifetime_earned + d.earned,
            lifetime_spent = ca.lifetime_spent + d.spent,
            carbon_g_total = ca.carbon_g_total + d.carbon,
            version = ca.version + 1,
            updated_at = :now
        FROM json_to_recordset(CAST(:accounts AS json))
             AS d(user_id uuid, balance bigint, earned bigint, spent bigint, carbon bigint, version bigint)
        WHERE ca.user_id = d.user_id AND (d.version IS NULL OR ca.version = d.version)
        RETURNING ca.user_id, ca.balance
    )"""

# joins, not correlated subqueries: a batch of 1,000 postings must stay linear
LEDGER_RESULT = """
    SELECT ids.n, ids.id, ec.id, ab.balance,
           CASE WHEN :strict THEN tanpu_expect_accounts(CAST(:a_count AS bigint), (SELECT count(*) FROM a))
                ELSE (SELECT count(*) FROM a) END
    FROM ids
    JOIN p ON p.id = ids.id
    LEFT JOIN e AS ec ON ec.posting_id = ids.id AND ec.account = 'citizen'
    LEFT JOIN a AS ab ON ab.user_id = p.user_id
    ORDER BY ids.n"""

_INSERT_POSTINGS = Sql.of("WITH " + LEDGER_CTES + LEDGER_RESULT)


def ledger_params(
    postings: Sequence[Posting],
    deltas: Sequence[AccountDelta],
    *,
    created_by: str | None,
    now: datetime,
    expected_versions: Mapping[uuid.UUID, int] | None = None,
) -> dict[str, Any]:
    """The parameters of LEDGER_CTES and LEDGER_RESULT for these postings.

    `deltas[i]` is what `postings[i]` does to its citizen's account row; several
    postings of one citizen are summed into one row update. With
    `expected_versions`, every touched row must still be at its version.
    """
    per_user: dict[str, dict[str, Any]] = {}
    for posting, delta in zip(postings, deltas, strict=True):
        row = per_user.get(posting.user_id)
        if row is None:
            version = expected_versions[uuid.UUID(posting.user_id)] if expected_versions is not None else None
            row = per_user[posting.user_id] = {
                "user_id": posting.user_id,
                "balance": 0,
                "earned": 0,
                "spent": 0,
                "carbon": 0,
                "version": version,
            }
        row["balance"] += delta.balance
        row["earned"] += delta.lifetime_earned
        row["spent"] += delta.lifetime_spent
        row["carbon"] += delta.carbon_g
    # Rows travel as one JSON document per table: far cheaper to encode than dozens of arrays.
    posting_rows = [
        {
            "n": n,
            "user_id": p.user_id,
            "kind": str(p.kind),
            "posted_at": p.posted_at,
            "carbon_g": p.carbon_g,
            "scenario": p.scenario,
            "activity_id": p.activity_id,
            "campaign_id": p.campaign_id,
            "reverses": p.reverses_posting_id,
            "memo": p.memo,
            "digest": p.digest(),
        }
        for n, p in enumerate(postings, start=1)
    ]
    entry_rows = [
        {"n": n, "leg": i, "account": leg.account, "points": leg.points, "reverses": leg.reverses_entry_id}
        for n, p in enumerate(postings, start=1)
        for i, leg in enumerate(p.legs, start=1)
    ]
    system_codes = sorted({leg.account for p in postings for leg in p.legs if leg.account != CITIZEN})
    return {
        "count": len(postings),
        "created_by": created_by,
        "now": now,
        "postings": compact_json.dumps(posting_rows),
        "entries": compact_json.dumps(entry_rows),
        "accounts": compact_json.dumps(list(per_user.values())),
        "s_code": system_codes,
        "s_kind": [str(system_account_kind(c)) for c in system_codes],
        "a_users": list(per_user),
        "a_count": len(per_user),
        "strict": expected_versions is not None,
    }


def posted_ids(rows: Sequence[Any], params: Mapping[str, Any]) -> list[PostedIds]:
    """What LEDGER_RESULT returned; an UnknownAccount when a citizen had no account row."""
    if rows and rows[0][4] != params["a_count"]:
        raise UnknownAccount(", ".join(params["a_users"]))
    return [PostedIds(posting_id=row[1], citizen_entry_id=row[2], balance_after=row[3]) for row in rows]


async def insert_postings(
    session: AsyncSession,
    postings: Sequence[Posting],
    deltas: Sequence[AccountDelta],
    *,
    created_by: str | None,
    now: datetime,
) -> list[PostedIds]:
    """Write postings, their entries and the citizens' account rows in one statement."""
    if not postings:
        return []
    params = ledger_params(postings, deltas, created_by=created_by, now=now)
    return posted_ids(await raw.fetch(session, _INSERT_POSTINGS, params), params)


async def insert_posting(session: AsyncSession, posting: Posting, delta: AccountDelta, *, created_by: str | None) -> PostedIds:
    [ids] = await insert_postings(session, [posting], [delta], created_by=created_by, now=posting.posted_at)
    return ids


async def citizen_balance(session: AsyncSession, user_id: uuid.UUID) -> int:
    balance = await session.scalar(text("SELECT balance FROM citizen_accounts WHERE user_id = :u"), {"u": user_id})
    if balance is None:
        raise UnknownAccount(str(user_id))
    return int(balance)


_STATEMENT = """
    SELECT e.id, e.posted_at, e.kind, e.points, e.carbon_g, e.scenario, e.activity_id, e.campaign_id, p.memo
    FROM entries e JOIN postings p ON p.user_id = e.user_id AND p.id = e.posting_id
    WHERE e.user_id = :user_id AND e.account = 'citizen'{page}
    ORDER BY e.id DESC
    LIMIT :limit"""
_STATEMENT_FIRST_PAGE = Sql.of(_STATEMENT.format(page=""))
_STATEMENT_PAGE = Sql.of(_STATEMENT.format(page=" AND e.id < :before"))


async def citizen_statement(
    session: AsyncSession, user_id: uuid.UUID, *, before_id: int | None, limit: int
) -> list[asyncpg.Record]:
    """The citizen's own entries, newest first, one index range scan per page; records with the
    columns id, posted_at, kind, points, carbon_g, scenario, activity_id, campaign_id, memo.
    One statement on the driver: no BEGIN/COMMIT around a read that is its own snapshot."""
    # `e.id < :before` only when paging on: with generic plans (service/database.py) an
    # `(:before IS NULL OR e.id < :before)` filter would scan every newer entry of the citizen.
    sql = _STATEMENT_PAGE if before_id is not None else _STATEMENT_FIRST_PAGE
    rows: list[asyncpg.Record] = await (await raw.connection(session)).fetch(
        *sql.call({"user_id": user_id, "before": before_id, "limit": limit})
    )
    return rows


@dataclass(frozen=True)
class AccountView:
    """A citizen's account as the app shows it, read in one statement (one snapshot)."""

    balance: int
    lifetime_earned: int
    lifetime_spent: int
    carbon_g_total: int
    carbon_g_by_scenario: dict[str, int]
    lots_due: list[OpenLot]
    """Open lots expiring by the horizon asked for, soonest first."""
    levels: list[Level]
    updated_at: datetime
    """When the account last moved: what the numbers are as of."""


# One round trip and no BEGIN/COMMIT: the account row, its carbon by scenario (entries), its lots
# due by the horizon, and the level thresholds (a few seed rows), as arrays the driver decodes.
_ACCOUNT_VIEW = Sql.of(
    """
    SELECT a.balance, a.lifetime_earned, a.lifetime_spent, a.carbon_g_total, a.updated_at,
           s.scenarios, s.carbon, l.ids, l.expires, l.remaining, l.points, v.levels, v.names, v.thresholds
    FROM citizen_accounts a
    CROSS JOIN LATERAL (
        SELECT array_agg(t.scenario ORDER BY t.scenario) AS scenarios, array_agg(t.total ORDER BY t.scenario) AS carbon
        FROM (
            SELECT scenario, sum(carbon_g) AS total FROM entries
            WHERE user_id = a.user_id AND account = 'citizen' AND scenario IS NOT NULL
            GROUP BY scenario HAVING sum(carbon_g) <> 0
        ) t
    ) s
    CROSS JOIN LATERAL (
        SELECT array_agg(id ORDER BY expires_at, id) AS ids, array_agg(expires_at ORDER BY expires_at, id) AS expires,
               array_agg(remaining ORDER BY expires_at, id) AS remaining, array_agg(points ORDER BY expires_at, id) AS points
        FROM expiry_lots WHERE user_id = a.user_id AND remaining > 0 AND expires_at <= :horizon
    ) l
    CROSS JOIN (
        SELECT array_agg(level ORDER BY min_carbon_g) AS levels, array_agg(name ORDER BY min_carbon_g) AS names,
               array_agg(min_carbon_g ORDER BY min_carbon_g) AS thresholds
        FROM levels
    ) v
    WHERE a.user_id = :user_id"""
)


async def account_view(session: AsyncSession, user_id: uuid.UUID, *, horizon: datetime) -> AccountView | None:
    """The citizen's account, or None when there is no such account."""
    row = await (await raw.connection(session)).fetchrow(*_ACCOUNT_VIEW.call({"user_id": user_id, "horizon": horizon}))
    if row is None:
        return None
    fields = tuple(row)
    balance, earned, spent, carbon, updated_at, scenarios, totals = fields[:7]
    ids, expires, remaining, points, levels, names, thresholds = fields[7:]
    return AccountView(
        balance=balance,
        lifetime_earned=earned,
        lifetime_spent=spent,
        carbon_g_total=carbon,
        carbon_g_by_scenario=dict(zip(scenarios or [], map(int, totals or []), strict=True)),
        lots_due=[OpenLot(*lot) for lot in zip(ids or [], expires or [], remaining or [], points or [], strict=True)],
        levels=[Level(*level) for level in zip(levels or [], names or [], thresholds or [], strict=True)],
        updated_at=updated_at,
    )
