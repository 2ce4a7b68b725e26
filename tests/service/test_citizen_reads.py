"""GET /v1/me, /v1/me/account, /v1/me/ledger: only the caller's own data, paginated."""

from httpx import AsyncClient

from tests.factories import Actor, Factory


async def _adjust(client: AsyncClient, admin: Actor, citizen: Actor, points: int, key: str) -> None:
    r = await client.post(
        "/v1/admin/adjustments",
        json={"user_id": str(citizen.id), "points": points, "reason": f"r{key}"},
        headers={**admin.headers, "Idempotency-Key": key},
    )
    assert r.status_code == 201, r.text


async def test_profile_masks_the_phone_and_shows_id_region_level(client: AsyncClient, factory: Factory) -> None:
    citizen = await factory.citizen(region="putuo", phone="+8613812345678")
    me = (await client.get("/v1/me", headers=citizen.headers)).json()
    assert me == {
        "id": str(citizen.id),
        "phone_masked": "+86138****5678",
        "region": "putuo",
        "level": {
            "level": 1,
            "name": "Seedling",
            "min_carbon_g": 0,
            "next": {"level": 2, "name": "Sapling", "min_carbon_g": 10_000, "carbon_g_to_go": 10_000},
        },
    }


async def test_a_new_account_is_empty(client: AsyncClient, factory: Factory) -> None:
    citizen = await factory.citizen()
    account = (await client.get("/v1/me/account", headers=citizen.headers)).json()
    assert account["balance"] == account["lifetime_earned"] == account["lifetime_spent"] == account["carbon_g_total"] == 0
    assert account["carbon_g_by_scenario"] == {} and account["expiring"] == []
    assert (await client.get("/v1/me/ledger", headers=citizen.headers)).json() == {"items": [], "next_cursor": None}


async def test_ledger_pages_newest_first_without_gaps_or_repeats(client: AsyncClient, factory: Factory) -> None:
    admin = await factory.admin()
    citizen = await factory.citizen()
    for i in range(7):
        await _adjust(client, admin, citizen, i + 1, f"p{i}")
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/me/ledger", params=params, headers=citizen.headers)).json()
        seen += [item["points"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    assert pages == 3


async def test_limit_is_capped_and_bad_cursors_are_problems(client: AsyncClient, factory: Factory) -> None:
    citizen = await factory.citizen()
    assert (await client.get("/v1/me/ledger", params={"limit": 100000}, headers=citizen.headers)).status_code == 200
    for bad in ("garbage", "aWQ6eHl6"):  # the second is base64 of "id:xyz"
        r = await client.get("/v1/me/ledger", params={"cursor": bad}, headers=citizen.headers)
        assert (r.status_code, r.json()["code"]) == (422, "invalid_cursor")
    r = await client.get("/v1/me/ledger", params={"limit": 0}, headers=citizen.headers)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")


async def test_a_citizen_never_sees_another_citizens_entries(client: AsyncClient, factory: Factory) -> None:
    admin = await factory.admin()
    alice, bob = await factory.citizen(), await factory.citizen()
    await _adjust(client, admin, alice, 30, "alice-1")
    bob_ledger = (await client.get("/v1/me/ledger", headers=bob.headers)).json()
    bob_account = (await client.get("/v1/me/account", headers=bob.headers)).json()
    assert bob_ledger["items"] == [] and bob_account["balance"] == 0
    # alice's cursor is just a position: with bob's token it still shows only bob's entries
    alice_page = (await client.get("/v1/me/ledger", params={"limit": 1}, headers=alice.headers)).json()
    assert [i["points"] for i in alice_page["items"]] == [30]
    bob_again = await client.get("/v1/me/ledger", params={"cursor": "aWQ6OTk5OTk5OTk5"}, headers=bob.headers)
    assert bob_again.json()["items"] == []


async def test_reads_need_a_citizen_token(client: AsyncClient, factory: Factory) -> None:
    admin = await factory.admin()
    partner = await factory.partner()
    for path in ("/v1/me", "/v1/me/account", "/v1/me/ledger"):
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers=admin.headers)).status_code == 401
        assert (await client.get(path, headers=partner.headers)).status_code == 401
