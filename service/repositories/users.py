"""Citizens and their account rows."""

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.models import CitizenAccount, User


async def get_or_create_citizen(session: AsyncSession, *, phone: str, region: str) -> uuid.UUID:
    """The citizen with this phone, created (with an empty account) on first sign-in.

    Concurrent first sign-ins of one phone meet on the unique phone index.
    """
    new_id = uuid.uuid4()
    row = (
        await session.execute(
            text(
                """
                WITH u AS (
                    INSERT INTO users (id, phone, region) VALUES (:id, :phone, :region)
                    ON CONFLICT (phone) DO NOTHING RETURNING id
                ), a AS (
                    INSERT INTO citizen_accounts (user_id) SELECT id FROM u
                )
                SELECT id FROM u
                """
            ),
            {"id": new_id, "phone": phone, "region": region},
        )
    ).first()
    if row is not None:
        return uuid.UUID(str(row[0]))
    existing = (await session.execute(text("SELECT id FROM users WHERE phone = :phone"), {"phone": phone})).scalar_one()
    return uuid.UUID(str(existing))


async def get_citizen(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_account(session: AsyncSession, user_id: uuid.UUID) -> CitizenAccount | None:
    return await session.get(CitizenAccount, user_id)
