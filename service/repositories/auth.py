"""One-time codes, refresh tokens and the sign-in lookups of administrators and partners.

Every check that must hold under concurrency (a code used once, a refresh token
rotated once) is a single conditional UPDATE ... RETURNING: the row lock decides
who wins, never a read followed by a write.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.models import Admin, Partner


@dataclass(frozen=True)
class CodeCheck:
    matched: bool
    attempts: int


@dataclass(frozen=True)
class RefreshRow:
    family_id: uuid.UUID
    subject_kind: str
    subject_id: uuid.UUID
    scope: str
    used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime


async def invalidate_live_codes(session: AsyncSession, *, phone: str, now: datetime) -> None:
    """Retire the phone's unused codes: only the newest code sent is ever valid."""
    await session.execute(
        text("UPDATE otp_codes SET consumed_at = :now WHERE phone = :phone AND consumed_at IS NULL AND expires_at > :now"),
        {"phone": phone, "now": now},
    )


async def insert_code(session: AsyncSession, *, phone: str, code_hash: str, now: datetime, expires_at: datetime) -> None:
    await session.execute(
        text("INSERT INTO otp_codes (phone, code_hash, created_at, expires_at) VALUES (:phone, :hash, :now, :exp)"),
        {"phone": phone, "hash": code_hash, "now": now, "exp": expires_at},
    )


# One guess at the phone's live code: the attempt is counted and, on a match, the
# code consumed, in one statement. The outer WHERE repeats the conditions so a
# concurrent guess that waited on the row lock re-checks them on the new version.
# Comparing keyed hashes in SQL leaks nothing useful through timing: without the
# key nobody can aim a guess at a hash prefix.
_GUESS = text(
    """
    UPDATE otp_codes
       SET attempts = attempts + 1,
           consumed_at = CASE WHEN code_hash = :hash THEN :now ELSE consumed_at END
     WHERE id = (SELECT id FROM otp_codes
                  WHERE phone = :phone AND consumed_at IS NULL AND expires_at > :now AND attempts < :max
                  ORDER BY created_at DESC, id DESC LIMIT 1
                  FOR UPDATE)
       AND consumed_at IS NULL AND expires_at > :now AND attempts < :max
    RETURNING code_hash = :hash AS matched, attempts
    """
)


async def guess_code(session: AsyncSession, *, phone: str, code_hash: str, now: datetime, max_attempts: int) -> CodeCheck | None:
    """The outcome of one guess, or None when the phone has no live code (none sent, expired, used, exhausted)."""
    row = (await session.execute(_GUESS, {"phone": phone, "hash": code_hash, "now": now, "max": max_attempts})).first()
    return None if row is None else CodeCheck(matched=bool(row.matched), attempts=int(row.attempts))


async def admin_by_username(session: AsyncSession, username: str) -> Admin | None:
    return (await session.execute(select(Admin).where(col(Admin.username) == username))).scalar_one_or_none()


async def admin_by_id(session: AsyncSession, admin_id: uuid.UUID) -> Admin | None:
    return await session.get(Admin, admin_id)


async def partner_by_client_id(session: AsyncSession, client_id: str) -> Partner | None:
    return (await session.execute(select(Partner).where(col(Partner.client_id) == client_id))).scalar_one_or_none()


async def insert_refresh_token(
    session: AsyncSession,
    *,
    token_hash: str,
    family_id: uuid.UUID,
    subject_kind: str,
    subject_id: uuid.UUID,
    scope: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    await session.execute(
        text(
            """
            INSERT INTO refresh_tokens (token_hash, family_id, subject_kind, subject_id, scope, issued_at, expires_at)
            VALUES (:hash, :family, :kind, :subject, :scope, :now, :exp)
            """
        ),
        {
            "hash": token_hash,
            "family": family_id,
            "kind": subject_kind,
            "subject": subject_id,
            "scope": scope,
            "now": now,
            "exp": expires_at,
        },
    )


_RETURNING = "family_id, subject_kind, subject_id, scope, used_at, revoked_at, expires_at"


def _refresh_row(row: object) -> RefreshRow:
    return RefreshRow(**{name: getattr(row, name) for name in RefreshRow.__dataclass_fields__})


async def use_refresh_token(session: AsyncSession, *, token_hash: str, now: datetime) -> RefreshRow | None:
    """Mark a live refresh token used (once: a second caller gets None) and return it."""
    row = (
        await session.execute(
            text(
                f"""
                UPDATE refresh_tokens SET used_at = :now
                 WHERE token_hash = :hash AND used_at IS NULL AND revoked_at IS NULL AND expires_at > :now
                RETURNING {_RETURNING}
                """  # noqa: S608 -- a constant column list, no input
            ),
            {"hash": token_hash, "now": now},
        )
    ).first()
    return None if row is None else _refresh_row(row)


async def find_refresh_token(session: AsyncSession, token_hash: str) -> RefreshRow | None:
    row = (
        await session.execute(
            text(f"SELECT {_RETURNING} FROM refresh_tokens WHERE token_hash = :hash"),  # noqa: S608 -- constant columns
            {"hash": token_hash},
        )
    ).first()
    return None if row is None else _refresh_row(row)


async def revoke_family(session: AsyncSession, *, family_id: uuid.UUID, now: datetime) -> int:
    """Revoke every token of a sign-in; the number newly revoked."""
    result = await session.execute(
        text("UPDATE refresh_tokens SET revoked_at = :now WHERE family_id = :family AND revoked_at IS NULL"),
        {"family": family_id, "now": now},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
