"""Webhooks from the outbox: R7 (the bank down for a simulated hour), dead letters and their replay,
per-link order, and webhook URLs registered by administrators (API7)."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text

from integrations.banks import WebhookClient
from service.usecases.bank_feed import sequence_committed
from service.usecases.webhooks import Dispatcher
from tests.bank_helpers import Bank, BankEndpoint, bank_endpoint, link, make_bank
from tests.factories import Factory
from tests.service.test_travel import trip


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


async def _events_of(app: Any, bank: Bank) -> dict[int, tuple[str, int]]:
    """event id → (link id, seq) for every sequenced event of the bank."""
    async with app.state.sessionmaker() as s:
        rows = await s.execute(
            text("SELECT id, link_id, seq FROM bank_events WHERE partner_id = :p AND seq IS NOT NULL"), {"p": bank.id}
        )
        return {r.id: (str(r.link_id), r.seq) for r in rows}


def _in_link_order(endpoint: BankEndpoint) -> bool:
    """Per link, events first arrive in seq order (a redelivery may repeat an earlier one: at least once)."""
    last: dict[str, int] = {}
    seen: set[int] = set()
    for event in endpoint.accepted:
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        if event["seq"] <= last.get(event["link_id"], 0):
            return False
        last[event["link_id"]] = event["seq"]
    return True


async def _earn(client: AsyncClient, factory: Factory, bank: Bank, citizens: int, trips: int) -> list[str]:
    metro = await factory.partner("transit")
    links = []
    for _ in range(citizens):
        citizen = await factory.citizen()
        links.append(await link(client, citizen, bank))
        for _ in range(trips):
            r = await client.post(
                "/v1/activities/travel", json=trip(citizen, mode="bike", distance_m=1_000), headers=metro.headers
            )
            assert r.status_code == 201
    return links


async def _run(dispatcher: Dispatcher, clock: Clock, *, until: Callable[[], bool], step: timedelta, limit: timedelta) -> None:
    end = clock.now + limit
    while not until():
        assert clock.now < end, "gave up waiting"
        await dispatcher.run_once()
        clock.advance(step)


async def test_r7_the_bank_down_for_an_hour_gets_every_event_in_order_with_valid_signatures(
    client: AsyncClient, factory: Factory, app: Any
) -> None:
    async with bank_endpoint() as endpoint:
        bank = await make_bank(factory, webhook_url=endpoint.url)
        endpoint.secret = bank.webhook_secret
        endpoint.down = True
        links = await _earn(client, factory, bank, citizens=3, trips=4)
        clock = Clock()
        endpoint.clock = lambda: clock.now.timestamp()  # the bank's clock is the simulated one
        sender = WebhookClient(allow_insecure=True)
        dispatcher = Dispatcher(app.state.sessionmaker, sender, clock=clock, jitter=lambda: 0.5)
        down_until = clock.now + timedelta(hours=1)
        await _run(dispatcher, clock, until=lambda: clock.now >= down_until, step=timedelta(minutes=1), limit=timedelta(hours=2))
        assert endpoint.accepted == []
        tried = endpoint.attempts
        assert 3 * 5 <= tried <= 3 * 12  # only each link's head, backing off: not every minute
        endpoint.down = False
        expected = await _events_of(app, bank)
        assert len(expected) == 3 * 4  # every award of the three linked citizens
        await _run(
            dispatcher,
            clock,
            until=lambda: {e["event_id"] for e in endpoint.accepted} >= set(expected),
            step=timedelta(minutes=1),
            limit=timedelta(hours=2),
        )
        await sender.aclose()
    assert endpoint.bad_signatures == 0
    assert _in_link_order(endpoint)
    assert {e["link_id"] for e in endpoint.accepted} == set(links)
    async with app.state.sessionmaker() as s:
        states = (
            await s.execute(
                text("SELECT status, count(*) FROM webhook_deliveries WHERE partner_id = :p GROUP BY status"), {"p": bank.id}
            )
        ).all()
    assert dict(states) == {"delivered": len(expected)}


async def test_after_24_hours_deliveries_are_dead_lettered_and_an_admin_replays_one(
    client: AsyncClient, factory: Factory, app: Any
) -> None:
    async with bank_endpoint() as endpoint:
        bank = await make_bank(factory, webhook_url=endpoint.url)
        endpoint.secret = bank.webhook_secret
        endpoint.down = True
        await _earn(client, factory, bank, citizens=1, trips=2)
        clock = Clock()
        endpoint.clock = lambda: clock.now.timestamp()  # the bank's clock is the simulated one
        await sequence_committed(app.state.sessionmaker, clock.now)
        expected = await _events_of(app, bank)
        assert len(expected) == 2
        sender = WebhookClient(allow_insecure=True)
        dispatcher = Dispatcher(app.state.sessionmaker, sender, clock=clock, jitter=lambda: 0.0)

        async def dead() -> list[dict[str, Any]]:
            r = await client.get("/v1/admin/bank-webhooks", params={"status": "dead", "limit": 500}, headers=admin.headers)
            return [d for d in r.json()["items"] if d["partner_id"] == str(bank.id)]

        admin, operator = await factory.admin("admin"), await factory.admin("operator")
        for _ in range(400):
            await dispatcher.run_once()
            clock.advance(timedelta(minutes=10))
            if len(await dead()) == len(expected):
                break
        letters = await dead()
        assert sorted(d["event_id"] for d in letters) == sorted(expected)
        paged, cursor = [], None  # one a page: the cursor reaches every letter, newest first
        while True:
            params = {"status": "dead", "limit": 1} | ({"cursor": cursor} if cursor else {})
            page = (await client.get("/v1/admin/bank-webhooks", params=params, headers=admin.headers)).json()
            paged += [d["event_id"] for d in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert paged == sorted(paged, reverse=True) and set(expected) <= set(paged)
        assert all(d["last_status"] == 503 for d in letters)
        # the head was retried for 24 hours; the one behind it, already past its window, was tried once
        assert sorted(d["attempts"] for d in letters)[0] >= 1 and max(d["attempts"] for d in letters) >= 10
        endpoint.down = False
        first = min(expected, key=lambda e: expected[e][1])
        r = await client.post(f"/v1/admin/bank-webhooks/{first}/replay", headers=operator.headers)
        assert r.status_code == 403
        r = await client.post(f"/v1/admin/bank-webhooks/{first}/replay", headers=admin.headers)
        assert (r.status_code, r.json()["status"]) == (200, "pending"), r.text
        again = await client.post(f"/v1/admin/bank-webhooks/{first}/replay", headers=admin.headers)
        assert (again.status_code, again.json()["code"]) == (409, "not_dead_lettered")
        missing = await client.post("/v1/admin/bank-webhooks/999999999/replay", headers=admin.headers)
        assert missing.status_code == 404
        clock.now = datetime.now(UTC)
        await dispatcher.drain()
        await sender.aclose()
    assert [e["event_id"] for e in endpoint.accepted] == [first]
    async with app.state.sessionmaker() as s:
        audited = await s.scalar(
            text("SELECT count(*) FROM audit_log WHERE action = 'bank_webhook.replay' AND target_id = :t"), {"t": str(first)}
        )
    assert audited == 1


async def test_a_later_event_waits_for_the_earlier_one_of_its_link(client: AsyncClient, factory: Factory, app: Any) -> None:
    async with bank_endpoint() as endpoint:
        bank = await make_bank(factory, webhook_url=endpoint.url)
        endpoint.secret = bank.webhook_secret
        await _earn(client, factory, bank, citizens=2, trips=3)
        clock = Clock()
        endpoint.clock = lambda: clock.now.timestamp()  # the bank's clock is the simulated one
        sender = WebhookClient(allow_insecure=True)
        dispatcher = Dispatcher(app.state.sessionmaker, sender, clock=clock, jitter=lambda: 0.5)
        await sequence_committed(app.state.sessionmaker, clock.now)
        endpoint.fail_next = 1  # the first event of one link fails once: that link's later events must wait
        await dispatcher.run_once()
        assert len(endpoint.accepted) == 3  # the other link's three, in order; nothing of the failed link
        assert len({e["link_id"] for e in endpoint.accepted}) == 1
        clock.advance(timedelta(minutes=1))
        await dispatcher.drain()
        await sender.aclose()
    assert len(endpoint.accepted) == 2 * 3 and _in_link_order(endpoint)


async def test_webhook_urls_are_checked_when_a_bank_is_registered(client: AsyncClient, factory: Factory, app: Any) -> None:
    operator = await factory.admin("operator")

    async def create(url: str, kind: str = "bank") -> Any:
        body = {"kind": kind, "name": f"Bank {uuid.uuid4().hex[:4]}", "region": "huangpu", "webhook_url": url}
        return await client.post("/v1/admin/partners", json=body, headers=operator.headers)

    r = await create("http://127.0.0.1:9/hooks")  # development allows local http
    assert r.status_code == 201, r.text
    assert r.json()["webhook_secret"].startswith("whsec_")
    r = await create("https://169.254.169.254/latest/meta-data")
    assert (r.status_code, r.json()["code"]) == (422, "unsafe_webhook_url")
    r = await create("https://bank.example/hooks", kind="transit")
    assert (r.status_code, r.json()["code"]) == (422, "invalid_partner")
    development = app.state.settings
    app.state.settings = development.model_copy(update={"webhook_allow_insecure": False})
    try:
        for url in ("http://127.0.0.1:9/hooks", "https://127.0.0.1/hooks", "https://10.0.0.8/hooks", "ftp://bank.example/"):
            r = await create(url)
            assert (r.status_code, r.json()["code"]) == (422, "unsafe_webhook_url"), url
    finally:
        app.state.settings = development


async def test_the_api_process_runs_the_dispatcher(client: AsyncClient, factory: Factory, app: Any) -> None:
    """`tanpu serve` (the app's lifespan, with TANPU_RUN_JOBS and TANPU_WEBHOOK_DISPATCHER) delivers by itself."""
    import asyncio

    from service.app import create_app

    async with bank_endpoint() as endpoint:
        bank = await make_bank(factory, webhook_url=endpoint.url)
        endpoint.secret = bank.webhook_secret
        await _earn(client, factory, bank, citizens=1, trips=1)
        serving = create_app(app.state.settings.model_copy(update={"webhook_dispatcher": True}))
        async with serving.router.lifespan_context(serving):
            for _ in range(200):
                if endpoint.accepted:
                    break
                await asyncio.sleep(0.05)
    assert [e["type"] for e in endpoint.accepted] == ["carbon_account.changed"]
    assert endpoint.bad_signatures == 0
