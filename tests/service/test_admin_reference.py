"""Administration of methodology versions and recycling stations."""

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Factory
from tests.service.test_travel import trip

SEED = json.loads((Path(__file__).resolve().parents[2] / "seeds" / "methodologies" / "default-2025.json").read_text())


def version(**over: Any) -> dict[str, Any]:
    doc = copy.deepcopy(SEED)
    doc |= {"id": f"test-{uuid.uuid4().hex[:8]}", "effective_from": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    return doc | over


async def test_operators_add_versions_and_anyone_admin_reads_them(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    operator, auditor = await factory.admin("operator"), await factory.admin("auditor")
    body = version(region="jinshan", rate_points_per_g="0.5")
    r = await client.post("/v1/admin/methodologies", json=body, headers=operator.headers)
    assert r.status_code == 201, r.text
    listed = (await client.get("/v1/admin/methodologies", headers=auditor.headers)).json()["items"]
    assert {m["id"] for m in listed} >= {"default-2025", body["id"]}
    again = await client.post("/v1/admin/methodologies", json=body, headers=operator.headers)
    assert (again.status_code, again.json()["code"]) == (409, "methodology_exists")
    audit = await session.scalar(
        text("SELECT count(*) FROM audit_log WHERE target_id = :t AND action = 'methodology.create'"), {"t": body["id"]}
    )
    assert audit == 1


async def test_bad_versions_are_refused(client: AsyncClient, factory: Factory) -> None:
    operator, auditor = await factory.admin("operator"), await factory.admin("auditor")
    broken = version()
    del broken["caps"]["walk"]
    cases = [
        (version(effective_from=(datetime.now(UTC) - timedelta(days=1)).isoformat()), 422, "effective_from_in_past"),
        (version(region="atlantis"), 422, "unknown_region"),
        (version(rate_points_per_g="-1"), 422, "invalid_methodology"),
        (broken, 422, "invalid_methodology"),
        (version(id="Bad Id!"), 422, "validation_error"),
    ]
    for body, status, code in cases:
        r = await client.post("/v1/admin/methodologies", json=body, headers=operator.headers)
        assert (r.status_code, r.json()["code"]) == (status, code), code
    r = await client.post("/v1/admin/methodologies", json=version(), headers=auditor.headers)
    assert r.status_code == 403


async def test_a_region_version_takes_effect_only_from_its_date(
    client: AsyncClient, factory: Factory, session: AsyncSession, app: Any
) -> None:
    # arranged directly: a version already in force for suzhou (the API only accepts future dates)
    from service.seeding import insert_methodology

    doc = version(id=f"suzhou-{uuid.uuid4().hex[:6]}", region="suzhou", rate_points_per_g="0.5")
    doc["effective_from"] = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    async with app.state.sessionmaker() as s, s.begin():
        await insert_methodology(s, doc)
    app.state.methodologies.invalidate()
    partner, citizen = await factory.partner("transit", region="suzhou"), await factory.citizen()
    r = await client.post("/v1/activities/travel", json=trip(citizen), headers=partner.headers)
    assert (r.json()["breakdown"]["methodology"], r.json()["carbon_g"], r.json()["points"]) == (doc["id"], 468, 234)


async def test_stations_belong_to_recycling_partners_in_known_regions(client: AsyncClient, factory: Factory) -> None:
    operator = await factory.admin("operator")
    recycler, metro = await factory.partner("recycling"), await factory.partner("transit")
    r = await client.post(
        "/v1/admin/stations",
        json={"partner_id": str(recycler.id), "name": "Nanjing Rd 1", "region": "huangpu"},
        headers=operator.headers,
    )
    assert r.status_code == 201 and r.json()["active"] is True
    listed = (await client.get("/v1/admin/stations", params={"partner_id": str(recycler.id)}, headers=operator.headers)).json()
    assert [s["name"] for s in listed["items"]] == ["Nanjing Rd 1"]
    bad = [
        ({"partner_id": str(metro.id), "name": "x", "region": "huangpu"}, "unknown_partner"),
        ({"partner_id": str(recycler.id), "name": "x", "region": "mars"}, "unknown_region"),
    ]
    for body, code in bad:
        r = await client.post("/v1/admin/stations", json=body, headers=operator.headers)
        assert (r.status_code, r.json()["code"]) == (422, code)
