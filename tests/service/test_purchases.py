"""POST /v1/purchases and POST /v1/refunds: certified green lines, campaigns (the season), refunds, R2.

Campaigns here are created through the admin API and filtered to the test's own
merchant (or region), so they pay nobody else's activities in the shared database.
"""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text

from domain.calendar import SHANGHAI, local_day
from tests.factories import Actor, Factory


def order(
    citizen: Actor, store: uuid.UUID, lines: list[dict[str, Any]], at: datetime | None = None, **over: Any
) -> dict[str, Any]:
    return {
        "order_id": f"o-{uuid.uuid4().hex}",
        "store_id": str(store),
        "user": {"user_id": str(citizen.id)},
        "purchased_at": (at or datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "lines": lines,
    } | over


def line(sku: str, quantity: int = 1, amount_fen: int = 9900) -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, "amount_fen": amount_fen}


async def shop(factory: Factory, region: str = "huangpu") -> tuple[Actor, uuid.UUID]:
    merchant = await factory.partner("merchant", region=region)
    store = await factory.store(merchant.id, region=region)
    await factory.product(merchant.id, "FRIDGE-A1", 800, category="appliance")
    await factory.product(merchant.id, "LED-9W", 35, category="lighting")
    return merchant, store


async def campaign(
    client: AsyncClient, admin: Actor, merchant: Actor | None = None, *, activate: bool = True, **fields: Any
) -> dict[str, Any]:
    body = (
        {
            "name": "test season",
            "regions": ["huangpu"],
            "scenarios": ["purchase.green"],
            "starts_at": (datetime.now(UTC) - timedelta(days=3)).isoformat(),
            "ends_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
            "rule": {"multiplier": "2.0"},
            "stacking": "exclusive",
        }
        | ({"merchant_ids": [str(merchant.id)]} if merchant else {})
        | fields
    )
    r = await client.post("/v1/admin/campaigns", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    if activate:
        r = await client.post(f"/v1/admin/campaigns/{created['id']}/activate", headers=admin.headers)
        assert r.status_code == 200, r.text
        created = r.json()
    return created


async def spent(client: AsyncClient, admin: Actor, campaign_id: str) -> int:
    r = await client.get(f"/v1/admin/campaigns/{campaign_id}", headers=admin.headers)
    return int(r.json()["spent"])


# -- purchases ---------------------------------------------------------------------------------------


async def test_only_certified_green_lines_earn_and_the_breakdown_says_why(client: AsyncClient, factory: Factory) -> None:
    (merchant, store), citizen = await shop(factory), await factory.citizen()
    body = order(citizen, store, [line("FRIDGE-A1", 1), line("LED-9W", 4), line("BREAD", 2)])
    r = await client.post("/v1/purchases", json=body, headers=merchant.headers)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert (answer["status"], answer["carbon_g"], answer["points"], answer["bonus_points"]) == ("awarded", 940, 940, 0)
    lines = answer["breakdown"]["lines"]
    assert [(x["sku"], x["carbon_g"], x["base_points"], x["bonus_points"]) for x in lines] == [
        ("FRIDGE-A1", 800, 800, 0),
        ("LED-9W", 140, 140, 0),
        ("BREAD", 0, 0, 0),
    ]
    assert lines[2]["eligible"] is False and "not a certified green product" in lines[2]["reason"]
    assert lines[0]["certification"]["number"] == "CGP-FRIDGE-A1"
    again = await client.post("/v1/purchases", json=body, headers=merchant.headers)
    assert again.content == r.content and again.headers["Idempotent-Replayed"] == "true"
    changed = await client.post("/v1/purchases", json=body | {"lines": [line("LED-9W", 5)]}, headers=merchant.headers)
    assert (changed.status_code, changed.json()["code"]) == (409, "idempotency_conflict")
    ledger = (await client.get("/v1/me/ledger", headers=citizen.headers)).json()["items"]
    assert sorted((e["kind"], e["points"], e["carbon_g"]) for e in ledger) == [("award", 140, 140), ("award", 800, 800)]


async def test_bad_purchases_are_refused_with_clear_problems(client: AsyncClient, factory: Factory) -> None:
    (merchant, store), citizen = await shop(factory), await factory.citizen()
    other_merchant, _ = await shop(factory)
    closed = await factory.store(merchant.id, active=False)
    cases: list[tuple[dict[str, Any], Actor, int, str]] = [
        (order(citizen, uuid.uuid4(), [line("LED-9W")]), merchant, 404, "unknown_store"),
        (order(citizen, store, [line("LED-9W")]), other_merchant, 404, "unknown_store"),
        (order(citizen, closed, [line("LED-9W")]), merchant, 422, "store_inactive"),
        (order(citizen, store, [line("LED-9W"), line("LED-9W")]), merchant, 422, "validation_error"),
        (order(citizen, store, [line("LED-9W", 0)]), merchant, 422, "validation_error"),
        (order(citizen, store, [line("LED-9W", -1)]), merchant, 422, "validation_error"),
        (order(citizen, store, []), merchant, 422, "validation_error"),
        (order(citizen, store, [line("LED-9W")], user={"member_ref": "nobody"}), merchant, 404, "unknown_member"),
        (order(citizen, store, [line("LED-9W")], purchased_at="yesterday"), merchant, 422, "validation_error"),
    ]
    for body, who, status, code in cases:
        r = await client.post("/v1/purchases", json=body, headers=who.headers)
        assert (r.status_code, r.json()["code"]) == (status, code), body
    transit = await factory.partner("transit")
    r = await client.post("/v1/purchases", json=order(citizen, store, [line("LED-9W")]), headers=transit.headers)
    assert (r.status_code, r.json()["code"]) == (403, "insufficient_scope")
    future = order(citizen, store, [line("LED-9W")], at=datetime.now(UTC) + timedelta(hours=1))
    r = await client.post("/v1/purchases", json=future, headers=merchant.headers)
    assert (r.status_code, r.json()["status"], r.json()["points"]) == (201, "rejected", 0)


async def test_a_certificate_that_expired_the_day_before_the_purchase_earns_nothing(
    client: AsyncClient, factory: Factory
) -> None:
    (merchant, store), citizen = await shop(factory), await factory.citizen()
    at = datetime.now(UTC) - timedelta(hours=1)
    day = local_day(at)
    await factory.product(merchant.id, "OLD-CERT", 500, valid_until=day - timedelta(days=1))
    await factory.product(merchant.id, "LAST-DAY", 500, valid_until=day)
    r = await client.post("/v1/purchases", json=order(citizen, store, [line("OLD-CERT")], at=at), headers=merchant.headers)
    assert (r.json()["status"], r.json()["points"]) == ("rejected", 0)
    assert "expired on" in r.json()["breakdown"]["lines"][0]["reason"]
    r = await client.post("/v1/purchases", json=order(citizen, store, [line("LAST-DAY")], at=at), headers=merchant.headers)
    assert (r.json()["status"], r.json()["points"]) == ("awarded", 500)


# -- campaigns on purchases -------------------------------------------------------------------------


async def test_window_edges_in_shanghai_time_and_a_late_post_still_gets_the_bonus(client: AsyncClient, factory: Factory) -> None:
    (merchant, store), citizen, admin = await shop(factory), await factory.citizen(), await factory.admin()
    today = local_day(datetime.now(UTC))
    start = datetime.combine(today - timedelta(days=3), datetime.min.time())  # naive: Shanghai local time
    end = datetime.combine(today - timedelta(days=1), datetime.min.time())
    c = await campaign(client, admin, merchant, starts_at=start.isoformat(), ends_at=end.isoformat())
    assert c["starts_at"].startswith(start.replace(tzinfo=SHANGHAI).astimezone(UTC).isoformat()[:19])
    assert c["status"] == "ended"  # the window is over; late reports of purchases inside it are still paid
    cases = [
        (start - timedelta(seconds=1), 0),
        (start, 800),
        (end - timedelta(seconds=1), 800),
        (end, 0),
    ]
    for local, bonus in cases:
        at = local.replace(tzinfo=SHANGHAI)
        r = await client.post("/v1/purchases", json=order(citizen, store, [line("FRIDGE-A1")], at=at), headers=merchant.headers)
        assert r.status_code == 201, r.text
        assert (r.json()["points"], r.json()["bonus_points"]) == (800, bonus), local
    assert await spent(client, admin, c["id"]) == 1600
    ledger = (await client.get("/v1/me/ledger", headers=citizen.headers)).json()["items"]
    bonuses = [e for e in ledger if e["kind"] == "bonus"]
    assert len(bonuses) == 2 and {e["campaign_id"] for e in bonuses} == {c["id"]} and all(e["carbon_g"] == 0 for e in bonuses)


async def test_a_putuo_store_in_the_season_gets_no_bonus(client: AsyncClient, factory: Factory) -> None:
    admin, citizen = await factory.admin(), await factory.citizen()
    merchant = await factory.partner("merchant", region="putuo")
    putuo, huangpu = await factory.store(merchant.id, region="putuo"), await factory.store(merchant.id, region="huangpu")
    await factory.product(merchant.id, "LED-9W", 35)
    await campaign(client, admin, merchant)
    r = await client.post("/v1/purchases", json=order(citizen, putuo, [line("LED-9W", 2)]), headers=merchant.headers)
    assert (r.json()["points"], r.json()["bonus_points"], r.json()["breakdown"]["campaigns"]) == (70, 0, [])
    r = await client.post("/v1/purchases", json=order(citizen, huangpu, [line("LED-9W", 2)]), headers=merchant.headers)
    assert (r.json()["points"], r.json()["bonus_points"]) == (70, 70)


async def test_overlapping_campaigns_exclusive_pays_the_best_and_stack_adds_up(client: AsyncClient, factory: Factory) -> None:
    admin, citizen = await factory.admin(), await factory.citizen()
    merchant, store = await shop(factory)
    double = await campaign(client, admin, merchant, rule={"multiplier": "2"}, stacking="exclusive")
    fixed = await campaign(client, admin, merchant, rule={"bonus": 100}, stacking="exclusive")
    assert {o["id"] for o in fixed["overlaps"]} == {double["id"]}
    r = await client.post("/v1/purchases", json=order(citizen, store, [line("FRIDGE-A1")]), headers=merchant.headers)
    assert r.json()["bonus_points"] == 800
    considered = {c["campaign_id"]: c for c in r.json()["breakdown"]["campaigns"]}
    assert considered[double["id"]]["applied"] and not considered[fixed["id"]]["applied"]

    merchant2, store2 = await shop(factory)
    await campaign(client, admin, merchant2, rule={"multiplier": "1.5"}, stacking="stack")
    await campaign(client, admin, merchant2, rule={"bonus": 100}, stacking="stack")
    r = await client.post("/v1/purchases", json=order(citizen, store2, [line("FRIDGE-A1")]), headers=merchant2.headers)
    assert r.json()["bonus_points"] == 400 + 100
    ledger = (await client.get("/v1/me/ledger", headers=citizen.headers)).json()["items"]
    assert len([e for e in ledger if e["kind"] == "bonus"]) == 3


async def test_per_citizen_cap_and_budget_run_out_midway_through_an_order(client: AsyncClient, factory: Factory) -> None:
    admin, citizen = await factory.admin(), await factory.citizen()
    merchant, store = await shop(factory)
    c = await campaign(client, admin, merchant, per_citizen_cap=1000)
    r = await client.post(
        "/v1/purchases", json=order(citizen, store, [line("FRIDGE-A1"), line("LED-9W", 10)]), headers=merchant.headers
    )
    assert [x["bonus_points"] for x in r.json()["breakdown"]["lines"]] == [800, 200]  # 350 wanted on the LEDs
    assert r.json()["breakdown"]["campaigns"][0]["limited_by"] == "per_citizen_cap"
    r = await client.post("/v1/purchases", json=order(citizen, store, [line("LED-9W")]), headers=merchant.headers)
    assert r.json()["bonus_points"] == 0 and r.json()["points"] == 35
    assert await spent(client, admin, c["id"]) == 1000

    merchant2, store2 = await shop(factory)
    c2 = await campaign(client, admin, merchant2, budget=900)
    other = await factory.citizen()
    r = await client.post(
        "/v1/purchases", json=order(other, store2, [line("FRIDGE-A1"), line("LED-9W", 10)]), headers=merchant2.headers
    )
    assert [x["bonus_points"] for x in r.json()["breakdown"]["lines"]] == [800, 100]
    assert r.json()["breakdown"]["campaigns"][0]["limited_by"] == "budget"
    assert await spent(client, admin, c2["id"]) == 900


async def test_campaigns_pay_on_travel_too_and_never_touch_carbon(client: AsyncClient, factory: Factory) -> None:
    admin, region = await factory.admin(), await factory.region()
    metro, citizen = await factory.partner("transit", region=region), await factory.citizen()
    await campaign(client, admin, regions=[region], scenarios=["travel.metro"], rule={"bonus": 50}, stacking="stack")
    start = datetime.now(UTC) - timedelta(hours=1)
    trip = {
        "external_id": uuid.uuid4().hex,
        "user": {"user_id": str(citizen.id)},
        "mode": "metro",
        "distance_m": 10_000,
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=30)).isoformat(),
    }
    r = await client.post("/v1/activities/travel", json=trip, headers=metro.headers)
    assert (r.json()["carbon_g"], r.json()["points"], r.json()["bonus_points"]) == (468, 468, 50)
    account = (await client.get("/v1/me/account", headers=citizen.headers)).json()
    assert (account["balance"], account["carbon_g_total"]) == (518, 468)


async def test_a_paused_campaign_pays_nothing_until_activated_again(client: AsyncClient, factory: Factory) -> None:
    admin, citizen = await factory.admin(), await factory.citizen()
    merchant, store = await shop(factory)
    c = await campaign(client, admin, merchant)
    r = await client.post(f"/v1/admin/campaigns/{c['id']}/pause", headers=admin.headers)
    assert r.json()["status"] == "paused"
    r = await client.post("/v1/purchases", json=order(citizen, store, [line("LED-9W")]), headers=merchant.headers)
    assert r.json()["bonus_points"] == 0
    await client.post(f"/v1/admin/campaigns/{c['id']}/activate", headers=admin.headers)
    r = await client.post("/v1/purchases", json=order(citizen, store, [line("LED-9W")]), headers=merchant.headers)
    assert r.json()["bonus_points"] == 35


async def test_r2_budget_for_50_bonuses_under_200_concurrent_purchases(client: AsyncClient, factory: Factory) -> None:
    """quality.md R2: spend == budget, never above; every purchase still gets its base points."""
    admin = await factory.admin()
    merchant, store = await shop(factory)
    c = await campaign(client, admin, merchant, budget=50 * 800)
    citizens = [await factory.citizen() for _ in range(200)]
    # all 200 at once, as R2 says, against the test app's 15 connections (it passed with two other
    # processes keeping both cores busy; it once ran 12 at a time, when the locked path was slower)

    async def buy(citizen: Actor) -> Any:
        return await client.post("/v1/purchases", json=order(citizen, store, [line("FRIDGE-A1")]), headers=merchant.headers)

    results = await asyncio.gather(*(buy(citizen) for citizen in citizens))
    assert [r.status_code for r in results] == [201] * 200, [r.text for r in results if r.status_code != 201][:3]
    assert all(r.json()["points"] == 800 for r in results)
    assert sum(r.json()["bonus_points"] for r in results) == 50 * 800
    assert await spent(client, admin, c["id"]) == 50 * 800


# -- refunds ------------------------------------------------------------------------------------------


async def refund(
    client: AsyncClient, merchant: Actor, order_id: str, lines: list[dict[str, Any]] | None = None, **over: Any
) -> Any:
    body = {"refund_id": f"r-{uuid.uuid4().hex}", "order_id": order_id} | ({"lines": lines} if lines is not None else {}) | over
    return await client.post("/v1/refunds", json=body, headers=merchant.headers)


async def test_partial_refund_of_a_bonused_line_after_the_season_ended(client: AsyncClient, factory: Factory, app: Any) -> None:
    admin, citizen = await factory.admin(), await factory.citizen()
    merchant, store = await shop(factory)
    now = datetime.now(UTC)
    c = await campaign(
        client, admin, merchant, starts_at=(now - timedelta(days=5)).isoformat(), ends_at=(now - timedelta(days=1)).isoformat()
    )
    bought = order(citizen, store, [line("FRIDGE-A1", 3), line("LED-9W", 2)], at=now - timedelta(days=2))
    r = await client.post("/v1/purchases", json=bought, headers=merchant.headers)
    assert (r.json()["points"], r.json()["bonus_points"]) == (2470, 2470)
    assert (await client.get(f"/v1/admin/campaigns/{c['id']}", headers=admin.headers)).json()["status"] == "ended"

    r = await refund(client, merchant, bought["order_id"], [{"sku": "FRIDGE-A1", "quantity": 1}])
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["points_reversed"], body["bonus_points_reversed"], body["carbon_g_reversed"]) == (800, 800, 800)
    assert body["lines"] == [
        {
            "sku": "FRIDGE-A1",
            "quantity": 1,
            "refunded_quantity": 1,
            "bought_quantity": 3,
            "carbon_g_reversed": 800,
            "points_reversed": 800,
            "bonus_points_reversed": 800,
        }
    ]
    assert await spent(client, admin, c["id"]) == 2470 - 800
    account = (await client.get("/v1/me/account", headers=citizen.headers)).json()
    assert (account["balance"], account["carbon_g_total"]) == (4940 - 1600, 2470 - 800)
    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT r.kind, o.kind, r.campaign_id IS NOT NULL, e.reverses_entry_id IS NOT NULL FROM postings r "
                    "JOIN postings o ON o.user_id = r.user_id AND o.id = r.reverses_posting_id "
                    "JOIN entries e ON e.user_id = r.user_id AND e.posting_id = r.id AND e.account = 'citizen' "
                    "WHERE r.user_id = :u ORDER BY r.id"
                ),
                {"u": citizen.id},
            )
        ).all()
    assert [tuple(x) for x in rows] == [("reversal", "award", False, True), ("reversal", "bonus", True, True)]

    # the rest of the order: everything left of both lines, exactly
    r = await refund(client, merchant, bought["order_id"])
    assert (r.json()["points_reversed"], r.json()["bonus_points_reversed"]) == (1670, 1670)
    assert await spent(client, admin, c["id"]) == 0
    account = (await client.get("/v1/me/account", headers=citizen.headers)).json()
    assert (account["balance"], account["carbon_g_total"], account["lifetime_earned"]) == (0, 0, 0)
    r = await refund(client, merchant, bought["order_id"])
    assert (r.status_code, r.json()["code"]) == (409, "refund_exceeds_purchase")


async def test_refund_replay_conflict_excess_and_another_merchants_order(client: AsyncClient, factory: Factory) -> None:
    citizen = await factory.citizen()
    merchant, store = await shop(factory)
    other, _ = await shop(factory)
    bought = order(citizen, store, [line("LED-9W", 2)])
    await client.post("/v1/purchases", json=bought, headers=merchant.headers)
    body = {"refund_id": "r-1", "order_id": bought["order_id"], "lines": [{"sku": "LED-9W", "quantity": 1}]}
    first = await client.post("/v1/refunds", json=body, headers=merchant.headers)
    again = await client.post("/v1/refunds", json=body, headers=merchant.headers)
    assert first.status_code == 201 and again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    conflict = await client.post(
        "/v1/refunds", json=body | {"lines": [{"sku": "LED-9W", "quantity": 2}]}, headers=merchant.headers
    )
    assert (conflict.status_code, conflict.json()["code"]) == (409, "idempotency_conflict")
    too_many = await refund(client, merchant, bought["order_id"], [{"sku": "LED-9W", "quantity": 2}])
    assert (too_many.status_code, too_many.json()["code"]) == (409, "refund_exceeds_purchase")
    unknown_line = await refund(client, merchant, bought["order_id"], [{"sku": "FRIDGE-A1", "quantity": 1}])
    assert (unknown_line.status_code, unknown_line.json()["code"]) == (422, "unknown_order_line")
    theirs = await refund(client, other, bought["order_id"])
    assert (theirs.status_code, theirs.json()["code"]) == (404, "unknown_order")
    assert (await refund(client, merchant, "no-such-order")).status_code == 404
    account = (await client.get("/v1/me/account", headers=citizen.headers)).json()
    assert account["balance"] == 70 - 35  # only the first refund moved points


async def test_concurrent_refunds_never_return_more_than_was_bought(client: AsyncClient, factory: Factory) -> None:
    citizen = await factory.citizen()
    merchant, store = await shop(factory)
    bought = order(citizen, store, [line("FRIDGE-A1", 3)])
    await client.post("/v1/purchases", json=bought, headers=merchant.headers)
    results = await asyncio.gather(
        *(refund(client, merchant, bought["order_id"], [{"sku": "FRIDGE-A1", "quantity": 1}]) for _ in range(6))
    )
    assert sorted(r.status_code for r in results) == [201, 201, 201, 409, 409, 409]
    assert sum(r.json().get("points_reversed", 0) for r in results) == 2400
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 0


async def test_a_refund_of_spent_points_leaves_a_negative_balance_that_new_earnings_repay(
    client: AsyncClient, factory: Factory, app: Any
) -> None:
    admin, citizen = await factory.admin(), await factory.citizen()
    merchant, store = await shop(factory)
    bought = order(citizen, store, [line("FRIDGE-A1")])
    await client.post("/v1/purchases", json=bought, headers=merchant.headers)
    spend = {"user_id": str(citizen.id), "points": -700, "reason": "stands in for a redemption"}
    r = await client.post("/v1/admin/adjustments", json=spend, headers=admin.headers | {"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    assert (await refund(client, merchant, bought["order_id"])).status_code == 201
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == -700
    r = await client.post("/v1/purchases", json=order(citizen, store, [line("FRIDGE-A1")]), headers=merchant.headers)
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 100
    async with app.state.sessionmaker() as session:
        newest = (
            await session.execute(
                text("SELECT points, remaining FROM expiry_lots WHERE user_id = :u ORDER BY id DESC LIMIT 1"), {"u": citizen.id}
            )
        ).one()
    assert tuple(newest) == (800, 100)  # the 700 that repaid the debt can never expire or be spent twice


async def test_orders_refunds_and_a_day_in_the_past(client: AsyncClient, factory: Factory) -> None:
    """A purchase a few days old (within the reporting window) is accepted and refundable."""
    citizen = await factory.citizen()
    merchant, store = await shop(factory)
    at = datetime.now(UTC) - timedelta(days=6)
    bought = order(citizen, store, [line("LED-9W", 3)], at=at)
    assert (await client.post("/v1/purchases", json=bought, headers=merchant.headers)).json()["points"] == 105
    r = await refund(client, merchant, bought["order_id"], [{"sku": "LED-9W", "quantity": 2}])
    assert r.json()["points_reversed"] == 70
    assert date.today() >= at.date()


async def test_a_refund_takes_its_carbon_off_the_leaderboards(client: AsyncClient, factory: Factory) -> None:
    region, citizen = await factory.region(), await factory.citizen()
    merchant = await factory.partner("merchant", region=region)
    store = await factory.store(merchant.id, region=region)
    await factory.product(merchant.id, "LED-9W", 35)
    bought = order(citizen, store, [line("LED-9W", 4)])
    assert (await client.post("/v1/purchases", json=bought, headers=merchant.headers)).json()["carbon_g"] == 140

    async def board() -> Any:
        r = await client.get("/v1/leaderboards/monthly", params={"region": region}, headers=citizen.headers)
        assert r.status_code == 200, r.text
        return r.json()["me"]

    assert (await board())["carbon_g"] == 140
    assert (await refund(client, merchant, bought["order_id"], [{"sku": "LED-9W", "quantity": 3}])).status_code == 201
    assert (await board())["carbon_g"] == 35


async def test_a_refund_gives_its_base_points_room_back_under_the_days_cap(client: AsyncClient, factory: Factory) -> None:
    citizen = await factory.citizen()
    merchant, store = await shop(factory)
    at = datetime.now(UTC) - timedelta(minutes=5)
    capped = order(citizen, store, [line("FRIDGE-A1", 7)], at=at)  # 5,600 points against the day's 5,000
    r = await client.post("/v1/purchases", json=capped, headers=merchant.headers)
    assert (r.json()["status"], r.json()["points"]) == ("capped", 5000), r.text
    blocked = await client.post("/v1/purchases", json=order(citizen, store, [line("LED-9W")], at=at), headers=merchant.headers)
    assert (blocked.json()["status"], blocked.json()["points"]) == ("capped", 0)
    r = await refund(client, merchant, capped["order_id"], [{"sku": "FRIDGE-A1", "quantity": 2}])
    assert r.json()["points_reversed"] == 1428, r.text  # 2/7 of the 5,000 awarded, rounded down
    rebought = order(citizen, store, [line("FRIDGE-A1", 2)], at=at)
    again = await client.post("/v1/purchases", json=rebought, headers=merchant.headers)
    assert (again.json()["status"], again.json()["points"]) == ("capped", 1428), again.text  # 1,600 against the room given back
    account = (await client.get("/v1/me/account", headers=citizen.headers)).json()
    assert account["balance"] == 5000  # the day still keeps at most its cap
