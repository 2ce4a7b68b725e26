"""POST /v1/bank/activities: the bank's green behaviours through the award pipeline; no double counting; bad input."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient

from tests.bank_helpers import link, make_bank
from tests.factories import Factory
from tests.service.test_purchases import campaign
from tests.service.test_travel import trip


def behaviour(link_id: str, **over: Any) -> dict[str, Any]:
    body = {
        "external_id": uuid.uuid4().hex,
        "link_id": link_id,
        "behaviour": "online_banking",
        "quantity": 2,
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
    }
    return body | over


async def test_a_bank_behaviour_is_awarded_with_a_provisional_factor(client: AsyncClient, factory: Factory) -> None:
    citizen, bank = await factory.citizen(), await make_bank(factory)
    link_id = await link(client, citizen, bank)
    body = behaviour(link_id)
    r = await client.post("/v1/bank/activities", json=body, headers=bank.headers)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert (answer["status"], answer["scenario"], answer["carbon_g"], answer["points"]) == (
        "awarded",
        "bank.online_banking",
        100,
        100,
    )
    assert answer["breakdown"]["factor"]["confidence"] == "provisional" and answer["breakdown"]["quantity"] == 2
    again = await client.post("/v1/bank/activities", json=body, headers=bank.headers)
    assert (again.status_code, again.text, again.headers.get("Idempotent-Replayed")) == (201, r.text, "true")
    conflict = await client.post("/v1/bank/activities", json=body | {"quantity": 3}, headers=bank.headers)
    assert (conflict.status_code, conflict.json()["code"]) == (409, "idempotency_conflict")
    ledger = (await client.get("/v1/me/ledger", headers=citizen.headers)).json()["items"]
    assert [(e["kind"], e["points"], e["scenario"]) for e in ledger] == [("award", 100, "bank.online_banking")]


async def test_the_bank_daily_cap_holds_under_concurrent_reports(client: AsyncClient, factory: Factory) -> None:
    citizen, bank = await factory.citizen(), await make_bank(factory)
    link_id = await link(client, citizen, bank)
    answers = await asyncio.gather(
        *(client.post("/v1/bank/activities", json=behaviour(link_id, quantity=4), headers=bank.headers) for _ in range(5))
    )
    assert all(a.status_code == 201 for a in answers)
    assert sum(a.json()["points"] for a in answers) == 500  # 5 × 200 g, cut to the bank family's 500
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 500


async def test_the_same_act_from_the_transit_operator_and_the_bank_is_credited_once_either_way(
    client: AsyncClient, factory: Factory
) -> None:
    metro, bank = await factory.partner("transit"), await make_bank(factory)
    # transit first, then the bank
    citizen = await factory.citizen()
    link_id = await link(client, citizen, bank)
    first = await client.post("/v1/activities/travel", json=trip(citizen, fingerprint="card-tap-000001"), headers=metro.headers)
    assert first.json()["status"] == "awarded"
    second = await client.post(
        "/v1/bank/activities", json=behaviour(link_id, fingerprint="card-tap-000001"), headers=bank.headers
    )
    assert (second.status_code, second.json()["status"], second.json()["points"]) == (201, "duplicate", 0)
    # the bank first, then transit
    other = await factory.citizen()
    other_link = await link(client, other, bank)
    first = await client.post(
        "/v1/bank/activities", json=behaviour(other_link, fingerprint="card-tap-000002"), headers=bank.headers
    )
    assert first.json()["status"] == "awarded"
    second = await client.post("/v1/activities/travel", json=trip(other, fingerprint="card-tap-000002"), headers=metro.headers)
    assert (second.json()["status"], second.json()["points"]) == ("duplicate", 0)
    assert (await client.get("/v1/me/account", headers=other.headers)).json()["balance"] == 100


async def test_bad_bank_input_gets_clear_problems(client: AsyncClient, factory: Factory) -> None:
    citizen, bank, other = await factory.citizen(), await make_bank(factory), await make_bank(factory)
    link_id = await link(client, citizen, bank)

    async def post(body: dict[str, Any], who: Any = bank) -> Any:
        return await client.post("/v1/bank/activities", json=body, headers=who.headers)

    r = await post(behaviour(str(uuid.uuid4())))
    assert (r.status_code, r.json()["code"]) == (404, "unknown_link")
    r = await post(behaviour(link_id), who=other)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_link")
    for bad in (
        {"quantity": "2"},
        {"quantity": 2.5},
        {"quantity": 0},
        {"quantity": 10**12},
        {"behaviour": "crypto_mining"},
        {"occurred_at": "yesterday"},
        {"occurred_at": "2026-01-01T00:00:00"},  # no offset
        {"link_id": "not-a-uuid"},
        {"external_id": ""},
        {"surprise": True},
    ):
        r = await post(behaviour(link_id) | bad)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), (bad, r.text)
    future = await post(behaviour(link_id, occurred_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()))
    assert (future.status_code, future.json()["status"], future.json()["reason"]) == (
        201,
        "rejected",
        "occurred_at is in the future",
    )
    huge = await post(behaviour(link_id, behaviour="e_statement", quantity=1000))
    assert (huge.json()["status"], huge.json()["points"]) == ("rejected", 0)
    assert "per report maximum" in huge.json()["reason"]
    scoped = await link(client, await factory.citizen(), bank, scopes=["account:read"])
    r = await post(behaviour(scoped))
    assert (r.status_code, r.json()["code"]) == (403, "consent_scope_missing")


async def test_campaigns_apply_to_bank_behaviours_like_any_scenario(client: AsyncClient, factory: Factory) -> None:
    admin, citizen = await factory.admin("operator"), await factory.citizen()
    bank = await make_bank(factory, region="putuo")  # a region and behaviour no other test's campaign touches
    await campaign(client, admin, regions=["putuo"], scenarios=["bank.green_loan_repayment"], budget=10_000)
    link_id = await link(client, citizen, bank)
    r = await client.post(
        "/v1/bank/activities", json=behaviour(link_id, behaviour="green_loan_repayment", quantity=1), headers=bank.headers
    )
    assert r.status_code == 201, r.text
    assert (r.json()["carbon_g"], r.json()["points"], r.json()["bonus_points"]) == (100, 100, 100)
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 200
