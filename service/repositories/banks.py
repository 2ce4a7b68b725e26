"""SQL of the bank integration: codes, links, consents, the feed and its sequencer, statements."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

SEQUENCER_LOCK = 0x7A6E6271  # pg_advisory_xact_lock key: one sequencer at a time
SEQUENCE_BATCH = 5000


@dataclass(frozen=True)
class LinkRow:
    id: uuid.UUID
    user_id: uuid.UUID
    partner_id: uuid.UUID
    customer_ref: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None


_LINK_COLUMNS = "id, user_id, partner_id, customer_ref, scopes, created_at, revoked_at, revoked_by"


def _link(row: Any) -> LinkRow:
    return LinkRow(*row)


async def bank_partner(session: AsyncSession, partner_id: uuid.UUID) -> Any:
    return (
        await session.execute(
            text("SELECT id, name, kind, disabled_at IS NULL AS active FROM partners WHERE id = :id"), {"id": partner_id}
        )
    ).first()


async def insert_code(
    session: AsyncSession,
    *,
    code_hash: str,
    user_id: uuid.UUID,
    bank_id: uuid.UUID,
    scopes: list[str],
    now: datetime,
    expires_at: datetime,
) -> None:
    await session.execute(
        text(
            "INSERT INTO bank_link_codes (code_hash, user_id, partner_id, scopes, created_at, expires_at) "
            "VALUES (:h, :u, :p, :s, :now, :exp)"
        ),
        {"h": code_hash, "u": user_id, "p": bank_id, "s": scopes, "now": now, "exp": expires_at},
    )


async def code_for_update(session: AsyncSession, code_hash: str) -> Any:
    """The code's row, held until commit: two presentations of one code take turns."""
    return (
        await session.execute(
            text(
                "SELECT c.code_hash, c.user_id, c.partner_id, c.scopes, c.expires_at, c.used_at, c.link_id, c.customer_ref, "
                "u.erased_at IS NOT NULL AS erased "
                "FROM bank_link_codes c JOIN users u ON u.id = c.user_id WHERE c.code_hash = :h FOR UPDATE OF c"
            ),
            {"h": code_hash},
        )
    ).first()


async def mark_code_used(session: AsyncSession, code_hash: str, *, link_id: uuid.UUID, customer_ref: str, now: datetime) -> None:
    await session.execute(
        text("UPDATE bank_link_codes SET used_at = :now, link_id = :l, customer_ref = :c WHERE code_hash = :h"),
        {"now": now, "l": link_id, "c": customer_ref, "h": code_hash},
    )


async def get_link(session: AsyncSession, link_id: uuid.UUID) -> LinkRow | None:
    row = (await session.execute(text(f"SELECT {_LINK_COLUMNS} FROM bank_links WHERE id = :id"), {"id": link_id})).first()  # noqa: S608
    return _link(row) if row else None


async def live_link_of(
    session: AsyncSession, *, bank_id: uuid.UUID, user_id: uuid.UUID | None = None, customer_ref: str | None = None
) -> LinkRow | None:
    # Only the filters given, not `(:u IS NULL OR user_id = :u)`: statements run with generic
    # plans (service/database.py), which could not use the live-link indexes for such a filter.
    filters = "".join(
        (" AND user_id = :u" if user_id is not None else "", " AND customer_ref = :c" if customer_ref is not None else "")
    )
    row = (
        await session.execute(
            text(f"SELECT {_LINK_COLUMNS} FROM bank_links WHERE partner_id = :p AND revoked_at IS NULL{filters}"),  # noqa: S608
            {"p": bank_id, "u": user_id, "c": customer_ref},
        )
    ).first()
    return _link(row) if row else None


async def links_of_citizen(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[LinkRow, str]]:
    rows = await session.execute(
        text(
            f"SELECT {', '.join('l.' + c for c in _LINK_COLUMNS.split(', '))}, p.name FROM bank_links l "  # noqa: S608
            "JOIN partners p ON p.id = l.partner_id WHERE l.user_id = :u ORDER BY l.created_at DESC, l.id LIMIT 500"
        ),
        {"u": user_id},
    )
    return [(_link(r[:8]), r[8]) for r in rows]


async def insert_link(session: AsyncSession, link: LinkRow) -> None:
    await session.execute(
        text(
            "INSERT INTO bank_links (id, user_id, partner_id, customer_ref, scopes, created_at) VALUES (:id, :u, :p, :c, :s, :at)"
        ),
        {"id": link.id, "u": link.user_id, "p": link.partner_id, "c": link.customer_ref, "s": link.scopes, "at": link.created_at},
    )


async def revoke_links(
    session: AsyncSession, *, user_id: uuid.UUID, link_id: uuid.UUID | None, by: str, now: datetime
) -> list[LinkRow]:
    """Revoke the citizen's live links (one, or all): each gets a consent record and a revocation
    event in the feed, in this same transaction.

    The citizen's account row is locked first, as every ledger write locks it: a write in flight
    commits (with its feed event) before the revocation, and a later one finds the link revoked
    (its trigger reads the links after the lock is released), so nothing follows a revocation."""
    await session.execute(text("SELECT 1 FROM citizen_accounts WHERE user_id = :u FOR UPDATE"), {"u": user_id})
    rows = await session.execute(
        text(
            f"""
            WITH r AS (
                UPDATE bank_links SET revoked_at = :now, revoked_by = :by
                WHERE user_id = :u AND revoked_at IS NULL AND (CAST(:l AS uuid) IS NULL OR id = :l)
                RETURNING {_LINK_COLUMNS}
            ), c AS (
                INSERT INTO bank_consents (link_id, user_id, partner_id, action, scopes, by, at)
                SELECT id, user_id, partner_id, 'revoked', scopes, :by, :now FROM r
            ), e AS (
                INSERT INTO bank_events (partner_id, link_id, user_id, kind, points, carbon_g, occurred_at)
                SELECT partner_id, id, user_id, 'revocation', 0, 0, :now FROM r ORDER BY id
            )
            SELECT * FROM r ORDER BY id
            """  # noqa: S608 (column names)
        ),
        {"now": now, "by": by, "u": user_id, "l": link_id},
    )
    return [_link(r) for r in rows]


async def record_consent(session: AsyncSession, link: LinkRow, *, action: str, by: str, at: datetime) -> None:
    await session.execute(
        text(
            "INSERT INTO bank_consents (link_id, user_id, partner_id, action, scopes, by, at) "
            "VALUES (:l, :u, :p, :a, :s, :by, :at)"
        ),
        {"l": link.id, "u": link.user_id, "p": link.partner_id, "a": action, "s": link.scopes, "by": by, "at": at},
    )


async def consents_of_citizen(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT c.link_id, c.partner_id, p.name AS bank_name, c.action, c.scopes, c.by, c.at FROM bank_consents c "
            "JOIN partners p ON p.id = c.partner_id WHERE c.user_id = :u ORDER BY c.id"
        ),
        {"u": user_id},
    )
    return [dict(r._mapping) for r in rows]


_SEQUENCE = text(
    """
    WITH todo AS (
        SELECT id, row_number() OVER (ORDER BY id) AS n FROM bank_events WHERE seq IS NULL ORDER BY id LIMIT :batch
    ), base AS (
        SELECT coalesce(max(seq), 0) AS b FROM bank_events
    ), numbered AS (
        UPDATE bank_events e SET seq = base.b + todo.n FROM todo, base WHERE e.id = todo.id
        RETURNING e.id, e.seq, e.partner_id, e.link_id
    ), deliveries AS (
        INSERT INTO webhook_deliveries (event_id, partner_id, link_id, seq, status, attempts, next_attempt_at,
                                        deadline_at, created_at)
        SELECT n.id, n.partner_id, n.link_id, n.seq, 'pending', 0, :now, :deadline, :now
        FROM numbered n JOIN partners p ON p.id = n.partner_id
        WHERE p.webhook_url IS NOT NULL AND p.webhook_secret IS NOT NULL
    )
    SELECT count(*) FROM numbered
    """
)


async def sequence(session: AsyncSession, *, now: datetime, retry_for: timedelta) -> int:
    """Give the committed, unsequenced events their seq, in id order, after every seq given before.

    Under a transaction-scoped advisory lock, so sequencers take turns and each one's
    numbers become visible (at its commit) before the next one begins: a reader that
    has seen seq n can never later find a new event at or below n. Events whose
    transaction has not committed are invisible here and get a later seq once it has.
    """
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SEQUENCER_LOCK})
    # a new statement, so a new snapshot: it sees every sequencer that finished before the lock was ours
    count = (await session.execute(_SEQUENCE, {"batch": SEQUENCE_BATCH, "now": now, "deadline": now + retry_for})).scalar_one()
    return int(count)


async def changes(session: AsyncSession, *, bank_id: uuid.UUID, after_seq: int, limit: int) -> list[Any]:
    rows = await session.execute(
        text(
            """
            SELECT e.seq, e.id, e.link_id, l.customer_ref, e.kind, e.points, e.carbon_g, e.scenario, e.posting_id,
                   e.activity_id, e.occurred_at
            FROM bank_events e JOIN bank_links l ON l.id = e.link_id
            WHERE e.partner_id = :p AND e.seq > :after
            ORDER BY e.seq
            LIMIT :limit
            """
        ),
        {"p": bank_id, "after": after_seq, "limit": limit},
    )
    return list(rows)


async def statement_entries(session: AsyncSession, *, bank_id: uuid.UUID, start: datetime, end: datetime) -> list[Any]:
    rows = await session.execute(
        text(
            """
            SELECT e.posting_id, e.link_id, l.customer_ref, e.kind, e.points, e.carbon_g, e.scenario, e.occurred_at
            FROM bank_events e JOIN bank_links l ON l.id = e.link_id
            WHERE e.partner_id = :p AND e.posting_id IS NOT NULL AND e.occurred_at >= :start AND e.occurred_at < :end
            ORDER BY e.posting_id, e.link_id
            """
        ),
        {"p": bank_id, "start": start, "end": end},
    )
    return list(rows)


async def revoke_links_to_bank(session: AsyncSession, *, user_id: uuid.UUID, bank_id: uuid.UUID, by: str, now: datetime) -> None:
    live = await live_link_of(session, bank_id=bank_id, user_id=user_id)
    if live is not None:
        await revoke_links(session, user_id=user_id, link_id=live.id, by=by, now=now)
