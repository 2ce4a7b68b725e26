"""Points expiry: lots due at the end of the calendar year after they were earned (Asia/Shanghai),
expired exactly once however often and however concurrently the run goes; `expiring` in the account."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.calendar import SHANGHAI
from service.usecases.expiry import expire_due
from tests.factories import Factory
from tests.service.cli_helpers import run_tanpu
from tests.service.rewards_helpers import give_at, lots, redeem, reward

# Earned in local 2024 → due at 2026-01-01 00:00 Shanghai, which is this instant:
BOUNDARY = datetime(2026, 1, 1, tzinfo=SHANGHAI)
LAST_SECOND_OF_2024 = datetime(2024, 12, 31, 23, 59, 59, tzinfo=SHANGHAI)
FIRST_SECOND_OF_2025 = datetime(2025, 1, 1, 0, 0, 0, tzinfo=SHANGHAI)


async def _expiry_postings(session: AsyncSession, user_id: object) -> list[int]:
    rows = await session.execute(
        text("SELECT points FROM entries WHERE user_id = :u AND account = 'citizen' AND kind = 'expiry' ORDER BY id"),
        {"u": user_id},
    )
    return [int(r[0]) for r in rows]


async def test_lots_expire_at_the_boundary_instant_and_not_a_moment_before(
    client: AsyncClient, factory: Factory, app: FastAPI, session: AsyncSession
) -> None:
    admin, citizen = await factory.admin(), await factory.citizen()
    await give_at(app, admin, citizen, 100, LAST_SECOND_OF_2024)
    await give_at(app, admin, citizen, 50, FIRST_SECOND_OF_2025)
    now = datetime.now(UTC)

    early = await expire_due(app.state.sessionmaker, as_of=BOUNDARY - timedelta(microseconds=1), now=now, users=[citizen.id])
    assert (early.citizens, early.points) == (0, 0)
    assert [rem for _, _, rem in await lots(app, citizen)] == [100, 50]

    due = await expire_due(app.state.sessionmaker, as_of=BOUNDARY, now=now, users=[citizen.id])
    assert (due.citizens, due.points) == (1, 100)
    assert [rem for _, _, rem in await lots(app, citizen)] == [0, 50]
    account = (await client.get("/v1/me/account", headers=citizen.headers)).json()
    assert account["balance"] == 50 and account["lifetime_earned"] == 0 and account["lifetime_spent"] == 0
    entry = (await client.get("/v1/me/ledger", headers=citizen.headers)).json()["items"][0]
    assert (entry["kind"], entry["points"]) == ("expiry", -100)
    assert await _expiry_postings(session, citizen.id) == [-100]


async def test_a_second_run_expires_nothing(factory: Factory, app: FastAPI, session: AsyncSession) -> None:
    admin, citizen = await factory.admin(), await factory.citizen()
    await give_at(app, admin, citizen, 70, LAST_SECOND_OF_2024)
    now = datetime.now(UTC)
    first = await expire_due(app.state.sessionmaker, as_of=now, now=now, users=[citizen.id])
    second = await expire_due(app.state.sessionmaker, as_of=now, now=now, users=[citizen.id])
    assert (first.points, second.points) == (70, 0)
    assert await _expiry_postings(session, citizen.id) == [-70]


async def test_concurrent_runs_expire_each_lot_exactly_once(factory: Factory, app: FastAPI, session: AsyncSession) -> None:
    admin = await factory.admin()
    citizens = [await factory.citizen() for _ in range(6)]
    for i, c in enumerate(citizens):
        await give_at(app, admin, c, 10 + i, LAST_SECOND_OF_2024)
        await give_at(app, admin, c, 5, datetime(2023, 6, 1, tzinfo=UTC))
    now = datetime.now(UTC)
    ids = [c.id for c in citizens]
    runs = await asyncio.gather(*(expire_due(app.state.sessionmaker, as_of=now, now=now, users=ids) for _ in range(4)))
    assert sum(r.points for r in runs) == sum(15 + i for i in range(6))
    assert sum(r.citizens for r in runs) == 6
    for i, c in enumerate(citizens):
        assert await _expiry_postings(session, c.id) == [-(15 + i)]
        balance = await session.scalar(text("SELECT balance FROM citizen_accounts WHERE user_id = :u"), {"u": c.id})
        assert balance == 0


async def test_points_a_cancelled_hold_returns_to_an_expired_lot_expire_at_the_next_run(
    client: AsyncClient, factory: Factory, app: FastAPI, session: AsyncSession
) -> None:
    operator, admin, citizen = await factory.admin("operator"), await factory.admin(), await factory.citizen()
    await give_at(app, admin, citizen, 100, LAST_SECOND_OF_2024)  # overdue, not yet expired: still spendable
    held = (await redeem(client, citizen, (await reward(client, operator, points=60, fulfilment="manual"))["id"])).json()
    now = datetime.now(UTC)
    assert (await expire_due(app.state.sessionmaker, as_of=now, now=now, users=[citizen.id])).points == 40
    cancelled = await client.post(f"/v1/me/redemptions/{held['id']}/cancel", headers=citizen.headers)
    assert cancelled.status_code == 200
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 60
    assert (await expire_due(app.state.sessionmaker, as_of=now, now=now, users=[citizen.id])).points == 60
    assert await _expiry_postings(session, citizen.id) == [-40, -60]
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 0


async def test_the_account_shows_what_expires_soon(client: AsyncClient, factory: Factory, app: FastAPI) -> None:
    admin, citizen = await factory.admin(), await factory.citizen()
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["expiring"] == []
    await give_at(app, admin, citizen, 30, LAST_SECOND_OF_2024)  # overdue: goes at the next run
    await give_at(app, admin, citizen, 20, datetime(2024, 3, 1, tzinfo=UTC))
    await give_at(app, admin, citizen, 99, datetime.now(UTC))  # next year's end: not within 30 days
    expiring = (await client.get("/v1/me/account", headers=citizen.headers)).json()["expiring"]
    assert expiring == [{"points": 50, "expires_at": "2025-12-31T16:00:00Z"}]


async def test_a_negative_adjustment_takes_the_soonest_expiring_points(
    factory: Factory, app: FastAPI, client: AsyncClient
) -> None:
    admin, citizen = await factory.admin(), await factory.citizen()
    await give_at(app, admin, citizen, 100, datetime(2026, 3, 1, tzinfo=UTC))
    await give_at(app, admin, citizen, 100, datetime(2025, 3, 1, tzinfo=UTC))
    r = await client.post(
        "/v1/admin/adjustments",
        json={"user_id": str(citizen.id), "points": -130, "reason": "duplicate trips"},
        headers={**admin.headers, "Idempotency-Key": f"neg-{citizen.id}"},
    )
    assert r.status_code == 201
    assert [(at.astimezone(SHANGHAI).year, rem) for at, _, rem in await lots(app, citizen)] == [(2027, 0), (2028, 70)]


async def test_the_expire_command_takes_a_date_and_is_exactly_once(
    database_url: str, factory: Factory, app: FastAPI, session: AsyncSession
) -> None:
    admin, citizen = await factory.admin(), await factory.citizen()
    await give_at(app, admin, citizen, 25, datetime(2022, 7, 1, tzinfo=UTC))  # due 2024-01-01 local
    env = {"DATABASE_URL": database_url, "TANPU_ENV": "development"}
    before = await run_tanpu("expire", "--as-of", "2023-12-31", env=env)
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["as_of"] == "2023-12-31T00:00:00+08:00"
    assert await _expiry_postings(session, citizen.id) == []
    first = await run_tanpu("expire", "--as-of", "2024-01-01", env=env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["points"] >= 25
    again = await run_tanpu("expire", "--as-of", "2024-01-01", env=env)
    assert json.loads(again.stdout) == {"as_of": "2024-01-01T00:00:00+08:00", "citizens": 0, "points": 0}
    assert await _expiry_postings(session, citizen.id) == [-25]
    bad = await run_tanpu("expire", "--as-of", "2024-01-01T00:00:00", env=env)
    assert bad.returncode == 1 and "offset" in bad.stderr and "Traceback" not in bad.stderr


async def test_the_job_inside_serve_expires_what_is_due(factory: Factory, app: FastAPI, session: AsyncSession) -> None:
    admin, citizen = await factory.admin(), await factory.citizen()
    await give_at(app, admin, citizen, 12, LAST_SECOND_OF_2024)
    assert app.state.expiry_job is not None
    run = await app.state.expiry_job.run_once()
    assert run.points >= 12
    assert await _expiry_postings(session, citizen.id) == [-12]


async def test_a_run_goes_through_every_citizen_batch_by_batch(factory: Factory, app: FastAPI, session: AsyncSession) -> None:
    admin = await factory.admin()
    citizens = [await factory.citizen() for _ in range(5)]
    for c in citizens:
        await give_at(app, admin, c, 3, LAST_SECOND_OF_2024)
    now = datetime.now(UTC)
    run = await expire_due(app.state.sessionmaker, as_of=now, now=now, batch=2)
    assert run.citizens >= 5
    for c in citizens:
        assert await _expiry_postings(session, c.id) == [-3]
