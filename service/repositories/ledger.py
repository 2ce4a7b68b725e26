"""Writing and reading the ledger.

A posting is written in one statement (one round trip): the posting row, its
entries and the citizen's account row together. System accounts have no row to
update, so concurrent awards for different citizens never wait on each other.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger import CITIZEN, AccountDelta, Posting, system_account_kind


class UnknownAccount(Exception):
    """The posting names a citizen who has no account."""


@dataclass(frozen=True)
class PostedIds:
    posting_id: int
    citizen_entry_id: int
    balance: int


_INSERT_POSTING = text(
    """
    WITH p AS (
        INSERT INTO postings (user_id, kind, posted_at, carbon_g, scenario, activity_id, campaign_id,
                              reverses_posting_id, memo, created_by, digest)
        VALUES (:user_id, :kind, :posted_at, :carbon_g, :scenario, :activity_id, :campaign_id,
                :reverses_posting_id, :memo, :created_by, :digest)
        RETURNING id
    ), e AS (
        INSERT INTO entries (user_id, posting_id, leg, account, kind, points, carbon_g, scenario,
                             activity_id, campaign_id, reverses_entry_id, posted_at)
        SELECT :user_id, p.id, l.leg, l.account, :kind, l.points,
               CASE WHEN l.account = 'citizen' THEN :carbon_g ELSE 0 END,
               :scenario, :activity_id, :campaign_id, l.reverses, :posted_at
        FROM p, unnest(CAST(:accounts AS text[]), CAST(:points AS bigint[]), CAST(:reverses AS bigint[]))
             WITH ORDINALITY AS l(account, points, reverses, leg)
        RETURNING id, account
    ), s AS (
        -- System accounts come into being with their first posting (a campaign's when it first pays).
        INSERT INTO system_accounts (code, kind)
        SELECT * FROM unnest(CAST(:system_codes AS text[]), CAST(:system_kinds AS text[]))
        ON CONFLICT DO NOTHING
    ), a AS (
        UPDATE citizen_accounts
        SET balance = balance + :d_balance,
            lifetime_earned = lifetime_earned + :d_earned,
            lifetime_spent = lifetime_spent + :d_spent,
            carbon_g_total = carbon_g_total + :d_carbon,
            updated_at = :posted_at
        WHERE user_id = :user_id
        RETURNING balance
    )
    SELECT p.id, (SELECT e.id FROM e WHERE e.account = 'citizen'), a.balance FROM p, a
    """
)


async def insert_posting(session: AsyncSession, posting: Posting, delta: AccountDelta, *, created_by: str | None) -> PostedIds:
    system_legs = [leg.account for leg in posting.legs if leg.account != CITIZEN]
    row = (
        await session.execute(
            _INSERT_POSTING,
            {
                "user_id": uuid.UUID(posting.user_id),
                "kind": str(posting.kind),
                "posted_at": posting.posted_at,
                "carbon_g": posting.carbon_g,
                "scenario": posting.scenario,
                "activity_id": _uuid_or_none(posting.activity_id),
                "campaign_id": _uuid_or_none(posting.campaign_id),
                "reverses_posting_id": posting.reverses_posting_id,
                "memo": posting.memo,
                "created_by": created_by,
                "digest": posting.digest(),
                "accounts": [leg.account for leg in posting.legs],
                "points": [leg.points for leg in posting.legs],
                "reverses": [leg.reverses_entry_id for leg in posting.legs],
                "system_codes": system_legs,
                "system_kinds": [str(system_account_kind(code)) for code in system_legs],
                "d_balance": delta.balance,
                "d_earned": delta.lifetime_earned,
                "d_spent": delta.lifetime_spent,
                "d_carbon": delta.carbon_g,
            },
        )
    ).first()
    if row is None:
        raise UnknownAccount(posting.user_id)
    return PostedIds(posting_id=row[0], citizen_entry_id=row[1], balance=row[2])


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
