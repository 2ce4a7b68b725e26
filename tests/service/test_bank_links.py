"""Links and consent: link codes, a bank presenting them, revocation, and what a bank may read (API1)."""

import uuid
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.bank_links import link_code_digest
from domain.calendar import lot_expiry
from tests.bank_helpers import ALL_SCOPES, link, make_bank, read_feed
from tests.factories import Factory
from tests.service.test_travel import trip


async def code_for(client: AsyncClient, citizen, bank, scopes=None) -> str:  # type: ignore[no-untyped-def]
    r = await client.post(
        "/v1/me/bank-links", json={"bank_id": str(bank.id), "scopes": scopes or ALL_SCOPES}, headers=citizen.headers
    )
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["expires_at"]) - datetime.now(UTC) <= timedelta(minutes=10)
    return str(r.json()["link_code"])


async def test_a_citizen_links_a_bank_and_the_consent_is_recorded(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    citizen, bank = await factory.citizen(), await make_bank(factory)
    code = await code_for(client, citizen, bank, scopes=["changes:read", "account:read"])
    r = await client.post("/v1/bank/links", json={"link_code": code, "customer_ref": "C-001"}, headers=bank.headers)
    assert r.status_code == 201, r.text
    assert r.json()["scopes"] == ["account:read", "changes:read"]
    link_id = r.json()["link_id"]
    again = await client.post("/v1/bank/links", json={"link_code": code, "customer_ref": "C-001"}, headers=bank.headers)
    assert (again.status_code, again.json()["link_id"], again.headers.get("Idempotent-Replayed")) == (201, link_id, "true")
    mine = (await client.get("/v1/me/bank-links", headers=citizen.headers)).json()["items"]
    assert [(i["link_id"], i["status"], i["customer_ref"]) for i in mine] == [(link_id, "live", "C-001")]
    consents = (
        await session.execute(
            text("SELECT user_id, partner_id, action, scopes, by FROM bank_consents WHERE link_id = :l"), {"l": link_id}
        )
    ).all()
    assert [tuple(c) for c in consents] == [(citizen.id, bank.id, "granted", ["account:read", "changes:read"], "citizen")]
    stored = await session.scalar(
        text("SELECT count(*) FROM bank_link_codes WHERE code_hash = :h"), {"h": link_code_digest(code)}
    )
    assert stored == 1  # only the hash is kept


async def test_a_used_expired_or_other_banks_code_is_refused(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    citizen, bank, other = await factory.citizen(), await make_bank(factory), await make_bank(factory)
    code = await code_for(client, citizen, bank)
    r = await client.post("/v1/bank/links", json={"link_code": code, "customer_ref": "X-1"}, headers=other.headers)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_link_code")
    assert (
        await client.post("/v1/bank/links", json={"link_code": code, "customer_ref": "X-1"}, headers=bank.headers)
    ).status_code == 201
    r = await client.post("/v1/bank/links", json={"link_code": code, "customer_ref": "X-2"}, headers=bank.headers)
    assert (r.status_code, r.json()["code"]) == (409, "link_code_used")
    stale = await code_for(client, citizen, bank)
    await session.execute(
        text("UPDATE bank_link_codes SET expires_at = now() - interval '1 second' WHERE code_hash = :h"),
        {"h": link_code_digest(stale)},
    )
    await session.commit()
    r = await client.post("/v1/bank/links", json={"link_code": stale, "customer_ref": "X-3"}, headers=bank.headers)
    assert (r.status_code, r.json()["code"]) == (410, "link_code_expired")
    r = await client.post(
        "/v1/bank/links", json={"link_code": "AAAA-BBBB-CCCC-DDDD", "customer_ref": "X-4"}, headers=bank.headers
    )
    assert (r.status_code, r.json()["code"]) == (404, "unknown_link_code")


async def test_link_codes_are_only_for_banks_and_known_scopes(client: AsyncClient, factory: Factory) -> None:
    citizen, transit = await factory.citizen(), await factory.partner("transit")
    r = await client.post("/v1/me/bank-links", json={"bank_id": str(transit.id), "scopes": ALL_SCOPES}, headers=citizen.headers)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_bank")
    bank = await make_bank(factory)
    r = await client.post(
        "/v1/me/bank-links", json={"bank_id": str(bank.id), "scopes": ["ledger:write"]}, headers=citizen.headers
    )
    assert (r.status_code, r.json()["code"]) == (422, "invalid_scopes")
    # a transit partner cannot act as a bank
    r = await client.post("/v1/bank/links", json={"link_code": "AAAA-BBBB", "customer_ref": "x"}, headers=transit.headers)
    assert (r.status_code, r.json()["code"]) == (403, "insufficient_scope")


async def test_the_bank_reads_the_account_of_a_linked_customer_only(client: AsyncClient, factory: Factory) -> None:
    citizen, bank, other = await factory.citizen(), await make_bank(factory), await make_bank(factory)
    metro = await factory.partner("transit")
    assert (await client.post("/v1/activities/travel", json=trip(citizen), headers=metro.headers)).status_code == 201
    link_id = await link(client, citizen, bank)
    r = await client.get(f"/v1/bank/links/{link_id}/account", headers=bank.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["balance"], body["carbon_g_total"], body["carbon_g_by_scenario"]) == (468, 468, {"travel.metro": 468})
    assert body["level"] == (await client.get("/v1/me/account", headers=citizen.headers)).json()["level"]
    assert abs(datetime.fromisoformat(body["as_of"]) - datetime.now(UTC)) < timedelta(minutes=1)  # when the award moved it
    assert "phone" not in r.text
    r = await client.get(f"/v1/bank/links/{link_id}/account", headers=other.headers)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_link")
    r = await client.get(f"/v1/bank/links/{uuid.uuid4()}/account", headers=bank.headers)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_link")
    feed_only = await link(client, await factory.citizen(), bank, scopes=["changes:read"])
    r = await client.get(f"/v1/bank/links/{feed_only}/account", headers=bank.headers)
    assert (r.status_code, r.json()["code"]) == (403, "consent_scope_missing")


async def test_a_revoked_link_refuses_every_bank_path_and_the_feed_carries_the_revocation(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    citizen, bank, metro = await factory.citizen(), await make_bank(factory), await factory.partner("transit")
    link_id = await link(client, citizen, bank)
    assert (await client.post("/v1/activities/travel", json=trip(citizen), headers=metro.headers)).status_code == 201
    assert (await client.delete(f"/v1/me/bank-links/{link_id}", headers=citizen.headers)).status_code == 204
    assert (await client.delete(f"/v1/me/bank-links/{link_id}", headers=citizen.headers)).status_code == 204  # idempotent
    r = await client.get(f"/v1/bank/links/{link_id}/account", headers=bank.headers)
    assert (r.status_code, r.json()["code"]) == (403, "consent_revoked")
    activity = {
        "external_id": "rev-1",
        "link_id": link_id,
        "behaviour": "e_statement",
        "quantity": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    r = await client.post("/v1/bank/activities", json=activity, headers=bank.headers)
    assert (r.status_code, r.json()["code"]) == (403, "consent_revoked")
    # earning after the revocation reaches the bank no more
    assert (await client.post("/v1/activities/travel", json=trip(citizen), headers=metro.headers)).status_code == 201
    items, _ = await read_feed(client, bank)
    assert [(i["kind"], i["points"]) for i in items] == [("award", 468), ("revocation", 0)]
    assert items[0]["seq"] < items[1]["seq"]
    consents = (
        await session.execute(text("SELECT action, by FROM bank_consents WHERE link_id = :l ORDER BY id"), {"l": link_id})
    ).all()
    assert [tuple(c) for c in consents] == [("granted", "citizen"), ("revoked", "citizen")]
    other = await factory.citizen()
    r = await client.delete(f"/v1/me/bank-links/{link_id}", headers=other.headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


async def test_a_new_link_to_the_same_bank_replaces_the_old_one(client: AsyncClient, factory: Factory) -> None:
    citizen, bank = await factory.citizen(), await make_bank(factory)
    first = await link(client, citizen, bank, customer_ref="SAME-REF")
    second = await link(client, citizen, bank, customer_ref="SAME-REF")
    mine = {i["link_id"]: i["status"] for i in (await client.get("/v1/me/bank-links", headers=citizen.headers)).json()["items"]}
    assert mine == {first: "revoked", second: "live"}
    someone_else = await factory.citizen()
    code = await code_for(client, someone_else, bank)
    r = await client.post("/v1/bank/links", json={"link_code": code, "customer_ref": "SAME-REF"}, headers=bank.headers)
    assert (r.status_code, r.json()["code"]) == (409, "customer_ref_in_use")


async def test_erasure_helpers_revoke_every_link_and_export_the_consents(client: AsyncClient, factory: Factory, app) -> None:  # type: ignore[no-untyped-def]
    from service.usecases.bank_links import links_and_consents, revoke_all_links

    citizen, bank_a, bank_b = await factory.citizen(), await make_bank(factory), await make_bank(factory)
    await link(client, citizen, bank_a)
    await link(client, citizen, bank_b)
    async with app.state.sessionmaker() as s, s.begin():
        assert await revoke_all_links(s, citizen.id, reason="erasure") == 2
    async with app.state.sessionmaker() as s:
        export = await links_and_consents(s, citizen.id)
    assert {link["revoked_at"] is not None for link in export["bank_links"]} == {True}
    assert sorted((c["action"], c["by"]) for c in export["bank_consents"]) == [
        ("granted", "citizen"),
        ("granted", "citizen"),
        ("revoked", "erasure"),
        ("revoked", "erasure"),
    ]
    for bank in (bank_a, bank_b):
        items, _ = await read_feed(client, bank)
        assert [i["kind"] for i in items] == ["revocation"]


async def test_a_disabled_bank_is_refused_everywhere(client: AsyncClient, factory: Factory, session: AsyncSession) -> None:
    bank = await make_bank(factory)
    await session.execute(text("UPDATE partners SET disabled_at = now() WHERE id = :p"), {"p": bank.id})
    await session.commit()
    for r in (
        await client.get("/v1/bank/changes", headers=bank.headers),
        await client.get("/v1/bank/statements/2025-06-01", headers=bank.headers),
        await client.post("/v1/bank/links", json={"link_code": "AAAA-BBBB-CCCC-DDDD", "customer_ref": "x"}, headers=bank.headers),
    ):
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")


async def test_one_code_presented_concurrently_makes_one_link(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    import asyncio

    citizen, bank = await factory.citizen(), await make_bank(factory)
    code = await code_for(client, citizen, bank)
    answers = await asyncio.gather(
        *(
            client.post("/v1/bank/links", json={"link_code": code, "customer_ref": "RACE-1"}, headers=bank.headers)
            for _ in range(10)
        )
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["link_id"] for a in answers}) == 1
    assert sorted(a.headers.get("Idempotent-Replayed", "false") for a in answers) == ["false"] + ["true"] * 9
    links = await session.scalar(text("SELECT count(*) FROM bank_links WHERE user_id = :u"), {"u": citizen.id})
    assert links == 1


async def test_a_ledger_write_in_flight_lands_before_the_revocation(client: AsyncClient, factory: Factory, app) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from domain import ledger
    from service.repositories import ledger as ledger_repo
    from service.repositories import lots as lots_repo

    citizen, bank = await factory.citizen(), await make_bank(factory)
    link_id = await link(client, citizen, bank)
    async with app.state.sessionmaker() as held:
        posting = ledger.adjustment(user_id=str(citizen.id), points=9, reason="in flight", posted_at=datetime.now(UTC))
        delta = ledger.account_delta(posting.kind, posting.citizen_points, posting.carbon_g)
        ids = await ledger_repo.insert_posting(held, posting, delta, created_by="test")
        # a credit is a lot of its own (check-ledger: the lots hold the balance)
        await lots_repo.create(
            held,
            citizen.id,
            posting_id=ids.posting_id,
            earned_at=posting.posted_at,
            expires_at=lot_expiry(posting.posted_at),
            points=9,
        )
        revoking = asyncio.create_task(client.delete(f"/v1/me/bank-links/{link_id}", headers=citizen.headers))
        await asyncio.sleep(0.3)
        assert not revoking.done()  # it waits for the write that holds the citizen's account
        await held.commit()
    assert (await revoking).status_code == 204
    items, _ = await read_feed(client, bank)
    assert [i["kind"] for i in items] == ["adjustment", "revocation"]
