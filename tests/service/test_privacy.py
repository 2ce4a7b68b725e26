"""PIPL: the export holds every piece of personal data; erasure removes the person, keeps the totals
and blocks every way back in; a citizen only ever exports or erases themselves."""

import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service import leaderboards
from service.settings import Settings
from service.usecases.check_ledger import check_database
from service.usecases.privacy import EXPORTERS
from tests.bank_helpers import link, make_bank, read_feed
from tests.factories import Actor, Factory
from tests.service.rewards_helpers import give, redeem, reward
from tests.service.test_auth import bearer, client_at, otp_sign_in
from tests.service.test_purchases import line, order, refund, shop

# Every table with a column naming a citizen, and where the export shows it (or why it need not).
EXPORTED_IN = {
    "users": "profile",
    "citizen_accounts": "account",
    "identities": "identities",
    "refresh_tokens": "sign_ins",
    "activities": "activities",
    "daily_steps": "daily_steps",
    "entries": "ledger",
    "postings": "ledger",  # the memo of each entry's posting
    "expiry_lots": "expiry_lots",
    "redemptions": "redemptions",
    "refunds": "refunds",
    "refund_lines": "refunds",
    "bank_links": "bank_links",
    "bank_consents": "bank_consents",
}
NOT_PERSONAL = {
    "activity_keys": "a partner's id → the answer it was given (the activity is exported)",
    "fingerprints": "a hash of an act, to credit it once (the activity is exported)",
    "daily_usage": "cap counters derived from the activities",
    "lot_moves": "bookkeeping of the lots (the lots are exported)",
    "reward_codes": "the pool of codes; the citizen's code is in its redemption",
    "campaign_citizen_spend": "cap counters derived from the bonus entries (in the ledger)",
    "bank_events": "the banks' feed: ledger entries as sent to linked banks (the ledger is exported)",
    "bank_link_codes": "single-use codes (hashed) that lived ten minutes; the links they made are exported",
}


def _trip(user: dict[str, str]) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(minutes=40)
    return {
        "external_id": uuid.uuid4().hex,
        "user": user,
        "mode": "metro",
        "distance_m": 8_000,
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=20)).isoformat(),
    }


async def test_every_table_naming_a_citizen_is_in_the_export_or_says_why_not(session: AsyncSession) -> None:
    rows = await session.execute(
        text(
            """
            SELECT DISTINCT table_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND column_name IN ('user_id', 'subject_id', 'phone')
            """
        )
    )
    tables = {r[0] for r in rows} | {"users"}
    unaccounted = tables - set(EXPORTED_IN) - set(NOT_PERSONAL) - {"otp_codes"}  # codes: hashed, minutes long, erased
    assert not unaccounted, f"export these tables (service/usecases/privacy.py) or say why not: {sorted(unaccounted)}"
    assert set(EXPORTED_IN.values()) <= set(EXPORTERS)


async def test_the_export_holds_everything_about_the_caller_and_nothing_about_others(
    app: FastAPI, settings: Settings, factory: Factory, client: AsyncClient, session: AsyncSession
) -> None:
    phone = "+86139" + "".join(secrets.choice("0123456789") for _ in range(8))
    async with client_at(app) as c:
        tokens = await otp_sign_in(c, settings, phone)
    me_headers = bearer(tokens["access_token"])
    user_id = (await client.get("/v1/me", headers=me_headers)).json()["id"]
    me = Actor(uuid.UUID(user_id), tokens["access_token"])
    partner, operator, admin = await factory.partner("transit"), await factory.admin("operator"), await factory.admin()
    other = await factory.citizen()
    ref = f"card-{secrets.token_hex(4)}"
    bound = await client.post(
        "/v1/me/identities", json={"partner_id": str(partner.id), "kind": "transit_card", "ref": ref}, headers=me_headers
    )
    assert bound.status_code == 201, bound.text
    trip = await client.post("/v1/activities/travel", json=_trip({"member_ref": ref}), headers=partner.headers)
    theirs = await client.post("/v1/activities/travel", json=_trip({"user_id": str(other.id)}), headers=partner.headers)
    steps = await client.post("/v1/me/steps", json={"date": date.today().isoformat(), "steps": 9_000}, headers=me_headers)
    assert steps.status_code == 201, steps.text
    merchant, store = await shop(factory)
    purchase = order(me, store, [line("LED-9W", 4)])
    assert (await client.post("/v1/purchases", json=purchase, headers=merchant.headers)).status_code == 201
    refunded = await refund(client, merchant, purchase["order_id"], [{"sku": "LED-9W", "quantity": 1}])
    assert refunded.status_code == 201, refunded.text
    await give(client, admin, me, 500)
    coupon = (await redeem(client, me, (await reward(client, operator, points=100))["id"])).json()
    bank = await make_bank(factory)
    link_id = await link(client, me, bank, customer_ref="CUST-EXPORT-1")

    r = await client.get("/v1/me/export", headers=me_headers)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    doc = r.json()
    assert set(EXPORTERS) <= set(doc) and doc["user_id"] == user_id
    assert doc["profile"]["phone"] == phone and doc["profile"]["region"] == "huangpu"
    assert doc["account"]["balance"] == (await client.get("/v1/me/account", headers=me_headers)).json()["balance"]
    assert [(i["kind"], i["ref"]) for i in doc["identities"]] == [("transit_card", ref)]
    assert len(doc["sign_ins"]) == 1
    activity_ids = {a["id"] for a in doc["activities"]}
    assert trip.json()["activity_id"] in activity_ids and theirs.json()["activity_id"] not in activity_ids
    assert all(isinstance(a["breakdown"], dict) and isinstance(a["measurements"], dict) for a in doc["activities"])
    assert [(s["day"], s["steps"]) for s in doc["daily_steps"]] == [(date.today().isoformat(), 9_000)]
    entries = await session.scalar(text("SELECT count(*) FROM entries WHERE user_id = :u AND account = 'citizen'"), {"u": me.id})
    assert len(doc["ledger"]) == entries == 6  # trip, steps, purchase, its refund, adjustment, redemption hold
    assert [(x["order_id"], x["lines"]) for x in doc["refunds"]] == [(purchase["order_id"], [{"sku": "LED-9W", "quantity": 1}])]
    assert [(x["id"], x["code"]) for x in doc["redemptions"]] == [(coupon["id"], coupon["code"])]
    assert sum(lot["remaining"] for lot in doc["expiry_lots"]) == doc["account"]["balance"]
    assert [(x["link_id"], x["customer_ref"]) for x in doc["bank_links"]] == [(link_id, "CUST-EXPORT-1")]
    assert [(x["link_id"], x["action"]) for x in doc["bank_consents"]] == [(link_id, "granted")]
    assert str(other.id) not in r.text
    assert (await client.get("/v1/me/export", headers=partner.headers)).status_code == 401


async def test_erasure_removes_the_person_keeps_the_totals_and_blocks_sign_in(
    app: FastAPI, settings: Settings, factory: Factory, client: AsyncClient, session: AsyncSession, database_url: str
) -> None:
    phone = "+86137" + "".join(secrets.choice("0123456789") for _ in range(8))
    async with client_at(app) as c:
        tokens = await otp_sign_in(c, settings, phone)
    headers = bearer(tokens["access_token"])
    user_id = uuid.UUID((await client.get("/v1/me", headers=headers)).json()["id"])
    me = Actor(user_id, tokens["access_token"])
    partner, operator, admin = await factory.partner("transit"), await factory.admin("operator"), await factory.admin()
    ref = f"card-{secrets.token_hex(4)}"
    await client.post(
        "/v1/me/identities", json={"partner_id": str(partner.id), "kind": "transit_card", "ref": ref}, headers=headers
    )
    earned = (await client.post("/v1/activities/travel", json=_trip({"member_ref": ref}), headers=partner.headers)).json()
    await give(client, admin, me, 300)
    held = (await redeem(client, me, (await reward(client, operator, points=200, fulfilment="manual"))["id"])).json()
    assert held["status"] == "held"
    bank = await make_bank(factory)
    link_id = await link(client, me, bank)
    carbon_before = await session.scalar(text("SELECT sum(carbon_g) FROM entries WHERE account = 'citizen'"))
    assert (await client.get("/v1/leaderboards/weekly", headers=headers)).json()["me"]["carbon_g"] == earned["carbon_g"]
    in_flight = await client.post("/v1/activities/travel", json=_trip({"user_id": str(user_id)}), headers=partner.headers)
    assert in_flight.status_code == 201  # on its way to the boards when the erasure comes

    erased = await client.delete("/v1/me", headers=headers)
    assert erased.status_code == 204, erased.text

    # every way back in is closed
    assert (await client.get("/v1/me/account", headers=headers)).status_code == 401
    assert (await client.delete("/v1/me", headers=headers)).status_code == 401
    async with client_at(app) as c:
        refreshed = await c.post(
            "/v1/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        )
        assert (refreshed.status_code, refreshed.json()["code"]) == (400, "invalid_grant")
        again = await otp_sign_in(c, settings, phone)
    newcomer = (await client.get("/v1/me", headers=bearer(again["access_token"]))).json()
    assert newcomer["id"] != str(user_id)
    assert (await client.get("/v1/me/account", headers=bearer(again["access_token"]))).json()["balance"] == 0
    # partners can no longer reach the erased citizen
    by_ref = await client.post("/v1/activities/travel", json=_trip({"member_ref": ref}), headers=partner.headers)
    by_id = await client.post("/v1/activities/travel", json=_trip({"user_id": str(user_id)}), headers=partner.headers)
    assert [by_ref.json()["code"], by_id.json()["code"]] == ["unknown_member", "unknown_member"]

    # off the boards, and nothing of theirs still in flight reaches them
    await app.state.leaderboards.flush()
    for period in leaderboards.Period:
        board = await leaderboards.read(
            app.state.redis, period, region=None, now=datetime.now(UTC), limit=1, user_id=str(user_id)
        )
        assert board.me is None

    # the bank's link is revoked: its reads fail and its feed carries the revocation
    read = await client.get(f"/v1/bank/links/{link_id}/account", headers=bank.headers)
    assert (read.status_code, read.json()["code"]) == (403, "consent_revoked")
    feed, _ = await read_feed(client, bank)
    assert [i["kind"] for i in feed if i["link_id"] == link_id][-1] == "revocation"

    # the person is gone, the pseudonymous ledger stays whole
    user = (await session.execute(text("SELECT phone, erased_at FROM users WHERE id = :u"), {"u": user_id})).one()
    assert user.phone is None and user.erased_at is not None
    assert await session.scalar(text("SELECT count(*) FROM identities WHERE user_id = :u"), {"u": user_id}) == 0
    customers = await session.scalars(text("SELECT customer_ref FROM bank_links WHERE user_id = :u"), {"u": user_id})
    assert list(customers) == [""]  # the bank's customer number tied the ledger to a person
    live = "SELECT count(*) FROM refresh_tokens WHERE subject_id = :u AND revoked_at IS NULL"
    assert await session.scalar(text(live), {"u": user_id}) == 0
    status = await session.scalar(text("SELECT status FROM redemptions WHERE id = :id"), {"id": uuid.UUID(held["id"])})
    assert status == "cancelled"
    balance = await session.scalar(text("SELECT balance FROM citizen_accounts WHERE user_id = :u"), {"u": user_id})
    assert balance == earned["points"] + in_flight.json()["points"] + 300
    assert await session.scalar(text("SELECT sum(carbon_g) FROM entries WHERE account = 'citizen'")) >= carbon_before
    report = await check_database(database_url)
    assert report.ok, report.violations


async def test_a_citizen_can_only_erase_themselves(client: AsyncClient, factory: Factory, session: AsyncSession) -> None:
    alice, bob = await factory.citizen(), await factory.citizen()
    assert (await client.delete("/v1/me", headers=alice.headers)).status_code == 204
    assert (await client.get("/v1/me", headers=bob.headers)).status_code == 200
    phones = await session.execute(text("SELECT id, phone FROM users WHERE id IN (:a, :b)"), {"a": alice.id, "b": bob.id})
    assert {row.id: row.phone is None for row in phones} == {alice.id: True, bob.id: False}


async def test_partners_never_see_a_phone_number(client: AsyncClient, factory: Factory) -> None:
    phone = "+86136" + "".join(secrets.choice("0123456789") for _ in range(8))
    citizen, transit = await factory.citizen(phone=phone), await factory.partner("transit")
    merchant, store = await shop(factory)
    ref = f"card-{secrets.token_hex(4)}"
    bound = await client.post(
        "/v1/me/identities", json={"partner_id": str(transit.id), "kind": "transit_card", "ref": ref}, headers=citizen.headers
    )
    assert bound.status_code == 201
    answers = [
        await client.post("/v1/activities/travel", json=_trip({"member_ref": ref}), headers=transit.headers),
        await client.post(
            "/v1/activities/travel:batch", json={"items": [_trip({"user_id": str(citizen.id)})]}, headers=transit.headers
        ),
    ]
    answers.append(await client.get(f"/v1/activities/{answers[0].json()['activity_id']}", headers=transit.headers))
    purchase = order(citizen, store, [line("LED-9W", 2)])
    answers.append(await client.post("/v1/purchases", json=purchase, headers=merchant.headers))
    answers.append(await refund(client, merchant, purchase["order_id"], [{"sku": "LED-9W", "quantity": 1}]))
    assert [a.status_code for a in answers] == [201, 200, 200, 201, 201], [a.text for a in answers]
    for answer in answers:
        assert phone[-8:] not in answer.text and "phone" not in answer.text
