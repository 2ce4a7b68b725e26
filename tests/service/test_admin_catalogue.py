"""Administration of the green-product catalogue and of merchants' stores."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.calendar import local_day
from service.auth.tokens import Audience
from service.clock import utcnow
from service.usecases.demo import load_demo
from tests.factories import Actor, Factory

DEMO = Path(__file__).resolve().parents[2] / "seeds" / "demo"
# purchases judge certificates by today's date: a fixed date here would fail these tests once it passed
VALID_UNTIL = (utcnow() + timedelta(days=730)).date().isoformat()


def product(merchant_id: uuid.UUID, **over: Any) -> dict[str, Any]:
    body = {
        "merchant_id": str(merchant_id),
        "sku": f"LED-{uuid.uuid4().hex[:8]}",
        "name": "LED bulb 9 W E27",
        "category": "lighting",
        "carbon_g_per_unit": 31_800,
        "certification": {"scheme": "CQC energy-saving certification", "number": "CQC-24-0917", "valid_until": VALID_UNTIL},
    }
    return body | over


def as_stored(body: dict[str, Any]) -> dict[str, Any]:
    """An answer's timestamps as instants, so it compares with what the audit log kept."""
    return {k: datetime.fromisoformat(v) if k in ("created_at", "updated_at") else v for k, v in body.items()}


async def purchase(client: AsyncClient, merchant: Actor, citizen: Actor, store_id: str, skus: dict[str, int]) -> dict[str, Any]:
    body = {
        "order_id": f"o-{uuid.uuid4().hex}",
        "store_id": store_id,
        "user": {"user_id": str(citizen.id)},
        "purchased_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "lines": [{"sku": sku, "quantity": n, "amount_fen": 1990} for sku, n in skus.items()],
    }
    r = await client.post("/v1/purchases", json=body, headers=merchant.headers)
    assert r.status_code == 201, r.text
    answer: dict[str, Any] = r.json()
    return answer


def line_carbon(answer: dict[str, Any]) -> dict[str, int]:
    return {x["sku"]: x["carbon_g"] for x in answer["breakdown"]["lines"]}


async def audit_records(session: AsyncSession, target_id: str) -> list[Any]:
    rows = await session.execute(
        text("SELECT action, actor_kind, actor_id, before, after FROM audit_log WHERE target_id = :t ORDER BY id"),
        {"t": target_id},
    )
    return list(rows)


async def test_operators_add_products_that_any_admin_reads(client: AsyncClient, factory: Factory, session: AsyncSession) -> None:
    operator, auditor, merchant = (
        await factory.admin("operator"),
        await factory.admin("auditor"),
        await factory.partner("merchant"),
    )
    body = product(merchant.id)
    r = await client.post("/v1/admin/products", json=body, headers=operator.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert {k: created[k] for k in body} == body
    assert created["active"] is True and created["created_at"] == created["updated_at"]
    listed = (await client.get("/v1/admin/products", params={"merchant_id": str(merchant.id)}, headers=auditor.headers)).json()
    assert listed == {"items": [created], "next_cursor": None}
    by_sku = (await client.get("/v1/admin/products", params={"sku": body["sku"]}, headers=auditor.headers)).json()["items"]
    assert [p["id"] for p in by_sku] == [created["id"]]
    [record] = await audit_records(session, created["id"])
    assert (record.action, record.actor_kind, record.actor_id, record.before) == ("product.create", "admin", operator.id, None)
    assert as_stored(record.after) == as_stored(created)


async def test_the_same_sku_is_one_product_per_merchant_even_when_posted_at_once(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    operator, merchant, other = (
        await factory.admin("operator"),
        await factory.partner("merchant"),
        await factory.partner("merchant"),
    )
    body = product(merchant.id)
    answers = await asyncio.gather(*(client.post("/v1/admin/products", json=body, headers=operator.headers) for _ in range(5)))
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409, 409]
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"product_exists"}
    count = await session.scalar(text("SELECT count(*) FROM green_products WHERE merchant_id = :m"), {"m": merchant.id})
    assert count == 1
    assert (
        await session.scalar(
            text("SELECT count(*) FROM audit_log WHERE action = 'product.create' AND after->>'sku' = :s"), {"s": body["sku"]}
        )
        == 1
    )
    elsewhere = await client.post("/v1/admin/products", json=product(other.id, sku=body["sku"]), headers=operator.headers)
    assert elsewhere.status_code == 201  # skus are the merchant's own


async def test_products_need_an_active_merchant(client: AsyncClient, factory: Factory, session: AsyncSession) -> None:
    operator = await factory.admin("operator")
    metro, disabled = await factory.partner("transit"), await factory.partner("merchant")
    await session.execute(text("UPDATE partners SET disabled_at = now() WHERE id = :p"), {"p": disabled.id})
    await session.commit()
    for merchant_id in (uuid.uuid4(), metro.id, disabled.id):
        r = await client.post("/v1/admin/products", json=product(merchant_id), headers=operator.headers)
        assert (r.status_code, r.json()["code"]) == (422, "unknown_partner"), merchant_id


async def test_malformed_products_are_refused(client: AsyncClient, factory: Factory) -> None:
    operator, merchant = await factory.admin("operator"), await factory.partner("merchant")
    cert = product(merchant.id)["certification"]
    bad: list[dict[str, Any]] = [
        {"carbon_g_per_unit": 0},
        {"carbon_g_per_unit": -5},
        {"carbon_g_per_unit": 1_000_001},
        {"carbon_g_per_unit": 12.5},
        {"carbon_g_per_unit": "120"},
        {"category": "Lighting"},
        {"category": "green products"},
        {"category": "x" * 41},
        {"sku": "has space"},
        {"sku": ""},
        {"name": "   "},
        {"name": "LED\u0000bulb"},
        {"certification": cert | {"number": "CQC\n24"}},
        {"certification": cert | {"valid_until": "2027-13-01"}},
        {"certification": cert | {"valid_until": 1830297600}},
        {"certification": {k: v for k, v in cert.items() if k != "number"}},
        {"certification": cert | {"scheme": ""}},
        {"active": False},
        {"merchant_id": "not-a-uuid"},
    ]
    for over in bad:
        r = await client.post("/v1/admin/products", json=product(merchant.id) | over, headers=operator.headers)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), over
    missing = {k: v for k, v in product(merchant.id).items() if k != "category"}
    r = await client.post("/v1/admin/products", json=missing, headers=operator.headers)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    listed = (await client.get("/v1/admin/products", params={"merchant_id": str(merchant.id)}, headers=operator.headers)).json()
    assert listed["items"] == []


async def test_an_expired_certificate_may_be_recorded(client: AsyncClient, factory: Factory) -> None:
    # the catalogue keeps what the certificate says; a purchase after valid_until earns nothing
    operator, merchant = await factory.admin("operator"), await factory.partner("merchant")
    body = product(merchant.id)
    body["certification"]["valid_until"] = "2024-06-30"
    r = await client.post("/v1/admin/products", json=body, headers=operator.headers)
    assert (r.status_code, r.json()["certification"]["valid_until"]) == (201, "2024-06-30")


async def test_patch_changes_what_is_given_and_is_audited_with_before_and_after(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    operator, admin, merchant = await factory.admin("operator"), await factory.admin("admin"), await factory.partner("merchant")
    created = (await client.post("/v1/admin/products", json=product(merchant.id), headers=operator.headers)).json()
    new_cert = {"scheme": "China Green Product Certification", "number": "CGP-25-0001", "valid_until": "2028-06-30"}
    r = await client.patch(
        f"/v1/admin/products/{created['id']}",
        json={"name": "  LED bulb 8 W E27 ", "carbon_g_per_unit": 30_000, "certification": new_cert},
        headers=operator.headers,
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    unchanged = ("id", "merchant_id", "sku", "category", "active", "created_at")
    assert {k: patched[k] for k in unchanged} == {k: created[k] for k in unchanged}
    assert (patched["name"], patched["carbon_g_per_unit"], patched["certification"]) == ("LED bulb 8 W E27", 30_000, new_cert)
    assert as_stored(patched)["updated_at"] > as_stored(created)["updated_at"]
    off = await client.patch(f"/v1/admin/products/{created['id']}", json={"active": False}, headers=admin.headers)
    assert off.status_code == 200 and off.json()["active"] is False
    # the same values again change nothing: no write, no audit record
    same = await client.patch(
        f"/v1/admin/products/{created['id']}", json={"active": False, "category": "lighting"}, headers=operator.headers
    )
    assert same.json() == off.json()
    records = await audit_records(session, created["id"])
    assert [(r.action, r.actor_id) for r in records] == [
        ("product.create", operator.id),
        ("product.update", operator.id),
        ("product.update", admin.id),
    ]
    assert (as_stored(records[1].before), as_stored(records[1].after)) == (as_stored(created), as_stored(patched))
    assert (as_stored(records[2].before), as_stored(records[2].after)) == (as_stored(patched), as_stored(off.json()))
    active = await client.get(
        "/v1/admin/products", params={"merchant_id": str(merchant.id), "active": "true"}, headers=operator.headers
    )
    inactive = await client.get(
        "/v1/admin/products", params={"merchant_id": str(merchant.id), "active": "false"}, headers=operator.headers
    )
    assert (active.json()["items"], [p["id"] for p in inactive.json()["items"]]) == ([], [created["id"]])


async def test_bad_patches_are_refused(client: AsyncClient, factory: Factory, session: AsyncSession) -> None:
    operator, merchant, other = (
        await factory.admin("operator"),
        await factory.partner("merchant"),
        await factory.partner("merchant"),
    )
    created = (await client.post("/v1/admin/products", json=product(merchant.id), headers=operator.headers)).json()
    path = f"/v1/admin/products/{created['id']}"
    bad: list[dict[str, Any]] = [
        {},
        {"sku": "OTHER-SKU"},
        {"merchant_id": str(other.id)},
        {"name": None},
        {"active": None},
        {"certification": None},
        {"active": "no"},
        {"carbon_g_per_unit": 0},
        {"category": "Not A Slug"},
        {"certification": {"scheme": "x", "number": "y"}},
        {"name": "ok", "id": str(uuid.uuid4())},
    ]
    for body in bad:
        r = await client.patch(path, json=body, headers=operator.headers)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), body
    missing = await client.patch(f"/v1/admin/products/{uuid.uuid4()}", json={"name": "x"}, headers=operator.headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    malformed = await client.patch("/v1/admin/products/42", json={"name": "x"}, headers=operator.headers)
    assert malformed.status_code == 422
    now = (await client.get("/v1/admin/products", params={"merchant_id": str(merchant.id)}, headers=operator.headers)).json()
    assert now["items"] == [created]
    assert [r.action for r in await audit_records(session, created["id"])] == ["product.create"]


async def test_only_operators_and_admins_write_the_catalogue(client: AsyncClient, factory: Factory) -> None:
    operator, auditor = await factory.admin("operator"), await factory.admin("auditor")
    merchant, citizen = await factory.partner("merchant"), await factory.citizen()
    created = (await client.post("/v1/admin/products", json=product(merchant.id), headers=operator.headers)).json()
    store = {"merchant_id": str(merchant.id), "name": "Nanjing East Rd", "region": "huangpu"}
    for headers, status in ((auditor.headers, 403), (merchant.headers, 401), (citizen.headers, 401), ({}, 401)):
        writes = [
            await client.post("/v1/admin/products", json=product(merchant.id), headers=headers),
            await client.patch(f"/v1/admin/products/{created['id']}", json={"active": False}, headers=headers),
            await client.post("/v1/admin/stores", json=store, headers=headers),
        ]
        assert [w.status_code for w in writes] == [status] * 3
    for headers in (merchant.headers, citizen.headers, {}):
        reads = [await client.get(p, headers=headers) for p in ("/v1/admin/products", "/v1/admin/stores")]
        assert [r.status_code for r in reads] == [401, 401]
    for path in ("/v1/admin/products", "/v1/admin/stores"):
        assert (await client.get(path, headers=auditor.headers)).status_code == 200


async def test_product_and_store_lists_are_cursor_paginated(client: AsyncClient, factory: Factory) -> None:
    operator, merchant = await factory.admin("operator"), await factory.partner("merchant")
    made = []
    for i in range(5):
        made.append(
            (await client.post("/v1/admin/products", json=product(merchant.id, sku=f"P-{i}"), headers=operator.headers)).json()
        )
        await client.post(
            "/v1/admin/stores",
            json={"merchant_id": str(merchant.id), "name": f"S-{i}", "region": "huangpu"},
            headers=operator.headers,
        )
    for path, key, expected in (
        ("/v1/admin/products", "sku", [p["sku"] for p in made]),
        ("/v1/admin/stores", "name", [f"S-{i}" for i in range(5)]),
    ):
        seen, cursor, pages = [], None, 0
        while True:
            params = {"merchant_id": str(merchant.id), "limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await client.get(path, params=params, headers=operator.headers)).json()
            seen += [item[key] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert (seen, pages) == (expected, 3), path
        whole = (
            await client.get(path, params={"merchant_id": str(merchant.id), "limit": 10_000}, headers=operator.headers)
        ).json()
        assert len(whole["items"]) == 5 and whole["next_cursor"] is None
        for params, code in (
            ({"sku": "a\x00b", "region": "a\x00b"}, "validation_error"),
            ({"cursor": "garbage!"}, "invalid_cursor"),
            ({"cursor": "aWQ6NDI"}, "invalid_cursor"),
            ({"limit": 0}, "validation_error"),
        ):
            r = await client.get(path, params=params, headers=operator.headers)
            assert (r.status_code, r.json()["code"]) == (422, code), params


async def test_stores_belong_to_active_merchants_in_known_regions(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    operator, auditor = await factory.admin("operator"), await factory.admin("auditor")
    merchant, recycler = await factory.partner("merchant"), await factory.partner("recycling")
    r = await client.post(
        "/v1/admin/stores",
        json={"merchant_id": str(merchant.id), "name": " Putuo 1 ", "region": "putuo"},
        headers=operator.headers,
    )
    assert r.status_code == 201, r.text
    store = r.json()
    assert {k: store[k] for k in ("merchant_id", "name", "region", "active")} == {
        "merchant_id": str(merchant.id),
        "name": "Putuo 1",
        "region": "putuo",
        "active": True,
    }
    await client.post(
        "/v1/admin/stores",
        json={"merchant_id": str(merchant.id), "name": "Huangpu 1", "region": "huangpu"},
        headers=operator.headers,
    )
    in_putuo = await client.get(
        "/v1/admin/stores", params={"merchant_id": str(merchant.id), "region": "putuo"}, headers=auditor.headers
    )
    assert in_putuo.json() == {"items": [store], "next_cursor": None}
    [record] = await audit_records(session, store["id"])
    assert (record.action, record.actor_id, record.before, as_stored(record.after)) == (
        "store.create",
        operator.id,
        None,
        as_stored(store),
    )
    bad = [
        ({"merchant_id": str(recycler.id), "name": "x", "region": "huangpu"}, "unknown_partner"),
        ({"merchant_id": str(uuid.uuid4()), "name": "x", "region": "huangpu"}, "unknown_partner"),
        ({"merchant_id": str(merchant.id), "name": "x", "region": "atlantis"}, "unknown_region"),
        ({"merchant_id": str(merchant.id), "name": "", "region": "huangpu"}, "validation_error"),
        ({"merchant_id": str(merchant.id), "name": "a\u0000b", "region": "huangpu"}, "validation_error"),
        ({"merchant_id": str(merchant.id), "name": "x", "region": "Huang Pu"}, "validation_error"),
        ({"merchant_id": str(merchant.id), "name": "x", "region": "huangpu", "active": False}, "validation_error"),
    ]
    for body, code in bad:
        r = await client.post("/v1/admin/stores", json=body, headers=operator.headers)
        assert (r.status_code, r.json()["code"]) == (422, code), body
    count = await session.scalar(text("SELECT count(*) FROM stores WHERE merchant_id = :m"), {"m": merchant.id})
    assert count == 2


async def test_demo_catalogue_loads_once_with_its_fixed_ids(app: FastAPI, client: AsyncClient, factory: Factory) -> None:
    for _ in range(2):
        async with app.state.sessionmaker() as s, s.begin():
            summary = await load_demo(s, DEMO, production=False)
    assert summary.created == 0  # the second run finds everything there
    assert len(summary.stores) == 4 and len(summary.products) == 8
    auditor = await factory.admin("auditor")
    huangpu, putuo = "7a000000-0000-4000-8000-000000000001", "7a000000-0000-4000-8000-000000000002"
    stores = (await client.get("/v1/admin/stores", params={"merchant_id": putuo}, headers=auditor.headers)).json()["items"]
    assert {(s["id"], s["region"]) for s in stores} == {
        ("5e000000-0000-4000-8000-000000000003", "putuo"),
        ("5e000000-0000-4000-8000-000000000004", "putuo"),
    }
    products = (await client.get("/v1/admin/products", params={"merchant_id": huangpu}, headers=auditor.headers)).json()["items"]
    assert len(products) == 4 and all(p["carbon_g_per_unit"] > 0 for p in products)
    today = local_day(utcnow())
    expired = [p["sku"] for p in products if date.fromisoformat(p["certification"]["valid_until"]) < today]
    assert expired == ["DEMO-BAG-RPET"]
    # the others are valid for two years from the day the demo was seeded, whenever that is
    assert {date.fromisoformat(p["certification"]["valid_until"]) for p in products if p["sku"] != "DEMO-BAG-RPET"} == {
        today + timedelta(days=730)
    }
    audit = (await client.get("/v1/admin/audit", params={"target_id": products[0]["id"]}, headers=auditor.headers)).json()
    assert [(a["action"], a["actor_kind"]) for a in audit["items"]] == [("product.create", "system")]
    # the seeded catalogue is what demo purchases are judged by; the expired certificate earns nothing
    citizen = await factory.citizen()
    putuo_merchant = Actor(uuid.UUID(putuo), factory.token(uuid.UUID(putuo), Audience.PARTNER, ["purchases:write"]))
    answer = await purchase(
        client, putuo_merchant, citizen, "5e000000-0000-4000-8000-000000000003", {"DEMO-SOAP-REFILL-1L": 2, "BREAD": 1}
    )
    assert line_carbon(answer) == {"DEMO-SOAP-REFILL-1L": 240, "BREAD": 0}
    huangpu_merchant = Actor(uuid.UUID(huangpu), factory.token(uuid.UUID(huangpu), Audience.PARTNER, ["purchases:write"]))
    answer = await purchase(
        client,
        huangpu_merchant,
        citizen,
        "5e000000-0000-4000-8000-000000000001",
        {"DEMO-DETERGENT-REFILL-2KG": 1, "DEMO-BAG-RPET": 3},
    )
    assert line_carbon(answer) == {"DEMO-DETERGENT-REFILL-2KG": 190, "DEMO-BAG-RPET": 0}
    [bag] = [x for x in answer["breakdown"]["lines"] if x["sku"] == "DEMO-BAG-RPET"]
    assert "expired on 2026-06-30" in bag["reason"]


async def test_catalogue_changes_apply_to_the_next_purchase(client: AsyncClient, factory: Factory) -> None:
    operator, merchant, citizen = await factory.admin("operator"), await factory.partner("merchant"), await factory.citizen()
    store = (
        await client.post(
            "/v1/admin/stores",
            json={"merchant_id": str(merchant.id), "name": "Zhenru", "region": "putuo"},
            headers=operator.headers,
        )
    ).json()
    refill = (
        await client.post(
            "/v1/admin/products", json=product(merchant.id, sku="REFILL", carbon_g_per_unit=120), headers=operator.headers
        )
    ).json()
    await client.post("/v1/admin/products", json=product(merchant.id, sku="TAP", carbon_g_per_unit=900), headers=operator.headers)
    before = await purchase(client, merchant, citizen, store["id"], {"REFILL": 2, "TAP": 1})
    assert line_carbon(before) == {"REFILL": 240, "TAP": 900}
    await client.patch(f"/v1/admin/products/{refill['id']}", json={"carbon_g_per_unit": 150}, headers=operator.headers)
    assert line_carbon(await purchase(client, merchant, citizen, store["id"], {"REFILL": 2, "TAP": 1})) == {
        "REFILL": 300,
        "TAP": 900,
    }
    await client.patch(f"/v1/admin/products/{refill['id']}", json={"active": False}, headers=operator.headers)
    after = await purchase(client, merchant, citizen, store["id"], {"REFILL": 2, "TAP": 1})
    assert line_carbon(after) == {"REFILL": 0, "TAP": 900}
    assert line_carbon(before) == {"REFILL": 240, "TAP": 900}  # what was awarded stays awarded
