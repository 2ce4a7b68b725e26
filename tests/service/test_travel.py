"""POST /v1/activities/travel and travel:batch through the award pipeline."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Actor, Factory


def trip(citizen: Actor, external_id: str | None = None, **over: Any) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(hours=1)
    body = {
        "external_id": external_id or uuid.uuid4().hex,
        "user": {"user_id": str(citizen.id)},
        "mode": "metro",
        "distance_m": 10_000,
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=25)).isoformat(),
    }
    return body | over


async def test_a_metro_trip_earns_carbon_and_points_with_a_breakdown(client: AsyncClient, factory: Factory) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    r = await client.post("/v1/activities/travel", json=trip(citizen), headers=partner.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["carbon_g"], body["points"], body["bonus_points"]) == ("awarded", 468, 468, 0)
    assert body["breakdown"]["methodology"] == "default-2025" and body["breakdown"]["distance_km"] == "10.000"
    ledger = (await client.get("/v1/me/ledger", headers=citizen.headers)).json()["items"]
    assert [(e["kind"], e["points"], e["carbon_g"], e["scenario"], e["activity_id"]) for e in ledger] == [
        ("award", 468, 468, "travel.metro", body["activity_id"])
    ]
    account = (await client.get("/v1/me/account", headers=citizen.headers)).json()
    assert account["carbon_g_by_scenario"] == {"travel.metro": 468} and account["lifetime_earned"] == 468
    mine = await client.get(f"/v1/activities/{body['activity_id']}", headers=partner.headers)
    assert mine.status_code == 200 and mine.json()["points"] == 468


async def test_another_partner_cannot_read_the_activity(client: AsyncClient, factory: Factory) -> None:
    partner, other, citizen = await factory.partner("transit"), await factory.partner("transit"), await factory.citizen()
    activity_id = (await client.post("/v1/activities/travel", json=trip(citizen), headers=partner.headers)).json()["activity_id"]
    r = await client.get(f"/v1/activities/{activity_id}", headers=other.headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


async def test_an_implausible_trip_is_stored_as_rejected(client: AsyncClient, factory: Factory) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    r = await client.post("/v1/activities/travel", json=trip(citizen, distance_m=70_000), headers=partner.headers)  # 168 km/h
    assert r.status_code == 201
    assert (r.json()["status"], r.json()["points"]) == ("rejected", 0)
    assert "km/h" in r.json()["reason"]
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 0


async def test_malformed_trips_are_422_and_write_nothing(client: AsyncClient, factory: Factory, session: AsyncSession) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    start = datetime.now(UTC) - timedelta(hours=1)
    bad = [
        trip(citizen, distance_m=-5),
        trip(citizen, distance_m=1.5),
        trip(citizen, mode="car"),
        trip(citizen, ended_at=(start - timedelta(minutes=1)).isoformat(), started_at=start.isoformat()),
        trip(citizen, started_at="2025-05-01T10:00:00"),  # no offset
        trip(citizen, user={"user_id": str(citizen.id), "member_ref": "x"}),
        trip(citizen, user={}),
        {**trip(citizen), "extra": 1},
    ]
    for body in bad:
        r = await client.post("/v1/activities/travel", json=body, headers=partner.headers)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), body
    count = await session.scalar(text("SELECT count(*) FROM activities WHERE user_id = :u"), {"u": citizen.id})
    assert count == 0


async def test_unknown_user_and_member_ref_are_404_unknown_member(client: AsyncClient, factory: Factory) -> None:
    partner = await factory.partner("transit")
    ghost = Actor(uuid.uuid4(), "")
    r = await client.post("/v1/activities/travel", json=trip(ghost), headers=partner.headers)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_member")
    r = await client.post("/v1/activities/travel", json=trip(ghost, user={"member_ref": "card-unknown"}), headers=partner.headers)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_member")


async def test_scopes_decide_who_reports_trips(client: AsyncClient, factory: Factory) -> None:
    citizen = await factory.citizen()
    recycler = await factory.partner("recycling")
    r = await client.post("/v1/activities/travel", json=trip(citizen), headers=recycler.headers)
    assert (r.status_code, r.json()["code"]) == (403, "insufficient_scope")
    r = await client.post("/v1/activities/travel", json=trip(citizen), headers=citizen.headers)
    assert r.status_code == 401


async def test_r1_100_concurrent_identical_posts_award_once(client: AsyncClient, factory: Factory, session: AsyncSession) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    body = trip(citizen, external_id="same-trip")
    responses = await asyncio.gather(
        *(client.post("/v1/activities/travel", json=body, headers=partner.headers) for _ in range(100))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 99
    assert await session.scalar(text("SELECT count(*) FROM activities WHERE user_id = :u"), {"u": citizen.id}) == 1
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 468
    changed = await client.post("/v1/activities/travel", json=body | {"distance_m": 9_000}, headers=partner.headers)
    assert (changed.status_code, changed.json()["code"]) == (409, "idempotency_conflict")


async def test_one_id_posted_at_once_for_different_citizens_is_awarded_once(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    """Different citizens share no lock and no account version: only the unique key on
    (partner, external_id) can stop the second award, and the losers must answer 409, not 500."""
    partner = await factory.partner("transit")
    citizens = [await factory.citizen() for _ in range(20)]
    responses = await asyncio.gather(
        *(client.post("/v1/activities/travel", json=trip(c, external_id="contested"), headers=partner.headers) for c in citizens)
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 19, [r.text for r in responses if r.status_code not in (201, 409)]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"idempotency_conflict"}
    stored = await session.scalar(
        text("SELECT count(*) FROM activities WHERE partner_id = :p AND external_id = 'contested'"), {"p": partner.id}
    )
    assert stored == 1


async def test_concurrent_trips_of_one_citizen_never_pass_the_daily_cap(client: AsyncClient, factory: Factory) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    responses = await asyncio.gather(
        *(client.post("/v1/activities/travel", json=trip(citizen), headers=partner.headers) for _ in range(12))
    )
    assert {r.status_code for r in responses} == {201}
    points = [r.json()["points"] for r in responses]
    assert sum(points) == 1000  # 12 × 468 would be 5,616; the travel cap is 1,000 a day
    assert sorted(r.json()["status"] for r in responses).count("awarded") == 2
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 1000


async def test_the_same_act_from_two_partners_is_awarded_once(client: AsyncClient, factory: Factory) -> None:
    metro, bank_like, citizen = await factory.partner("transit"), await factory.partner("transit"), await factory.citizen()
    first = await client.post("/v1/activities/travel", json=trip(citizen, fingerprint="act-fp-0001"), headers=metro.headers)
    second = await client.post("/v1/activities/travel", json=trip(citizen, fingerprint="act-fp-0001"), headers=bank_like.headers)
    assert first.json()["status"] == "awarded"
    assert (second.status_code, second.json()["status"], second.json()["points"]) == (201, "duplicate", 0)
    assert first.json()["activity_id"] in second.json()["reason"]
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 468


async def test_batch_awards_good_items_and_reports_each_bad_one(client: AsyncClient, factory: Factory) -> None:
    partner, alice, bob = await factory.partner("transit"), await factory.citizen(), await factory.citizen()
    first = trip(alice, external_id="b-1", distance_m=5_000)
    items = [
        first,
        trip(bob, external_id="b-2", mode="bus"),
        {"external_id": "b-3", "mode": "rocket"},
        trip(Actor(uuid.uuid4(), ""), external_id="b-4"),
        dict(first),  # the same item twice in one batch
        first | {"distance_m": 6_000},  # the same id with another body
    ]
    r = await client.post("/v1/activities/travel:batch", json={"items": items}, headers=partner.headers)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status_code"] for x in results] == [201, 201, 422, 404, 201, 409]
    assert results[2]["problem"]["code"] == "validation_error"
    assert results[3]["problem"]["code"] == "unknown_member"
    assert results[4]["replayed"] and results[4]["activity"] == results[0]["activity"]
    assert results[5]["problem"]["code"] == "idempotency_conflict"
    assert (r.json()["awarded"], r.json()["failed"]) == (3, 3)
    assert (await client.get("/v1/me/account", headers=alice.headers)).json()["balance"] == 234
    assert (await client.get("/v1/me/account", headers=bob.headers)).json()["balance"] == 269
    again = await client.post("/v1/activities/travel:batch", json={"items": items[:2]}, headers=partner.headers)
    assert [x["replayed"] for x in again.json()["results"]] == [True, True]
    single = await client.post("/v1/activities/travel", json=items[0], headers=partner.headers)
    assert single.headers["Idempotent-Replayed"] == "true"


async def test_batch_size_is_bounded(client: AsyncClient, factory: Factory) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    r = await client.post("/v1/activities/travel:batch", json={"items": [trip(citizen)] * 1001}, headers=partner.headers)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    r = await client.post("/v1/activities/travel:batch", json={"items": []}, headers=partner.headers)
    assert r.status_code == 422


async def test_awards_create_expiry_lots(client: AsyncClient, factory: Factory, session: AsyncSession) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    await client.post("/v1/activities/travel", json=trip(citizen, mode="bike", distance_m=5_000), headers=partner.headers)
    lot = (
        await session.execute(text("SELECT points, remaining, expires_at FROM expiry_lots WHERE user_id = :u"), {"u": citizen.id})
    ).one()
    assert (lot.points, lot.remaining) == (200, 200)
    shanghai_year = (datetime.now(UTC) + timedelta(hours=8)).year
    assert lot.expires_at == datetime(shanghai_year + 2, 1, 1, tzinfo=UTC) - timedelta(hours=8)


async def test_concurrent_batches_over_the_same_citizens_all_finish_within_the_caps(
    client: AsyncClient, factory: Factory
) -> None:
    """Six batches at once, each with two trips for every one of the same eight citizens (listed in
    different orders): every batch contends for every citizen, in rounds, without a deadlock, and
    no citizen passes the daily travel cap (1,000 points; a 10 km trip is 468)."""
    partner = await factory.partner("transit")
    citizens = [await factory.citizen() for _ in range(8)]

    def batch(n: int) -> dict[str, Any]:
        order = citizens[n % 8 :] + citizens[: n % 8]
        return {"items": [trip(c) for c in order for _ in range(2)]}

    responses = await asyncio.gather(
        *(client.post("/v1/activities/travel:batch", json=batch(n), headers=partner.headers) for n in range(6))
    )
    assert {r.status_code for r in responses} == {200}
    results = [x for r in responses for x in r.json()["results"]]
    assert {x["status_code"] for x in results} == {201}
    assert sum(x["activity"]["points"] for x in results) == 8 * 1000
    for citizen in citizens:
        assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 1000


async def test_a_large_batch_keeps_each_citizens_order_and_the_first_user_of_an_id(client: AsyncClient, factory: Factory) -> None:
    """600 items: 40 citizens with 15 trips each, interleaved, so every citizen reaches the daily
    cap in item order; plus one external_id used for two citizens (the first in batch order wins,
    the second is 409) and an exact repeat (a replay of the first)."""
    partner = await factory.partner("transit")
    citizens = [await factory.citizen() for _ in range(40)]
    items = [trip(c, external_id=f"big-{n}-{i}") for n in range(15) for i, c in enumerate(citizens)]
    items[5] = trip(citizens[5], external_id="shared")
    items[46] = trip(citizens[6], external_id="shared")  # another citizen's trip under the same id
    items[47] = dict(items[5])
    r = await client.post("/v1/activities/travel:batch", json={"items": items}, headers=partner.headers)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == list(range(600))
    assert results[5]["status_code"] == 201 and not results[5]["replayed"]
    assert (results[46]["status_code"], results[46]["problem"]["code"]) == (409, "idempotency_conflict")
    assert results[47]["replayed"] and results[47]["activity"] == results[5]["activity"]
    for i, citizen in enumerate(citizens):
        mine = [results[n * 40 + i] for n in range(15) if n * 40 + i not in (46, 47)]
        points = [x["activity"]["points"] for x in mine]
        assert points[:3] == [468, 468, 64] and set(points[3:]) == {0}, (i, points)
        assert [x["activity"]["status"] for x in mine[:3]] == ["awarded", "awarded", "capped"]
        assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 1000
