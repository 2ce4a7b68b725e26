"""Every table that holds a citizen's personal data, read for export and cleared for erasure."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


async def rows(session: AsyncSession, sql: str, user_id: uuid.UUID) -> list[dict[str, Any]]:
    result = await session.execute(text(sql), {"u": user_id})
    return [{k: _plain(v) for k, v in row.items()} for row in result.mappings()]


PROFILE = "SELECT id, phone, region, created_at, erased_at FROM users WHERE id = :u"
ACCOUNT = "SELECT balance, lifetime_earned, lifetime_spent, carbon_g_total, updated_at FROM citizen_accounts WHERE user_id = :u"
IDENTITIES = "SELECT id, partner_id, kind, ref, created_at FROM identities WHERE user_id = :u ORDER BY created_at, id"
ACTIVITIES = """
    SELECT id, partner_id, external_id, scenario, status, reason, region, occurred_at, reported_at, carbon_g, points,
           bonus_points, methodology_id, fingerprint, station_id, measurements, breakdown
    FROM activities WHERE user_id = :u ORDER BY occurred_at, id
"""
LEDGER = """
    SELECT e.id, e.posted_at, e.kind, e.points, e.carbon_g, e.scenario, e.activity_id, e.campaign_id, p.memo
    FROM entries e JOIN postings p ON p.user_id = e.user_id AND p.id = e.posting_id
    WHERE e.user_id = :u AND e.account = 'citizen' ORDER BY e.id
"""
LOTS = "SELECT earned_at, expires_at, points, remaining FROM expiry_lots WHERE user_id = :u ORDER BY expires_at, id"
STEPS = "SELECT day, steps FROM daily_steps WHERE user_id = :u ORDER BY day"
REDEMPTIONS = """
    SELECT d.id, d.reward_id, r.name AS reward_name, d.points, d.status, d.code, d.created_at, d.completed_at, d.cancelled_at
    FROM redemptions d JOIN rewards r ON r.id = d.reward_id WHERE d.user_id = :u ORDER BY d.seq
"""
REFUNDS = """
    SELECT r.partner_id, r.refund_id, r.order_id, r.activity_id, r.created_at,
           coalesce((SELECT json_agg(json_build_object('sku', l.sku, 'quantity', l.quantity) ORDER BY l.sku)
                     FROM refund_lines l WHERE l.partner_id = r.partner_id AND l.refund_id = r.refund_id), '[]') AS lines
    FROM refunds r WHERE r.user_id = :u ORDER BY r.created_at, r.refund_id
"""
SIGN_INS = """
    SELECT family_id, min(issued_at) AS signed_in_at, max(issued_at) AS last_refreshed_at, max(revoked_at) AS revoked_at
    FROM refresh_tokens WHERE subject_kind = 'citizen' AND subject_id = :u GROUP BY family_id ORDER BY 2
"""


async def remove_phone(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> str | None:
    """Mark the citizen erased and drop the phone (and the sign-in codes sent to it); the phone it had."""
    phone = await session.scalar(text("SELECT phone FROM users WHERE id = :u FOR UPDATE"), {"u": user_id})
    await session.execute(text("UPDATE users SET phone = NULL, erased_at = :now WHERE id = :u"), {"u": user_id, "now": now})
    if phone is not None:
        await session.execute(text("DELETE FROM otp_codes WHERE phone = :p"), {"p": phone})
    return None if phone is None else str(phone)


async def remove_identities(session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.execute(text("DELETE FROM identities WHERE user_id = :u RETURNING id"), {"u": user_id})
    return len(result.all())


async def revoke_sign_ins(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> list[str]:
    """Revoke every refresh token of the citizen; the families revoked (their access tokens stop too)."""
    result = await session.execute(
        text(
            "UPDATE refresh_tokens SET revoked_at = :now WHERE subject_kind = 'citizen' AND subject_id = :u "
            "AND revoked_at IS NULL RETURNING family_id"
        ),
        {"u": user_id, "now": now},
    )
    return sorted({str(row[0]) for row in result})


async def remove_bank_link_codes(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Link codes asked for and not needed any more (a used one's link stays, revoked)."""
    await session.execute(text("DELETE FROM bank_link_codes WHERE user_id = :u"), {"u": user_id})


async def forget_bank_customers(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The banks' own customer numbers: they tie the pseudonymous ledger to a person at the bank.
    The links stay (revoked, by id: the feed and the consents name them), their customer is blanked."""
    await session.execute(text("UPDATE bank_links SET customer_ref = '' WHERE user_id = :u"), {"u": user_id})


async def held_redemptions(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    result = await session.execute(text("SELECT id FROM redemptions WHERE user_id = :u AND status = 'held'"), {"u": user_id})
    return [row[0] for row in result]


async def regions(session: AsyncSession) -> list[str]:
    return [str(r[0]) for r in await session.execute(text("SELECT code FROM regions ORDER BY code"))]
