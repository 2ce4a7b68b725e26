"""Leaderboards: carbon (not points) per week and month, per region, from Redis; rebuilt from PostgreSQL."""

import random
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import text

from service import leaderboards
from service.app import create_app
from service.settings import Settings
from tests.factories import Actor, Factory
from tests.service.cli_helpers import run_tanpu


async def _region(app: FastAPI) -> str:
    """A region of this test's own, so its boards hold only this test's citizens."""
    code = f"lb{secrets.token_hex(4)}"
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text("INSERT INTO regions (code, name, name_zh) VALUES (:c, :c, :c)"), {"c": code})
    return code


async def _trip(client: AsyncClient, partner: Actor, citizen: Actor, mode: str, metres: int, minutes: int) -> int:
    start = datetime.now(UTC) - timedelta(minutes=minutes + 2)
    body = {
        "external_id": uuid.uuid4().hex,
        "user": {"user_id": str(citizen.id)},
        "mode": mode,
        "distance_m": metres,
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=minutes)).isoformat(),
    }
    r = await client.post("/v1/activities/travel", json=body, headers=partner.headers)
    assert r.status_code == 201 and r.json()["status"] == "awarded", r.text
    carbon: int = r.json()["carbon_g"]
    return carbon


async def _board(client: AsyncClient, who: Actor, period: str = "weekly", **params: Any) -> dict[str, Any]:
    r = await client.get(f"/v1/leaderboards/{period}", params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    board: dict[str, Any] = r.json()
    return board


async def test_ranks_follow_carbon_saved_with_ties_sharing_a_rank(client: AsyncClient, factory: Factory, app: FastAPI) -> None:
    region = await _region(app)
    partner = await factory.partner("transit", region=region)
    a, b, c, d, e = [await factory.citizen() for _ in range(5)]
    carbon = {
        "a": await _trip(client, partner, a, "metro", 5_000, 12) + await _trip(client, partner, a, "metro", 5_000, 12),
        "b": await _trip(client, partner, b, "bike", 6_000, 25),
        "c": await _trip(client, partner, c, "bus", 3_000, 12),
        "d": await _trip(client, partner, d, "bus", 3_000, 12),
    }
    assert carbon["c"] == carbon["d"] and len(set(carbon.values())) == 3
    order = sorted(carbon, key=lambda k: -carbon[k])
    for period in ("weekly", "monthly"):
        board = await _board(client, e, period, region=region)
        assert [(i["rank"], i["carbon_g"]) for i in board["items"]] == [
            (1, carbon[order[0]]),
            (2, carbon[order[1]]),
            (3, carbon["c"]),
            (3, carbon["c"]),
        ]
        assert board["me"] is None and not any(i["me"] for i in board["items"])
        assert all(i["name"].startswith("citizen-") and str(a.id) not in i["name"] for i in board["items"])
    mine = await _board(client, d, region=region, limit=1)
    assert len(mine["items"]) == 1 and mine["me"] == {"rank": 3, "name": mine["me"]["name"], "carbon_g": carbon["d"], "me": True}
    top = await _board(client, a, region=region)
    assert [i["me"] for i in top["items"]].count(True) == 1
    everyone = await _board(client, a)
    assert everyone["region"] is None and everyone["me"]["carbon_g"] >= carbon["a"]
    assert (await client.get("/v1/leaderboards/yearly", headers=a.headers)).status_code == 422
    unknown = await client.get("/v1/leaderboards/weekly", params={"region": "atlantis"}, headers=a.headers)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_region")
    assert (await client.get("/v1/leaderboards/weekly", headers=partner.headers)).status_code == 401


async def test_boards_count_carbon_not_points_and_skip_rejected_trips(
    client: AsyncClient, factory: Factory, app: FastAPI
) -> None:
    region = await _region(app)
    partner, admin, citizen = await factory.partner("transit", region=region), await factory.admin(), await factory.citizen()
    saved = await _trip(client, partner, citizen, "metro", 4_000, 10)
    implausible = {
        "external_id": uuid.uuid4().hex,
        "user": {"user_id": str(citizen.id)},
        "mode": "metro",
        "distance_m": 70_000,
        "started_at": (datetime.now(UTC) - timedelta(minutes=30)).isoformat(),
        "ended_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
    }
    assert (await client.post("/v1/activities/travel", json=implausible, headers=partner.headers)).json()["status"] == "rejected"
    await client.post(
        "/v1/admin/adjustments",
        json={"user_id": str(citizen.id), "points": 5000, "reason": "points, not carbon"},
        headers={**admin.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert (await _board(client, citizen, region=region))["me"]["carbon_g"] == saved


async def test_boards_are_rebuilt_from_postgresql_after_redis_is_flushed(
    client: AsyncClient, factory: Factory, app: FastAPI, database_url: str, server_urls: tuple[str, str]
) -> None:
    region = await _region(app)
    partner = await factory.partner("transit", region=region)
    citizens = [await factory.citizen() for _ in range(3)]
    for n, c in enumerate(citizens, start=1):
        for _ in range(n):
            await _trip(client, partner, c, "metro", 3_000, 10)
    before = {p: await _board(client, citizens[0], p, region=region) for p in ("weekly", "monthly")}
    everyone = await _board(client, citizens[0])
    redis: Redis = app.state.redis
    await redis.flushdb()
    assert (await _board(client, citizens[0], region=region))["items"] == []

    done = await run_tanpu("leaderboards", "rebuild", env={"DATABASE_URL": database_url, "REDIS_URL": server_urls[1]})
    assert done.returncode == 0, done.stderr
    assert '"boards"' in done.stdout
    for period, board in before.items():
        assert await _board(client, citizens[0], period, region=region) == board
    # everyone's board: the same carbon (its rank may change: boards of other runs sharing this Redis are gone)
    assert (await _board(client, citizens[0]))["me"]["carbon_g"] == everyone["me"]["carbon_g"]


async def test_redis_down_never_fails_recording() -> None:
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    recorder = leaderboards.Recorder(dead)
    try:
        recorder.add([leaderboards.Gain(str(uuid.uuid4()), "huangpu", datetime.now(UTC), 100) for _ in range(3_000)])
        await recorder.flush()  # more than one script call's worth: the first failure drops the rest
        await recorder.flush()  # what failed is dropped, not retried forever: a rebuild restores it
    finally:
        await dead.aclose()


@pytest.mark.parametrize("chunk", [leaderboards.CHUNK, 7])
async def test_a_flush_of_thousands_of_gains_lands_exactly_on_every_board(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(leaderboards, "CHUNK", chunk)  # 7: boards split across script calls
    redis: Redis = app.state.redis
    rng, now = random.Random(chunk), datetime.now(UTC)
    regions = [f"lb{secrets.token_hex(4)}" for _ in range(3)]
    citizens = [str(uuid.uuid4()) for _ in range(200)]
    gains = [
        leaderboards.Gain(rng.choice(citizens), rng.choice(regions), now - timedelta(minutes=rng.randrange(60 * 24 * 70)), carbon)
        for carbon in (rng.randrange(-100, 1_000) for _ in range(4_000))
    ]
    even, erased = str(uuid.uuid4()), str(uuid.uuid4())
    gains += [leaderboards.Gain(even, regions[0], now, 50), leaderboards.Gain(even, regions[0], now, -50)]
    gains += [leaderboards.Gain(erased, regions[1], now, 70)]
    expected: dict[tuple[str, str], int] = {}
    for g in gains:
        for period in leaderboards.Period:
            for region in (g.region, None):
                key = leaderboards.board_key(period, g.occurred_at, region)
                expected[key, g.user_id] = expected.get((key, g.user_id), 0) + g.carbon_g
    recorder = leaderboards.Recorder(redis)
    recorder.add(gains[:1_000])
    recorder.add(gains[1_000:])
    recorder.discard(erased)
    await recorder.flush()

    pipe = redis.pipeline(transaction=False)
    for key, member in expected:
        pipe.zscore(key, member)
    scores = dict(zip(expected, await pipe.execute(), strict=True))
    assert len({key for key, _ in expected}) > 40
    for (key, member), carbon in expected.items():
        if member == erased or carbon == 0:
            assert scores[key, member] is None, (key, member)  # a zero sum never puts anyone on a board
        else:
            assert scores[key, member] == carbon, (key, member)
    for key in {key for key, _ in expected}:
        lifetime = leaderboards.TTL[leaderboards.Period(key.split(":")[1])].total_seconds()
        assert lifetime - 60 < await redis.ttl(key) <= lifetime, key
    await redis.delete(*{key for key, _ in expected if not key.endswith(":all")})


async def test_a_refund_takes_carbon_back_and_an_emptied_citizen_leaves_the_board(app: FastAPI) -> None:
    redis: Redis = app.state.redis
    region, now = f"lb{secrets.token_hex(4)}", datetime.now(UTC)
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    recorder = leaderboards.Recorder(redis)
    recorder.add([leaderboards.Gain(alice, region, now, 300), leaderboards.Gain(bob, region, now, 200)])
    await recorder.flush()
    recorder.add([leaderboards.Gain(alice, region, now, -300)])
    await recorder.flush()
    board = await leaderboards.read(redis, leaderboards.Period.WEEKLY, region=region, now=now, limit=10, user_id=alice)
    assert [(s.rank, s.user_id) for s in board.top] == [(1, bob)] and board.me is None


async def test_without_redis_awards_go_on_the_board_answers_503_and_a_rebuild_catches_up(
    settings: Settings, factory: Factory, client: AsyncClient, app: FastAPI
) -> None:
    region = await _region(app)
    partner, citizen = await factory.partner("transit", region=region), await factory.citizen()
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    blind = create_app(down)
    transport = httpx.ASGITransport(app=blind)
    async with blind.router.lifespan_context(blind), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        saved = await _trip(c, partner, citizen, "metro", 6_000, 14)
        r = await c.get("/v1/leaderboards/weekly", params={"region": region}, headers=citizen.headers)
        assert (r.status_code, r.json()["code"]) == (503, "leaderboard_unavailable") and r.headers["retry-after"]
    assert (await _board(client, citizen, region=region))["me"] is None
    async with app.state.sessionmaker() as session:
        await leaderboards.rebuild(session, app.state.redis, now=datetime.now(UTC))
    assert (await _board(client, citizen, region=region))["me"]["carbon_g"] == saved
