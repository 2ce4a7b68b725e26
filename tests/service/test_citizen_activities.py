"""Steps from the app, member references, and a citizen's own activities."""

import uuid
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient

from tests.factories import Factory
from tests.service.test_travel import trip


def shanghai_today() -> str:
    return (datetime.now(UTC) + timedelta(hours=8)).date().isoformat()


async def test_steps_award_only_the_increase_of_the_day(client: AsyncClient, factory: Factory) -> None:
    citizen = await factory.citizen()
    today = shanghai_today()
    first = await client.post("/v1/me/steps", json={"date": today, "steps": 5_000}, headers=citizen.headers)
    assert (first.status_code, first.json()["carbon_g"], first.json()["points"]) == (201, 100, 100)
    more = await client.post("/v1/me/steps", json={"date": today, "steps": 8_000}, headers=citizen.headers)
    assert (more.json()["points"], more.json()["breakdown"]["new_steps"]) == (60, 3_000)
    fewer = await client.post("/v1/me/steps", json={"date": today, "steps": 7_000}, headers=citizen.headers)
    assert (fewer.json()["status"], fewer.json()["points"]) == ("awarded", 0)
    again = await client.post("/v1/me/steps", json={"date": today, "steps": 8_000}, headers=citizen.headers)
    assert again.json()["points"] == 0
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 160


async def test_steps_are_capped_per_day_and_bounded(client: AsyncClient, factory: Factory) -> None:
    citizen = await factory.citizen()
    today = shanghai_today()
    big = await client.post("/v1/me/steps", json={"date": today, "steps": 40_000}, headers=citizen.headers)
    assert (big.json()["status"], big.json()["points"]) == ("capped", 300)
    absurd = await client.post("/v1/me/steps", json={"date": today, "steps": 70_000}, headers=citizen.headers)
    assert (absurd.json()["status"], absurd.json()["points"]) == ("rejected", 0)
    future = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    r = await client.post("/v1/me/steps", json={"date": future, "steps": 100}, headers=citizen.headers)
    assert r.json()["status"] == "rejected"
    for bad in ({"date": today, "steps": -1}, {"date": today, "steps": "10"}, {"date": "yesterday", "steps": 1}):
        r = await client.post("/v1/me/steps", json=bad, headers=citizen.headers)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error")


async def test_a_bound_member_reference_names_the_citizen_in_partner_posts(client: AsyncClient, factory: Factory) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    ref = f"card-{uuid.uuid4().hex[:10]}"
    r = await client.post(
        "/v1/me/identities", json={"partner_id": str(partner.id), "kind": "transit_card", "ref": ref}, headers=citizen.headers
    )
    assert r.status_code == 201, r.text
    identity_id = r.json()["id"]
    posted = await client.post("/v1/activities/travel", json=trip(citizen, user={"member_ref": ref}), headers=partner.headers)
    assert (posted.status_code, posted.json()["points"]) == (201, 468)
    listed = (await client.get("/v1/me/identities", headers=citizen.headers)).json()["items"]
    assert [i["ref"] for i in listed] == [ref]
    assert (await client.delete(f"/v1/me/identities/{identity_id}", headers=citizen.headers)).status_code == 204
    gone = await client.post("/v1/activities/travel", json=trip(citizen, user={"member_ref": ref}), headers=partner.headers)
    assert (gone.status_code, gone.json()["code"]) == (404, "unknown_member")


async def test_a_reference_bound_by_one_citizen_cannot_be_taken_or_removed_by_another(
    client: AsyncClient, factory: Factory
) -> None:
    partner, alice, bob = await factory.partner("transit"), await factory.citizen(), await factory.citizen()
    body = {"partner_id": str(partner.id), "kind": "transit_card", "ref": f"card-{uuid.uuid4().hex[:8]}"}
    first = await client.post("/v1/me/identities", json=body, headers=alice.headers)
    again = await client.post("/v1/me/identities", json=body, headers=alice.headers)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    taken = await client.post("/v1/me/identities", json=body, headers=bob.headers)
    assert (taken.status_code, taken.json()["code"]) == (409, "member_ref_taken")
    r = await client.delete(f"/v1/me/identities/{first.json()['id']}", headers=bob.headers)
    assert r.status_code == 404
    unknown = await client.post("/v1/me/identities", json=body | {"partner_id": str(uuid.uuid4())}, headers=alice.headers)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_partner")


async def test_a_citizen_reads_only_their_own_activities(client: AsyncClient, factory: Factory) -> None:
    partner, alice, bob = await factory.partner("transit"), await factory.citizen(), await factory.citizen()
    activity_id = (await client.post("/v1/activities/travel", json=trip(alice), headers=partner.headers)).json()["activity_id"]
    mine = await client.get(f"/v1/me/activities/{activity_id}", headers=alice.headers)
    assert mine.status_code == 200 and mine.json()["breakdown"]["scenario"] == "travel.metro"
    theirs = await client.get(f"/v1/me/activities/{activity_id}", headers=bob.headers)
    assert (theirs.status_code, theirs.json()["code"]) == (404, "not_found")
