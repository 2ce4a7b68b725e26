"""PIPL: a citizen's export of every piece of personal data held, and erasure.

Both are lists of per-area steps: an area added later adds its own exporter
(session, user_id) -> JSON-able and eraser (Erasure) -> None here, and nothing
else changes (tests/service/test_privacy.py fails while a table naming a
citizen is neither exported nor said to be derived).

Erasure removes what identifies the person (phone, sign-in codes, member
references, sign-ins, bank links: their banks see the revocation in the feed) and keeps the ledger under the
now pseudonymous user id, so every total, report and `tanpu check-ledger`
stays true. Held redemptions are cancelled (nobody is left to fulfil them for).
"""

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from domain.levels import level_for
from service import leaderboards
from service.auth.deps import revoked_family_key, revoked_subject_key
from service.deps import after_commit
from service.repositories import lots as lots_repo
from service.repositories import personal_data as repo
from service.repositories import reference as reference_repo
from service.usecases import bank_links, redemptions

log = logging.getLogger(__name__)

EXPORT_FORMAT = "tanpu-export/1"

Exporter = Callable[[AsyncSession, uuid.UUID], Awaitable[Any]]


def _listing(sql: str) -> Exporter:
    async def export(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
        return await repo.rows(session, sql, user_id)

    return export


async def _profile(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any] | None:
    found = await repo.rows(session, repo.PROFILE, user_id)
    return found[0] if found else None


async def _account(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any] | None:
    found = await repo.rows(session, repo.ACCOUNT, user_id)
    if not found:
        return None
    level = level_for(found[0]["carbon_g_total"], await reference_repo.levels(session))
    return found[0] | {"level": None if level is None else {"level": level.level, "name": level.name}}


async def _bank_links(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    links: list[dict[str, Any]] = (await bank_links.links_and_consents(session, user_id))["bank_links"]
    return links


async def _bank_consents(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    consents: list[dict[str, Any]] = (await bank_links.links_and_consents(session, user_id))["bank_consents"]
    return consents


EXPORTERS: dict[str, Exporter] = {
    "profile": _profile,
    "account": _account,
    "identities": _listing(repo.IDENTITIES),
    "sign_ins": _listing(repo.SIGN_INS),
    "activities": _listing(repo.ACTIVITIES),
    "daily_steps": _listing(repo.STEPS),
    "ledger": _listing(repo.LEDGER),
    "expiry_lots": _listing(repo.LOTS),
    "redemptions": _listing(repo.REDEMPTIONS),
    "refunds": _listing(repo.REFUNDS),
    "bank_links": _bank_links,
    "bank_consents": _bank_consents,
}


async def export(session: AsyncSession, user_id: uuid.UUID, *, now: datetime) -> dict[str, Any]:
    """One JSON document with everything held about the citizen, read in one transaction."""
    document: dict[str, Any] = {"format": EXPORT_FORMAT, "exported_at": now.isoformat(), "user_id": str(user_id)}
    for name, exporter in EXPORTERS.items():
        document[name] = await exporter(session, user_id)
    return document


@dataclass(frozen=True)
class Erasure:
    """What every eraser is handed: the transaction, who, when, and Redis for after-commit work."""

    session: AsyncSession
    user_id: uuid.UUID
    now: datetime
    redis: Redis | None
    access_token_ttl_s: int


Eraser = Callable[[Erasure], Awaitable[None]]


async def _cancel_held_redemptions(e: Erasure) -> None:
    for redemption_id in await repo.held_redemptions(e.session, e.user_id):
        await redemptions.cancel(e.session, redemption_id, now=e.now, user_id=e.user_id)


async def _remove_identities(e: Erasure) -> None:
    await repo.remove_identities(e.session, e.user_id)


async def _revoke_sign_ins(e: Erasure) -> None:
    families = await repo.revoke_sign_ins(e.session, e.user_id, e.now)
    if e.redis is not None:
        ttl = e.access_token_ttl_s + 60  # outlives the longest access token (and the decoder's leeway)
        after_commit(e.session, functools.partial(_revoke_in_redis, e.redis, e.user_id, families, ttl))


async def _revoke_in_redis(redis: Redis, user_id: uuid.UUID, families: list[str], ttl: int) -> None:
    # Access tokens outlive their refresh token by minutes: these keys stop them now.
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.set(revoked_subject_key(str(user_id)), "1", ex=ttl)
        for family in families:
            pipe.set(revoked_family_key(family), "1", ex=ttl)
        await pipe.execute()
    except Exception:
        log.warning("redis unavailable: the erased citizen's access tokens live out their minutes")


async def _leave_leaderboards(e: Erasure) -> None:
    recorder: leaderboards.Recorder | None = e.session.info.get("leaderboards")
    if recorder is not None:
        after_commit(e.session, functools.partial(recorder.discard, str(e.user_id)))
    if e.redis is not None:
        regions = await repo.regions(e.session)
        after_commit(e.session, functools.partial(leaderboards.forget, e.redis, e.user_id, regions, e.now))


async def _remove_phone(e: Erasure) -> None:
    await repo.remove_phone(e.session, e.user_id, e.now)


async def _revoke_bank_links(e: Erasure) -> None:
    # each bank's reads fail from the commit on, and its feed carries the revocation
    await bank_links.revoke_all_links(e.session, e.user_id, reason="erasure", now=e.now)
    await repo.remove_bank_link_codes(e.session, e.user_id)
    await repo.forget_bank_customers(e.session, e.user_id)


ERASERS: list[Eraser] = [
    _revoke_bank_links,
    _cancel_held_redemptions,
    _remove_identities,
    _revoke_sign_ins,
    _leave_leaderboards,
    _remove_phone,  # last: the account is marked erased once everything above is done
]


async def erase(session: AsyncSession, user_id: uuid.UUID, *, now: datetime, access_token_ttl_s: int) -> bool:
    """Erase the citizen in one transaction: all of it, or (on any failure) nothing. False if already erased."""
    account = await lots_repo.lock_account(session, user_id)  # awards and redemptions wait, then see the erasure
    if account is None or account.erased:
        return False
    erasure = Erasure(session, user_id, now, session.info.get("redis"), access_token_ttl_s)
    for eraser in ERASERS:
        await eraser(erasure)
    return True
