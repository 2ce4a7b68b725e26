"""`tanpu seed --demo`: demo administrators, partners, stores, green products and citizens, through the same use cases as
the CLI and the API, idempotently (a second run changes nothing). Never in production."""

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.calendar import local_day
from service.clock import utcnow
from service.repositories import identities as identities_repo
from service.repositories import rewards as rewards_repo
from service.repositories.catalogue import Certification
from service.repositories.users import get_or_create_citizen
from service.usecases import catalogue
from service.usecases.adjustments import post_adjustment
from service.usecases.admins import ensure_admin
from service.usecases.partners import create_partner


class DemoRefused(Exception):
    """Demo data (public passwords and secrets) must never reach a production database."""


@dataclass
class DemoSummary:
    admins: list[str] = field(default_factory=list)
    partners: list[str] = field(default_factory=list)
    citizens: list[str] = field(default_factory=list)
    stations: list[str] = field(default_factory=list)
    stores: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    created: int = 0


def _read(folder: Path, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((folder / name).read_text(encoding="utf-8"))
    return doc


async def load_demo(session: AsyncSession, folder: Path, *, production: bool) -> DemoSummary:
    if production:
        raise DemoRefused("demo seeds carry public passwords and secrets: refused with TANPU_ENV=production")
    summary = DemoSummary()
    admin_ids: dict[str, uuid.UUID] = {}
    for item in _read(folder, "admins.json")["admins"]:
        admin = await ensure_admin(session, username=item["username"], password=item["password"], role=item["role"])
        admin_ids[admin.username] = admin.id
        summary.admins.append(f"{admin.username} ({admin.role})")
        summary.created += admin.created
    partner_ids: dict[str, uuid.UUID] = {}
    for item in _read(folder, "partners.json")["partners"]:
        partner = await create_partner(
            session,
            kind=item["kind"],
            name=item["name"],
            region=item["region"],
            client_id=item["client_id"],
            client_secret=item["client_secret"],
            partner_id=uuid.UUID(item["id"]) if "id" in item else None,
        )
        summary.partners.append(f"{partner.client_id} ({item['kind']})")
        summary.created += partner.created
        partner_ids[partner.client_id] = partner.partner_id
    for item in _read(folder, "stations.json")["stations"]:
        summary.created += await _ensure_station(session, item, partner_ids[item["partner"]])
        summary.stations.append(f"{item['id']} ({item['region']})")
    await _load_catalogue(session, _read(folder, "catalogue.json"), partner_ids, summary)
    citizens = _read(folder, "citizens.json")
    granter = admin_ids[citizens["welcome_points_by"]]
    for item in citizens["citizens"]:
        user_id = await get_or_create_citizen(session, phone=item["phone"], region=item["region"])
        summary.citizens.append(f"{item['phone']} ({user_id})")
        for ref in item.get("identities", []):
            bound = await identities_repo.bind(session, user_id, partner_ids[ref["partner"]], ref["kind"], ref["ref"])
            if bound.user_id != user_id:
                raise ValueError(f"demo reference {ref['ref']} is bound to another citizen")
        points = int(item.get("welcome_points", 0))
        if points:
            # The adjustment's Idempotency-Key makes the welcome points a one-off, however often this runs.
            reason = "demo welcome points"
            body = {"user_id": str(user_id), "points": points, "reason": reason}
            _, replayed = await post_adjustment(
                session,
                admin_id=granter,
                idempotency_key=f"demo-welcome-{item['phone']}",
                body=body,
                user_id=user_id,
                points=points,
                reason=reason,
                now=utcnow(),
            )
            summary.created += not replayed
    summary.created += await _ensure_rewards(session, _read(folder, "rewards.json")["rewards"])
    return summary


async def _ensure_rewards(session: AsyncSession, items: list[dict[str, Any]]) -> int:
    """The demo catalogue, by fixed ids: a coupon made at redemption, a pool of codes, a manual donation."""
    created = 0
    for item in items:
        inserted = await session.execute(
            text(
                "INSERT INTO rewards (id, name, description, kind, fulfilment, points, stock, region) "
                "VALUES (:id, :name, :description, :kind, :fulfilment, :points, :stock, :region) "
                "ON CONFLICT (id) DO NOTHING RETURNING id"
            ),
            {k: item.get(k) for k in ("name", "description", "kind", "fulfilment", "points", "region")}
            | {"id": uuid.UUID(item["id"]), "stock": item.get("stock", 0)},
        )
        if inserted.first() is not None:
            created += 1
            if item.get("codes"):
                await rewards_repo.add_codes(session, uuid.UUID(item["id"]), item["codes"])
    return created


async def _ensure_station(session: AsyncSession, item: dict[str, Any], partner_id: uuid.UUID) -> int:
    inserted = await session.execute(
        text(
            "INSERT INTO stations (id, partner_id, name, region) VALUES (:id, :p, :n, :r) "
            "ON CONFLICT (id) DO NOTHING RETURNING id"
        ),
        {"id": uuid.UUID(item["id"]), "p": partner_id, "n": item["name"], "r": item["region"]},
    )
    return int(inserted.first() is not None)


def _valid_until(cert: dict[str, Any]) -> date:
    """A fixed date, or `valid_for_days` from today: demo certificates must not all expire on a
    calendar date (the demo, and the tests that seed it, would stop earning on that day)."""
    if "valid_for_days" in cert:
        return local_day(utcnow()) + timedelta(days=int(cert["valid_for_days"]))
    return date.fromisoformat(cert["valid_until"])


async def _load_catalogue(
    session: AsyncSession, doc: dict[str, Any], partner_ids: dict[str, uuid.UUID], summary: DemoSummary
) -> None:
    """The demo merchants' stores and products, by their fixed ids (already there: left as they are)."""
    for item in doc["stores"]:
        store, created = await catalogue.create_store(
            session,
            merchant_id=partner_ids[item["merchant"]],
            name=item["name"],
            region=item["region"],
            actor_id=None,
            store_id=uuid.UUID(item["id"]),
        )
        summary.stores.append(f"{store.id} ({store.region})")
        summary.created += created
    for item in doc["products"]:
        cert = item["certification"]
        product, created = await catalogue.create_product(
            session,
            merchant_id=partner_ids[item["merchant"]],
            sku=item["sku"],
            name=item["name"],
            category=item["category"],
            carbon_g_per_unit=int(item["carbon_g_per_unit"]),
            certification=Certification(cert["scheme"], cert["number"], _valid_until(cert)),
            actor_id=None,
            product_id=uuid.UUID(item["id"]),
        )
        summary.products.append(product.sku)
        summary.created += created
