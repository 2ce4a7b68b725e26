"""POST /v1/admin/adjustments: admin-only, idempotent, balanced, audited."""

import asyncio
import uuid

from httpx import AsyncClient, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Factory


def _headers(actor_headers: dict[str, str], key: str) -> dict[str, str]:
    return {**actor_headers, "Idempotency-Key": key}


async def test_admin_credits_points_and_the_citizen_sees_them(client: AsyncClient, factory: Factory) -> None:
    admin = await factory.admin()
    citizen = await factory.citizen()
    r = await client.post(
        "/v1/admin/adjustments",
        json={"user_id": str(citizen.id), "points": 120, "reason": "goodwill for a lost trip"},
        headers=_headers(admin.headers, "k-1"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["balance"] == 120
    account = (await client.get("/v1/me/account", headers=citizen.headers)).json()
    assert account["balance"] == 120
    ledger = (await client.get("/v1/me/ledger", headers=citizen.headers)).json()
    assert [(e["kind"], e["points"], e["memo"]) for e in ledger["items"]] == [("adjustment", 120, "goodwill for a lost trip")]


async def test_same_key_same_body_replays_the_first_answer(client: AsyncClient, factory: Factory) -> None:
    admin = await factory.admin()
    citizen = await factory.citizen()
    body = {"user_id": str(citizen.id), "points": 50, "reason": "x"}
    first = await client.post("/v1/admin/adjustments", json=body, headers=_headers(admin.headers, "same"))
    again = await client.post("/v1/admin/adjustments", json=dict(reversed(body.items())), headers=_headers(admin.headers, "same"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 50


async def test_same_key_different_body_is_a_conflict(client: AsyncClient, factory: Factory) -> None:
    admin = await factory.admin()
    citizen = await factory.citizen()
    body = {"user_id": str(citizen.id), "points": 50, "reason": "x"}
    await client.post("/v1/admin/adjustments", json=body, headers=_headers(admin.headers, "k"))
    r = await client.post("/v1/admin/adjustments", json={**body, "points": 51}, headers=_headers(admin.headers, "k"))
    assert r.status_code == 409
    assert r.json()["code"] == "idempotency_conflict"
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_operator_and_auditor_cannot_adjust(client: AsyncClient, factory: Factory) -> None:
    citizen = await factory.citizen()
    for role in ("operator", "auditor"):
        actor = await factory.admin(role)
        r = await client.post(
            "/v1/admin/adjustments",
            json={"user_id": str(citizen.id), "points": 5, "reason": "x"},
            headers=_headers(actor.headers, f"k-{role}"),
        )
        assert r.status_code == 403, role
        assert r.json()["code"] == "forbidden"
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 0


async def test_citizen_and_partner_tokens_cannot_adjust(client: AsyncClient, factory: Factory) -> None:
    citizen = await factory.citizen()
    partner = await factory.partner()
    for actor in (citizen, partner):
        r = await client.post(
            "/v1/admin/adjustments",
            json={"user_id": str(citizen.id), "points": 5, "reason": "x"},
            headers=_headers(actor.headers, "k"),
        )
        assert r.status_code == 401
        assert r.json()["code"] == "unauthorized"


async def test_bad_adjustments_are_refused_with_a_code_and_write_nothing(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    admin = await factory.admin()
    citizen = await factory.citizen()
    cases = [
        ({"user_id": str(citizen.id), "points": 0, "reason": "x"}, 422, "invalid_adjustment"),
        ({"user_id": str(citizen.id), "points": 1.5, "reason": "x"}, 422, "validation_error"),
        ({"user_id": str(citizen.id), "points": "10", "reason": "x"}, 422, "validation_error"),
        ({"user_id": str(citizen.id), "points": 2_000_000, "reason": "x"}, 422, "validation_error"),
        ({"user_id": str(citizen.id), "points": 10, "reason": "   "}, 422, "invalid_adjustment"),
        ({"user_id": str(citizen.id), "points": 10}, 422, "validation_error"),
        ({"user_id": "not-a-uuid", "points": 10, "reason": "x"}, 422, "validation_error"),
        ({"user_id": str(uuid.uuid4()), "points": 10, "reason": "x"}, 404, "unknown_user"),
    ]
    for i, (body, status, code) in enumerate(cases):
        r = await client.post("/v1/admin/adjustments", json=body, headers=_headers(admin.headers, f"bad-{i}"))
        assert (r.status_code, r.json()["code"]) == (status, code), body
        assert "Traceback" not in r.text
    missing_key = await client.post(
        "/v1/admin/adjustments", json={"user_id": str(citizen.id), "points": 1, "reason": "x"}, headers=admin.headers
    )
    assert (missing_key.status_code, missing_key.json()["code"]) == (400, "idempotency_key_required")
    written = await session.scalar(text("SELECT count(*) FROM entries WHERE user_id = :u"), {"u": citizen.id})
    assert written == 0
    # a refused request does not burn its key: the corrected request goes through under it
    ok = await client.post(
        "/v1/admin/adjustments",
        json={"user_id": str(citizen.id), "points": 10, "reason": "x"},
        headers=_headers(admin.headers, "bad-0"),
    )
    assert ok.status_code == 201


async def test_validation_problem_lists_the_fields(client: AsyncClient, factory: Factory) -> None:
    admin = await factory.admin()
    r = await client.post("/v1/admin/adjustments", json={"points": "x"}, headers=_headers(admin.headers, "v"))
    assert r.status_code == 422
    fields = {tuple(e["loc"]) for e in r.json()["errors"]}
    assert ("body", "user_id") in fields and ("body", "points") in fields and ("body", "reason") in fields


async def test_adjustment_is_audited(client: AsyncClient, factory: Factory, session: AsyncSession) -> None:
    admin = await factory.admin()
    citizen = await factory.citizen()
    await client.post(
        "/v1/admin/adjustments",
        json={"user_id": str(citizen.id), "points": -7, "reason": "duplicate trip"},
        headers=_headers(admin.headers, "audit"),
    )
    row = (
        await session.execute(text("SELECT actor_id, action, after FROM audit_log WHERE target_id = :t"), {"t": str(citizen.id)})
    ).one()
    assert row.actor_id == admin.id and row.action == "adjustment.create" and row.after["points"] == -7


async def test_100_concurrent_identical_adjustments_post_once(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    admin = await factory.admin()
    citizen = await factory.citizen()
    body = {"user_id": str(citizen.id), "points": 10, "reason": "race"}
    responses = await asyncio.gather(
        *(client.post("/v1/admin/adjustments", json=body, headers=_headers(admin.headers, "race")) for _ in range(100))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 99
    postings = await session.scalar(text("SELECT count(*) FROM postings WHERE user_id = :u"), {"u": citizen.id})
    assert postings == 1
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 10


async def test_200_concurrent_adjustments_keep_balance_equal_to_entries(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    admin = await factory.admin()
    citizen = await factory.citizen()
    amounts = [(i % 7) - 3 or 5 for i in range(200)]
    # fewer in flight than the test app's 15 connections: all queue on the citizen's row, none on
    # the pool (whose 5 s timeout a slow CI machine could pass)
    gate = asyncio.Semaphore(12)

    async def adjust(i: int, points: int) -> Response:
        async with gate:
            return await client.post(
                "/v1/admin/adjustments",
                json={"user_id": str(citizen.id), "points": points, "reason": "load"},
                headers=_headers(admin.headers, f"many-{i}"),
            )

    responses = await asyncio.gather(*(adjust(i, p) for i, p in enumerate(amounts)))
    assert [r.status_code for r in responses] == [201] * 200
    stored = await session.scalar(text("SELECT balance FROM citizen_accounts WHERE user_id = :u"), {"u": citizen.id})
    summed = await session.scalar(
        text("SELECT sum(points) FROM entries WHERE user_id = :u AND account = 'citizen'"), {"u": citizen.id}
    )
    assert stored == summed == sum(amounts)
