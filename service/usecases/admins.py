"""Creating administrators (`tanpu admins create`, the demo seed)."""

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service import audit
from service.auth.passwords import hash_secret

ROLES = ("admin", "operator", "auditor")
MIN_PASSWORD_LENGTH = 8


class AdminError(Exception):
    """A request to create an administrator that cannot be carried out (the message says why)."""


class DuplicateAdmin(AdminError):
    pass


@dataclass(frozen=True)
class CreatedAdmin:
    id: uuid.UUID
    username: str
    role: str
    created: bool


def _validate(username: str, password: str, role: str) -> str:
    name = username.strip()
    if not name:
        raise AdminError("the username must not be empty")
    if role not in ROLES:
        raise AdminError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    return name


async def _insert(session: AsyncSession, username: str, password: str, role: str) -> uuid.UUID | None:
    row = (
        await session.execute(
            text(
                "INSERT INTO admins (id, username, password_hash, role) VALUES (:id, :username, :hash, :role) "
                "ON CONFLICT (username) DO NOTHING RETURNING id"
            ),
            {"id": uuid.uuid4(), "username": username, "hash": hash_secret(password), "role": role},
        )
    ).first()
    if row is None:
        return None
    admin_id = uuid.UUID(str(row[0]))
    await audit.record(
        session,
        actor_kind="system",
        actor_id=None,
        action="admin.create",
        target_kind="admin",
        target_id=str(admin_id),
        after={"username": username, "role": role},
    )
    return admin_id


async def create_admin(session: AsyncSession, *, username: str, password: str, role: str) -> CreatedAdmin:
    """A new administrator; an existing username is an error (DuplicateAdmin)."""
    name = _validate(username, password, role)
    admin_id = await _insert(session, name, password, role)
    if admin_id is None:
        raise DuplicateAdmin(f"an administrator named {name!r} already exists")
    return CreatedAdmin(admin_id, name, role, created=True)


async def ensure_admin(session: AsyncSession, *, username: str, password: str, role: str) -> CreatedAdmin:
    """Idempotent: the administrator with this username, created if missing (an existing one is left as it is)."""
    name = _validate(username, password, role)
    admin_id = await _insert(session, name, password, role)
    if admin_id is not None:
        return CreatedAdmin(admin_id, name, role, created=True)
    row = (await session.execute(text("SELECT id, role FROM admins WHERE username = :u"), {"u": name})).one()
    return CreatedAdmin(uuid.UUID(str(row[0])), name, str(row[1]), created=False)
