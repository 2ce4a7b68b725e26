"""Housekeeping: expired one-time codes and refresh-token families go a week after they expired."""

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.usecases.housekeeping import KEEP, trim_expired
from tests.factories import Factory, random_phone


def _hash() -> str:
    return hashlib.sha256(secrets.token_bytes(16)).hexdigest()


async def _otp(session: AsyncSession, phone: str, expires_at: datetime) -> None:
    await session.execute(
        text("INSERT INTO otp_codes (phone, code_hash, created_at, expires_at) VALUES (:p, :h, :c, :e)"),
        {"p": phone, "h": _hash(), "c": expires_at - timedelta(minutes=5), "e": expires_at},
    )


async def _token(session: AsyncSession, family: uuid.UUID, subject: uuid.UUID, expires_at: datetime) -> None:
    await session.execute(
        text(
            "INSERT INTO refresh_tokens (token_hash, family_id, subject_kind, subject_id, scope, issued_at, expires_at) "
            "VALUES (:h, :f, 'citizen', :s, 'citizen', :i, :e)"
        ),
        {"h": _hash(), "f": family, "s": subject, "i": expires_at - timedelta(days=30), "e": expires_at},
    )


async def _link_code(session: AsyncSession, user: uuid.UUID, bank: uuid.UUID, expires_at: datetime) -> None:
    await session.execute(
        text(
            "INSERT INTO bank_link_codes (code_hash, user_id, partner_id, scopes, created_at, expires_at) "
            "VALUES (:h, :u, :b, ARRAY['account:read'], :c, :e)"
        ),
        {"h": _hash(), "u": user, "b": bank, "c": expires_at - timedelta(minutes=10), "e": expires_at},
    )


async def _left(session: AsyncSession, phone: str, user: uuid.UUID) -> tuple[int, set[uuid.UUID], int]:
    otps = await session.scalar(text("SELECT count(*) FROM otp_codes WHERE phone = :p"), {"p": phone})
    families = set((await session.scalars(text("SELECT family_id FROM refresh_tokens WHERE subject_id = :u"), {"u": user})).all())
    codes = await session.scalar(text("SELECT count(*) FROM bank_link_codes WHERE user_id = :u"), {"u": user})
    return int(otps or 0), families, int(codes or 0)


async def test_expired_codes_and_whole_expired_families_go_a_week_after_expiry(
    factory: Factory, app: FastAPI, session: AsyncSession
) -> None:
    citizen, bank = await factory.citizen(), await factory.partner("bank")
    phone = random_phone()
    now = datetime.now(UTC)
    long_gone, lately = now - KEEP - timedelta(hours=1), now - KEEP + timedelta(hours=1)
    dead, rotating = uuid.uuid4(), uuid.uuid4()
    for expires_at in (long_gone, lately, now + timedelta(minutes=3)):
        await _otp(session, phone, expires_at)
        await _link_code(session, citizen.id, bank.id, expires_at)
    await _token(session, dead, citizen.id, long_gone)
    await _token(session, dead, citizen.id, long_gone - timedelta(days=1))
    await _token(session, rotating, citizen.id, long_gone)  # rotated long ago; its family lives on
    await _token(session, rotating, citizen.id, now + timedelta(days=20))
    await session.commit()

    trimmed = await trim_expired(app.state.sessionmaker, now=now)
    assert trimmed.otp_codes >= 1 and trimmed.link_codes >= 1 and trimmed.refresh_tokens >= 2
    assert await _left(session, phone, citizen.id) == (2, {rotating}, 2)
    tokens = await session.scalar(text("SELECT count(*) FROM refresh_tokens WHERE family_id = :f"), {"f": rotating})
    assert tokens == 2

    assert app.state.housekeeping_job is not None  # the same, hourly, inside `tanpu serve`
    await app.state.housekeeping_job.run_once()
    assert await _left(session, phone, citizen.id) == (2, {rotating}, 2)
