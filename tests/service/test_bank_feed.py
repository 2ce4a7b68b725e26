"""GET /v1/bank/changes: ordered, resumable, and never skipping an event that committed late."""

import asyncio
import random
from datetime import UTC, datetime

from httpx import AsyncClient
from sqlalchemy import text

from domain import ledger
from domain.calendar import lot_expiry
from service.repositories import ledger as ledger_repo
from service.repositories import lots as lots_repo
from tests.bank_helpers import link, make_bank, read_feed
from tests.factories import Factory
from tests.service.test_travel import trip


async def test_an_event_that_commits_after_a_later_one_is_not_skipped(client: AsyncClient, factory: Factory, app) -> None:  # type: ignore[no-untyped-def]
    bank, metro = await make_bank(factory), await factory.partner("transit")
    slow, fast = await factory.citizen(), await factory.citizen()
    await link(client, slow, bank)
    await link(client, fast, bank)
    _, cursor = await read_feed(client, bank)
    async with app.state.sessionmaker() as held:
        # a ledger write that has drawn its event id but not committed yet
        posting = ledger.adjustment(user_id=str(slow.id), points=7, reason="held open", posted_at=datetime.now(UTC))
        delta = ledger.account_delta(posting.kind, posting.citizen_points, posting.carbon_g)
        ids = await ledger_repo.insert_posting(held, posting, delta, created_by="test")
        # a credit is a lot of its own (check-ledger: the lots hold the balance)
        await lots_repo.create(
            held,
            slow.id,
            posting_id=ids.posting_id,
            earned_at=posting.posted_at,
            expires_at=lot_expiry(posting.posted_at),
            points=7,
        )
        # a later event commits first, and the bank reads past it
        assert (await client.post("/v1/activities/travel", json=trip(fast), headers=metro.headers)).status_code == 201
        seen, cursor = await read_feed(client, bank, cursor)
        assert [(i["kind"], i["points"]) for i in seen] == [("award", 468)]
        await held.commit()
    late, cursor = await read_feed(client, bank, cursor)
    assert [(i["kind"], i["points"]) for i in late] == [("adjustment", 7)]
    assert late[0]["seq"] > seen[0]["seq"] and late[0]["event_id"] < seen[0]["event_id"]


async def test_the_feed_read_concurrently_with_awards_never_misses_one(client: AsyncClient, factory: Factory, app) -> None:  # type: ignore[no-untyped-def]
    bank, metro = await make_bank(factory), await factory.partner("transit")
    citizens = [await factory.citizen() for _ in range(12)]
    for c in citizens:
        await link(client, c, bank)
    _, start = await read_feed(client, bank)
    unlinked = await factory.citizen()  # earns too, but the bank must never see it
    writing = True
    collected: list[dict] = []  # type: ignore[type-arg]

    async def award(n: int) -> None:
        for _ in range(n):
            who = random.choice([*citizens, unlinked])
            r = await client.post("/v1/activities/travel", json=trip(who, mode="bike", distance_m=1_000), headers=metro.headers)
            assert r.status_code == 201, r.text

    async def reader() -> None:
        cursor = start
        while writing:
            items, cursor = await read_feed(client, bank, cursor)
            collected.extend(items)
            await asyncio.sleep(0)
        items, cursor = await read_feed(client, bank, cursor)
        collected.extend(items)

    read_task = asyncio.create_task(reader())
    await asyncio.gather(*(award(15) for _ in range(6)))
    writing = False
    await read_task
    seqs = [i["seq"] for i in collected]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    async with app.state.sessionmaker() as s:
        expected = set(
            (
                await s.execute(
                    text("SELECT posting_id FROM entries WHERE account = 'citizen' AND user_id = ANY(:u)"),
                    {"u": [c.id for c in citizens]},
                )
            ).scalars()
        )
    assert len(expected) >= 50
    assert {i["posting_id"] for i in collected} == expected


async def test_a_bad_cursor_is_a_clear_problem(client: AsyncClient, factory: Factory) -> None:
    bank = await make_bank(factory)
    r = await client.get("/v1/bank/changes", params={"cursor": "not-ours"}, headers=bank.headers)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_cursor")
    empty = (await client.get("/v1/bank/changes", headers=bank.headers)).json()
    assert (empty["items"], empty["has_more"]) == ([], False) and empty["next_cursor"]


async def test_every_ledger_writer_reaches_the_feed_without_knowing_about_banks(client: AsyncClient, factory: Factory) -> None:
    """Awards, refunds' reversals and adjustments all write entries; the trigger on entries turns each
    into a feed event in the writer's own statement."""
    from tests.service.test_purchases import line, order, shop

    bank, citizen, admin = await make_bank(factory), await factory.citizen(), await factory.admin("admin")
    (merchant, store) = await shop(factory)
    await link(client, citizen, bank)
    body = order(citizen, store, [line("LED-9W", 4)])
    assert (await client.post("/v1/purchases", json=body, headers=merchant.headers)).status_code == 201
    refund = {"refund_id": f"r-{body['order_id']}", "order_id": body["order_id"], "lines": [{"sku": "LED-9W", "quantity": 1}]}
    r = await client.post("/v1/refunds", json=refund, headers=merchant.headers)
    assert r.status_code in (200, 201), r.text
    r = await client.post(
        "/v1/admin/adjustments",
        json={"user_id": str(citizen.id), "points": 5, "reason": "goodwill"},
        headers=admin.headers | {"Idempotency-Key": f"adj-{citizen.id}"},
    )
    assert r.status_code == 201, r.text
    items, _ = await read_feed(client, bank)
    assert [(i["kind"], i["points"], i["carbon_g"]) for i in items] == [
        ("award", 140, 140),
        ("reversal", -35, -35),
        ("adjustment", 5, 0),
    ]
