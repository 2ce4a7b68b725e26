"""api.md: lists are cursor-paginated. Walking the administrators' lists of partners, stations and
campaigns page by page gives every item once, in order, and ends with next_cursor null."""

from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient

from tests.factories import Actor, Factory
from tests.service.test_admin_campaigns import body as campaign_body


async def _walk(client: AsyncClient, admin: Actor, path: str, params: dict[str, Any], key: str) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(10_000):
        page = await client.get(path, params=params | ({"cursor": cursor} if cursor else {}), headers=admin.headers)
        assert page.status_code == 200, page.text
        seen += [item[key] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the pages never ended")


async def test_stations_partners_and_campaigns_come_in_pages(client: AsyncClient, factory: Factory) -> None:
    admin, operator = await factory.admin(), await factory.partner("recycling")
    stations = [str(await factory.station(operator.id)) for _ in range(5)]
    walked = await _walk(client, admin, "/v1/admin/stations", {"partner_id": str(operator.id), "limit": 2}, "id")
    assert walked == stations  # oldest first, each once

    partners = await _walk(client, admin, "/v1/admin/partners", {"limit": 3}, "partner_id")
    assert len(partners) == len(set(partners)) and str(operator.id) in partners

    region = await factory.region()
    start = datetime.now(UTC) + timedelta(days=1)
    made = []
    for day in range(5):
        at = start + timedelta(days=day)
        r = await client.post(
            "/v1/admin/campaigns",
            json=campaign_body(regions=[region], starts_at=at.isoformat(), ends_at=(at + timedelta(days=3)).isoformat()),
            headers=admin.headers,
        )
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    walked = await _walk(client, admin, "/v1/admin/campaigns", {"region": region, "limit": 2}, "id")
    assert walked == made[::-1]  # the latest start first
    forged = await client.get("/v1/admin/stations", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=admin.headers)
    assert (forged.status_code, forged.json()["code"]) == (422, "invalid_cursor")
