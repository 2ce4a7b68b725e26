"""Partners created and rotated by administrators; their secrets work once shown and stop when rotated."""

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Factory


async def _token(client: AsyncClient, client_id: str, secret: str) -> int:
    r = await client.post(
        "/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )
    return r.status_code


async def test_an_operator_creates_a_partner_whose_secret_signs_in(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    operator = await factory.admin("operator")
    r = await client.post(
        "/v1/admin/partners", json={"kind": "transit", "name": "Metro Line 2", "region": "huangpu"}, headers=operator.headers
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["scopes"] == ["travel:write"] and len(created["client_secret"]) >= 32
    assert await _token(client, created["client_id"], created["client_secret"]) == 200
    stored = await session.scalar(text("SELECT client_secret_hash FROM partners WHERE id = :id"), {"id": created["partner_id"]})
    assert stored.startswith("scrypt$") and created["client_secret"] not in stored
    listed = (await client.get("/v1/admin/partners", params={"kind": "transit"}, headers=operator.headers)).json()["items"]
    mine = next(p for p in listed if p["partner_id"] == created["partner_id"])
    assert "client_secret" not in mine and mine["active"] is True
    audit = await session.scalar(
        text("SELECT actor_id FROM audit_log WHERE action = 'partner.create' AND target_id = :t"), {"t": created["partner_id"]}
    )
    assert audit == operator.id


async def test_rotating_the_secret_retires_the_old_one(client: AsyncClient, factory: Factory) -> None:
    operator = await factory.admin("operator")
    created = (
        await client.post(
            "/v1/admin/partners", json={"kind": "bank", "name": "Bank", "region": "putuo"}, headers=operator.headers
        )
    ).json()
    rotated = await client.post(f"/v1/admin/partners/{created['partner_id']}/rotate-secret", headers=operator.headers)
    assert rotated.status_code == 200
    assert await _token(client, created["client_id"], created["client_secret"]) == 401
    assert await _token(client, created["client_id"], rotated.json()["client_secret"]) == 200


async def test_partner_administration_is_refused_to_auditors_and_bad_input(client: AsyncClient, factory: Factory) -> None:
    operator, auditor = await factory.admin("operator"), await factory.admin("auditor")
    r = await client.post(
        "/v1/admin/partners", json={"kind": "transit", "name": "x", "region": "huangpu"}, headers=auditor.headers
    )
    assert r.status_code == 403
    for body, code in (
        ({"kind": "airline", "name": "x", "region": "huangpu"}, "validation_error"),
        ({"kind": "transit", "name": "x", "region": "mars"}, "unknown_region"),
        ({"kind": "transit", "name": "", "region": "huangpu"}, "validation_error"),
    ):
        r = await client.post("/v1/admin/partners", json=body, headers=operator.headers)
        assert (r.status_code, r.json()["code"]) == (422, code)
    r = await client.post("/v1/admin/partners/00000000-0000-4000-8000-000000000000/rotate-secret", headers=operator.headers)
    assert r.status_code == 404
