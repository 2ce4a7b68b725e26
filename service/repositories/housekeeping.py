"""Deleting credentials nobody can use any more (their hashes are still personal data)."""

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def delete_expired_otp_codes(session: AsyncSession, cutoff: datetime) -> int:
    result = await session.execute(text("DELETE FROM otp_codes WHERE expires_at < :cutoff"), {"cutoff": cutoff})
    return int(result.rowcount)  # type: ignore[attr-defined]


async def delete_expired_link_codes(session: AsyncSession, cutoff: datetime) -> int:
    # a used code answers the bank's repeated presentation with its link until it goes
    result = await session.execute(text("DELETE FROM bank_link_codes WHERE expires_at < :cutoff"), {"cutoff": cutoff})
    return int(result.rowcount)  # type: ignore[attr-defined]


async def delete_expired_token_families(session: AsyncSession, cutoff: datetime) -> int:
    """Whole families only: a rotated token presented again revokes its family, so a family's
    old tokens stay while any of its tokens could still be used."""
    result = await session.execute(
        text(
            "DELETE FROM refresh_tokens WHERE family_id IN "
            "(SELECT family_id FROM refresh_tokens GROUP BY family_id HAVING max(expires_at) < :cutoff)"
        ),
        {"cutoff": cutoff},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
