"""R4: `kill -9` of a running `tanpu serve` during an import and a load of single awards.

After a restart the import resumes by itself, every line is awarded exactly
once, every single award the client saw is there once, and the ledger checks.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from service.usecases.check_ledger import check_database
from tests.e2e.servers import Server, bike_trip
from tests.factories import Actor, Factory

LINES = 6_000
CITIZENS = 400


@pytest.fixture
async def server(database_url: str, server_urls: tuple[str, str]) -> AsyncIterator[Server]:
    s = Server(database_url, server_urls[1], TANPU_IMPORT_LEASE_S="2")
    yield s
    s.stop()


async def test_kill_9_during_an_import_and_a_load_loses_nothing_and_awards_nothing_twice(
    server: Server, factory: Factory, app: Any, database_url: str
) -> None:
    importer, single = await factory.partner("transit"), await factory.partner("transit")
    citizens: list[Actor] = [await factory.citizen() for _ in range(CITIZENS)]
    body = "".join(
        json.dumps(bike_trip(citizens[i % CITIZENS].id, f"line-{i}", 1_000 + i % 500)) + "\n" for i in range(LINES)
    ).encode()
    await server.start()

    seen_ok: set[str] = set()

    async def load(http: httpx.AsyncClient) -> None:
        i = 0
        while True:
            external_id = f"single-{i}"
            i += 1
            try:
                r = await http.post(
                    "/v1/activities/travel", json=bike_trip(citizens[i % CITIZENS].id, external_id, 2_000), headers=single.headers
                )
                if r.status_code == 201:
                    seen_ok.add(external_id)
            except httpx.TransportError:
                await asyncio.sleep(0.05)

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        r = await http.post("/v1/imports/travel", content=body, headers=importer.headers)
        assert r.status_code == 202, r.text
        import_id = r.json()["import_id"]
        loaders = [asyncio.create_task(load(http)) for _ in range(4)]
        deadline = time.monotonic() + 60
        while True:
            progress = (await http.get(f"/v1/imports/{import_id}", headers=importer.headers)).json()
            if progress["lines_done"] >= 1_500:
                break
            assert progress["status"] != "done" and time.monotonic() < deadline, progress
            await asyncio.sleep(0.05)
        server.kill()
        await asyncio.sleep(0.5)
        for task in loaders:
            task.cancel()
        await asyncio.gather(*loaders, return_exceptions=True)
    assert progress["lines_done"] < LINES, "the import finished before the kill: nothing was tested"

    await server.start()  # the same port: a restart, not a second instance
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        deadline = time.monotonic() + 120
        while True:
            done = (await http.get(f"/v1/imports/{import_id}", headers=importer.headers)).json()
            if done["status"] == "done":
                break
            assert time.monotonic() < deadline, done
            await asyncio.sleep(0.2)
    assert (done["lines_done"], done["failed"]) == (LINES, 0)

    async with app.state.sessionmaker() as s:
        lines = await s.scalar(text("SELECT count(*) FROM activity_keys WHERE partner_id = :p"), {"p": importer.id})
        activities = await s.scalar(text("SELECT count(*) FROM activities WHERE partner_id = :p"), {"p": importer.id})
        singles = set(
            (await s.execute(text("SELECT external_id FROM activity_keys WHERE partner_id = :p"), {"p": single.id})).scalars()
        )
    assert lines == activities == LINES
    assert seen_ok and seen_ok <= singles
    report = await check_database(database_url)
    assert report.ok, report.violations
