"""Consented bank links: a citizen's link code, a bank presenting it, revocation, and what a bank may do.

Also what the erasure and export work (issue 6) needs: `revoke_all_links` and `links_and_consents`.
"""

import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.bank_links import (
    LINK_CODE_BYTES,
    LINK_CODE_TTL,
    CodeRefusal,
    StoredCode,
    canonical_scopes,
    format_link_code,
    is_replay,
    judge_code,
    link_code_digest,
)
from service.clock import utcnow
from service.problems import ProblemError
from service.repositories import banks as repo
from service.repositories.banks import LinkRow

_REFUSALS = {
    CodeRefusal.UNKNOWN: (404, "no such link code for this bank"),
    CodeRefusal.EXPIRED: (410, "this link code has expired: ask the customer for a new one"),
    CodeRefusal.USED: (409, "this link code was already used"),
}


async def create_link_code(
    session: AsyncSession, *, user_id: uuid.UUID, bank_id: uuid.UUID, scopes: list[str], now: datetime
) -> tuple[str, datetime, list[str]]:
    """A single-use code for `bank_id` carrying the consented scopes, valid for ten minutes."""
    bank = await repo.bank_partner(session, bank_id)
    if bank is None or bank.kind != "bank" or not bank.active:
        raise ProblemError(404, "unknown_bank", f"no bank {bank_id}")
    try:
        consented = canonical_scopes(scopes)
    except ValueError as exc:
        raise ProblemError(422, "invalid_scopes", str(exc)) from None
    code = format_link_code(secrets.token_bytes(LINK_CODE_BYTES))
    expires_at = now + LINK_CODE_TTL
    await repo.insert_code(
        session,
        code_hash=link_code_digest(code),
        user_id=user_id,
        bank_id=bank_id,
        scopes=consented,
        now=now,
        expires_at=expires_at,
    )
    return code, expires_at, consented


def link_answer(link: LinkRow) -> dict[str, Any]:
    return {
        "link_id": str(link.id),
        "scopes": list(link.scopes),
        "customer_ref": link.customer_ref,
        "created_at": link.created_at.isoformat(),
    }


async def accept_link_code(
    session: AsyncSession, *, bank_id: uuid.UUID, code: str, customer_ref: str, now: datetime
) -> tuple[dict[str, Any], bool]:
    """The bank presents a code: a new link (and the consent recorded), or, for the same code and
    customer_ref presented again, the link it already made (a replay)."""
    code_hash = link_code_digest(code)
    row = await repo.code_for_update(session, code_hash)
    stored = (
        StoredCode(bank_id=str(row.partner_id), expires_at=row.expires_at, used_at=row.used_at, customer_ref=row.customer_ref)
        if row and not row.erased
        else None
    )
    refusal = judge_code(stored, bank_id=str(bank_id), customer_ref=customer_ref, now=now)
    if refusal is not None:
        status, detail = _REFUSALS[refusal]
        raise ProblemError(status, str(refusal), detail)
    assert row is not None and stored is not None
    if is_replay(stored, customer_ref=customer_ref):
        link = await repo.get_link(session, row.link_id)
        assert link is not None
        return link_answer(link), True
    taken = await repo.live_link_of(session, bank_id=bank_id, customer_ref=customer_ref)
    if taken is not None and taken.user_id != row.user_id:
        raise ProblemError(409, "customer_ref_in_use", "this customer_ref is linked to another citizen")
    # a citizen has one live link per bank: a new consent replaces the old one
    await repo.revoke_links_to_bank(session, user_id=row.user_id, bank_id=bank_id, by="superseded", now=now)
    link = LinkRow(
        id=uuid.uuid4(),
        user_id=row.user_id,
        partner_id=bank_id,
        customer_ref=customer_ref,
        scopes=list(row.scopes),
        created_at=now,
        revoked_at=None,
        revoked_by=None,
    )
    await repo.insert_link(session, link)
    await repo.mark_code_used(session, code_hash, link_id=link.id, customer_ref=customer_ref, now=now)
    await repo.record_consent(session, link, action="granted", by="citizen", at=now)
    return link_answer(link), False


async def revoke_link(session: AsyncSession, *, user_id: uuid.UUID, link_id: uuid.UUID, now: datetime) -> None:
    """Revoke one of the citizen's links at once; revoking a revoked link again changes nothing."""
    revoked = await repo.revoke_links(session, user_id=user_id, link_id=link_id, by="citizen", now=now)
    if revoked:
        return
    link = await repo.get_link(session, link_id)
    if link is None or link.user_id != user_id:
        raise ProblemError(404, "not_found", f"no bank link {link_id}")


async def revoke_all_links(session: AsyncSession, user_id: uuid.UUID, *, reason: str, now: datetime | None = None) -> int:
    """Revoke every live link of the citizen (erasure: `reason="erasure"`): each bank's reads fail
    from the commit on and its feed carries the revocation. Returns how many were revoked."""
    revoked = await repo.revoke_links(session, user_id=user_id, link_id=None, by=reason, now=now or utcnow())
    return len(revoked)


async def links_and_consents(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """The citizen's bank links and every consent record, for the PIPL export."""
    links = await repo.links_of_citizen(session, user_id)
    return {
        "bank_links": [
            {**link_answer(link), "bank_id": str(link.partner_id), "bank_name": name, "revoked_at": _iso(link.revoked_at)}
            for link, name in links
        ],
        "bank_consents": [
            {
                "link_id": str(c["link_id"]),
                "bank_id": str(c["partner_id"]),
                "bank_name": c["bank_name"],
                "action": c["action"],
                "scopes": list(c["scopes"]),
                "by": c["by"],
                "at": c["at"].isoformat(),
            }
            for c in await repo.consents_of_citizen(session, user_id)
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def bank_link(session: AsyncSession, *, bank_id: uuid.UUID, link_id: uuid.UUID, scope: str) -> LinkRow:
    """The bank's live link with the consented `scope`: 404 if it is not this bank's, 403 if revoked
    or the citizen did not consent to that use."""
    link = await repo.get_link(session, link_id)
    if link is None or link.partner_id != bank_id:
        raise ProblemError(404, "unknown_link", f"no link {link_id} for this bank")
    if link.revoked_at is not None:
        raise ProblemError(403, "consent_revoked", "the customer revoked this link")
    if scope not in link.scopes:
        raise ProblemError(403, "consent_scope_missing", f"the customer did not consent to {scope}")
    return link
