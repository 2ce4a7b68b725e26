"""`purchases` (issue 4): POST /v1/purchases at 32 clients, without a campaign and during a season campaign.

Two targets in the same run, under the same conditions (a fresh app process each, the same bodies,
the same citizens), each with its own merchant partner (scope purchases:write) so that what each
wrote can be counted apart afterwards:

- `no-campaign`: no campaign matches (the seeded Huangpu seasons are May-June, out of the window);
- `season`: an ACTIVE campaign like huangpu-green-season-2025 (multiplier 2.0, region huangpu,
  scenario purchase.green, exclusive, per-citizen cap 20,000) whose window covers the purchases and
  whose budget (BUDGET) cannot run out, created and activated through the admin API before the
  target starts. Every bonus then takes room from one of the campaign's 16 budget shards
  (service/repositories/campaigns.py), so this is what the shards cost.

Each merchant has one Huangpu store and the same certified green products (PRODUCTS); each request
is an order with a unique order_id, a random citizen of BULK_CITIZENS (made by SQL), purchased_at a
random time between 2 minutes and 6 days ago, and 1-3 lines (one of ORDERS at random; one order
has an uncertified line that earns nothing). 100k citizens over 6 days keep the daily purchase cap
(5,000 points) and the per-citizen campaign cap out of the way.

Reported per target: req/s, p50/p95/p99, errors, server CPU ms per request, peak RSS, rollbacks per
request (a statement refused because a concurrent award changed the citizen or took the shard's
room is a rollback; at --app-log-level INFO the app's "award attempt met a concurrent award" lines
are counted too); and season/no-campaign ratios. Then, by SQL: the campaign's spend (sum of its
shards' `spent`) equals the sum of its bonus entries (and of its account's payouts, and of the
activities' bonus_points); every stored purchase got its base points as entries; stored purchases
match the 2xx answers.
"""

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench.harness import Context, asyncpg_dsn

NAME = "purchases"
PATH = "/v1/purchases"
BULK_CITIZENS = 100_000
AT_AGO_S = (120, 6 * 86_400)
BUDGET = 10_000_000_000
PER_CITIZEN_CAP = 20_000

# sku, category, carbon_g per unit (points per unit at 1 point per gram)
PRODUCTS = (
    ("LED-9W", "lighting", 35),
    ("FRIDGE-A1", "appliance", 800),
    ("KETTLE-E2", "appliance", 120),
    ("BAG-ECO", "textile", 15),
    ("WASHER-B2", "appliance", 600),
)


def _line(sku: str, quantity: int, amount_fen: int) -> str:
    return f'{{"sku":"{sku}","quantity":{quantity},"amount_fen":{amount_fen}}}'


# 1-3 lines; BREAD-1 is not a certified green product (its line earns nothing, the breakdown says why)
ORDERS = (
    [_line("LED-9W", 2, 3980)],
    [_line("FRIDGE-A1", 1, 329900)],
    [_line("LED-9W", 4, 7960), _line("KETTLE-E2", 1, 15900)],
    [_line("WASHER-B2", 1, 259900), _line("BAG-ECO", 3, 2970)],
    [_line("KETTLE-E2", 1, 15900), _line("BAG-ECO", 2, 1980), _line("BREAD-1", 1, 1200)],
    [_line("LED-9W", 6, 11940), _line("FRIDGE-A1", 1, 329900), _line("BAG-ECO", 1, 990)],
)


def bodies(store_id: uuid.UUID) -> list[str]:
    return [
        '{"order_id":"$UNIQUE","store_id":"' + str(store_id) + '","user":{"user_id":"$USER_ID"},'
        '"purchased_at":"$AT","lines":[' + ",".join(lines) + "]}"
        for lines in ORDERS
    ]


def request_spec(token: str, store_id: uuid.UUID, citizens: list[str]) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": PATH,
        "headers": {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        "bodies": bodies(store_id),
        "user_ids": citizens,
        "times": [AT_AGO_S[0], AT_AGO_S[1], 0],
    }


def merchant(ctx: Context, label: str) -> tuple[str, str, uuid.UUID]:
    """A merchant partner with a purchases:write token, one active Huangpu store and PRODUCTS: (id, token, store)."""
    partner_id, token = ctx.partner("merchant", f"bench purchases {label}", ["purchases:write"])
    store_id = uuid.uuid4()
    ctx.query(
        "INSERT INTO stores (id, merchant_id, name, region) VALUES ($1, $2, $3, 'huangpu')",
        store_id,
        uuid.UUID(partner_id),
        f"bench store {label}",
    )
    ctx.query(
        """
        INSERT INTO green_products (id, merchant_id, sku, name, category, carbon_g_per_unit, cert_scheme, cert_number,
                                    cert_valid_until)
        SELECT gen_random_uuid(), $1, p.sku, 'bench ' || p.sku, p.category, p.carbon, 'CGP', 'CGP-BENCH-' || p.sku,
               DATE '2030-12-31'
        FROM unnest($2::text[], $3::text[], $4::bigint[]) AS p(sku, category, carbon)
        """,
        uuid.UUID(partner_id),
        [p[0] for p in PRODUCTS],
        [p[1] for p in PRODUCTS],
        [p[2] for p in PRODUCTS],
    )
    return partner_id, token, store_id


def season(ctx: Context, url: str) -> str:
    """The season campaign through the admin API (create, then activate): its id."""
    now = datetime.now(UTC)
    body = {
        "name": "bench green consumption season (double points)",
        "regions": ["huangpu"],
        "scenarios": ["purchase.green"],
        "starts_at": (now - timedelta(days=8)).isoformat(),
        "ends_at": (now + timedelta(days=8)).isoformat(),
        "rule": {"multiplier": "2.0"},
        "stacking": "exclusive",
        "per_citizen_cap": PER_CITIZEN_CAP,
        "budget": BUDGET,
    }
    headers = {"Authorization": f"Bearer {ctx.admin_token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        r = client.post("/v1/admin/campaigns", json=body)
        if r.status_code != 201:
            raise RuntimeError(f"creating the campaign answered {r.status_code}: {r.text[:500]}")
        campaign_id = str(r.json()["id"])
        r = client.post(f"/v1/admin/campaigns/{campaign_id}/activate")
        if r.status_code != 200 or r.json()["status"] != "active":
            raise RuntimeError(f"activating the campaign answered {r.status_code}: {r.text[:500]}")
    return campaign_id


def pause(ctx: Context, url: str, campaign_id: str) -> None:
    r = httpx.post(
        f"{url}/v1/admin/campaigns/{campaign_id}/pause", headers={"Authorization": f"Bearer {ctx.admin_token}"}, timeout=30
    )
    if r.status_code != 200:
        raise RuntimeError(f"pausing the campaign answered {r.status_code}: {r.text[:500]}")


def stored(ctx: Context, partner_id: str) -> dict[str, Any]:
    """What the merchant's purchases wrote: activities by status, and whether each one's citizen entries
    hold its base points (entries without a campaign) and its bonus (entries with one)."""
    row = ctx.query(
        """
        WITH a AS (SELECT user_id, id, status, points, bonus_points, carbon_g FROM activities WHERE partner_id = $1),
             e AS (SELECT e.user_id, e.activity_id,
                          sum(e.points) FILTER (WHERE e.campaign_id IS NULL) AS base,
                          sum(e.points) FILTER (WHERE e.campaign_id IS NOT NULL) AS bonus
                   FROM entries e JOIN a ON a.user_id = e.user_id AND a.id = e.activity_id
                   WHERE e.account = 'citizen' GROUP BY e.user_id, e.activity_id)
        SELECT count(*) AS activities,
               count(*) FILTER (WHERE a.status = 'awarded') AS awarded,
               count(*) FILTER (WHERE a.status = 'capped') AS capped,
               count(*) FILTER (WHERE a.status NOT IN ('awarded', 'capped')) AS other_status,
               count(*) FILTER (WHERE a.points <= 0) AS without_points,
               count(*) FILTER (WHERE coalesce(e.base, 0) <> a.points) AS base_entries_mismatch,
               count(*) FILTER (WHERE coalesce(e.bonus, 0) <> a.bonus_points) AS bonus_entries_mismatch,
               count(*) FILTER (WHERE a.bonus_points > 0) AS with_bonus,
               coalesce(sum(a.carbon_g), 0) AS carbon_g,
               coalesce(sum(a.points), 0) AS base_points,
               coalesce(sum(a.bonus_points), 0) AS bonus_points
        FROM a LEFT JOIN e ON e.user_id = a.user_id AND e.activity_id = a.id
        """,
        uuid.UUID(partner_id),
    )[0]
    return {k: int(row[k]) for k in row.keys()}  # noqa: SIM118 (asyncpg Record)


def campaign_spend(ctx: Context, campaign_id: str) -> dict[str, Any]:
    row = ctx.query(
        """
        SELECT (SELECT coalesce(sum(spent), 0) FROM campaign_budget_shards WHERE campaign_id = $1) AS shards_spent,
               (SELECT count(*) FILTER (WHERE cap IS NOT NULL AND spent > cap) FROM campaign_budget_shards
                 WHERE campaign_id = $1) AS shards_over_cap,
               (SELECT min(spent) FROM campaign_budget_shards WHERE campaign_id = $1) AS shard_min,
               (SELECT max(spent) FROM campaign_budget_shards WHERE campaign_id = $1) AS shard_max,
               (SELECT coalesce(sum(points), 0) FROM entries WHERE account = 'citizen' AND campaign_id = $1) AS bonus_entries,
               (SELECT coalesce(-sum(points), 0) FROM entries WHERE account = 'campaign:' || $1::text) AS account_paid,
               (SELECT coalesce(sum(spent), 0) FROM campaign_citizen_spend WHERE campaign_id = $1) AS citizen_spend
        """,
        uuid.UUID(campaign_id),
    )[0]
    out: dict[str, Any] = {k: int(row[k]) for k in row.keys()}  # noqa: SIM118 (asyncpg Record)
    out["spend_equals_bonus_entries"] = (
        out["shards_spent"] == out["bonus_entries"] == out["account_paid"] == out["citizen_spend"] and out["shards_over_cap"] == 0
    )
    return out


class WaitSampler:
    """What the scratch database's active backends wait on, sampled every PERIOD_S during the measured
    window (pg_stat_activity): a budget row every purchase queues on shows as Lock waits."""

    PERIOD_S = 0.1
    QUERY = (
        "SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '-') AS w, count(*) AS n "
        "FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid() "
        "GROUP BY 1"
    )

    LOCKS = (
        "SELECT l.locktype || ':' || coalesce(c.relname, '-') AS w, count(*) AS n FROM pg_locks l "
        "LEFT JOIN pg_class c ON c.oid = l.relation "
        "WHERE NOT l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) GROUP BY 1"
    )

    # row locks held on the budget shards (pgrowlocks, from contrib, when it can be created): how many
    # shard rows one transaction holds at a time says whether awards lock one shard or all of them
    ROW_LOCKS = "SELECT count(*) AS rows, count(DISTINCT pids[1]) AS holders FROM pgrowlocks('campaign_budget_shards')"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.samples = 0
        self.counts: dict[str, int] = {}
        self.locks: dict[str, int] = {}
        self.idle_in_transaction = 0
        self.row_locks: list[tuple[int, int]] = []
        self.row_locks_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._loop()), daemon=True)

    async def _loop(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pgrowlocks")
        except asyncpg.PostgresError as exc:
            self.row_locks_error = str(exc)
        try:
            while not self._stop.is_set():
                self.idle_in_transaction += int(
                    await conn.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND state = 'idle in transaction'"
                    )
                )
                if self.row_locks_error is None:
                    r = await conn.fetchrow(self.ROW_LOCKS)
                    if r["holders"]:
                        self.row_locks.append((int(r["rows"]), int(r["holders"])))
                for r in await conn.fetch(self.QUERY):
                    self.counts[r["w"]] = self.counts.get(r["w"], 0) + int(r["n"])
                for r in await conn.fetch(self.LOCKS):
                    self.locks[r["w"]] = self.locks.get(r["w"], 0) + int(r["n"])
                self.samples += 1
                await asyncio.sleep(self.PERIOD_S)
        finally:
            await conn.close()

    def start(self) -> "WaitSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, Any]:
        """Mean active backends per sample, by wait event; `lock` is the mean of those waiting on a lock."""
        per = {k: round(v / max(1, self.samples), 2) for k, v in sorted(self.counts.items(), key=lambda kv: -kv[1])}
        return {
            "samples": self.samples,
            "active_backends_mean": round(sum(self.counts.values()) / max(1, self.samples), 2),
            "lock_waiting_mean": round(sum(v for k, v in self.counts.items() if k.startswith("Lock:")) / max(1, self.samples), 2),
            "by_wait_event": per,
            "idle_in_transaction_mean": round(self.idle_in_transaction / max(1, self.samples), 2),
            "shard_rows_locked_per_holder_mean": (
                round(sum(r for r, _ in self.row_locks) / sum(h for _, h in self.row_locks), 2) if self.row_locks else None
            ),
            "samples_with_shard_row_locks": len(self.row_locks),
            "pgrowlocks": self.row_locks_error or "ok",
            # ungranted locks by type and relation: which table's rows the queue forms on
            "ungranted_locks_mean": {
                k: round(v / max(1, self.samples), 2) for k, v in sorted(self.locks.items(), key=lambda kv: -kv[1])
            },
        }


def _retries_logged(log_text: str) -> int:
    return log_text.count("award attempt met a concurrent award")


def _target(ctx: Context, label: str, citizens: list[str], with_campaign: bool) -> tuple[dict[str, Any], str | None]:
    partner_id, token, store_id = merchant(ctx, label)
    campaign_id = None
    waits = WaitSampler(asyncpg_dsn(ctx.database_url))

    def on_measure(_server: Any) -> Any:
        waits.start()
        return waits.stop

    with ctx.serve(label, "bench.serve_app:create") as server:
        if with_campaign:
            campaign_id = season(ctx, server.url)
        try:
            result = ctx.load(server, request_spec(token, store_id, citizens), f"purchases-{label}", on_measure=on_measure)
        finally:
            if campaign_id is not None:
                # a later repeat's no-campaign target must find no campaign
                pause(ctx, server.url, campaign_id)
        time.sleep(0.2)
    result["pg_waits"] = waits.summary()
    result["retries_logged"] = _retries_logged(server.log_path.read_text(errors="replace"))
    result["stored"] = stored(ctx, partner_id)
    answered = result["ok"] + result["warmup_ok"]
    # every 201 is a stored purchase; requests in flight when the clock stopped may add one per client per run
    slack = result["stored"]["activities"] - answered
    result["activities_minus_2xx"] = slack
    result["activities_match_2xx"] = 0 <= slack <= 2 * ctx.options.clients
    s = result["stored"]
    result["every_purchase_got_its_base_points"] = s["without_points"] == 0 and s["base_entries_mismatch"] == 0
    result["bonus_entries_match"] = s["bonus_entries_mismatch"] == 0
    return result, campaign_id


def _ratio(b: float | None, a: float | None) -> float | None:
    return round(b / a, 3) if a and b is not None else None


def run(ctx: Context) -> dict[str, Any]:
    citizens = ctx.bulk_citizens(BULK_CITIZENS)
    out: dict[str, Any] = {"endpoint": f"POST {PATH}", "targets": {}, "citizens": len(citizens)}
    a, _ = _target(ctx, "no-campaign", citizens, with_campaign=False)
    b, campaign_id = _target(ctx, "season", citizens, with_campaign=True)
    out["targets"] = {"no-campaign": a, "season": b}
    assert campaign_id is not None
    out["campaign_id"] = campaign_id
    out["campaign_spend"] = campaign_spend(ctx, campaign_id)
    out["ratio_season_over_no_campaign"] = {
        "req_s": _ratio(b["ok_rps"], a["ok_rps"]),
        "p50": _ratio(b["latency_ms"]["p50"], a["latency_ms"]["p50"]),
        "p99": _ratio(b["latency_ms"]["p99"], a["latency_ms"]["p99"]),
        "cpu_ms_per_request": _ratio(b.get("server_cpu_ms_per_request"), a.get("server_cpu_ms_per_request")),
    }
    spend = out["campaign_spend"]
    out["checks"] = {
        "campaign spend (shards) == bonus entries == campaign account payouts == citizen spend": (
            f"{spend['spend_equals_bonus_entries']} ({spend['shards_spent']:,} / {spend['bonus_entries']:,} / "
            f"{spend['account_paid']:,} / {spend['citizen_spend']:,}; shards {spend['shard_min']:,}-{spend['shard_max']:,})"
        ),
        **{
            f"{name}: stored purchases": (
                f"{t['stored']['activities']:,} for {t['ok'] + t['warmup_ok']:,} 2xx (match: {t['activities_match_2xx']}); "
                f"awarded {t['stored']['awarded']:,}, capped {t['stored']['capped']:,}, other {t['stored']['other_status']}; "
                f"base points {t['stored']['base_points']:,}, bonus {t['stored']['bonus_points']:,} "
                f"on {t['stored']['with_bonus']:,} purchases"
            )
            for name, t in out["targets"].items()
        },
        **{
            f"{name}: every purchase got its base points (and bonus) as entries": (
                f"{t['every_purchase_got_its_base_points'] and t['bonus_entries_match']} "
                f"(base mismatches {t['stored']['base_entries_mismatch']}, "
                f"bonus mismatches {t['stored']['bonus_entries_mismatch']}, "
                f"without points {t['stored']['without_points']})"
            )
            for name, t in out["targets"].items()
        },
        **{
            f"{name}: what PostgreSQL's active backends waited on (mean per 0.1 s sample)": (
                f"{t['pg_waits']['active_backends_mean']} active, {t['pg_waits']['lock_waiting_mean']} on locks; "
                + ", ".join(f"{k} {v}" for k, v in list(t["pg_waits"]["by_wait_event"].items())[:6])
                + f"; {t['pg_waits']['idle_in_transaction_mean']} idle in transaction"
                + f"; shard rows locked per holding transaction: {t['pg_waits']['shard_rows_locked_per_holder_mean']}"
                + "; ungranted locks: "
                + (", ".join(f"{k} {v}" for k, v in list(t["pg_waits"]["ungranted_locks_mean"].items())[:4]) or "none")
            )
            for name, t in out["targets"].items()
        },
        **{
            f"{name}: refused statements": (
                f"{t['db']['rollbacks_per_request']} rollbacks per request; 'concurrent award' retries logged: "
                f"{t['retries_logged']} (counted at --app-log-level INFO only)"
            )
            for name, t in out["targets"].items()
        },
    }
    out["headline"] = {
        "no_campaign_rps": a["ok_rps"],
        "season_rps": b["ok_rps"],
        "ratio_rps": out["ratio_season_over_no_campaign"]["req_s"],
        "no_campaign_p50_ms": a["latency_ms"]["p50"],
        "no_campaign_p99_ms": a["latency_ms"]["p99"],
        "season_p50_ms": b["latency_ms"]["p50"],
        "season_p99_ms": b["latency_ms"]["p99"],
        "no_campaign_errors": a["errors"],
        "season_errors": b["errors"],
        "no_campaign_cpu_ms_per_request": a.get("server_cpu_ms_per_request"),
        "season_cpu_ms_per_request": b.get("server_cpu_ms_per_request"),
        "ratio_cpu_ms": out["ratio_season_over_no_campaign"]["cpu_ms_per_request"],
        "no_campaign_rollbacks_per_request": a["db"]["rollbacks_per_request"],
        "season_rollbacks_per_request": b["db"]["rollbacks_per_request"],
        "no_campaign_pg_lock_waiting_mean": a["pg_waits"]["lock_waiting_mean"],
        "season_pg_lock_waiting_mean": b["pg_waits"]["lock_waiting_mean"],
        "season_peak_rss_mb": b.get("server_peak_rss_mb"),
        "campaign_spent": spend["shards_spent"],
        "spend_equals_bonus_entries": int(spend["spend_equals_bonus_entries"]),
        "base_points_ok": int(a["every_purchase_got_its_base_points"] and b["every_purchase_got_its_base_points"]),
    }
    return out
