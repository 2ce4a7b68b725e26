"""api.md: repeating a partner write "returns the original result (same status and body)", whatever
has changed since: the station or store closed, the bank link revoked, the member reference
unbound. Only the stored answer decides; a new id meets today's checks."""

import uuid

from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import text

from tests.bank_helpers import link, make_bank
from tests.factories import Factory
from tests.service.test_bank_activities import behaviour
from tests.service.test_recycling import dropoff
from tests.service.test_travel import trip


def _same(first: Response, again: Response) -> None:
    assert (again.status_code, again.text, again.headers.get("Idempotent-Replayed")) == (201, first.text, "true")


async def test_a_retry_after_the_station_closed_gets_its_original_answer(
    app: FastAPI, client: AsyncClient, factory: Factory
) -> None:
    operator, citizen = await factory.partner("recycling"), await factory.citizen()
    station = await factory.station(operator.id)
    body = dropoff(citizen, station, [{"category": "glass", "weight_g": 1000}])
    first = await client.post("/v1/activities/recycling", json=body, headers=operator.headers)
    assert first.status_code == 201, first.text
    async with app.state.sessionmaker() as s, s.begin():
        await s.execute(text("UPDATE stations SET active = false WHERE id = :id"), {"id": station})
    app.state.directory.forget()
    _same(first, await client.post("/v1/activities/recycling", json=body, headers=operator.headers))
    elsewhere = body | {"station_id": str(uuid.uuid4())}
    changed = await client.post("/v1/activities/recycling", json=elsewhere, headers=operator.headers)
    assert (changed.status_code, changed.json()["code"]) == (409, "idempotency_conflict")
    fresh = await client.post("/v1/activities/recycling", json=body | {"external_id": "new"}, headers=operator.headers)
    assert (fresh.status_code, fresh.json()["code"]) == (422, "station_inactive")


async def test_a_retry_after_the_member_reference_was_unbound_gets_its_original_answer(
    client: AsyncClient, factory: Factory
) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    ref = f"card-{uuid.uuid4().hex[:8]}"
    bound = await client.post(
        "/v1/me/identities", json={"partner_id": str(partner.id), "kind": "transit_card", "ref": ref}, headers=citizen.headers
    )
    assert bound.status_code == 201, bound.text
    body = trip(citizen) | {"user": {"member_ref": ref}}
    first = await client.post("/v1/activities/travel", json=body, headers=partner.headers)
    assert first.status_code == 201, first.text
    assert (await client.delete(f"/v1/me/identities/{bound.json()['id']}", headers=citizen.headers)).status_code == 204
    _same(first, await client.post("/v1/activities/travel", json=body, headers=partner.headers))
    batch = await client.post("/v1/activities/travel:batch", json={"items": [body]}, headers=partner.headers)
    assert batch.json()["results"][0]["replayed"] is True
    assert batch.json()["results"][0]["activity"] == first.json()
    fresh = await client.post("/v1/activities/travel", json=body | {"external_id": "new"}, headers=partner.headers)
    assert (fresh.status_code, fresh.json()["code"]) == (404, "unknown_member")


async def test_a_retry_after_the_bank_link_was_revoked_gets_its_original_answer(client: AsyncClient, factory: Factory) -> None:
    citizen, bank = await factory.citizen(), await make_bank(factory)
    link_id = await link(client, citizen, bank)
    body = behaviour(link_id)
    first = await client.post("/v1/bank/activities", json=body, headers=bank.headers)
    assert first.status_code == 201, first.text
    assert (await client.delete(f"/v1/me/bank-links/{link_id}", headers=citizen.headers)).status_code == 204
    _same(first, await client.post("/v1/bank/activities", json=body, headers=bank.headers))
    fresh = await client.post("/v1/bank/activities", json=body | {"external_id": "new"}, headers=bank.headers)
    assert (fresh.status_code, fresh.json()["code"]) == (403, "consent_revoked")
