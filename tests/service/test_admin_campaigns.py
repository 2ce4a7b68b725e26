"""Campaign administration: validation, roles, status moves, budget changes, audit, simulate, the seeded seasons."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text

from tests.factories import Factory
from tests.service.test_purchases import campaign, line, order, shop, spent


def body(**over: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "name": "spring",
        "regions": ["huangpu"],
        "scenarios": ["purchase.green"],
        "starts_at": (now + timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=30)).isoformat(),
        "rule": {"multiplier": "1.5"},
        "stacking": "stack",
    } | over


async def test_create_validates_what_could_not_be_meant(client: AsyncClient, factory: Factory) -> None:
    admin = await factory.admin("operator")
    now = datetime.now(UTC)
    cases = [
        (body(ends_at=(now - timedelta(days=1)).isoformat()), "invalid_campaign", "ends_at must be after starts_at"),
        (body(rule={"multiplier": "1"}), "invalid_campaign", "above 1"),
        (body(rule={"multiplier": "abc"}), "invalid_campaign", "not a number"),
        (body(rule={"bonus": 0}), "invalid_campaign", "above 0"),
        (body(regions=["atlantis"]), "invalid_campaign", "unknown regions: atlantis"),
        (body(scenarios=["travel.teleport"]), "invalid_campaign", "unknown scenarios"),
        (body(budget=100, per_citizen_cap=200), "invalid_campaign", "cannot exceed the budget"),
        (body(merchant_ids=[str(uuid.uuid4())]), "unknown_merchant", "merchant_ids"),
        (body(store_ids=[str(uuid.uuid4())]), "unknown_store", "store_ids"),
    ]
    for payload, code, detail in cases:
        r = await client.post("/v1/admin/campaigns", json=payload, headers=admin.headers)
        assert (r.status_code, r.json()["code"]) == (422, code), payload
        assert detail in r.json()["detail"]
    for payload in (body(rule={"multiplier": "2", "bonus": 5}), body(rule={}), body(stacking="both"), body(budget=0)):
        r = await client.post("/v1/admin/campaigns", json=payload, headers=admin.headers)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), payload


async def test_roles_a_draft_pays_nothing_and_local_times_are_shanghai(client: AsyncClient, factory: Factory) -> None:
    operator, auditor, citizen = await factory.admin("operator"), await factory.admin("auditor"), await factory.citizen()
    assert (await client.post("/v1/admin/campaigns", json=body(), headers=auditor.headers)).status_code == 403
    assert (await client.post("/v1/admin/campaigns", json=body(), headers=citizen.headers)).status_code == 401
    r = await client.post(
        "/v1/admin/campaigns", json=body(starts_at="2031-05-01T00:00:00", ends_at="2031-07-01T00:00:00"), headers=operator.headers
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["status"], created["spent"], created["starts_at"]) == ("draft", 0, "2031-04-30T16:00:00Z")
    assert (await client.get(f"/v1/admin/campaigns/{created['id']}", headers=auditor.headers)).json()["name"] == "spring"
    listed = (await client.get("/v1/admin/campaigns?status=draft&region=huangpu", headers=auditor.headers)).json()["items"]
    assert created["id"] in {c["id"] for c in listed}
    assert (await client.get(f"/v1/admin/campaigns/{uuid.uuid4()}", headers=auditor.headers)).status_code == 404

    merchant, store = await shop(factory)
    await campaign(client, operator, merchant, activate=False)
    r = await client.post("/v1/purchases", json=order(citizen, store, [line("LED-9W")]), headers=merchant.headers)
    assert r.json()["bonus_points"] == 0


async def test_status_moves_budget_changes_and_their_audit(client: AsyncClient, factory: Factory, app: Any) -> None:
    admin, citizen = await factory.admin(), await factory.citizen()
    merchant, store = await shop(factory)
    c = await campaign(client, admin, merchant, activate=False, budget=1000)
    r = await client.post(f"/v1/admin/campaigns/{c['id']}/pause", headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "invalid_status")
    assert (await client.post(f"/v1/admin/campaigns/{c['id']}/activate", headers=admin.headers)).json()["status"] == "active"
    await client.post("/v1/purchases", json=order(citizen, store, [line("FRIDGE-A1")]), headers=merchant.headers)
    assert await spent(client, admin, c["id"]) == 800

    r = await client.patch(f"/v1/admin/campaigns/{c['id']}", json={"budget": 700}, headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "budget_below_spend")
    r = await client.patch(f"/v1/admin/campaigns/{c['id']}", json={"budget": 1600, "name": "bigger"}, headers=admin.headers)
    assert (r.status_code, r.json()["budget"], r.json()["name"], r.json()["spent"]) == (200, 1600, "bigger", 800)
    r = await client.patch(f"/v1/admin/campaigns/{c['id']}", json={"rule": {"bonus": 10}}, headers=admin.headers)
    assert r.json()["rule"] == {"bonus": 10}
    r = await client.patch(f"/v1/admin/campaigns/{c['id']}", json={"name": None}, headers=admin.headers)
    assert r.status_code == 422
    other = await factory.citizen()
    r = await client.post("/v1/purchases", json=order(other, store, [line("FRIDGE-A1")]), headers=merchant.headers)
    assert r.json()["bonus_points"] == 10
    async with app.state.sessionmaker() as session:
        audit = (
            await session.execute(
                text("SELECT action, before, after FROM audit_log WHERE target_id = :id ORDER BY id"), {"id": c["id"]}
            )
        ).all()
        shards = await session.scalar(
            text("SELECT sum(cap) FROM campaign_budget_shards WHERE campaign_id = :id"), {"id": uuid.UUID(c["id"])}
        )
    assert [a.action for a in audit] == [
        "campaign.create",
        "campaign.activate",
        "campaign.update",
        "campaign.update",
    ]
    assert audit[2].before["budget"] == 1000 and audit[2].after["budget"] == 1600
    assert shards == 1600  # the shards' caps always add up to the budget


async def test_simulate_given_activities_and_a_past_period_writes_nothing(
    client: AsyncClient, factory: Factory, app: Any
) -> None:
    admin = await factory.admin("auditor")
    operator = await factory.admin("operator")
    merchant, store = await shop(factory)
    citizens = [await factory.citizen() for _ in range(3)]
    for citizen in citizens:
        await client.post(
            "/v1/purchases", json=order(citizen, store, [line("FRIDGE-A1"), line("LED-9W", 2)]), headers=merchant.headers
        )
    now = datetime.now(UTC)
    c = await campaign(
        client,
        operator,
        merchant,
        activate=False,
        starts_at=(now - timedelta(days=2)).isoformat(),
        per_citizen_cap=500,
        budget=1200,
        categories=["appliance"],
    )
    r = await client.post(
        f"/v1/admin/campaigns/{c['id']}/simulate",
        json={"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(minutes=1)).isoformat()},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    # three FRIDGE lines want 800 each, cut to 500 per citizen, then the budget of 1,200 runs out
    assert (out["activities_matched"], out["activities_paid"], out["bonus_points"]) == (3, 3, 1200)
    assert (out["cut_by_per_citizen_cap"], out["cut_by_budget"], out["budget_exhausted"]) == (2, 1, True)
    assert out["by_region_scenario"] == [
        {"region": "huangpu", "scenario": "purchase.green", "activities_paid": 3, "bonus_points": 1200}
    ]

    given = {
        "activities": [
            {
                "user_id": "a",
                "region": "huangpu",
                "scenario": "purchase.green",
                "occurred_at": now.isoformat(),
                "points": 300,
                "merchant_id": str(merchant.id),
                "category": "appliance",
            },
            {
                "user_id": "b",
                "region": "putuo",
                "scenario": "purchase.green",
                "occurred_at": now.isoformat(),
                "points": 300,
                "merchant_id": str(merchant.id),
                "category": "appliance",
            },
        ]
    }
    r = await client.post(f"/v1/admin/campaigns/{c['id']}/simulate", json=given, headers=admin.headers)
    assert (r.json()["activities_considered"], r.json()["bonus_points"]) == (2, 300)
    bad = await client.post(f"/v1/admin/campaigns/{c['id']}/simulate", json={}, headers=admin.headers)
    assert bad.status_code == 422
    assert await spent(client, admin, c["id"]) == 0
    async with app.state.sessionmaker() as session:
        bonuses = await session.scalar(text("SELECT count(*) FROM postings WHERE campaign_id = :c"), {"c": uuid.UUID(c["id"])})
    assert bonuses == 0


async def test_the_huangpu_seasons_are_seeded_as_data(client: AsyncClient, factory: Factory) -> None:
    auditor = await factory.admin("auditor")
    items = (await client.get("/v1/admin/campaigns?region=huangpu", headers=auditor.headers)).json()["items"]
    seasons = {c["code"]: c for c in items if c["code"]}
    s2025, s2026 = seasons["huangpu-green-season-2025"], seasons["huangpu-green-season-2026"]
    assert (s2025["starts_at"], s2025["ends_at"]) == ("2025-04-30T16:00:00Z", "2025-06-30T16:00:00Z")
    assert s2025["rule"] == {"multiplier": "2.0"} and s2025["stacking"] == "exclusive"
    assert (s2025["per_citizen_cap"], s2025["budget"], s2025["scenarios"]) == (20_000, 50_000_000, ["purchase.green"])
    assert s2026["starts_at"] == "2026-04-30T16:00:00Z" and s2026["status"] == "ended"
