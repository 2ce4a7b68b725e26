"""Rewards and redemptions: the catalogue, holds that complete or are cancelled, every refusal, FIFO lots, R3."""

import asyncio
import re
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.calendar import SHANGHAI
from tests.factories import Factory
from tests.service.rewards_helpers import give, give_at, lots, redeem, reward


async def _balance(client: AsyncClient, citizen_headers: dict[str, str]) -> int:
    balance: int = (await client.get("/v1/me/account", headers=citizen_headers)).json()["balance"]
    return balance


async def test_redeeming_a_coupon_holds_points_and_stock_and_completes_with_a_code(client: AsyncClient, factory: Factory) -> None:
    operator, admin, citizen = await factory.admin("operator"), await factory.admin(), await factory.citizen()
    offered = await reward(client, operator, points=100, stock=2, name="Metro day pass")
    await give(client, admin, citizen, 250)

    r = await redeem(client, citizen, offered["id"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "completed" and body["points"] == 100 and body["balance"] == 150
    assert re.fullmatch(r"TP-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", body["code"])
    assert body["reward_name"] == "Metro day pass"

    assert await _balance(client, citizen.headers) == 150
    account = (await client.get("/v1/me/account", headers=citizen.headers)).json()
    assert account["lifetime_spent"] == 100
    ledger = (await client.get("/v1/me/ledger", headers=citizen.headers)).json()["items"]
    assert (ledger[0]["kind"], ledger[0]["points"]) == ("redemption_hold", -100)
    listed = (await client.get("/v1/me/redemptions", headers=citizen.headers)).json()
    assert [(x["id"], x["status"], x["code"]) for x in listed["items"]] == [(body["id"], "completed", body["code"])]
    catalogue = (await client.get("/v1/rewards", headers=citizen.headers)).json()["items"]
    assert next(x for x in catalogue if x["id"] == offered["id"])["stock"] == 1


async def test_redemption_is_idempotent_on_its_key(client: AsyncClient, factory: Factory) -> None:
    operator, admin, citizen = await factory.admin("operator"), await factory.admin(), await factory.citizen()
    a, b = await reward(client, operator), await reward(client, operator)
    await give(client, admin, citizen, 500)
    first = await redeem(client, citizen, a["id"], key="once")
    again = await redeem(client, citizen, a["id"], key="once")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    other = await redeem(client, citizen, b["id"], key="once")
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")
    assert await _balance(client, citizen.headers) == 400


async def test_every_refusal_is_a_clear_problem_and_writes_nothing(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    operator, admin = await factory.admin("operator"), await factory.admin()
    citizen = await factory.citizen(region="huangpu")
    await give(client, admin, citizen, 150)
    pricey = await reward(client, operator, points=151)
    empty = await reward(client, operator, stock=0)
    elsewhere = await reward(client, operator, region="suzhou")
    lapsed = await reward(client, operator, valid_until=(datetime.now(UTC) + timedelta(seconds=1)).isoformat())
    withdrawn = await reward(client, operator)
    patched = await client.patch(f"/v1/admin/rewards/{withdrawn['id']}", json={"active": False}, headers=operator.headers)
    assert patched.status_code == 200, patched.text
    await asyncio.sleep(1.1)
    cases = [
        (pricey["id"], 409, "insufficient_points"),
        (empty["id"], 409, "out_of_stock"),
        (elsewhere["id"], 409, "reward_unavailable"),
        (lapsed["id"], 409, "reward_unavailable"),
        (withdrawn["id"], 409, "reward_unavailable"),
        ("00000000-0000-0000-0000-000000000000", 404, "unknown_reward"),
        ("not-a-uuid", 422, "validation_error"),
    ]
    for reward_id, status, code in cases:
        r = await redeem(client, citizen, reward_id, key=f"k-{code}-{status}")
        assert (r.status_code, r.json()["code"]) == (status, code), (reward_id, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    no_key = await client.post("/v1/me/redemptions", json={"reward_id": pricey["id"]}, headers=citizen.headers)
    assert (no_key.status_code, no_key.json()["code"]) == (400, "idempotency_key_required")
    holds = await session.scalar(
        text("SELECT count(*) FROM postings WHERE user_id = :u AND kind = 'redemption_hold'"), {"u": citizen.id}
    )
    assert holds == 0
    assert await _balance(client, citizen.headers) == 150
    # the refused key was not burned: once affordable, the same key redeems
    cheap = await client.patch(f"/v1/admin/rewards/{pricey['id']}", json={"points": 150}, headers=operator.headers)
    assert cheap.status_code == 200
    assert (await redeem(client, citizen, pricey["id"], key="k-insufficient_points-409")).status_code == 201


async def test_a_negative_balance_blocks_every_redemption(client: AsyncClient, factory: Factory, app: FastAPI) -> None:
    operator, admin, citizen = await factory.admin("operator"), await factory.admin(), await factory.citizen()
    cheap = await reward(client, operator, points=1)
    await give(client, admin, citizen, 10)
    await give(client, admin, citizen, -30)
    r = await redeem(client, citizen, cheap["id"])
    assert (r.status_code, r.json()["code"]) == (409, "insufficient_points")
    assert "negative" in r.json()["detail"]
    # earnings that cover the debt open redemptions again; the lot holds only what is past the debt
    await give(client, admin, citizen, 21)
    assert [(p, rem) for _, p, rem in await lots(app, citizen)] == [(10, 0), (1, 1)]
    assert (await redeem(client, citizen, cheap["id"])).status_code == 201


async def test_points_are_taken_from_the_soonest_expiring_lots_and_a_cancel_puts_them_back(
    client: AsyncClient, factory: Factory, app: FastAPI
) -> None:
    operator, admin, citizen = await factory.admin("operator"), await factory.admin(), await factory.citizen()
    manual = await reward(client, operator, points=150, fulfilment="manual", kind="donation")
    # the newer lot is written first: the order is by expiry, not by insertion
    await give_at(app, admin, citizen, 100, datetime(2026, 6, 1, tzinfo=UTC))
    await give_at(app, admin, citizen, 100, datetime(2025, 6, 1, tzinfo=UTC))
    await give_at(app, admin, citizen, 40, datetime(2025, 12, 31, 15, 59, tzinfo=UTC))  # 23:59 local: still 2025
    by_expiry = [(at.astimezone(SHANGHAI).year, rem) for at, _, rem in await lots(app, citizen)]
    assert by_expiry == [(2027, 100), (2027, 40), (2028, 100)]

    held = await redeem(client, citizen, manual["id"])
    assert held.status_code == 201 and held.json()["status"] == "held" and held.json()["code"] is None
    assert [rem for _, _, rem in await lots(app, citizen)] == [0, 0, 90]
    assert await _balance(client, citizen.headers) == 90

    cancelled = await client.post(f"/v1/me/redemptions/{held.json()['id']}/cancel", headers=citizen.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert [rem for _, _, rem in await lots(app, citizen)] == [100, 40, 100]
    assert await _balance(client, citizen.headers) == 240
    account = (await client.get("/v1/me/account", headers=citizen.headers)).json()
    assert account["lifetime_spent"] == 0
    kinds = [e["kind"] for e in (await client.get("/v1/me/ledger", headers=citizen.headers)).json()["items"][:2]]
    assert kinds == ["redemption_release", "redemption_hold"]
    catalogue = (await client.get("/v1/admin/rewards?limit=500", headers=operator.headers)).json()["items"]
    assert next(x for x in catalogue if x["id"] == manual["id"])["stock"] == 10
    # cancelling again changes nothing; a cancelled redemption cannot be completed
    again = await client.post(f"/v1/me/redemptions/{held.json()['id']}/cancel", headers=citizen.headers)
    assert again.status_code == 200 and await _balance(client, citizen.headers) == 240
    late = await client.post(f"/v1/admin/redemptions/{held.json()['id']}/complete", json={}, headers=operator.headers)
    assert (late.status_code, late.json()["code"]) == (409, "invalid_redemption_state")


async def test_an_operator_completes_a_manual_redemption_and_then_it_cannot_be_cancelled(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    operator, admin, citizen = await factory.admin("operator"), await factory.admin(), await factory.citizen()
    trees = await reward(client, operator, points=50, fulfilment="manual", kind="donation")
    await give(client, admin, citizen, 50)
    held = (await redeem(client, citizen, trees["id"])).json()
    queue = await client.get(
        "/v1/admin/redemptions", params={"status": "held", "reward_id": trees["id"]}, headers=operator.headers
    )
    assert [(x["id"], x["user_id"]) for x in queue.json()["items"]] == [(held["id"], str(citizen.id))]
    assert (await client.get("/v1/admin/redemptions", headers=citizen.headers)).status_code == 401
    done = await client.post(f"/v1/admin/redemptions/{held['id']}/complete", json={"code": "TREE-42"}, headers=operator.headers)
    assert done.status_code == 200 and done.json()["status"] == "completed" and done.json()["code"] == "TREE-42"
    refused = await client.post(f"/v1/me/redemptions/{held['id']}/cancel", headers=citizen.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "invalid_redemption_state")
    audited = await session.scalar(
        text("SELECT after->>'status' FROM audit_log WHERE action = 'redemption.complete' AND target_id = :t"), {"t": held["id"]}
    )
    assert audited == "completed"
    assert await _balance(client, citizen.headers) == 0


async def test_pool_rewards_hand_out_uploaded_codes_once(client: AsyncClient, factory: Factory) -> None:
    operator, admin, citizen = await factory.admin("operator"), await factory.admin(), await factory.citizen()
    bad = await client.post(
        "/v1/admin/rewards", json={"name": "x", "points": 10, "stock": 5, "fulfilment": "pool"}, headers=operator.headers
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "stock_follows_codes")
    pool = await reward(client, operator, points=10, stock=0, fulfilment="pool")
    up = await client.post(
        f"/v1/admin/rewards/{pool['id']}/codes", json={"codes": ["CAFE-1", "CAFE-2", "CAFE-1"]}, headers=operator.headers
    )
    assert up.json() == {"added": 2, "skipped": 1, "stock": 2}
    again = await client.post(f"/v1/admin/rewards/{pool['id']}/codes", json={"codes": ["CAFE-2"]}, headers=operator.headers)
    assert again.json() == {"added": 0, "skipped": 1, "stock": 2}
    not_pool = await reward(client, operator)
    wrong = await client.post(f"/v1/admin/rewards/{not_pool['id']}/codes", json={"codes": ["A"]}, headers=operator.headers)
    assert (wrong.status_code, wrong.json()["code"]) == (422, "not_a_pool_reward")
    await give(client, admin, citizen, 100)
    codes = [(await redeem(client, citizen, pool["id"])).json().get("code") for _ in range(3)]
    assert codes[:2] == ["CAFE-1", "CAFE-2"]
    last = await redeem(client, citizen, pool["id"])
    assert (last.status_code, last.json()["code"]) == (409, "out_of_stock")
    assert await _balance(client, citizen.headers) == 80


async def test_a_citizen_never_sees_or_cancels_another_citizens_redemption(client: AsyncClient, factory: Factory) -> None:
    operator, admin = await factory.admin("operator"), await factory.admin()
    alice, bob = await factory.citizen(), await factory.citizen()
    manual = await reward(client, operator, points=10, fulfilment="manual")
    await give(client, admin, alice, 10)
    held = (await redeem(client, alice, manual["id"])).json()
    stolen = await client.post(f"/v1/me/redemptions/{held['id']}/cancel", headers=bob.headers)
    assert (stolen.status_code, stolen.json()["code"]) == (404, "unknown_redemption")
    peek = await client.get(f"/v1/me/redemptions/{held['id']}", headers=bob.headers)
    assert (peek.status_code, peek.json()["code"]) == (404, "unknown_redemption")
    own = await client.get(f"/v1/me/redemptions/{held['id']}", headers=alice.headers)
    assert own.status_code == 200 and own.json()["status"] == "held"
    assert (await client.get("/v1/me/redemptions", headers=bob.headers)).json()["items"] == []
    assert (await client.get("/v1/me/redemptions", headers=alice.headers)).json()["items"][0]["status"] == "held"
    assert await _balance(client, alice.headers) == 0


async def test_only_operators_and_admins_change_the_catalogue_and_every_change_is_audited(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    operator, auditor, citizen, partner = (
        await factory.admin("operator"),
        await factory.admin("auditor"),
        await factory.citizen(),
        await factory.partner(),
    )
    body = {"name": "Bike month", "points": 300, "stock": 5, "region": "huangpu", "kind": "transit_credit"}
    assert (await client.post("/v1/admin/rewards", json=body, headers=auditor.headers)).status_code == 403
    for actor in (citizen, partner):
        assert (await client.post("/v1/admin/rewards", json=body, headers=actor.headers)).status_code == 401
    assert (await client.get("/v1/rewards", headers=partner.headers)).status_code == 401
    unknown = await client.post("/v1/admin/rewards", json={**body, "region": "atlantis"}, headers=operator.headers)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_region")
    created = await reward(client, operator, **body)
    path = f"/v1/admin/rewards/{created['id']}"
    patched = await client.patch(path, json={"stock": 7, "region": None}, headers=operator.headers)
    assert patched.status_code == 200 and patched.json()["stock"] == 7 and patched.json()["region"] is None
    assert (await client.patch(path, json={"stock": 1}, headers=auditor.headers)).status_code == 403
    listed = (await client.get("/v1/admin/rewards?limit=500", headers=auditor.headers)).json()["items"]
    assert any(x["id"] == created["id"] for x in listed)
    rows = (
        await session.execute(
            text("SELECT action, before->>'stock', after->>'stock' FROM audit_log WHERE target_id = :t ORDER BY id"),
            {"t": created["id"]},
        )
    ).all()
    assert [tuple(r) for r in rows] == [("reward.create", None, "5"), ("reward.update", "5", "7")]


async def test_r3_concurrent_redemptions_of_the_last_items_never_oversell(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    operator, admin = await factory.admin("operator"), await factory.admin()
    last_items = await reward(client, operator, points=10, stock=3)
    citizens = [await factory.citizen() for _ in range(12)]
    for c in citizens:
        await give(client, admin, c, 10)
    answers = await asyncio.gather(*(redeem(client, c, last_items["id"]) for c in citizens))
    outcomes = sorted("ok" if a.status_code == 201 else a.json()["code"] for a in answers)
    assert outcomes == ["ok"] * 3 + ["out_of_stock"] * 9, outcomes
    stock = await session.scalar(text("SELECT stock FROM rewards WHERE id = :id"), {"id": last_items["id"]})
    assert stock == 0
    spent = await session.scalar(
        text("SELECT count(*) FROM redemptions WHERE reward_id = :id AND status = 'completed'"), {"id": last_items["id"]}
    )
    assert spent == 3


async def test_r3_concurrent_redemptions_of_a_whole_balance_never_overdraw_it(
    client: AsyncClient, factory: Factory, app: FastAPI
) -> None:
    operator, admin, citizen = await factory.admin("operator"), await factory.admin(), await factory.citizen()
    plenty = await reward(client, operator, points=100, stock=100)
    await give(client, admin, citizen, 250)
    await give(client, admin, citizen, 250)
    answers = await asyncio.gather(*(redeem(client, citizen, plenty["id"]) for _ in range(12)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 5 + [409] * 7, [a.text for a in answers if a.status_code not in (201, 409)]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"insufficient_points"}
    assert await _balance(client, citizen.headers) == 0
    assert sum(rem for _, _, rem in await lots(app, citizen)) == 0


async def test_cancelling_a_hold_after_a_debt_repays_the_debt_before_refilling_lots(
    client: AsyncClient, factory: Factory, app: FastAPI
) -> None:
    operator, admin, citizen = await factory.admin("operator"), await factory.admin(), await factory.citizen()
    manual = await reward(client, operator, points=100, fulfilment="manual")
    await give(client, admin, citizen, 100)
    held = (await redeem(client, citizen, manual["id"])).json()
    await give(client, admin, citizen, -50)  # taken back while the points were held (as a refund would)
    assert await _balance(client, citizen.headers) == -50
    cancelled = await client.post(f"/v1/me/redemptions/{held['id']}/cancel", headers=citizen.headers)
    assert cancelled.status_code == 200
    assert await _balance(client, citizen.headers) == 50
    assert [rem for _, _, rem in await lots(app, citizen)] == [50]


async def test_twenty_concurrent_redemptions_under_one_key_redeem_once(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    operator, admin, citizen = await factory.admin("operator"), await factory.admin(), await factory.citizen()
    offered = await reward(client, operator, points=10, stock=50)
    await give(client, admin, citizen, 100)
    answers = await asyncio.gather(*(redeem(client, citizen, offered["id"], key="tap-tap-tap") for _ in range(20)))
    assert {a.status_code for a in answers} == {201} and len({a.content for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 19
    made = await session.scalar(text("SELECT count(*) FROM redemptions WHERE user_id = :u"), {"u": citizen.id})
    assert made == 1 and await _balance(client, citizen.headers) == 90


async def test_text_postgresql_cannot_store_is_a_422_not_a_500(client: AsyncClient, factory: Factory) -> None:
    operator, recycler = await factory.admin("operator"), await factory.partner("recycling")
    reward_body = {"name": "coffee\x00", "points": 1, "stock": 1}
    station_body = {"partner_id": str(recycler.id), "name": "bins\x00", "region": "huangpu"}
    for path, body in (("/v1/admin/rewards", reward_body), ("/v1/admin/stations", station_body)):
        r = await client.post(path, json=body, headers=operator.headers)
        assert (r.status_code, r.json()["code"]) == (422, "invalid_characters"), r.text
