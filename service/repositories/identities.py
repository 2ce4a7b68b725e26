"""Member references bound by citizens, unique per partner."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class BoundIdentity:
    id: uuid.UUID
    user_id: uuid.UUID
    partner_id: uuid.UUID
    kind: str
    ref: str
    created_at: datetime


_COLUMNS = "id, user_id, partner_id, kind, ref, created_at"


async def bind(session: AsyncSession, user_id: uuid.UUID, partner_id: uuid.UUID, kind: str, ref: str) -> BoundIdentity:
    """The binding of (partner, ref): new, or the existing one (which may be another citizen's)."""
    row = (
        await session.execute(
            text(
                f"INSERT INTO identities (id, user_id, partner_id, kind, ref) VALUES (:id, :u, :p, :k, :r) "  # noqa: S608
                f"ON CONFLICT (partner_id, ref) DO NOTHING RETURNING {_COLUMNS}"
            ),
            {"id": uuid.uuid4(), "u": user_id, "p": partner_id, "k": kind, "r": ref},
        )
    ).first()
    if row is None:
        row = (
            await session.execute(
                text(f"SELECT {_COLUMNS} FROM identities WHERE partner_id = :p AND ref = :r"),  # noqa: S608
                {"p": partner_id, "r": ref},
            )
        ).one()
    return BoundIdentity(*row)


async def of_citizen(session: AsyncSession, user_id: uuid.UUID) -> list[BoundIdentity]:
    rows = await session.execute(
        text(f"SELECT {_COLUMNS} FROM identities WHERE user_id = :u ORDER BY created_at, id"),  # noqa: S608
        {"u": user_id},
    )
    return [BoundIdentity(*r) for r in rows]


async def unbind(session: AsyncSession, user_id: uuid.UUID, identity_id: uuid.UUID) -> bool:
    result = await session.execute(
        text("DELETE FROM identities WHERE id = :id AND user_id = :u RETURNING id"), {"id": identity_id, "u": user_id}
    )
    return result.first() is not None
