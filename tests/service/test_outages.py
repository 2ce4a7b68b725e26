"""A lost database is a quick 503 problem, never a hang or a 500 (quality.md R5)."""

import asyncio
import contextlib
import os
import time
from pathlib import Path

import httpx

from service.app import create_app
from service.embedded import start_redis
from service.settings import Settings
from tests.factories import Factory, random_phone


async def test_requests_get_503_quickly_when_postgres_is_unreachable(settings: Settings, factory: Factory) -> None:
    citizen = await factory.citizen()
    down = settings.model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/tanpu"})
    app = create_app(down)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            started = time.monotonic()
            r = await client.get("/v1/me/account", headers=citizen.headers)
            elapsed = time.monotonic() - started
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "service_unavailable"
            assert r.headers["retry-after"]
            assert elapsed < 5
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("unavailable")


async def test_readyz_says_not_ready_when_redis_is_unreachable(settings: Settings) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(down)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"].startswith("unavailable")
        assert ready.json()["checks"]["database"] == "ok"


async def test_awards_and_reads_stay_correct_without_redis(settings: Settings, factory: Factory) -> None:
    """R6: Redis is never the only copy of anything; losing it changes no award."""
    from tests.service.test_travel import trip

    partner, citizen = await factory.partner("transit"), await factory.citizen()
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(down)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/v1/activities/travel", json=trip(citizen), headers=partner.headers)
        assert (r.status_code, r.json()["points"]) == (201, 468)
        again = await client.post(
            "/v1/activities/travel", json=trip(citizen, external_id=r.json()["activity_id"]), headers=partner.headers
        )
        assert again.status_code == 201
        account = await client.get("/v1/me/account", headers=citizen.headers)
        assert (account.status_code, account.json()["balance"]) == (200, 936)
        otp = await client.post("/v1/auth/otp", json={"phone": "+8613800000000"})
        assert (otp.status_code, otp.json()["code"]) == (503, "rate_limiter_unavailable")  # sending SMS fails closed


async def test_redis_stopped_mid_run_changes_no_award_read_or_bank_call(
    settings: Settings, factory: Factory, tmp_path: Path
) -> None:
    """R6 with Redis going away while the app runs (not only absent from the start): awards, reads,
    a bank's call and a sign-in stay correct; sending an SMS fails closed, checking a code fails open."""
    from tests.bank_helpers import link, make_bank
    from tests.service.test_auth import TOKEN, request_code
    from tests.service.test_travel import trip

    redis_url, redis = start_redis(tmp_path)
    partner, citizen, bank = await factory.partner("transit"), await factory.citizen(), await make_bank(factory)
    app = create_app(settings.model_copy(update={"redis_url": redis_url}))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        link_id = await link(client, citizen, bank)
        phone = random_phone()
        code = await request_code(client, settings, phone)
        before = await client.post("/v1/activities/travel", json=trip(citizen), headers=partner.headers)
        assert before.status_code == 201
        assert (await client.get("/readyz")).status_code == 200

        pid = redis.pid
        with contextlib.suppress(Exception):
            redis.shutdown(nosave=True)
        while True:  # gone for good, not restarting
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.05)

        after = await client.post("/v1/activities/travel", json=trip(citizen), headers=partner.headers)
        assert (after.status_code, after.json()["points"]) == (201, 468)
        third = await client.post("/v1/activities/travel", json=trip(citizen), headers=partner.headers)
        assert (third.status_code, third.json()["points"]) == (201, 64)
        account = await client.get("/v1/me/account", headers=citizen.headers)
        assert (account.status_code, account.json()["balance"]) == (200, 1000)  # 468 × 3, capped at the day's 1,000
        read = await client.get(f"/v1/bank/links/{link_id}/account", headers=bank.headers)
        assert (read.status_code, read.json()["balance"]) == (200, 1000)
        signed_in = await client.post(TOKEN, data={"grant_type": "otp", "phone": phone, "code": code})
        assert signed_in.status_code == 200, signed_in.text  # the guess limiter fails open
        sms = await client.post("/v1/auth/otp", json={"phone": random_phone()})
        assert (sms.status_code, sms.json()["code"]) == (503, "rate_limiter_unavailable")  # sending fails closed
        assert (await client.get("/readyz")).status_code == 503
