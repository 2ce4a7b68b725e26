"""Housekeeping (hourly inside `tanpu serve`): expired one-time codes and refresh tokens are
deleted a while after they expire. They can never be used again, and what they hold (phone
numbers, hashes, which bank a citizen meant to link) is personal data kept for no purpose.

KEEP leaves them a week past expiry, for support questions ("my code did not work") and for a
bank repeating a link code's presentation, which is answered with its link until the code goes.
Several instances running this at once is harmless: each deletes what the others did not.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.repositories import housekeeping as repo

KEEP = timedelta(days=7)


@dataclass(frozen=True)
class Trimmed:
    otp_codes: int
    link_codes: int
    refresh_tokens: int


async def trim_expired(sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime, keep: timedelta = KEEP) -> Trimmed:
    cutoff = now - keep
    async with sessionmaker() as session:
        trimmed = Trimmed(
            otp_codes=await repo.delete_expired_otp_codes(session, cutoff),
            link_codes=await repo.delete_expired_link_codes(session, cutoff),
            refresh_tokens=await repo.delete_expired_token_families(session, cutoff),
        )
        await session.commit()
    return trimmed
