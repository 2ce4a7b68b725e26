"""A lost database is a quick 503 problem, never a hang or a 500 (quality.md R5)."""

import time

import httpx

from service.app import create_app
from service.settings import Settings
from tests.factories import Factory


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
