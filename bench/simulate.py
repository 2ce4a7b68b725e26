"""`simulate` (issue 4): POST /v1/admin/campaigns/{id}/simulate over 1,000,000 stored activities.

1. `--simulate-activities` (1,000,000) awarded activities are written into the scratch database by
   SQL (INSERT ... SELECT generate_series, CHUNK rows per statement), shaped as the award pipeline
   writes them (compare a row the API wrote: measurements and breakdown with the same keys):
   PURCHASE_SHARE green purchases (one of bench.purchases.ORDERS, 1-3 lines with their `lines`
   breakdown, at 10 stores of 2 merchants across the regions) and metro/bus/bike trips (1.5-6 km,
   15-30 min) in REGIONS, random citizens of BULK_CITIZENS, occurred_at uniform over DAYS days
   ending an hour ago; then ANALYZE.
2. A campaign covering all of it (every region and scenario above, multiplier 2.0, exclusive,
   per-citizen cap 20,000, a budget it does not exhaust) is created through the admin API.
3. POST .../simulate with {from, to} = the whole period is timed `--simulate-runs` times (3) on one
   app process: wall time, the answer's took_ms, the server's CPU during the call (CPU s / wall s
   says how much of the call is Python in the app and how much is waiting on PostgreSQL) and its
   VmHWM (peak RSS since start) after each call.
4. Where the time goes, without the app: the simulate query under EXPLAIN ANALYZE (PostgreSQL alone:
   scan, sort) and the same query drained through an asyncpg cursor with the app's prefetch in this
   process (PostgreSQL + transfer + decoding, no domain code). With --profile, one more call is
   sampled with py-spy and summarised.

The app's code is not changed by this benchmark; the README says what the figures suggest.
"""

import asyncio
import json
import signal
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench import profile
from bench.harness import REPO, Context, ProcessSampler, asyncpg_dsn, read_vm_hwm
from bench.purchases import ORDERS, PRODUCTS

NAME = "simulate"
BULK_CITIZENS = 100_000
DAYS = 30
CHUNK = 100_000
PURCHASE_SHARE = 0.4
REGIONS = ("huangpu", "huangpu", "huangpu", "putuo", "putuo", "minhang", "minhang", "jinshan", "suzhou", "suzhou")
STORES = (  # (merchant a or b, region): 10 stores, Huangpu busiest
    ("a", "huangpu"),
    ("a", "huangpu"),
    ("b", "huangpu"),
    ("b", "huangpu"),
    ("a", "putuo"),
    ("b", "putuo"),
    ("a", "minhang"),
    ("b", "minhang"),
    ("a", "jinshan"),
    ("b", "suzhou"),
)
MODES = (  # mode, factor g/km, weight out of 6
    ("metro", "46.8", 3),
    ("bus", "26.9", 2),
    ("bike", "40", 1),
)
SCENARIOS = ["purchase.green", "travel.metro", "travel.bus", "travel.bike"]
BUDGET = 5_000_000_000
PER_CITIZEN_CAP = 20_000
SIMULATE_TIMEOUT_S = 1800


def _order_shapes() -> list[dict[str, Any]]:
    """bench.purchases.ORDERS as the pipeline stores them: measured lines and breakdown lines."""
    catalogue = {sku: (category, carbon) for sku, category, carbon in PRODUCTS}
    shapes = []
    for k, lines in enumerate(ORDERS):
        measured, broken, carbon_total = [], [], 0
        for text in lines:
            line = json.loads(text)
            measured.append(line)
            sku, qty, fen = line["sku"], line["quantity"], line["amount_fen"]
            if sku in catalogue:
                category, per_unit = catalogue[sku]
                carbon = per_unit * qty
                carbon_total += carbon
                broken.append(
                    {
                        "sku": sku,
                        "carbon_g": carbon,
                        "category": category,
                        "eligible": True,
                        "quantity": qty,
                        "amount_fen": fen,
                        "base_points": carbon,
                        "bonus_points": 0,
                        "certification": {"number": f"CGP-BENCH-{sku}", "scheme": "CGP", "valid_until": "2030-12-31"},
                        "carbon_g_per_unit": per_unit,
                    }
                )
            else:
                broken.append(
                    {
                        "sku": sku,
                        "reason": f"sku {sku} is not a certified green product of this merchant",
                        "carbon_g": 0,
                        "eligible": False,
                        "quantity": qty,
                        "amount_fen": fen,
                        "base_points": 0,
                        "bonus_points": 0,
                    }
                )
        shapes.append({"k": k, "measured": measured, "lines": broken, "carbon": carbon_total})
    return shapes


def _factors() -> dict[str, Any]:
    path = REPO / "seeds" / "methodologies" / "default-2025.json"
    return dict(json.loads(path.read_text(encoding="utf-8"))["factors"])


_PURCHASES = """
WITH g AS (
    SELECT i, floor(random() * $3)::int AS u, floor(random() * $4)::int AS shape, floor(random() * $5)::int AS store,
           $6::timestamptz + random() * ($7::timestamptz - $6::timestamptz) AS occ
    FROM generate_series($1::bigint, $2::bigint) AS i
)
INSERT INTO activities (user_id, id, partner_id, external_id, scenario, family, status, region, occurred_at, reported_at,
                        carbon_g, points, bonus_points, methodology_id, measurements, breakdown)
SELECT c.user_id, gen_random_uuid(), s.merchant_id, 'sim-p-' || g.i, 'purchase.green', 'purchase', 'awarded', s.region,
       g.occ, g.occ + interval '3 minutes', o.carbon, o.carbon, 0, 'default-2025',
       jsonb_build_object('lines', o.measured, 'order_id', 'sim-p-' || g.i, 'store_id', s.store_id),
       jsonb_build_object(
           'caps', jsonb_build_array(jsonb_build_object('family', 'purchase', 'applied', false, 'daily_cap', 5000,
                                                        'points_cut', 0, 'used_before', 0)),
           'lines', o.lines, 'factor', $8::jsonb, 'points', o.carbon, 'carbon_g', o.carbon, 'scenario', 'purchase.green',
           'store_id', s.store_id, 'campaigns', '[]'::jsonb, 'base_points', o.carbon, 'merchant_id', s.merchant_id,
           'methodology', 'default-2025', 'occurred_at', to_char(g.occ AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
           'bonus_points', 0, 'total_points', o.carbon, 'rate_points_per_g', '1')
FROM g
JOIN bench_sim_citizens c ON c.n = g.u
JOIN bench_sim_orders o ON o.k = g.shape
JOIN bench_sim_stores s ON s.k = g.store
"""

_TRIPS = """
WITH g AS (
    SELECT i, floor(random() * $3)::int AS u, floor(random() * 6)::int AS m, floor(random() * $4)::int AS r,
           1500 + floor(random() * 4500)::int AS dist_m, 15 + floor(random() * 16)::int AS dur_min,
           $5::timestamptz + random() * ($6::timestamptz - $5::timestamptz) AS occ
    FROM generate_series($1::bigint, $2::bigint) AS i
), t AS (
    SELECT g.*, md.mode, md.factor, md.doc, ($7::text[])[g.r + 1] AS region,
           round(g.dist_m / 1000.0 * md.factor)::bigint AS points
    FROM g JOIN bench_sim_modes md ON md.k = g.m
)
INSERT INTO activities (user_id, id, partner_id, external_id, scenario, family, status, region, occurred_at, reported_at,
                        carbon_g, points, bonus_points, methodology_id, measurements, breakdown)
SELECT c.user_id, gen_random_uuid(), $8::uuid, 'sim-t-' || t.i, 'travel.' || t.mode, 'travel', 'awarded', t.region,
       t.occ, t.occ + make_interval(mins => t.dur_min + 2), t.points, t.points, 0, 'default-2025',
       jsonb_build_object('mode', t.mode, 'distance_m', t.dist_m,
                          'ended_at', to_char((t.occ + make_interval(mins => t.dur_min)) AT TIME ZONE 'UTC',
                                              'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')),
       jsonb_build_object(
           'caps', jsonb_build_array(jsonb_build_object('family', 'travel', 'applied', false, 'daily_cap', 1000,
                                                        'points_cut', 0, 'used_before', 0)),
           'factor', t.doc, 'points', t.points, 'carbon_g', t.points, 'scenario', 'travel.' || t.mode, 'campaigns', '[]'::jsonb,
           'average_kmh', to_char(t.dist_m / 1000.0 / (t.dur_min / 60.0), 'FM990.0'),
           'base_points', t.points, 'distance_km', to_char(t.dist_m / 1000.0, 'FM990.000'), 'methodology', 'default-2025',
           'occurred_at', to_char(t.occ AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'), 'bonus_points', 0,
           'duration_min', t.dur_min || '.0', 'total_points', t.points, 'rate_points_per_g', '1')
FROM t JOIN bench_sim_citizens c ON c.n = t.u
"""


async def _load(
    dsn: str, n: int, citizens: list[str], merchants: dict[str, str], transit: str, start: datetime, end: datetime
) -> dict[str, Any]:
    """The activities, by SQL on one connection (helper tables are dropped afterwards)."""
    conn = await asyncpg.connect(dsn)
    t0 = time.perf_counter()
    try:
        await conn.execute(
            "CREATE UNLOGGED TABLE bench_sim_citizens (n int PRIMARY KEY, user_id uuid NOT NULL);"
            "CREATE UNLOGGED TABLE bench_sim_orders (k int PRIMARY KEY, measured jsonb, lines jsonb, carbon bigint);"
            "CREATE UNLOGGED TABLE bench_sim_stores (k int PRIMARY KEY, merchant_id uuid, store_id uuid, region text);"
            "CREATE UNLOGGED TABLE bench_sim_modes (k int PRIMARY KEY, mode text, factor numeric, doc jsonb);"
        )
        await conn.execute(
            "INSERT INTO bench_sim_citizens SELECT n - 1, u FROM unnest($1::uuid[]) WITH ORDINALITY AS t(u, n)",
            [uuid.UUID(c) for c in citizens],
        )
        shapes = _order_shapes()
        await conn.executemany(
            "INSERT INTO bench_sim_orders VALUES ($1, $2::jsonb, $3::jsonb, $4)",
            [(s["k"], json.dumps(s["measured"]), json.dumps(s["lines"]), s["carbon"]) for s in shapes],
        )
        stores = []
        for k, (m, region) in enumerate(STORES):
            store_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO stores (id, merchant_id, name, region) VALUES ($1, $2, $3, $4)",
                store_id,
                uuid.UUID(merchants[m]),
                f"bench sim store {k}",
                region,
            )
            stores.append((k, uuid.UUID(merchants[m]), store_id, region))
        await conn.executemany("INSERT INTO bench_sim_stores VALUES ($1, $2, $3, $4)", stores)
        factors = _factors()
        modes, k = [], 0
        for mode, factor, weight in MODES:
            for _ in range(weight):
                modes.append((k, mode, factor, json.dumps(factors[f"travel.{mode}"], ensure_ascii=False)))
                k += 1
        await conn.executemany("INSERT INTO bench_sim_modes VALUES ($1, $2, $3::numeric, $4::jsonb)", modes)
        purchase_factor = json.dumps(factors["purchase.green"], ensure_ascii=False)

        purchases = round(n * PURCHASE_SHARE)
        done = 0
        while done < purchases:
            hi = min(purchases, done + CHUNK)
            await conn.execute(_PURCHASES, done + 1, hi, len(citizens), len(shapes), len(STORES), start, end, purchase_factor)
            done = hi
        trips = n - purchases
        done = 0
        while done < trips:
            hi = min(trips, done + CHUNK)
            await conn.execute(_TRIPS, done + 1, hi, len(citizens), len(REGIONS), start, end, list(REGIONS), uuid.UUID(transit))
            done = hi
        await conn.execute("DROP TABLE bench_sim_citizens, bench_sim_orders, bench_sim_stores, bench_sim_modes")
        load_s = time.perf_counter() - t0
        await conn.execute("ANALYZE activities")
        size = await conn.fetchval("SELECT pg_total_relation_size('activities')")
        by = await conn.fetch(
            "SELECT scenario, count(*) AS n FROM activities WHERE external_id LIKE 'sim-%' GROUP BY scenario ORDER BY scenario"
        )
        return {
            "activities": n,
            "purchases": purchases,
            "trips": trips,
            "by_scenario": {r["scenario"]: int(r["n"]) for r in by},
            "load_s": round(load_s, 1),
            "load_rows_per_s": round(n / load_s),
            "analyze_s": round(time.perf_counter() - t0 - load_s, 1),
            "activities_table_mb": round(size / 2**20),
        }
    finally:
        await conn.close()


def _campaign(client: httpx.Client, start: datetime, end: datetime) -> str:
    body = {
        "name": "bench simulated season over every region and scenario",
        "regions": sorted(set(REGIONS)),
        "scenarios": SCENARIOS,
        "starts_at": start.isoformat(),
        "ends_at": end.isoformat(),
        "rule": {"multiplier": "2.0"},
        "stacking": "exclusive",
        "per_citizen_cap": PER_CITIZEN_CAP,
        "budget": BUDGET,
    }
    r = client.post("/v1/admin/campaigns", json=body)
    if r.status_code != 201:
        raise RuntimeError(f"creating the campaign answered {r.status_code}: {r.text[:500]}")
    return str(r.json()["id"])


def _simulate(client: httpx.Client, pid: int, campaign_id: str, body: dict[str, str]) -> dict[str, Any]:
    sampler = ProcessSampler(pid)
    sampler.start()
    t0 = time.perf_counter()
    r = client.post(f"/v1/admin/campaigns/{campaign_id}/simulate", json=body, timeout=SIMULATE_TIMEOUT_S)
    wall = time.perf_counter() - t0
    sampler.stop()
    if r.status_code != 200:
        raise RuntimeError(f"simulate answered {r.status_code}: {r.text[:500]}")
    answer = r.json()
    s = sampler.summary()
    cpu_pct = s.get("server_cpu_pct_of_one_core")
    hwm = read_vm_hwm(pid)
    return {
        "wall_s": round(wall, 2),
        "took_ms": answer["took_ms"],
        "server_cpu_s": round(cpu_pct / 100 * wall, 2) if cpu_pct is not None else None,
        "server_cpu_share_of_wall": round(cpu_pct / 100, 2) if cpu_pct is not None else None,
        "server_peak_rss_mb": round(hwm / 2**20, 1) if hwm else None,
        "server_max_rss_mb_sampled": s.get("server_max_rss_mb"),
        "machine_cpu_busy_pct": s.get("machine_cpu_busy_pct"),
        "answer": answer,
    }


async def _sql_alone(dsn: str, campaign_id: str, start: datetime, end: datetime) -> dict[str, Any]:
    """The app's simulate query: EXPLAIN ANALYZE (PostgreSQL alone), then drained through a cursor (+ transfer)."""
    from service.usecases.campaigns import _PAST

    params = {"from": start, "to": end, "regions": sorted(set(REGIONS)), "scenarios": sorted(SCENARIOS)}
    args = _PAST.args(params)
    conn = await asyncpg.connect(dsn)
    try:
        t0 = time.perf_counter()
        plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + _PAST.text, *args)
        explain_s = time.perf_counter() - t0
        lines = [r[0] for r in plan]
        rows = 0
        t0 = time.perf_counter()
        async with conn.transaction():
            async for _ in conn.cursor(_PAST.text, *args, prefetch=5000):
                rows += 1
        drain_s = time.perf_counter() - t0
    finally:
        await conn.close()
    return {
        "explain_analyze_s": round(explain_s, 2),
        "cursor_drain_s": round(drain_s, 2),
        "cursor_rows": rows,
        "plan": lines,
        "campaign_id": campaign_id,
    }


def _profiled(
    client: httpx.Client, pid: int, campaign_id: str, body: dict[str, str], expect_s: float, ctx: Context
) -> dict[str, Any]:
    if not profile.available():
        return {"ran": False, "why": "py-spy is not installed (pip install py-spy into the venv; not a project dependency)"}
    raw = ctx.tmp / "simulate-profile.txt"
    proc = profile.start(pid, expect_s * 3 + 30, raw, rate=100)
    time.sleep(1.0)
    t0 = time.perf_counter()
    client.post(f"/v1/admin/campaigns/{campaign_id}/simulate", json=body, timeout=SIMULATE_TIMEOUT_S)
    wall = time.perf_counter() - t0
    proc.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
    _, err = proc.communicate(timeout=120)
    if not raw.exists():
        return {"ran": False, "why": f"py-spy produced nothing (rc {proc.returncode}): {err.decode(errors='replace')[-500:]}"}
    keep = ctx.results_stem.with_name(ctx.results_stem.name + "-simulate-profile.txt")
    keep.parent.mkdir(parents=True, exist_ok=True)
    keep.write_bytes(raw.read_bytes())
    summary = profile.summarize(raw)
    summary.update(ran=True, raw_stacks=str(keep), wall_s_while_sampled=round(wall, 2))
    return summary


def run(ctx: Context) -> dict[str, Any]:
    n = ctx.options.simulate_activities
    runs = ctx.options.simulate_runs
    citizens = ctx.bulk_citizens(BULK_CITIZENS)
    merchants = {m: ctx.partner("merchant", f"bench simulate {m}", ["purchases:write"])[0] for m in ("a", "b")}
    transit, _ = ctx.transit_partner("bench simulate")
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=DAYS)
    dsn = asyncpg_dsn(ctx.database_url)
    out: dict[str, Any] = {"endpoint": "POST /v1/admin/campaigns/{id}/simulate", "period": [start.isoformat(), end.isoformat()]}
    print(f"simulate: loading {n:,} activities by SQL ...", flush=True)
    out["data"] = asyncio.run(_load(dsn, n, citizens, merchants, transit, start, end))
    print(f"simulate: loaded in {out['data']['load_s']} s; {out['data']['activities_table_mb']} MB", flush=True)
    body = {"from": start.isoformat(), "to": end.isoformat()}
    headers = {"Authorization": f"Bearer {ctx.admin_token}"}
    with (
        ctx.serve("app-simulate", "bench.serve_app:create") as server,
        httpx.Client(base_url=server.url, headers=headers) as client,
    ):
        campaign_id = _campaign(client, start, end)
        hwm = read_vm_hwm(server.pid)
        out["server_rss_before_mb"] = round(hwm / 2**20, 1) if hwm else None
        calls = []
        for i in range(runs):
            call = _simulate(client, server.pid, campaign_id, body)
            print(f"simulate: call {i + 1}/{runs}: {call['wall_s']} s wall, took_ms {call['took_ms']}", flush=True)
            calls.append(call)
        out["calls"] = [{k: v for k, v in c.items() if k != "answer"} for c in calls]
        out["summary"] = calls[-1]["answer"]
        out["answers_identical"] = all({**c["answer"], "took_ms": 0} == {**calls[0]["answer"], "took_ms": 0} for c in calls)
        if ctx.options.profile:
            out["profile"] = _profiled(client, server.pid, campaign_id, body, max(c["wall_s"] for c in calls), ctx)
    out["sql_alone"] = asyncio.run(_sql_alone(dsn, campaign_id, start, end))
    walls = [c["wall_s"] for c in calls]
    took = [c["took_ms"] for c in calls]
    median_wall = statistics.median(walls)
    out["headline"] = {
        "activities": n,
        "wall_s_min": min(walls),
        "wall_s_median": median_wall,
        "took_ms_min": min(took),
        "took_ms_median": statistics.median(took),
        "server_cpu_share_of_wall_median": statistics.median(c["server_cpu_share_of_wall"] or 0 for c in calls),
        "server_peak_rss_mb": max(c["server_peak_rss_mb"] or 0 for c in calls),
        "server_rss_before_mb": out["server_rss_before_mb"],
        "sql_explain_analyze_s": out["sql_alone"]["explain_analyze_s"],
        "sql_cursor_drain_s": out["sql_alone"]["cursor_drain_s"],
        "activities_per_s": round(n / median_wall) if median_wall else None,
        "load_s": out["data"]["load_s"],
    }
    return out


def print_result(result: dict[str, Any]) -> None:
    d = result["data"]
    print(
        f"\nsimulate: {result['endpoint']} over {d['activities']:,} stored activities, "
        f"period {result['period'][0]} .. {result['period'][1]}"
    )
    print(
        f"  data: {d['by_scenario']}; loaded by SQL in {d['load_s']} s ({d['load_rows_per_s']:,} rows/s), "
        f"ANALYZE {d['analyze_s']} s, activities table {d['activities_table_mb']:,} MB"
    )
    print(f"  server RSS before the first call: {result['server_rss_before_mb']} MB")
    for i, c in enumerate(result["calls"], 1):
        print(
            f"  call {i}: wall {c['wall_s']} s, took_ms {c['took_ms']:,}, server CPU {c['server_cpu_s']} s "
            f"({c['server_cpu_share_of_wall']} of wall), server peak RSS {c['server_peak_rss_mb']} MB, "
            f"machine busy {c['machine_cpu_busy_pct']}%"
        )
    h = result["headline"]
    print(
        f"  wall min / median: {h['wall_s_min']} / {h['wall_s_median']} s; "
        f"took_ms min / median: {h['took_ms_min']:,} / {h['took_ms_median']:,}"
    )
    s = result["summary"]
    print(
        f"  answer: considered {s['activities_considered']:,}, matched {s['activities_matched']:,}, "
        f"paid {s['activities_paid']:,}, "
        f"bonus {s['bonus_points']:,}, citizens {s['citizens_paid']:,}, cut by cap {s['cut_by_per_citizen_cap']:,}, "
        f"cut by budget {s['cut_by_budget']:,}, budget exhausted {s['budget_exhausted']}; identical over calls: "
        f"{result['answers_identical']}"
    )
    for cell in s["by_region_scenario"]:
        print(
            f"    {cell['region']:8} {cell['scenario']:15} paid {cell['activities_paid']:>8,}  bonus {cell['bonus_points']:>12,}"
        )
    q = result["sql_alone"]
    print(
        f"  the query alone: EXPLAIN ANALYZE {q['explain_analyze_s']} s; drained through an asyncpg cursor "
        f"(prefetch 5000) in {q['cursor_drain_s']} s ({q['cursor_rows']:,} rows)"
    )
    for line in q["plan"]:
        print(f"    | {line}")
    prof = result.get("profile")
    if prof:
        if not prof.get("ran"):
            print(f"  profile: not run ({prof.get('why')})")
        else:
            print(f"  profile ({prof['samples']:,} samples over a {prof['wall_s_while_sampled']} s call; {prof['raw_stacks']}):")
            print("    self time by layer: " + ", ".join(f"{k} {v}%" for k, v in prof["self_by_layer_pct"].items()))
            print("    top inclusive:")
            for pct, frame in prof["top_inclusive"][:25]:
                print(f"      {pct:5.1f}%  {frame}")
            print("    top self:")
            for pct, frame in prof["top_self"][:15]:
                print(f"      {pct:5.1f}%  {frame}")
