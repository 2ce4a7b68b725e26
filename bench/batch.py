"""`batch` (quality.md P2): POST /v1/activities/travel:batch, 1,000 trips per request, vs raw pgbench.

The yardstick is measured in the same run first: bench/pgbench.py (the award as raw SQL,
`pgbench -M prepared -c 16`, one statement and BEGIN + 3 statements + COMMIT). P2 wants the
app's awards/s through travel:batch ≥ 1.5 × the multi-statement pgbench tx/s (batching must
beat a commit per award); the ratios to the one-statement figure and to the full award (every
row an app award writes: activity, key, posting, entries, lot, usage, account; committed one by
one) are reported too. The last is the like-for-like one: P2's yardstick writes 4 of those rows.

Then one app process is driven at CONCURRENCY = 2, 4, 8 clients in turn, each for --warmup then
--duration seconds: a closed loop of httpx clients in this process (each client builds its next
body of 1,000 trips, posts it, waits for the answer). A body: unique external_ids, random citizens
of BULK_CITIZENS (made by SQL), metro/bus/bike trips of 1.5-6 km, 15-30 minutes (under every mode's speed bound), ended between
40 minutes and 6 days ago, so daily caps rarely bite (the status shares are reported).
awards/s = items answered 201 in the measured window / its length (a request that started before
the deadline is waited for and counted; the window ends when the last one answers).
The client costs ~10 ms of CPU per 1,000-item request (json), far below the server's share.
"""

import asyncio
import random
import secrets
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench import pgbench
from bench.harness import Context, ProcessSampler

NAME = "batch"
PATH = "/v1/activities/travel:batch"
ITEMS = 1000
CONCURRENCY = (2, 4, 8)
HEADLINE_CONCURRENCY = 4
BULK_CITIZENS = 100_000
MODES = ("metro", "bus", "bike")


class Trips:
    """Unique, plausible travel items for random citizens (shared by batch and imports)."""

    def __init__(self, citizens: list[str], prefix: str) -> None:
        self.citizens = citizens
        self.prefix = prefix
        self.counter = 0
        now = datetime.now(UTC).replace(microsecond=0)
        rnd = random.Random(secrets.randbits(32))
        # a pool of (started_at, ended_at) strings: formatting datetimes per item would dominate the generator
        self.times = []
        for _ in range(4096):
            ended = now - timedelta(seconds=rnd.randint(40 * 60, 6 * 86_400))
            started = ended - timedelta(seconds=rnd.randint(15 * 60, 30 * 60))
            self.times.append((started.isoformat().replace("+00:00", "Z"), ended.isoformat().replace("+00:00", "Z")))
        self.rnd = rnd

    def line(self) -> str:
        self.counter += 1
        rnd = self.rnd
        started, ended = self.times[rnd.getrandbits(12)]
        user = self.citizens[rnd.randrange(len(self.citizens))]
        mode = MODES[rnd.randrange(3)]
        distance = rnd.randint(1500, 6000)
        return (
            f'{{"external_id":"{self.prefix}-{self.counter}","user":{{"user_id":"{user}"}},"mode":"{mode}",'
            f'"distance_m":{distance},"started_at":"{started}","ended_at":"{ended}"}}'
        )

    def batch(self, n: int) -> bytes:
        return ('{"items":[' + ",".join(self.line() for _ in range(n)) + "]}").encode()


async def _drive(url: str, token: str, trips: Trips, clients: int, duration: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    http_statuses: Counter[str] = Counter()
    items: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(120.0)) as client:
        started = time.perf_counter()
        deadline = started + duration

        async def worker() -> None:
            while time.perf_counter() < deadline:
                body = trips.batch(ITEMS)
                t0 = time.perf_counter()
                try:
                    response = await client.post(PATH, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    http_statuses[type(exc).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                http_statuses[str(response.status_code)] += 1
                if response.status_code == 200:
                    for r in response.json()["results"]:
                        if r["status_code"] == 201:
                            items["replayed" if r.get("replayed") else r["activity"]["status"]] += 1
                        else:
                            items[f"{r['status_code']} {r['problem'].get('code')}"] += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    ok_items = sum(v for k, v in items.items() if k in ("awarded", "capped", "rejected", "duplicate", "replayed"))
    awards = items["awarded"] + items["capped"]

    def pct(q: float) -> float | None:
        return round(1000 * latencies[min(len(latencies) - 1, round(q / 100 * len(latencies)))], 1) if latencies else None

    return {
        "clients": clients,
        "requests": len(latencies),
        "http_statuses": dict(http_statuses),
        "item_statuses": dict(items),
        "measured_s": round(elapsed, 2),
        "items_per_s": round(ok_items / elapsed, 1),
        "awards_per_s": round(awards / elapsed, 1),
        "request_latency_ms": {"p50": pct(50), "p99": pct(99), "max": pct(100)},
        "errors": sum(v for k, v in http_statuses.items() if k != "200") + sum(v for k, v in items.items() if k[0].isdigit()),
    }


def _level(ctx: Context, server: Any, token: str, trips: Trips, clients: int) -> dict[str, Any]:
    opts = ctx.options
    if opts.warmup > 0:
        asyncio.run(_drive(server.url, token, trips, clients, opts.warmup))
    db_before = ctx.db_stats()
    sampler = ProcessSampler(server.pid)
    sampler.start()
    try:
        result = asyncio.run(_drive(server.url, token, trips, clients, opts.duration))
    finally:
        sampler.stop()
    result.update(sampler.summary())
    if result.get("server_cpu_pct_of_one_core") and result["items_per_s"]:
        cpu_s = result["server_cpu_pct_of_one_core"] / 100 * result["measured_s"]
        result["server_cpu_ms_per_item"] = round(1000 * cpu_s / (result["items_per_s"] * result["measured_s"]), 3)
    time.sleep(1.2)
    db_after = ctx.db_stats()
    result["db_commits"] = db_after["xact_commit"] - db_before["xact_commit"]
    result["db_rollbacks"] = db_after["xact_rollback"] - db_before["xact_rollback"]
    return result


def run(ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"endpoint": f"POST {PATH} ({ITEMS} items per request)"}
    pg = pgbench.run(ctx)
    out["pgbench"] = pg
    citizens = ctx.bulk_citizens(BULK_CITIZENS)
    partner_id, token = ctx.transit_partner("bench batch")
    trips = Trips(citizens, f"b{secrets.token_hex(4)}")
    levels: dict[str, Any] = {}
    with ctx.serve("app-batch", "bench.serve_app:create") as server:
        for clients in CONCURRENCY:
            levels[str(clients)] = _level(ctx, server, token, trips, clients)
    out["levels"] = levels
    out["activity_statuses"] = ctx.activity_statuses(partner_id)
    multi = pg.get("multi_statement", {}).get("tps") if pg.get("ran") else None
    one = pg.get("one_statement", {}).get("tps") if pg.get("ran") else None
    full = pg.get("full_award", {}).get("tps") if pg.get("ran") else None
    for level in levels.values():
        if multi:
            level["ratio_over_pgbench_multi"] = round(level["awards_per_s"] / multi, 3)
        if one:
            level["ratio_over_pgbench_one"] = round(level["awards_per_s"] / one, 3)
        if full:
            level["ratio_over_pgbench_full"] = round(level["awards_per_s"] / full, 3)
    head = levels[str(HEADLINE_CONCURRENCY)]
    best = max(levels.values(), key=lambda lv: lv["awards_per_s"])
    stored = sum(out["activity_statuses"].values())
    out["headline"] = {
        "pgbench_multi_tps": multi,
        "pgbench_one_tps": one,
        "pgbench_full_award_tps": full,
        **{f"c{c}_awards_per_s": lv["awards_per_s"] for c, lv in levels.items()},
        **{f"c{c}_p99_ms": lv["request_latency_ms"]["p99"] for c, lv in levels.items()},
        "ratio_c4_over_pgbench_multi": head.get("ratio_over_pgbench_multi"),
        "ratio_best_over_pgbench_multi": best.get("ratio_over_pgbench_multi"),
        "ratio_c4_over_pgbench_full": head.get("ratio_over_pgbench_full"),
        "errors": sum(lv["errors"] for lv in levels.values()),
        "peak_rss_mb": max(lv.get("server_peak_rss_mb") or 0 for lv in levels.values()),
        "cpu_ms_per_item_c4": head.get("server_cpu_ms_per_item"),
        "capped_share": round(out["activity_statuses"].get("capped", 0) / stored, 4) if stored else 0.0,
    }
    return out


def print_result(result: dict[str, Any]) -> None:
    pg = result["pgbench"]
    print(f"\nbatch: {result['endpoint']}")
    if pg.get("ran"):
        print(
            f"  pgbench (same run, {pg['clients']} clients): one statement {pg['one_statement']['tps']:,.0f} tx/s, "
            f"multi-statement {pg['multi_statement']['tps']:,.0f} tx/s, "
            f"every row of an app award {pg['full_award']['tps']:,.0f} tx/s"
        )
    else:
        print(f"  pgbench skipped: {pg.get('why')}")
    cols = ("clients", "awards/s", "items/s", "req p50 ms", "req p99 ms", "errors", "srv CPU%", "CPU ms/item", "box CPU%")
    cols += ("x pgbench multi", "x one", "x full award")
    rows = [cols]
    for c, lv in result["levels"].items():
        rows.append(
            (
                c,
                f"{lv['awards_per_s']:,.0f}",
                f"{lv['items_per_s']:,.0f}",
                str(lv["request_latency_ms"]["p50"]),
                str(lv["request_latency_ms"]["p99"]),
                str(lv["errors"]),
                str(lv.get("server_cpu_pct_of_one_core")),
                str(lv.get("server_cpu_ms_per_item")),
                str(lv.get("machine_cpu_busy_pct")),
                str(lv.get("ratio_over_pgbench_multi")),
                str(lv.get("ratio_over_pgbench_one")),
                str(lv.get("ratio_over_pgbench_full")),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    for row in rows:
        print("  " + "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
    print(f"  app peak RSS {result['headline']['peak_rss_mb']} MB; activities by status: {result['activity_statuses']}")
    for c, lv in result["levels"].items():
        print(f"  c{c}: items {lv['item_statuses']}, http {lv['http_statuses']}, db commits {lv['db_commits']}")
