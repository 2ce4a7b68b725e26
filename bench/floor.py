"""`floor`: what PostgreSQL alone spends to store awards, with no app in the way (a diagnostic for P3).

AWARDS award-shaped row sets (an activity with its measurements and breakdown, the partner's
key with a stored answer of a typical size, a posting, its two entries, an expiry lot: the rows
an app award inserts, minus the account and usage updates) are built in this process first, not
timed, then COPY'd (asyncpg's binary copy, the cheapest way in) into the scratch database's real
tables, CHUNK awards per transaction, one table after another. For each table: PostgreSQL's
backend CPU per award (from /proc, so a busy machine does not inflate it) and this process's CPU
spent encoding. Then the entries again into a copy of the table with the same indexes but no
foreign key to postings and no statement trigger: what those two guarantees cost.

This is a floor for the import path: however the app is written, each award costs PostgreSQL at
least `pg_cpu_us_per_award` of CPU with this schema (so many seconds per 1,000,000 awards), before
account and usage updates and any evaluation; more once the indexes outgrow shared_buffers.
"""

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy.engine import make_url

from bench.harness import Context, create_database, drop_database, process_cpu_s

NAME = "floor"
AWARDS = 100_000
CHUNK = 1_000
CITIZENS = 20_000

_COLUMNS = {
    "activities": [
        "user_id",
        "id",
        "partner_id",
        "external_id",
        "scenario",
        "family",
        "status",
        "reason",
        "region",
        "occurred_at",
        "reported_at",
        "carbon_g",
        "points",
        "bonus_points",
        "methodology_id",
        "fingerprint",
        "station_id",
        "measurements",
        "breakdown",
    ],
    "activity_keys": [
        "partner_id",
        "external_id",
        "user_id",
        "activity_id",
        "request_hash",
        "status_code",
        "response",
        "created_at",
    ],
    "postings": [
        "user_id",
        "id",
        "kind",
        "posted_at",
        "carbon_g",
        "scenario",
        "activity_id",
        "campaign_id",
        "reverses_posting_id",
        "memo",
        "created_by",
        "digest",
    ],
    "entries": [
        "user_id",
        "id",
        "posting_id",
        "leg",
        "account",
        "kind",
        "points",
        "carbon_g",
        "scenario",
        "activity_id",
        "campaign_id",
        "reverses_entry_id",
        "posted_at",
    ],
    "expiry_lots": ["user_id", "posting_id", "earned_at", "expires_at", "points", "remaining"],
}


def _rows(first_posting: int, first_entry: int) -> dict[str, list[tuple[Any, ...]]]:
    now = datetime.now(UTC)
    partner = uuid.uuid4()
    users = [uuid.uuid4() for _ in range(CITIZENS)]
    breakdown = {
        "methodology": "shanghai-2025-v1",
        "factor": {"scenario": "travel.metro", "value": 41, "unit": "g CO2e/pkm"},
        "quantity": {"distance_km": "3.2"},
        "rate": "1 point per 10 g",
        "caps": [],
        "lines": [{"scenario": "travel.metro", "carbon_g": 130, "base_points": 13, "bonus_points": 0}],
    }
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in _COLUMNS}
    for i in range(AWARDS):
        user, activity, posting = random.choice(users), uuid.uuid4(), first_posting + i
        measurements = {"mode": "metro", "distance_m": 3200, "ended_at": now.isoformat()}
        answer = {"activity_id": str(activity), "status": "awarded", "scenario": "travel.metro", "carbon_g": 130}
        answer |= {"points": 13, "bonus_points": 0, "breakdown": breakdown}
        rows["activities"].append(
            (
                user,
                activity,
                partner,
                f"x{i}",
                "travel.metro",
                "travel",
                "awarded",
                None,
                "huangpu",
                now,
                now,
                130,
                13,
                0,
                "shanghai-2025-v1",
                None,
                None,
                orjson.dumps(measurements).decode(),
                orjson.dumps(breakdown).decode(),
            )
        )
        rows["activity_keys"].append((partner, f"x{i}", user, activity, "0" * 64, 201, orjson.dumps(answer).decode(), now))
        rows["postings"].append((user, posting, "award", now, 130, "travel.metro", activity, None, None, None, "floor", "0" * 64))
        for leg, account, points, carbon in ((1, "citizen", 13, 130), (2, "issuance:travel.metro", -13, 0)):
            entry = first_entry + 2 * i + leg
            rows["entries"].append(
                (user, entry, posting, leg, account, "award", points, carbon, "travel.metro", activity, None, None, now)
            )
        rows["expiry_lots"].append((user, posting, now, now, 13, 13))
    return rows


async def _copy(conn: asyncpg.Connection, table: str, rows: list[tuple[Any, ...]], columns: list[str]) -> dict[str, float]:
    backend = conn.get_server_pid()
    pg0, app0, t0 = process_cpu_s(backend), time.process_time(), time.perf_counter()
    per = len(rows) // AWARDS
    for start in range(0, len(rows), CHUNK * per):
        async with conn.transaction():
            await conn.copy_records_to_table(table, records=rows[start : start + CHUNK * per], columns=columns)
    pg1 = process_cpu_s(backend)
    assert pg0 is not None and pg1 is not None  # _measure checked that the backend is readable
    return {
        "pg_cpu_us_per_award": round(1e6 * (pg1 - pg0) / AWARDS, 1),
        "copy_encoding_us_per_award": round(1e6 * (time.process_time() - app0) / AWARDS, 1),
        "wall_us_per_award": round(1e6 * (time.perf_counter() - t0) / AWARDS, 1),
    }


async def _measure(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    if process_cpu_s(conn.get_server_pid()) is None:
        await conn.close()
        return {"ran": False, "why": "PostgreSQL's backend is not a process of this machine", "headline": {}}
    try:
        rows = _rows(first_posting=1, first_entry=1)
        tables = {table: await _copy(conn, table, rows[table], columns) for table, columns in _COLUMNS.items()}
        await conn.execute(
            "CREATE TABLE floor_entries (LIKE entries INCLUDING DEFAULTS INCLUDING INDEXES)"  # no FK, no trigger
        )
        bare = await _copy(conn, "floor_entries", rows["entries"], _COLUMNS["entries"])
        await conn.execute("DROP TABLE floor_entries")
    finally:
        await conn.close()
    total = round(sum(t["pg_cpu_us_per_award"] for t in tables.values()), 1)
    return {
        "awards": AWARDS,
        "tables": tables,
        "entries_without_foreign_key_and_trigger": bare,
        "headline": {
            "pg_cpu_us_per_award": total,
            "copy_encoding_us_per_award": round(sum(t["copy_encoding_us_per_award"] for t in tables.values()), 1),
            "entries_fk_and_trigger_us_per_award": round(
                tables["entries"]["pg_cpu_us_per_award"] - bare["pg_cpu_us_per_award"], 1
            ),
        },
    }


def run(ctx: Context) -> dict[str, Any]:
    """In a database of its own (migrated, then dropped): its rows are not a ledger (no accounts, no
    digests), so they must not meet the checks the other benchmarks' ledger goes through."""
    from service.schema import upgrade_to_head

    name = make_url(ctx.database_url).database + "_floor"
    url = create_database(ctx.server_url, name)
    try:
        upgrade_to_head(url)
        return asyncio.run(_measure(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)))
    finally:
        if not ctx.options.keep_db:
            drop_database(ctx.server_url, name)


def print_result(result: dict[str, Any]) -> None:
    if result.get("ran") is False:
        print(f"\nfloor skipped: {result['why']}")
        return
    print(f"\nfloor: COPY of {result['awards']:,} award-shaped row sets (PostgreSQL CPU from /proc)")
    print("  table            PG CPU us/award  COPY encoding us/award")
    for table, t in result["tables"].items():
        print(f"  {table:15s}  {t['pg_cpu_us_per_award']:15}  {t['copy_encoding_us_per_award']:22}")
    bare = result["entries_without_foreign_key_and_trigger"]
    print(f"  entries without the foreign key and the statement trigger: {bare['pg_cpu_us_per_award']} us/award")
    head = result["headline"]
    print(
        f"  in all: {head['pg_cpu_us_per_award']} us of PostgreSQL CPU per award, i.e. "
        f"{head['pg_cpu_us_per_award']} s per 1,000,000 awards on one core, before accounts, usage and evaluation"
    )
