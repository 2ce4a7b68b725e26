"""GET /v1/admin/audit: the audit log for auditors and admins, newest first, filtered and paged."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Actor, Factory


async def make_stores(client: AsyncClient, operator: Actor, merchant: Actor, n: int) -> list[dict[str, Any]]:
    made = []
    for i in range(n):
        r = await client.post(
            "/v1/admin/stores",
            json={"merchant_id": str(merchant.id), "name": f"store {i}", "region": "huangpu"},
            headers=operator.headers,
        )
        assert r.status_code == 201, r.text
        made.append(r.json() | {"request_id": r.headers["x-request-id"]})
    return made


async def test_auditors_and_admins_read_the_log_and_no_one_else(client: AsyncClient, factory: Factory) -> None:
    auditor, admin, operator = await factory.admin("auditor"), await factory.admin("admin"), await factory.admin("operator")
    merchant, citizen = await factory.partner("merchant"), await factory.citizen()
    for actor in (auditor, admin):
        r = await client.get("/v1/admin/audit", headers=actor.headers)
        assert r.status_code == 200 and set(r.json()) == {"items", "next_cursor"}
    r = await client.get("/v1/admin/audit", headers=operator.headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    for headers in (merchant.headers, citizen.headers, {}):
        assert (await client.get("/v1/admin/audit", headers=headers)).status_code == 401


async def test_store_and_product_changes_are_in_the_log_with_who_what_and_when(client: AsyncClient, factory: Factory) -> None:
    auditor, operator, merchant = (
        await factory.admin("auditor"),
        await factory.admin("operator"),
        await factory.partner("merchant"),
    )
    started = datetime.now(UTC)
    [store] = await make_stores(client, operator, merchant, 1)
    body = {
        "merchant_id": str(merchant.id),
        "sku": "REFILL-1",
        "name": "Soap refill 1 L",
        "category": "refill",
        "carbon_g_per_unit": 120,
        "certification": {"scheme": "China Environmental Labelling", "number": "CEL-1", "valid_until": "2027-12-31"},
    }
    product = (await client.post("/v1/admin/products", json=body, headers=operator.headers)).json()
    patch = await client.patch(f"/v1/admin/products/{product['id']}", json={"carbon_g_per_unit": 150}, headers=operator.headers)
    page = (await client.get("/v1/admin/audit", params={"actor_id": str(operator.id)}, headers=auditor.headers)).json()
    assert page["next_cursor"] is None
    assert [(a["action"], a["target_kind"], a["target_id"]) for a in page["items"]] == [
        ("product.update", "product", product["id"]),
        ("product.create", "product", product["id"]),
        ("store.create", "store", store["id"]),
    ]
    update, _, created_store = page["items"]
    assert set(update) == {
        "id",
        "at",
        "actor_kind",
        "actor_id",
        "action",
        "target_kind",
        "target_id",
        "before",
        "after",
        "request_id",
    }
    assert (update["actor_kind"], update["actor_id"]) == ("admin", str(operator.id))
    assert (update["before"]["carbon_g_per_unit"], update["after"]["carbon_g_per_unit"]) == (120, 150)
    assert update["request_id"] == patch.headers["x-request-id"]
    assert created_store["before"] is None and created_store["after"]["name"] == "store 0"
    assert created_store["request_id"] == store["request_id"]
    assert started <= datetime.fromisoformat(created_store["at"]) <= datetime.fromisoformat(update["at"])


async def test_an_adjustment_is_in_the_log(client: AsyncClient, factory: Factory) -> None:
    admin, auditor, citizen = await factory.admin("admin"), await factory.admin("auditor"), await factory.citizen()
    r = await client.post(
        "/v1/admin/adjustments",
        json={"user_id": str(citizen.id), "points": -30, "reason": "duplicate trip reported twice"},
        headers=admin.headers | {"Idempotency-Key": "audit-1"},
    )
    assert r.status_code == 201, r.text
    # a replay moves nothing and writes no second record
    await client.post(
        "/v1/admin/adjustments",
        json={"user_id": str(citizen.id), "points": -30, "reason": "duplicate trip reported twice"},
        headers=admin.headers | {"Idempotency-Key": "audit-1"},
    )
    params = {"action": "adjustment.create", "target_kind": "citizen", "target_id": str(citizen.id)}
    [record] = (await client.get("/v1/admin/audit", params=params, headers=auditor.headers)).json()["items"]
    assert (record["actor_id"], record["before"]) == (str(admin.id), None)
    assert {k: record["after"][k] for k in ("points", "reason", "balance")} == {
        "points": -30,
        "reason": "duplicate trip reported twice",
        "balance": -30,
    }


async def test_filters_combine(client: AsyncClient, factory: Factory) -> None:
    auditor, operator = await factory.admin("auditor"), await factory.admin("operator")
    merchant, other = await factory.partner("merchant"), await factory.partner("merchant")
    mine, theirs = await make_stores(client, operator, merchant, 2), await make_stores(client, operator, other, 1)

    async def ids(**params: Any) -> list[str]:
        r = await client.get("/v1/admin/audit", params={"actor_id": str(operator.id)} | params, headers=auditor.headers)
        assert r.status_code == 200, r.text
        return [a["target_id"] for a in r.json()["items"]]

    assert await ids() == [theirs[0]["id"], mine[1]["id"], mine[0]["id"]]
    assert await ids(target_id=mine[0]["id"]) == [mine[0]["id"]]
    assert await ids(target_kind="store", action="store.create") == [theirs[0]["id"], mine[1]["id"], mine[0]["id"]]
    assert await ids(target_kind="product") == []
    assert await ids(action="product.create") == []
    assert await ids(actor_id=str(uuid.uuid4())) == []
    now = datetime.now(UTC)
    assert await ids(**{"from": (now + timedelta(seconds=1)).isoformat()}) == []
    assert await ids(**{"to": (now - timedelta(hours=1)).isoformat()}) == []
    assert len(await ids(**{"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(seconds=1)).isoformat()})) == 3


async def test_bad_filters_are_refused(client: AsyncClient, factory: Factory) -> None:
    auditor = await factory.admin("auditor")
    now = datetime.now(UTC)
    cases = [
        ({"from": now.isoformat(), "to": now.isoformat()}, "invalid_period"),
        ({"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()}, "invalid_period"),
        ({"from": "2026-11-21T08:00:00"}, "validation_error"),  # no offset: which 08:00?
        ({"from": "yesterday"}, "validation_error"),
        ({"actor_id": "admin"}, "validation_error"),
        ({"action": ""}, "validation_error"),
        ({"target_id": "a\x00b"}, "validation_error"),  # PostgreSQL text cannot hold NUL: not a 500
        ({"limit": 0}, "validation_error"),
        ({"cursor": "not a cursor"}, "invalid_cursor"),
    ]
    for params, code in cases:
        r = await client.get("/v1/admin/audit", params=params, headers=auditor.headers)
        assert (r.status_code, r.json()["code"]) == (422, code), params


async def test_the_log_is_paged_newest_first_without_gaps(client: AsyncClient, factory: Factory) -> None:
    auditor, operator, merchant = (
        await factory.admin("auditor"),
        await factory.admin("operator"),
        await factory.partner("merchant"),
    )
    made = await make_stores(client, operator, merchant, 5)
    seen: list[int] = []
    targets: list[str] = []
    cursor = None
    for _ in range(3):
        params: dict[str, Any] = {"actor_id": str(operator.id), "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/admin/audit", params=params, headers=auditor.headers)).json()
        seen += [a["id"] for a in page["items"]]
        targets += [a["target_id"] for a in page["items"]]
        cursor = page["next_cursor"]
    assert cursor is None
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 5
    assert targets == [s["id"] for s in reversed(made)]


async def test_a_page_holds_at_most_500_records(client: AsyncClient, factory: Factory, session: AsyncSession) -> None:
    auditor, actor = await factory.admin("auditor"), uuid.uuid4()
    await session.execute(
        text(
            "INSERT INTO audit_log (actor_kind, actor_id, action, target_kind, target_id) "
            "SELECT 'admin', :a, 'test.bulk', 'test', i::text FROM generate_series(1, 501) AS i"
        ),
        {"a": actor},
    )
    await session.commit()
    first = (
        await client.get("/v1/admin/audit", params={"actor_id": str(actor), "limit": 100_000}, headers=auditor.headers)
    ).json()
    assert len(first["items"]) == 500 and first["next_cursor"] is not None
    params = {"actor_id": str(actor), "limit": 100_000, "cursor": first["next_cursor"]}
    rest = (await client.get("/v1/admin/audit", params=params, headers=auditor.headers)).json()
    assert ([a["target_id"] for a in rest["items"]], rest["next_cursor"]) == (["1"], None)
