"""POST /v1/activities/recycling: stations, categories, weights."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient

from tests.factories import Actor, Factory


def dropoff(citizen: Actor, station_id: uuid.UUID, items: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    return {
        "external_id": uuid.uuid4().hex,
        "station_id": str(station_id),
        "user": {"user_id": str(citizen.id)},
        "items": items,
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
    } | over


async def test_a_dropoff_earns_per_category_and_weight(client: AsyncClient, factory: Factory) -> None:
    operator, citizen = await factory.partner("recycling", region="putuo"), await factory.citizen()
    station = await factory.station(operator.id, region="putuo")
    items = [{"category": "paper", "weight_g": 500}, {"category": "aluminium", "weight_g": 100}]
    r = await client.post("/v1/activities/recycling", json=dropoff(citizen, station, items), headers=operator.headers)
    assert r.status_code == 201, r.text
    assert (r.json()["carbon_g"], r.json()["points"]) == (880 + 811, 1691)
    ledger = (await client.get("/v1/me/ledger", headers=citizen.headers)).json()["items"]
    assert sorted((e["scenario"], e["points"]) for e in ledger) == [("recycling.aluminium", 811), ("recycling.paper", 880)]


async def test_station_must_exist_belong_to_the_partner_and_be_active(client: AsyncClient, factory: Factory) -> None:
    operator, other, citizen = await factory.partner("recycling"), await factory.partner("recycling"), await factory.citizen()
    items = [{"category": "glass", "weight_g": 1000}]
    theirs = await factory.station(other.id)
    closed = await factory.station(operator.id, active=False)
    for station, status, code in (
        (uuid.uuid4(), 404, "unknown_station"),
        (theirs, 404, "unknown_station"),
        (closed, 422, "station_inactive"),
    ):
        r = await client.post("/v1/activities/recycling", json=dropoff(citizen, station, items), headers=operator.headers)
        assert (r.status_code, r.json()["code"]) == (status, code)


async def test_unknown_categories_and_bad_weights_are_refused(client: AsyncClient, factory: Factory) -> None:
    operator, citizen = await factory.partner("recycling"), await factory.citizen()
    station = await factory.station(operator.id)
    r = await client.post(
        "/v1/activities/recycling",
        json=dropoff(citizen, station, [{"category": "uranium", "weight_g": 1}]),
        headers=operator.headers,
    )
    assert (r.status_code, r.json()["code"]) == (422, "unknown_category")
    for weight in (0, -3, 2.5, "100"):
        r = await client.post(
            "/v1/activities/recycling",
            json=dropoff(citizen, station, [{"category": "glass", "weight_g": weight}]),
            headers=operator.headers,
        )
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), weight
    heavy = await client.post(
        "/v1/activities/recycling",
        json=dropoff(citizen, station, [{"category": "glass", "weight_g": 60_000}]),
        headers=operator.headers,
    )
    assert (heavy.status_code, heavy.json()["status"]) == (201, "rejected")


async def test_recycling_is_capped_at_2000_points_a_day(client: AsyncClient, factory: Factory) -> None:
    operator, citizen = await factory.partner("recycling"), await factory.citizen()
    station = await factory.station(operator.id)
    r = await client.post(
        "/v1/activities/recycling",
        json=dropoff(citizen, station, [{"category": "aluminium", "weight_g": 1_000}]),
        headers=operator.headers,
    )
    assert (r.json()["status"], r.json()["carbon_g"], r.json()["points"]) == ("capped", 8110, 2000)
