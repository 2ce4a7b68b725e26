"""R5 (quality.md): PostgreSQL stopped for 10 s under load, then started.

`tanpu serve` runs against a PostgreSQL of this test's own (the embedded one, in tmp_path), so
it can be stopped and started again on the same socket; the machine's PostgreSQL and the suite's
database are never touched. While partner trips are posted by a few concurrent clients the
server is stopped (`pg_ctl -m fast stop`) for 10 s and then started. Every answer must be a 201
or a quick 503 problem (no 500, no hang, no dropped connection), the same process must award
again after the restart by itself, and every trip answered 201 must be stored exactly once (its
re-post is a replay with the identical body) with the ledger's invariants intact.

Two processes, as a deployment has them: the one under load is an API-only replica
(TANPU_RUN_JOBS=false, no webhook dispatcher), so nothing but the requests touches its pool and
its recovery is their own; readiness is polled on a second, default one. A readiness check or a
job that meets a dropped connection through SQLAlchemy invalidates the whole pool, which would
hide a request path that keeps handing out the closed connections.
"""

import asyncio
import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from service.embedded import start_postgres
from service.usecases.check_ledger import check_database
from tests.e2e.servers import Server, bike_trip, logged_errors, other_redis_db
from tests.service.cli_helpers import REPO, run_tanpu

LOOPS = 8  # concurrent clients, one citizen each
PACE_S = 0.05  # between a client's requests: load enough, and few enough awards to re-post them all
BEFORE_S = 3.0  # normal load before the stop
GAP_S = 10.0  # PostgreSQL down
AFTER_OK = 20  # awards after the restart that show the process recovered by itself
RECOVERY_DEADLINE_S = 30.0
PROBLEM_WITHIN_S = 5.0  # R5: a request in the gap has its 503 within this
CLIENT_TIMEOUT_S = 10.0  # waiting longer is a hang
TRANSIT = next(
    {"grant_type": "client_credentials", "client_id": p["client_id"], "client_secret": p["client_secret"]}
    for p in json.loads((REPO / "seeds" / "demo" / "partners.json").read_text())["partners"]
    if p["client_id"] == "demo-transit"
)


class OwnPostgres:
    """The embedded PostgreSQL in `data_dir`, stopped and started with pg_ctl on the same socket."""

    def __init__(self, data_dir: Path) -> None:
        self.url, self._server = start_postgres(data_dir, keep_running=True)
        self.pgdata = (data_dir / "pg").resolve()
        self._socket_dir = str(make_url(self.url).query["host"])
        self.start_retried = False

    def _pg_ctl(self, *args: str) -> None:
        import pgserver

        pgserver.pg_ctl(list(args), pgdata=self.pgdata, user=self._server.system_user, timeout=60)  # type: ignore[attr-defined]

    async def stop(self) -> None:
        await asyncio.to_thread(self._pg_ctl, "-w", "-m", "fast", "stop")

    async def start(self) -> None:
        # as pgserver starts it: no TCP listener, the socket in the data folder (the URL's host)
        args = ("-w", "-o", '-h ""', "-o", f"-k {self._socket_dir}", "-l", str(self.pgdata / "log"), "start")
        try:
            await asyncio.to_thread(self._pg_ctl, *args)
        except subprocess.CalledProcessError:
            # Once in ~25 runs on a busy machine pg_ctl said 1 and PostgreSQL logged nothing (pgserver
            # logs pg_ctl's own output). Starting the database is the harness's part, not the service's:
            # one more try, which the figures show.
            self.start_retried = True
            await asyncio.sleep(0.5)
            await asyncio.to_thread(self._pg_ctl, *args)

    def stop_for_good(self) -> None:
        with contextlib.suppress(Exception):  # already stopped: the test failed inside the gap
            self._pg_ctl("-w", "-m", "immediate", "stop")


@dataclass
class Outage:
    pg: OwnPostgres
    server: Server  # under load: API only
    probe: Server  # polled for readiness, runs the jobs
    sms: Path


@pytest.fixture
async def outage(server_urls: tuple[str, str], tmp_path: Path) -> AsyncIterator[Outage]:
    pg = await asyncio.to_thread(OwnPostgres, tmp_path)
    servers: list[Server] = []
    try:
        sms = tmp_path / "sms.ndjson"
        redis_url = other_redis_db(server_urls[1], 12)
        async with Redis.from_url(redis_url) as redis:
            await redis.flushdb()  # a previous run's OTP limits are not ours
        seeded = await run_tanpu("seed", "--demo", env={"DATABASE_URL": pg.url, "REDIS_URL": redis_url})
        assert seeded.returncode == 0, seeded.stderr
        api_only = {"TANPU_RUN_JOBS": "false", "TANPU_WEBHOOK_DISPATCHER": "false"}
        server = Server(pg.url, redis_url, log=tmp_path / "serve.log", TANPU_SMS_CONSOLE_FILE=str(sms), **api_only)
        probe = Server(pg.url, redis_url, log=tmp_path / "probe.log")
        for s in (server, probe):
            servers.append(s)
            await s.start()
        yield Outage(pg, server, probe, sms)
    finally:
        for s in servers:
            s.stop()
        await asyncio.to_thread(pg.stop_for_good)


@dataclass
class Call:
    external_id: str
    trip: dict[str, Any]
    sent: float
    elapsed: float
    status: int | None  # None: no answer (a transport error or the client's timeout)
    error: str | None = None
    code: str | None = None
    content_type: str = ""
    body: str = ""


async def _token(http: httpx.AsyncClient, form: dict[str, str]) -> str:
    r = await http.post("/v1/oauth/token", data=form)
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


async def _citizen(http: httpx.AsyncClient, sms: Path, phone: str) -> uuid.UUID:
    """A new citizen, signed up by OTP as a phone would be (the console SMS file has the code)."""
    assert (await http.post("/v1/auth/otp", json={"phone": phone})).status_code == 202
    lines = [json.loads(line) for line in (await asyncio.to_thread(sms.read_text)).splitlines()]
    code = next(m["code"] for m in reversed(lines) if m["phone"] == phone)
    token = await _token(http, {"grant_type": "otp", "phone": phone, "code": code})
    me = await http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    return uuid.UUID(me.json()["id"])


async def _load(http: httpx.AsyncClient, headers: dict[str, str], user_id: uuid.UUID, n: int, calls: list[Call]) -> None:
    """Trips for one citizen, each with an external_id of its own, until cancelled."""
    i = 0
    while True:
        external_id = f"outage-{n}-{i}"
        trip = bike_trip(user_id, external_id, 1_000 + i % 500)
        i += 1
        sent = time.monotonic()
        try:
            r = await http.post("/v1/activities/travel", json=trip, headers=headers)
        except httpx.HTTPError as exc:
            calls.append(Call(external_id, trip, sent, time.monotonic() - sent, None, error=repr(exc)))
        else:
            call = Call(external_id, trip, sent, time.monotonic() - sent, r.status_code, body=r.text)
            call.content_type = r.headers.get("content-type", "")
            if r.status_code != 201:
                with contextlib.suppress(ValueError):
                    call.code = r.json().get("code")
            calls.append(call)
        await asyncio.sleep(PACE_S)


async def _poll_readiness(http: httpx.AsyncClient, until: float, seen: list[int | str]) -> None:
    while time.monotonic() < until:
        try:
            seen.append((await http.get("/readyz")).status_code)
        except httpx.HTTPError as exc:
            seen.append(repr(exc))
        await asyncio.sleep(0.25)


def _show(calls: list[Call], limit: int = 5) -> str:
    return "\n".join(
        f"  {c.external_id}: {c.status} {c.code or ''}{c.error or ''} after {c.elapsed:.2f} s {c.body[:200]}"
        for c in calls[:limit]
    )


async def test_postgresql_stopped_for_10_s_under_load_answers_503_quickly_and_recovers_losing_nothing(
    outage: Outage,
) -> None:
    pg, server = outage.pg, outage.server
    calls: list[Call] = []
    readiness: list[int | str] = []
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as http,
        httpx.AsyncClient(base_url=outage.probe.url, timeout=CLIENT_TIMEOUT_S) as probe,
    ):
        partner = {"Authorization": f"Bearer {await _token(http, TRANSIT)}"}
        citizens = [await _citizen(http, outage.sms, f"+861370000{n:04d}") for n in range(LOOPS)]
        loaders = [asyncio.create_task(_load(http, partner, citizen, n, calls)) for n, citizen in enumerate(citizens)]
        try:
            await asyncio.sleep(BEFORE_S)
            stopping = time.monotonic()
            await pg.stop()
            down = time.monotonic()
            await _poll_readiness(probe, down + GAP_S, readiness)
            starting = time.monotonic()
            await pg.start()
            up = time.monotonic()
            deadline = up + RECOVERY_DEADLINE_S
            while time.monotonic() < deadline:
                if sum(1 for c in calls if c.sent >= up and c.status == 201) >= AFTER_OK:
                    break
                await asyncio.sleep(0.1)
        finally:
            for task in loaders:
                task.cancel()
            results = await asyncio.gather(*loaders, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results), results

        before = [c for c in calls if c.sent + c.elapsed < stopping]
        gap = [c for c in calls if c.sent >= down and c.sent + c.elapsed < starting]  # PostgreSQL down all along
        after = [c for c in calls if c.sent >= up]
        problems = [c for c in calls if c.status == 503]
        recovered = min((c.sent + c.elapsed for c in after if c.status == 201), default=None)
        print(
            f"\nR5: {len(calls)} requests ({len(before)} before the stop, {len(gap)} in the gap, {len(after)} after the"
            f" start), {sum(c.status == 201 for c in calls)} awarded, {len(problems)} answered 503, max 503 latency"
            f" {max((c.elapsed for c in problems), default=0):.3f} s, stop took {down - stopping:.2f} s, start"
            f" {up - starting:.2f} s, first award {'never' if recovered is None else f'{recovered - up:.2f} s'} after"
            f" the start, readiness in the gap {sorted(set(map(str, readiness)))}"
            + (" (pg_ctl start needed a second try)" if pg.start_retried else "")
        )

        failed: list[str] = []  # every way R5 was missed, reported together
        # No 500 and no hang: every request has an answer, an award or a 503.
        # (A 500 here was asyncpg's InternalClientError, "cannot switch to state 12; another operation
        # is in progress", on a pooled connection the shutdown had just killed: now an outage, 503.
        # ReadError here was the catch-all re-raising after its 503, so uvicorn closed the connection.)
        unanswered = [c for c in calls if c.status is None]
        if unanswered:
            failed.append(f"{len(unanswered)} requests got no answer (a hang or a dropped connection):\n{_show(unanswered)}")
        others = [c for c in calls if c.status not in (201, 503)]
        if others:
            failed.append(f"{len(others)} answers were neither 201 nor 503:\n{_show(others)}")
        # each 503 a problem that says what it is, and quick
        unlike = [c for c in problems if c.code != "service_unavailable" or not c.content_type.startswith("application/problem")]
        if unlike:
            failed.append(f"{len(unlike)} 503s are not service_unavailable problems:\n{_show(unlike)}")
        slow = [c for c in problems if c.elapsed >= PROBLEM_WITHIN_S]
        if slow:
            failed.append(f"{len(slow)} 503s took {PROBLEM_WITHIN_S} s or more:\n{_show(slow)}")
        # the outage really happened, and under load
        if sum(c.status == 201 for c in before) < LOOPS:
            failed.append(f"no load before the stop:\n{_show(before)}")
        if not gap or any(c.status != 503 for c in gap):
            failed.append(f"requests while PostgreSQL was down that were not 503:\n{_show([c for c in gap if c.status != 503])}")
        if 503 not in readiness:
            failed.append(f"readiness never said 503 in the gap: {readiness}")
        # The same process recovers by itself.
        # (It did not, before service/database.py discarded closed connections at checkout: the award
        # path's raw asyncpg errors never reach SQLAlchemy, whose pool kept handing them out.)
        if server.proc is None or server.proc.poll() is not None:
            failed.append("tanpu serve exited")
        if sum(c.status == 201 for c in after) < AFTER_OK:
            failed.append(f"fewer than {AFTER_OK} awards within {RECOVERY_DEADLINE_S} s of the restart:\n{_show(after[-5:])}")
        for name, client in (("the server", http), ("the probe", probe)):
            if (ready := (await client.get("/readyz")).status_code) != 200:
                failed.append(f"{name} not ready after the restart: {ready}")
        assert not failed, "\n".join(failed) + f"\nthe server logged:\n{logged_errors(server)}"

        # Nothing lost: every award answered is stored once, and its re-post replays it.
        awarded = [c for c in calls if c.status == 201]
        gate = asyncio.Semaphore(LOOPS)

        async def replay(call: Call) -> str | None:
            async with gate:
                r = await http.post("/v1/activities/travel", json=call.trip, headers=partner)
            if r.status_code != 201 or r.headers.get("Idempotent-Replayed") != "true" or r.text != call.body:
                return f"{call.external_id}: {r.status_code} {r.headers.get('Idempotent-Replayed')} {r.text[:200]}"
            return None

        wrong = [w for w in await asyncio.gather(*(replay(c) for c in awarded)) if w is not None]
        assert not wrong, f"{len(wrong)} awards did not replay as answered:\n" + "\n".join(wrong[:10])

    conn = await asyncpg.connect(pg.url)
    try:
        rows = await conn.fetch(
            "SELECT external_id, count(*) AS n, min(id::text) AS id FROM activities"
            " WHERE external_id LIKE 'outage-%' GROUP BY external_id"
        )
    finally:
        await conn.close()
    stored = {r["external_id"]: (r["n"], r["id"]) for r in rows}
    missing = [c.external_id for c in awarded if stored.get(c.external_id, (0, None))[0] != 1]
    assert not missing, f"awarded but not stored exactly once: {missing[:10]}"
    moved = [c.external_id for c in awarded if json.loads(c.body)["activity_id"] != stored[c.external_id][1]]
    assert not moved, f"stored under another activity id than answered: {moved[:10]}"
    twice = [e for e, (n, _) in stored.items() if n != 1]
    assert not twice, f"stored more than once: {twice[:10]}"
    report = await check_database(pg.url)
    assert report.ok, report.violations
