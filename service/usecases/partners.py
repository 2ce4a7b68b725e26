"""Creating partners and their client credentials (`tanpu partners create`, the demo seed)."""

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.banks.ssrf import UnsafeWebhookUrl, check_webhook_url
from service import audit
from service.auth.passwords import hash_secret

SCOPES_BY_KIND: dict[str, tuple[str, ...]] = {
    "transit": ("travel:write",),
    "recycling": ("recycling:write",),
    "merchant": ("purchases:write",),
    "bank": ("bank",),
}
KINDS = tuple(SCOPES_BY_KIND)


class PartnerError(Exception):
    """A request to create a partner that cannot be carried out (the message says why)."""


class UnknownRegion(PartnerError):
    pass


class UnsafeWebhook(PartnerError):
    pass


@dataclass(frozen=True)
class PartnerCredentials:
    """What the partner is told once: the secret is stored only as a hash."""

    partner_id: uuid.UUID
    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]
    created: bool
    webhook_secret: str | None = None

    def shown_once(self) -> dict[str, Any]:
        shown = {
            "partner_id": str(self.partner_id),
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scopes": list(self.scopes),
        }
        if self.webhook_secret is not None:
            shown["webhook_secret"] = self.webhook_secret
        return shown


async def _check(session: AsyncSession, kind: str, name: str, region: str) -> None:
    if kind not in SCOPES_BY_KIND:
        raise PartnerError(f"unknown partner kind {kind!r}: one of {', '.join(KINDS)}")
    if not name.strip():
        raise PartnerError("the partner name must not be empty")
    known = (await session.execute(text("SELECT 1 FROM regions WHERE code = :r"), {"r": region})).first()
    if known is None:
        codes = (await session.execute(text("SELECT code FROM regions ORDER BY code"))).scalars().all()
        raise UnknownRegion(f"unknown region {region!r}: one of {', '.join(codes) or '(none: run `tanpu seed`)'}")


async def create_partner(
    session: AsyncSession,
    *,
    kind: str,
    name: str,
    region: str,
    client_id: str | None = None,
    client_secret: str | None = None,
    actor_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    webhook_url: str | None = None,
    allow_insecure_webhooks: bool = False,
) -> PartnerCredentials:
    """A new partner with fresh credentials (or the given ones and id: the demo seed's fixed ids).

    With a `client_id` that already exists nothing is changed and `created` is False
    (the secret is then not returned: it was shown when the partner was created).
    """
    await _check(session, kind, name, region)
    webhook_secret = None
    if webhook_url is not None:
        if kind != "bank":
            raise PartnerError("only banks receive webhooks")
        try:
            await check_webhook_url(webhook_url, allow_insecure=allow_insecure_webhooks)
        except UnsafeWebhookUrl as exc:
            raise UnsafeWebhook(f"webhook_url refused: {exc}") from None
        webhook_secret = f"whsec_{secrets.token_urlsafe(32)}"
    scopes = SCOPES_BY_KIND[kind]
    partner_id = partner_id or uuid.uuid4()
    client_id = client_id or f"cl_{secrets.token_hex(12)}"
    client_secret = client_secret or secrets.token_urlsafe(32)
    secret_hash = await asyncio.to_thread(hash_secret, client_secret)  # scrypt is slow on purpose: off the loop
    row = (
        await session.execute(
            text(
                "INSERT INTO partners (id, kind, name, region, client_id, client_secret_hash, scopes, "
                "webhook_url, webhook_secret) "
                "VALUES (:id, :kind, :name, :region, :client_id, :hash, :scopes, :webhook_url, :webhook_secret) "
                "ON CONFLICT (client_id) DO NOTHING RETURNING id"
            ),
            {
                "id": partner_id,
                "kind": kind,
                "name": name.strip(),
                "region": region,
                "client_id": client_id,
                "hash": secret_hash,
                "scopes": list(scopes),
                "webhook_url": webhook_url,
                "webhook_secret": webhook_secret,
            },
        )
    ).first()
    if row is None:
        existing = (await session.execute(text("SELECT id, scopes FROM partners WHERE client_id = :c"), {"c": client_id})).one()
        return PartnerCredentials(uuid.UUID(str(existing[0])), client_id, None, tuple(existing[1]), created=False)
    await audit.record(
        session,
        actor_kind="admin" if actor_id else "system",
        actor_id=actor_id,
        action="partner.create",
        target_kind="partner",
        target_id=str(partner_id),
        after={
            "kind": kind,
            "name": name.strip(),
            "region": region,
            "client_id": client_id,
            "scopes": list(scopes),
            "webhook_url": webhook_url,
        },
    )
    return PartnerCredentials(partner_id, client_id, client_secret, scopes, created=True, webhook_secret=webhook_secret)


async def rotate_secret(session: AsyncSession, partner_id: uuid.UUID, *, actor_id: uuid.UUID) -> PartnerCredentials | None:
    """A new client secret, shown once; the old one stops working at once (tokens already issued live out their hour)."""
    client_secret = secrets.token_urlsafe(32)
    secret_hash = await asyncio.to_thread(hash_secret, client_secret)
    row = (
        await session.execute(
            text("UPDATE partners SET client_secret_hash = :h WHERE id = :id RETURNING client_id, scopes"),
            {"h": secret_hash, "id": partner_id},
        )
    ).first()
    if row is None:
        return None
    await audit.record(
        session,
        actor_kind="admin",
        actor_id=actor_id,
        action="partner.rotate_secret",
        target_kind="partner",
        target_id=str(partner_id),
        after={"client_id": row.client_id},
    )
    return PartnerCredentials(partner_id, row.client_id, client_secret, tuple(row.scopes), created=True)
