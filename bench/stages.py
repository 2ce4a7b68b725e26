"""`stages`: where one batch's time goes, in-process and without HTTP (a diagnostic, no goal of its own).

Batches of 1,000 trips (the `batch` benchmark's items) go through `award_reports` one after the
other on one session, with no concurrency: each asyncpg statement is timed (the database's share,
round trip included), the rest of the wall time is the app's Python (validation, evaluation,
encoding). Wall times suffer from anything else running on the machine; the CPU figures (this
process, and the PostgreSQL backend serving it, read from /proc) much less. With `--profile`
one more series runs under cProfile and its top functions are printed.
"""

import asyncio
import cProfile
import io
import json
import pstats
import time
import uuid
from collections import defaultdict
from typing import Any

import asyncpg

from bench.batch import BULK_CITIZENS, ITEMS, Trips
from bench.harness import Context, process_cpu_s

NAME = "stages"
BATCHES = 20
_PLANS = "SELECT generic_plans, custom_plans, statement FROM pg_prepared_statements"
SINGLES = 500


def _statement_name(query: str) -> str:
    text = " ".join(query.split())[:60]
    return text


class _Undo(Exception):
    pass


async def _explain(conn: asyncpg.Connection, query: str, args: tuple[Any, ...]) -> str:
    """EXPLAIN ANALYZE of a write, in a savepoint that is rolled back (it writes nothing)."""
    plan = ""
    try:
        async with conn.transaction():
            rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS, TIMING) " + query, *args)
            plan = "\n".join(r[0] for r in rows)
            raise _Undo
    except _Undo:
        pass
    return plan


async def _series(
    ctx: Context,
    partner_id: str,
    trips: Trips,
    batches: int,
    profile: cProfile.Profile | None,
    explain: bool = False,
    items: int = ITEMS,
) -> dict[str, Any]:
    from service.api.schemas import TravelBatchIn, TravelIn
    from service.clock import utcnow
    from service.database import create_engine, create_sessionmaker
    from service.directory import Directory
    from service.methodologies import load_all
    from service.repositories import raw
    from service.usecases.award_pipeline import award_reports
    from service.usecases.reports import travel_report

    engine = create_engine(ctx.database_url, pool_size=1)
    db_s: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    explained: list[str] = []
    originals = {name: getattr(asyncpg.Connection, name) for name in ("fetch", "fetchrow", "execute", "fetchval")}

    def timed(name: str) -> Any:
        original = originals[name]

        async def run(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
            if explain and not explained and query.lstrip().startswith("WITH") and self.is_in_transaction():
                explained.append(await _explain(self, query, args))
            t0 = time.perf_counter()
            try:
                return await original(self, query, *args, **kwargs)
            finally:
                key = _statement_name(query)
                db_s[key] += time.perf_counter() - t0
                calls[key] += 1

        return run

    try:
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session:
            directory = Directory()
            facts = await directory.partner(session, uuid.UUID(partner_id))
            versions = await load_all(session)
            await session.commit()
        assert facts is not None
        for name in originals:
            setattr(asyncpg.Connection, name, timed(name))
        async with sessionmaker() as session:
            backend = (await raw.connection(session)).get_server_pid()  # the pool's one connection
        pg_cpu0, cpu0 = process_cpu_s(backend), time.process_time()
        parse_s = wall = 0.0
        for _ in range(batches):
            body = trips.batch(items)
            t0 = time.perf_counter()
            if profile:
                profile.enable()
            parsed = TravelBatchIn.model_validate_json(body).items
            reports = [travel_report(TravelIn.model_validate(item), facts) for item in parsed]
            t1 = time.perf_counter()
            async with sessionmaker() as session:
                outcomes = await award_reports(session, reports, methodologies=versions, now=utcnow())
                await session.commit()
            if profile:
                profile.disable()
            parse_s += t1 - t0
            wall += time.perf_counter() - t0
            assert all(o.status_code == 201 for o in outcomes), {o.status_code for o in outcomes}
        pg_cpu1, cpu = process_cpu_s(backend), time.process_time() - cpu0
        pg_cpu = pg_cpu1 - pg_cpu0 if pg_cpu0 is not None and pg_cpu1 is not None else None
        # whether PostgreSQL plans the hot statements once (generic) or on every execution (custom)
        async with sessionmaker() as session:
            conn = await raw.connection(session)
            plans = [
                (r["generic_plans"], r["custom_plans"], _statement_name(r["statement"]))
                for r in await originals["fetch"](conn, _PLANS)
                if r["generic_plans"] + r["custom_plans"] > 3
            ]
    finally:
        for name, original in originals.items():
            setattr(asyncpg.Connection, name, original)
        await engine.dispose()
    db_total = sum(db_s.values())
    if explained:
        print(explained[0])
    n = batches * items
    return {
        "items": n,
        "wall_ms_per_item": round(1000 * wall / n, 4),
        "parse_ms_per_item": round(1000 * parse_s / n, 4),
        "db_ms_per_item": round(1000 * db_total / n, 4),
        "python_ms_per_item": round(1000 * (wall - db_total) / n, 4),
        "cpu_ms_per_item": round(1000 * cpu / n, 4),
        "pg_cpu_ms_per_item": round(1000 * pg_cpu / n, 4) if pg_cpu is not None else None,
        "plans (generic, custom)": plans,
        "statements": {
            k: {"calls": calls[k], "ms_per_call": round(1000 * v / calls[k], 2)}
            for k, v in sorted(db_s.items(), key=lambda kv: -kv[1])
        },
    }


def run(ctx: Context) -> dict[str, Any]:
    citizens = ctx.bulk_citizens(BULK_CITIZENS)
    partner_id, _ = ctx.transit_partner("bench stages")
    trips = Trips(citizens, f"stages-{uuid.uuid4().hex[:6]}")
    asyncio.run(_series(ctx, partner_id, trips, 2, None))  # warm: prepared statements, caches
    figures = asyncio.run(_series(ctx, partner_id, trips, BATCHES, None))
    print(json.dumps(figures, indent=2))
    asyncio.run(_series(ctx, partner_id, trips, 20, None, items=1))
    single = asyncio.run(_series(ctx, partner_id, trips, SINGLES, None, items=1))
    print("single awards, one after the other:", json.dumps(single, indent=2))
    headline = {k: v for k, v in figures.items() if k.endswith("per_item")}
    out: dict[str, Any] = {"stages": figures, "single": single, "headline": headline}
    if ctx.options.profile:
        profile = cProfile.Profile()
        asyncio.run(_series(ctx, partner_id, trips, 5, profile, explain=True))
        asyncio.run(_series(ctx, partner_id, trips, SINGLES, profile, items=1))  # the same profile: + 500 single awards
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(35)
        print(text.getvalue())
        out["profile"] = text.getvalue()
    return out
