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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger import CITIZEN, AccountDelta, Posting, system_account_kind
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
    ), p AS (
        INSERT INTO postings (user_id, id, kind, posted_at, carbon_g, scenario, activity_id, campaign_id,
                              reverses_posting_id, memo, created_by, digest)
        SELECT t.user_id, ids.id, t.kind, t.posted_at, t.carbon_g, t.scenario, t.activity_id, t.campaign_id,
               t.reverses, t.memo, :created_by, t.digest
        FROM unnest(CAST(:p_user AS uuid[]), CAST(:p_kind AS text[]), CAST(:p_posted_at AS timestamptz[]),
                    CAST(:p_carbon AS bigint[]), CAST(:p_scenario AS text[]), CAST(:p_activity AS uuid[]),
                    CAST(:p_campaign AS uuid[]), CAST(:p_reverses AS bigint[]), CAST(:p_memo AS text[]),
                    CAST(:p_digest AS text[]))
             WITH ORDINALITY AS t(user_id, kind, posted_at, carbon_g, scenario, activity_id, campaign_id,
                                  reverses, memo, digest, n)
        JOIN ids ON ids.n = t.n
        RETURNING id, user_id
    ), e AS (
        INSERT INTO entries (user_id, posting_id, leg, account, kind, points, carbon_g, scenario,
                             activity_id, campaign_id, reverses_entry_id, posted_at)
        SELECT t.user_id, ids.id, t.leg, t.account, t.kind, t.points, t.carbon_g, t.scenario,
               t.activity_id, t.campaign_id, t.reverses, t.posted_at
        FROM unnest(CAST(:e_posting AS int[]), CAST(:e_user AS uuid[]), CAST(:e_leg AS int[]),
                    CAST(:e_account AS text[]), CAST(:e_kind AS text[]), CAST(:e_points AS bigint[]),
                    CAST(:e_carbon AS bigint[]), CAST(:e_scenario AS text[]), CAST(:e_activity AS uuid[]),
                    CAST(:e_campaign AS uuid[]), CAST(:e_reverses AS bigint[]), CAST(:e_posted_at AS timestamptz[]))
             AS t(posting_n, user_id, leg, account, kind, points, carbon_g, scenario, activity_id, campaign_id,
                  reverses, posted_at)
        JOIN ids ON ids.n = t.posting_n
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
        FROM unnest(CAST(:a_user AS uuid[]), CAST(:a_balance AS bigint[]), CAST(:a_earned AS bigint[]),
                    CAST(:a_spent AS bigint[]), CAST(:a_carbon AS bigint[]), CAST(:a_version AS bigint[]))
             AS d(user_id, balance, earned, spent, carbon, version)
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
    user_of = {u: uuid.UUID(u) for u in {p.user_id for p in postings}}  # parsing a UUID is not free
    per_user: dict[uuid.UUID, list[int]] = {}
    for posting, delta in zip(postings, deltas, strict=True):
        row = per_user.setdefault(user_of[posting.user_id], [0, 0, 0, 0])
        row[0] += delta.balance
        row[1] += delta.lifetime_earned
        row[2] += delta.lifetime_spent
        row[3] += delta.carbon_g
    legs = [(n, p, i, leg) for n, p in enumerate(postings, start=1) for i, leg in enumerate(p.legs, start=1)]
    system_codes = sorted({leg.account for p in postings for leg in p.legs if leg.account != CITIZEN})
    return {
        "count": len(postings),
        "created_by": created_by,
        "now": now,
        "p_user": [user_of[p.user_id] for p in postings],
        "p_kind": [str(p.kind) for p in postings],
        "p_posted_at": [p.posted_at for p in postings],
        "p_carbon": [p.carbon_g for p in postings],
        "p_scenario": [p.scenario for p in postings],
        "p_activity": [_uuid_or_none(p.activity_id) for p in postings],
        "p_campaign": [_uuid_or_none(p.campaign_id) for p in postings],
        "p_reverses": [p.reverses_posting_id for p in postings],
        "p_memo": [p.memo for p in postings],
        "p_digest": [p.digest() for p in postings],
        "e_posting": [n for n, _, _, _ in legs],
        "e_user": [user_of[p.user_id] for _, p, _, _ in legs],
        "e_leg": [i for _, _, i, _ in legs],
        "e_account": [leg.account for _, _, _, leg in legs],
        "e_kind": [str(p.kind) for _, p, _, _ in legs],
        "e_points": [leg.points for _, _, _, leg in legs],
        "e_carbon": [p.carbon_g if leg.account == CITIZEN else 0 for _, p, _, leg in legs],
        "e_scenario": [p.scenario for _, p, _, _ in legs],
        "e_activity": [_uuid_or_none(p.activity_id) for _, p, _, _ in legs],
        "e_campaign": [_uuid_or_none(p.campaign_id) for _, p, _, _ in legs],
        "e_reverses": [leg.reverses_entry_id for _, _, _, leg in legs],
        "e_posted_at": [p.posted_at for _, p, _, _ in legs],
        "s_code": system_codes,
        "s_kind": [str(system_account_kind(c)) for c in system_codes],
        "a_user": list(per_user),
        "a_balance": [v[0] for v in per_user.values()],
        "a_earned": [v[1] for v in per_user.values()],
        "a_spent": [v[2] for v in per_user.values()],
        "a_carbon": [v[3] for v in per_user.values()],
        "a_version": [expected_versions[u] for u in per_user] if expected_versions is not None else [None] * len(per_user),
        "a_count": len(per_user),
        "strict": expected_versions is not None,
    }


def posted_ids(rows: Sequence[Any], params: Mapping[str, Any]) -> list[PostedIds]:
    """What LEDGER_RESULT returned; an UnknownAccount when a citizen had no account row."""
    if rows and rows[0][4] != params["a_count"]:
        raise UnknownAccount(", ".join(str(u) for u in params["a_user"]))
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


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value is not None else None


@dataclass(frozen=True)
class StatementLine:
    id: int
    posted_at: datetime
    kind: str
    points: int
    carbon_g: int
    scenario: str | None
    activity_id: uuid.UUID | None
    campaign_id: uuid.UUID | None
    memo: str | None


async def citizen_statement(
    session: AsyncSession, user_id: uuid.UUID, *, before_id: int | None, limit: int
) -> list[StatementLine]:
    """The citizen's own entries, newest first, one index range scan per page."""
    rows = await session.execute(
        text(
            """
            SELECT e.id, e.posted_at, e.kind, e.points, e.carbon_g, e.scenario, e.activity_id, e.campaign_id, p.memo
            FROM entries e JOIN postings p ON p.user_id = e.user_id AND p.id = e.posting_id
            WHERE e.user_id = :user_id AND e.account = 'citizen' AND (CAST(:before AS bigint) IS NULL OR e.id < :before)
            ORDER BY e.id DESC
            LIMIT :limit
            """
        ),
        {"user_id": user_id, "before": before_id, "limit": limit},
    )
    return [StatementLine(*row) for row in rows]


async def carbon_by_scenario(session: AsyncSession, user_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(
        text(
            """
            SELECT scenario, sum(carbon_g) FROM entries
            WHERE user_id = :user_id AND account = 'citizen' AND scenario IS NOT NULL
            GROUP BY scenario HAVING sum(carbon_g) <> 0 ORDER BY scenario
            """
        ),
        {"user_id": user_id},
    )
    return {scenario: int(total) for scenario, total in rows}
