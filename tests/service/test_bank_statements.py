"""GET /v1/bank/statements/{date} agrees with the ledger; POST .../reconcile returns the differences."""

import hashlib
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import text

from domain.calendar import local_day
from tests.bank_helpers import link, make_bank
from tests.factories import Factory
from tests.service.test_bank_activities import behaviour
from tests.service.test_travel import trip


async def test_the_statement_agrees_with_the_ledger_and_reconciles(client: AsyncClient, factory: Factory, app) -> None:  # type: ignore[no-untyped-def]
    bank, other_bank, metro = await make_bank(factory), await make_bank(factory), await factory.partner("transit")
    a, b, stranger = await factory.citizen(), await factory.citizen(), await factory.citizen()
    link_a, _ = await link(client, a, bank), await link(client, b, bank)
    for who in (a, b, stranger):
        assert (await client.post("/v1/activities/travel", json=trip(who), headers=metro.headers)).status_code == 201
    assert (await client.post("/v1/bank/activities", json=behaviour(link_a), headers=bank.headers)).status_code == 201
    today = local_day(datetime.now(UTC)).isoformat()
    r = await client.get(f"/v1/bank/statements/{today}", headers=bank.headers)
    assert r.status_code == 200, r.text
    s = r.json()
    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT count(*), sum(points), sum(carbon_g) FROM entries WHERE account = 'citizen' AND user_id = ANY(:u) "
                    "AND posted_at >= :start AND posted_at < :end"
                ),
                {"u": [a.id, b.id], "start": datetime.fromisoformat(s["from"]), "end": datetime.fromisoformat(s["to"])},
            )
        ).one()
    assert (s["count"], s["points"], s["carbon_g"]) == (rows[0], rows[1], rows[2]) == (3, 468 * 2 + 100, 468 * 2 + 100)
    assert s["by_kind"] == {"award": {"count": 3, "points": 1036, "carbon_g": 1036}}
    lines = [
        f"{e['posting_id']},{e['link_id']},{e['kind']},{e['points']},{e['carbon_g']},"
        + datetime.fromisoformat(e["posted_at"]).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for e in sorted(s["entries"], key=lambda e: (e["posting_id"], e["link_id"]))
    ]
    assert s["digest"] == hashlib.sha256("\n".join(lines).encode()).hexdigest()
    assert (await client.get(f"/v1/bank/statements/{today}", headers=other_bank.headers)).json()["count"] == 0

    ids = [e["posting_id"] for e in s["entries"]]
    ok = {"count": 3, "points": 1036, "carbon_g": 1036, "digest": s["digest"], "posting_ids": ids}
    r = await client.post(f"/v1/bank/statements/{today}/reconcile", json=ok, headers=bank.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["agrees"], r.json()["differences"]) == (True, [])
    off = {"count": 2, "points": 568, "by_kind": {"award": {"count": 2, "points": 568, "carbon_g": 568}}, "posting_ids": ids[:2]}
    r = await client.post(f"/v1/bank/statements/{today}/reconcile", json=off, headers=bank.headers)
    answer = r.json()
    assert answer["agrees"] is False
    assert {d["field"]: (d["ours"], d["theirs"]) for d in answer["differences"]} == {
        "count": (3, 2),
        "points": (1036, 568),
        "by_kind.award.count": (3, 2),
        "by_kind.award.points": (1036, 568),
        "by_kind.award.carbon_g": (1036, 568),
    }
    assert (answer["missing_at_bank"], answer["unknown_to_tanpu"]) == ([ids[2]], [])


async def test_statement_dates_are_checked(client: AsyncClient, factory: Factory) -> None:
    bank = await make_bank(factory)
    future = (local_day(datetime.now(UTC)) + timedelta(days=1)).isoformat()
    r = await client.get(f"/v1/bank/statements/{future}", headers=bank.headers)
    assert (r.status_code, r.json()["code"]) == (422, "date_in_future")
    r = await client.get("/v1/bank/statements/2026-13-45", headers=bank.headers)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    r = await client.post("/v1/bank/statements/2025-06-01/reconcile", json={"count": "many"}, headers=bank.headers)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    past = (await client.get("/v1/bank/statements/2025-06-01", headers=bank.headers)).json()
    assert (past["count"], past["complete"], past["digest"]) == (0, True, hashlib.sha256(b"").hexdigest())


async def test_out_of_range_input_is_a_problem_not_a_crash(client: AsyncClient, factory: Factory) -> None:
    bank, admin = await make_bank(factory), await factory.admin("admin")
    r = await client.get("/v1/bank/statements/0001-01-01", headers=bank.headers)
    assert (r.status_code, r.json()["code"]) == (422, "date_out_of_range")
    from service.pagination import encode_cursor

    r = await client.get("/v1/bank/changes", params={"cursor": encode_cursor(2**70)}, headers=bank.headers)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_cursor")
    r = await client.post(f"/v1/admin/bank-webhooks/{2**70}/replay", headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
