"""POST /v1/imports/travel: NDJSON of any size, per-line errors, resumable, each line awarded at most once."""

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text

from service.clock import utcnow
from service.usecases import travel_import
from tests.factories import Actor, Factory
from tests.service.test_travel import trip


def ndjson(lines: list[Any]) -> bytes:
    return b"".join((json.dumps(x) if not isinstance(x, bytes) else x.decode("latin-1")).encode("latin-1") + b"\n" for x in lines)


async def wait_done(client: AsyncClient, partner: Actor, import_id: str) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        r = await client.get(f"/v1/imports/{import_id}", headers=partner.headers)
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("done", "failed"):
            return r.json()
        assert asyncio.get_running_loop().time() < deadline, r.json()
        await asyncio.sleep(0.1)


async def test_an_import_awards_good_lines_and_reports_each_bad_one(client: AsyncClient, factory: Factory) -> None:
    partner, alice, bob = await factory.partner("transit"), await factory.citizen(), await factory.citizen()
    lines: list[Any] = [
        trip(alice, distance_m=2_000),
        trip(bob, mode="bike", distance_m=3_000),
        b"{not json",
        {"external_id": "x", "mode": "rocket"},
        trip(Actor(uuid.uuid4(), ""), external_id="ghost"),
        trip(alice, distance_m=200_000),  # implausible: stored as rejected
        b"",
        b"\xff\xfe",
    ]
    r = await client.post(
        "/v1/imports/travel", content=ndjson(lines), headers={**partner.headers, "Content-Type": "application/x-ndjson"}
    )
    assert r.status_code == 202, r.text
    done = await wait_done(client, partner, r.json()["import_id"])
    assert (done["status"], done["lines_total"], done["awarded"], done["rejected"], done["failed"]) == ("done", 8, 2, 1, 4)
    assert {e["line"]: e["code"] for e in done["errors"]} == {
        3: "validation_error",
        4: "validation_error",
        5: "unknown_member",
        8: "unreadable_line",
    }
    assert (await client.get("/v1/me/account", headers=alice.headers)).json()["balance"] == 93
    assert (await client.get("/v1/me/account", headers=bob.headers)).json()["balance"] == 120


async def test_reimporting_the_same_file_awards_nothing_twice(client: AsyncClient, factory: Factory) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    body = ndjson([trip(citizen, distance_m=1_000 + i) for i in range(5)])
    first = await wait_done(
        client, partner, (await client.post("/v1/imports/travel", content=body, headers=partner.headers)).json()["import_id"]
    )
    second = await wait_done(
        client, partner, (await client.post("/v1/imports/travel", content=body, headers=partner.headers)).json()["import_id"]
    )
    assert first["awarded"] == 5 and second["awarded"] == 5  # the second run replays the stored answers
    balance = (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"]
    assert balance == sum(int(46.8 * (1_000 + i) / 1000) for i in range(5))


async def test_a_killed_import_resumes_and_awards_each_line_once(app: FastAPI, client: AsyncClient, factory: Factory) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    async with app.state.sessionmaker() as s:
        facts = await app.state.directory.partner(s, partner.id)
        versions = await app.state.methodologies.versions(s)
    lines = [trip(citizen, mode="bike", distance_m=250 + i) for i in range(2_500)]  # 3 chunks; each trip 10 g

    async def stream() -> Any:
        yield ndjson(lines)

    import_id = await travel_import.receive(app.state.sessionmaker, partner.id, stream(), max_bytes=10**8)
    async with app.state.sessionmaker() as s, s.begin():
        # a worker holds the lease...
        await s.execute(
            text("UPDATE imports SET status = 'processing', lease_until = :t WHERE id = :id"),
            {"t": utcnow() + timedelta(hours=1), "id": import_id},
        )
    async with app.state.sessionmaker() as s, s.begin():
        step = await travel_import.process_chunk(s, import_id, facts, methodologies=versions, now=utcnow())
        assert step is travel_import.Step.AWARDED
    async with app.state.sessionmaker() as s:
        # ...and dies in the middle of its second chunk: the transaction never commits
        step = await travel_import.process_chunk(s, import_id, facts, methodologies=versions, now=utcnow())
        assert step is travel_import.Step.AWARDED
        await s.rollback()
    async with app.state.sessionmaker() as s, s.begin():
        await s.execute(
            text("UPDATE imports SET lease_until = :t WHERE id = :id"), {"t": utcnow() - timedelta(seconds=1), "id": import_id}
        )
    app.state.import_worker.wake()
    done = await wait_done(client, partner, str(import_id))
    assert (done["lines_done"], done["awarded"] + done["capped"], done["failed"]) == (2_500, 2_500, 0)
    async with app.state.sessionmaker() as s:
        activities = await s.scalar(text("SELECT count(*) FROM activities WHERE user_id = :u"), {"u": citizen.id})
        chunks_left = await s.scalar(text("SELECT count(*) FROM import_chunks WHERE import_id = :id"), {"id": import_id})
    assert (activities, chunks_left) == (2_500, 0)
    assert (await client.get("/v1/me/account", headers=citizen.headers)).json()["balance"] == 1_000  # the daily travel cap


async def _import_row(app: FastAPI, import_id: uuid.UUID) -> Any:
    async with app.state.sessionmaker() as s:
        return (
            await s.execute(
                text("SELECT status, lines_done, awarded + capped AS counted FROM imports WHERE id = :id"), {"id": import_id}
            )
        ).one()


async def _until_lines_done(app: FastAPI, import_id: uuid.UUID, at_least: int) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while (await _import_row(app, import_id)).lines_done < at_least:
        assert asyncio.get_running_loop().time() < deadline, "the import worker never started on the stored chunks"
        await asyncio.sleep(0.05)


async def test_awarding_starts_while_the_rest_of_the_file_is_still_arriving(
    app: FastAPI, client: AsyncClient, factory: Factory
) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    lines = [trip(citizen, mode="bike", distance_m=250 + i) for i in range(2_300)]  # chunks of 1,000, 1,000 and 300
    import_id: uuid.UUID | None = None
    seen_while_receiving: list[tuple[str, int]] = []

    async def slow_upload() -> Any:
        nonlocal import_id
        yield ndjson(lines[:1_000])
        yield ndjson(lines[1_000:1_200])  # the first chunk is stored once the 1,001st line is read
        async with app.state.sessionmaker() as s:
            import_id = await s.scalar(text("SELECT id FROM imports WHERE partner_id = :p"), {"p": partner.id})
        assert import_id is not None
        await _until_lines_done(app, import_id, 1_000)
        row = await _import_row(app, import_id)
        seen_while_receiving.append((row.status, row.lines_done))
        yield ndjson(lines[1_200:])

    received = await travel_import.receive(
        app.state.sessionmaker, partner.id, slow_upload(), max_bytes=10**8, on_chunk=app.state.import_worker.wake
    )
    assert received == import_id
    assert seen_while_receiving == [("receiving", 1_000)]  # awarded before the upload ended
    app.state.import_worker.wake()
    done = await wait_done(client, partner, str(import_id))
    assert (done["status"], done["lines_total"], done["lines_done"], done["awarded"] + done["capped"]) == (
        "done",
        2_300,
        2_300,
        2_300,
    )
    async with app.state.sessionmaker() as s:
        activities = await s.scalar(text("SELECT count(*) FROM activities WHERE user_id = :u"), {"u": citizen.id})
    assert activities == 2_300


async def test_an_upload_cut_half_way_keeps_what_it_awarded_and_a_resend_awards_the_rest(
    app: FastAPI, client: AsyncClient, factory: Factory
) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    lines = [trip(citizen, mode="bike", distance_m=250 + i) for i in range(1_500)]
    import_id: uuid.UUID | None = None

    async def cut_upload() -> Any:
        nonlocal import_id
        yield ndjson(lines[:1_200])
        async with app.state.sessionmaker() as s:
            import_id = await s.scalar(text("SELECT id FROM imports WHERE partner_id = :p"), {"p": partner.id})
        assert import_id is not None
        await _until_lines_done(app, import_id, 1_000)
        raise ConnectionResetError("the partner's connection dropped")

    try:
        await travel_import.receive(
            app.state.sessionmaker, partner.id, cut_upload(), max_bytes=10**8, on_chunk=app.state.import_worker.wake
        )
    except ConnectionResetError:
        pass
    else:
        raise AssertionError("the cut upload should fail")
    assert import_id is not None
    await asyncio.sleep(0.3)  # a worker that was on a chunk has finished with it
    row = await _import_row(app, import_id)
    async with app.state.sessionmaker() as s:
        chunks_left = await s.scalar(text("SELECT count(*) FROM import_chunks WHERE import_id = :id"), {"id": import_id})
        activities = await s.scalar(text("SELECT count(*) FROM activities WHERE user_id = :u"), {"u": citizen.id})
    assert (row.status, row.lines_done, row.counted, chunks_left, activities) == ("failed", 1_000, 1_000, 0, 1_000)

    again = await client.post("/v1/imports/travel", content=ndjson(lines), headers=partner.headers)
    done = await wait_done(client, partner, again.json()["import_id"])
    assert (done["status"], done["lines_done"], done["failed"]) == ("done", 1_500, 0)
    async with app.state.sessionmaker() as s:
        activities = await s.scalar(text("SELECT count(*) FROM activities WHERE user_id = :u"), {"u": citizen.id})
    assert activities == 1_500  # the first 1,000 replayed, the other 500 awarded once


async def test_an_upload_whose_sender_died_is_failed_once_it_has_been_silent(
    app: FastAPI, client: AsyncClient, factory: Factory
) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    silent, talking = uuid.uuid4(), uuid.uuid4()
    last_heard = utcnow() - travel_import.UPLOAD_SILENCE - timedelta(minutes=1)
    async with app.state.sessionmaker() as s, s.begin():
        # what a killed process leaves behind: an import still receiving, a chunk stored long ago
        for import_id, heard in ((silent, last_heard), (talking, utcnow())):
            await s.execute(
                text("INSERT INTO imports (id, partner_id, status, received_at) VALUES (:id, :p, 'receiving', :t)"),
                {"id": import_id, "p": partner.id, "t": heard},
            )
        line = json.dumps(trip(citizen))
        await s.execute(
            text("INSERT INTO import_chunks (import_id, seq, first_line, lines) VALUES (:id, 0, 1, :lines)"),
            {"id": silent, "lines": json.dumps([[1, line]])},
        )
    app.state.import_worker.wake()
    done = await wait_done(client, partner, str(silent))
    async with app.state.sessionmaker() as s:
        chunks_left = await s.scalar(text("SELECT count(*) FROM import_chunks WHERE import_id = :id"), {"id": silent})
    assert (done["status"], done["finished_at"] is not None, chunks_left) == ("failed", True, 0)
    assert (await _import_row(app, talking)).status == "receiving"  # still within its silence


async def test_imports_are_private_to_their_partner_and_bounded(app: FastAPI, client: AsyncClient, factory: Factory) -> None:
    partner, other, citizen = await factory.partner("transit"), await factory.partner("transit"), await factory.citizen()
    r = await client.post("/v1/imports/travel", content=ndjson([trip(citizen)]), headers=partner.headers)
    assert (await client.get(f"/v1/imports/{r.json()['import_id']}", headers=other.headers)).status_code == 404
    limit = app.state.settings.import_max_bytes
    app.state.settings.import_max_bytes = 100
    try:
        big = await client.post("/v1/imports/travel", content=ndjson([trip(citizen)] * 3), headers=partner.headers)
    finally:
        app.state.settings.import_max_bytes = limit
    assert (big.status_code, big.json()["code"]) == (413, "import_too_large")
    recycler = await factory.partner("recycling")
    assert (await client.post("/v1/imports/travel", content=b"", headers=recycler.headers)).status_code == 403


async def test_split_lines_never_holds_a_runaway_line() -> None:
    async def stream() -> Any:
        yield b'{"a": 1}\n' + b"x" * (travel_import.MAX_LINE_BYTES + 10)
        yield b"y" * 100 + b'\n{"b": 2}'

    lines = [line async for line in travel_import.split_lines(stream(), max_bytes=10**6)]
    assert [(line.number, line.text) for line in lines] == [(1, '{"a": 1}'), (2, None), (3, '{"b": 2}')]


@pytest.mark.parametrize("piece", [1, 7, 64, 1 << 20])
async def test_split_lines_is_the_same_whatever_the_pieces(piece: int) -> None:
    text = b'{"a": 1}\n\n{"b": "\xe4\xb8\xad"}\r\n\xff\xfe\n' + b"z" * (travel_import.MAX_LINE_BYTES + 1) + b'\n{"c": 3}'

    async def stream() -> Any:
        for start in range(0, len(text), piece):
            yield text[start : start + piece]

    lines = [(line.number, line.text) async for line in travel_import.split_lines(stream(), max_bytes=10**6)]
    assert lines == [(1, '{"a": 1}'), (2, ""), (3, '{"b": "中"}'), (4, None), (5, None), (6, '{"c": 3}')]


async def test_lines_the_database_could_not_hold_are_refused_each_and_the_import_finishes(
    client: AsyncClient, factory: Factory
) -> None:
    partner, alice = await factory.partner("transit"), await factory.citizen()
    lines: list[Any] = [
        trip(alice, distance_m=2_000),
        trip(alice, started_at="9999-12-31T20:00:00-10:00", ended_at="9999-12-31T20:30:00-10:00"),
        trip(alice, fingerprint="metro\u0000trip-1"),
        trip(Actor(uuid.uuid4(), ""), external_id="nul") | {"user": {"member_ref": "card\u00001"}},
        trip(alice, distance_m=3_000),
    ]
    r = await client.post(
        "/v1/imports/travel", content=ndjson(lines), headers={**partner.headers, "Content-Type": "application/x-ndjson"}
    )
    done = await wait_done(client, partner, r.json()["import_id"])
    assert (done["status"], done["awarded"], done["failed"]) == ("done", 2, 3), done
    assert {e["line"]: e["code"] for e in done["errors"]} == {2: "validation_error", 3: "validation_error", 4: "validation_error"}
    r = await client.post(
        "/v1/activities/travel:batch", json={"items": [lines[1], lines[2], trip(alice)]}, headers=partner.headers
    )
    assert [x["status_code"] for x in r.json()["results"]] == [422, 422, 201]


async def test_a_line_the_pipeline_fails_on_is_reported_and_the_rest_of_its_chunk_is_awarded(
    client: AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug that only one line meets must not stall the import at that chunk for ever."""
    partner, alice = await factory.partner("transit"), await factory.citizen()
    real = travel_import.award_reports

    async def failing_on_the_poison(session: Any, reports: Any, **kw: Any) -> Any:
        if any(r.external_id == "poison" for r in reports):
            raise RuntimeError("a bug this line meets")
        return await real(session, reports, **kw)

    monkeypatch.setattr(travel_import, "award_reports", failing_on_the_poison)
    lines = [trip(alice, distance_m=2_000), trip(alice, external_id="poison"), trip(alice, distance_m=3_000)]
    r = await client.post(
        "/v1/imports/travel", content=ndjson(lines), headers={**partner.headers, "Content-Type": "application/x-ndjson"}
    )
    done = await wait_done(client, partner, r.json()["import_id"])
    assert (done["status"], done["awarded"], done["failed"]) == ("done", 2, 1), done
    assert done["errors"][0]["line"] == 2 and done["errors"][0]["code"] == "internal_error"
    assert (await client.get("/v1/me/account", headers=alice.headers)).json()["balance"] == 93 + 140


async def test_lines_are_judged_as_of_their_arrival_not_of_their_turn(
    app: FastAPI, client: AsyncClient, factory: Factory
) -> None:
    """A file that waited in the queue (or resumed after a crash) is not older for it: a trip inside
    the 7-day window when it arrived earns, even if the window has passed it by the time it is awarded."""
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    start = utcnow() - timedelta(days=7, minutes=30)  # 7 days and 30 minutes ago: too old now
    old_trip = trip(citizen, started_at=start.isoformat(), ended_at=(start + timedelta(minutes=25)).isoformat())

    async def stream() -> Any:
        yield ndjson([old_trip])

    hold = timedelta(hours=1)
    import_id = await travel_import.receive(app.state.sessionmaker, partner.id, stream(), max_bytes=10**6, hold_for=hold)
    async with app.state.sessionmaker() as s, s.begin():  # it arrived an hour ago, and waited
        await s.execute(
            text("UPDATE import_chunks SET received_at = :at WHERE import_id = :id"),
            {"at": utcnow() - timedelta(hours=1), "id": import_id},
        )
        await s.execute(
            text("UPDATE imports SET lease_until = :t WHERE id = :id"), {"t": utcnow() - timedelta(seconds=1), "id": import_id}
        )
    app.state.import_worker.wake()
    done = await wait_done(client, partner, str(import_id))
    assert (done["awarded"], done["rejected"]) == (1, 0), done
    async with app.state.sessionmaker() as s:
        reported = await s.scalar(text("SELECT reported_at FROM activities WHERE user_id = :u"), {"u": citizen.id})
    assert utcnow() - reported > timedelta(minutes=59)  # the activity says when it was reported
