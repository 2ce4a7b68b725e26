"""`reads` (quality.md P4): GET /v1/me/account and the first page of GET /v1/me/ledger, 32 clients,
with 100,000 and then 10,000,000 ledger entries in the database.

1. MEASURED citizens (bulk, by SQL) get a history of POSTINGS_EACH award postings each (a citizen
   leg and an issuance leg: 2 entries; an expiry lot; the account row updated to match), written by
   SQL in the shapes the pipeline writes them, digests included, so `tanpu check-ledger` passes
   over it. That is 100,000 entries.
2. Both reads are driven for `--duration` s with every request a random one of those citizens'
   tokens (wrk rotates `token` lines): req/s, p50/p99, errors, the app's CPU ms per request.
3. Other citizens' histories are added the same way until the database holds `--reads-entries`
   (10,000,000) entries, then ANALYZE, and the same reads of the same citizens run again.
4. With `--profile`, one more run of each read at the big size, sampled by py-spy.
5. PostgreSQL's side: EXPLAIN (ANALYZE, BUFFERS) of the first-page query for one measured citizen at
   both sizes (pages touched, execution time).

Goals: p99 ≤ 20 ms at 32 clients; the ledger page at 10M entries costs ≤ 1.3 × the same page at
100k (`ledger_cost_ratio`: CPU ms per request of the app, 10M over 100k; the req/s ratio beside it).
"""

import json
import time
import uuid
from typing import Any

from bench.adjustments import _profile
from bench.harness import Context

NAME = "reads"
MEASURED = 1_000
POSTINGS_EACH = 50  # 100 entries per citizen: MEASURED citizens hold 100,000
CHUNK_CITIZENS = 2_000  # citizens' histories written per statement (100,000 postings)
LEDGER_PATH = "/v1/me/ledger?limit=50"
ACCOUNT_PATH = "/v1/me/account"
SCENARIO = "travel.metro"

# One statement per chunk of citizens: postings (digests computed as domain.ledger.digest_of does:
# fields joined by U+001F, legs "account|points|reverses" in leg order, posted_at in whole seconds
# printed with 6 decimals), their two entries, an expiry lot each, and the accounts' totals.
_HISTORY = f"""
WITH p AS (
    INSERT INTO postings (user_id, kind, posted_at, carbon_g, scenario, created_by, digest)
    SELECT u.id, 'award', t.at, t.points, '{SCENARIO}', 'bench:reads',
           encode(sha256(convert_to(concat_ws(chr(31),
               u.id::text, 'award', extract(epoch FROM t.at)::bigint::text || '.000000', t.points::text,
               '{SCENARIO}', '', '', '', '',
               'citizen|' || t.points || '|', 'issuance:{SCENARIO}|' || -t.points || '|'), 'UTF8')), 'hex')
    FROM unnest($1::uuid[]) AS u(id)
    CROSS JOIN LATERAL (
        SELECT date_trunc('second', now()) - (g * interval '5 hours 7 minutes') AS at, 100 + (g * 37) % 200 AS points
        FROM generate_series(1, {POSTINGS_EACH}) AS g
    ) t
    RETURNING user_id, id, posted_at, carbon_g
), e AS (
    INSERT INTO entries (user_id, posting_id, leg, account, kind, points, carbon_g, scenario, posted_at)
    SELECT p.user_id, p.id, leg.n, leg.account, 'award', leg.sign * p.carbon_g, CASE leg.n WHEN 1 THEN p.carbon_g ELSE 0 END,
           '{SCENARIO}', p.posted_at
    FROM p CROSS JOIN (VALUES (1, 'citizen', 1), (2, 'issuance:{SCENARIO}', -1)) AS leg(n, account, sign)
), l AS (
    INSERT INTO expiry_lots (user_id, posting_id, earned_at, expires_at, points, remaining)
    SELECT p.user_id, p.id, p.posted_at,
           make_timestamptz(extract(year FROM p.posted_at AT TIME ZONE 'Asia/Shanghai')::int + 2, 1, 1, 0, 0, 0, 'Asia/Shanghai'),
           p.carbon_g, p.carbon_g
    FROM p
)
UPDATE citizen_accounts a
SET balance = a.balance + s.points, lifetime_earned = a.lifetime_earned + s.points, carbon_g_total = a.carbon_g_total + s.points
FROM (SELECT user_id, sum(carbon_g) AS points FROM p GROUP BY user_id) s
WHERE a.user_id = s.user_id
"""


def _histories(ctx: Context, citizens: list[str]) -> float:
    t0 = time.perf_counter()
    ctx.query("INSERT INTO system_accounts (code, kind) VALUES ($1, 'issuance') ON CONFLICT DO NOTHING", f"issuance:{SCENARIO}")
    for i in range(0, len(citizens), CHUNK_CITIZENS):
        ctx.query(_HISTORY, citizens[i : i + CHUNK_CITIZENS])
    for table in ("postings", "entries", "expiry_lots", "citizen_accounts"):
        ctx.query(f"ANALYZE {table}")
    return round(time.perf_counter() - t0, 1)


def _tokens(ctx: Context, citizens: list[str]) -> list[str]:
    from service.auth.tokens import Audience

    return [ctx.access_token(c, Audience.CITIZEN, []) for c in citizens]


def _page_plan(ctx: Context, citizen: str) -> dict[str, Any]:
    """EXPLAIN of the app's own first-page statement (limit 50, one more to see if there is a next)."""
    from service.repositories.ledger import _STATEMENT_FIRST_PAGE as page

    explain = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + page.text
    plan = json.loads(ctx.query(explain, *page.args({"user_id": uuid.UUID(citizen), "limit": 51}))[0][0])[0]
    top = plan["Plan"]
    return {
        "execution_ms": plan["Execution Time"],
        "shared_hit": top.get("Shared Hit Blocks", 0),
        "shared_read": top.get("Shared Read Blocks", 0),
        "node": top["Plans"][0]["Node Type"] if top.get("Plans") else top["Node Type"],
    }


def _reads(ctx: Context, tokens: list[str], label: str) -> dict[str, Any]:
    out = {}
    with ctx.serve("app", "bench.serve_app:create") as server:
        for name, path in (("account", ACCOUNT_PATH), ("ledger", LEDGER_PATH)):
            out[name] = ctx.load(server, {"method": "GET", "path": path, "tokens": tokens}, f"reads-{label}-{name}")
    return out


def _entries(ctx: Context) -> int:
    return int(ctx.query("SELECT count(*) FROM entries")[0][0])


def run(ctx: Context) -> dict[str, Any]:
    measured = ctx.bulk_citizens(MEASURED)
    out: dict[str, Any] = {"citizens_measured": MEASURED, "postings_each": POSTINGS_EACH, "sizes": {}}
    made_s = _histories(ctx, measured)
    tokens = _tokens(ctx, measured)
    sizes = {}
    for label in ("small", "big"):
        if label == "big":
            others = (ctx.options.reads_entries - _entries(ctx)) // (2 * POSTINGS_EACH)
            if others > 0:
                made_s = _histories(ctx, ctx.bulk_citizens(MEASURED + others)[MEASURED:])
        entries = _entries(ctx)
        targets = _reads(ctx, tokens, label)
        sizes[label] = {"entries": entries, "history_written_s": made_s, "page_plan": _page_plan(ctx, measured[0]), **targets}
        print(
            f"  {entries:>12,} entries: "
            + "; ".join(
                f"{n} {t['ok_rps']:,.0f} req/s p50 {t['latency_ms']['p50']} ms p99 {t['latency_ms']['p99']} ms "
                f"{t.get('server_cpu_ms_per_request')} CPU ms/req, {t['errors']} errors"
                for n, t in targets.items()
            )
            + f"; first page in PostgreSQL {sizes[label]['page_plan']['execution_ms']} ms",
            flush=True,
        )
    out["sizes"] = sizes
    if ctx.options.profile:  # one more run of each read, sampled by py-spy, at the big size
        out["profile"] = {
            name: _profile(ctx, {"method": "GET", "path": path, "tokens": tokens}, label=f"reads-{name}")
            for name, path in (("account", ACCOUNT_PATH), ("ledger", LEDGER_PATH))
        }
    small, big = sizes["small"], sizes["big"]

    def ratio(a: Any, b: Any) -> float | None:
        return round(a / b, 3) if a and b else None

    def cpu(size: dict[str, Any], name: str) -> Any:
        return size[name].get("server_cpu_ms_per_request")

    out["headline"] = {
        **{
            f"{name}_{label}_{figure}": value
            for label, size in sizes.items()
            for name in ("account", "ledger")
            for figure, value in (
                ("rps", size[name]["ok_rps"]),
                ("p99_ms", size[name]["latency_ms"]["p99"]),
                ("errors", size[name]["errors"]),
                ("cpu_ms", cpu(size, name)),
            )
        },
        "entries_big": big["entries"],
        "ledger_cost_ratio": ratio(cpu(big, "ledger"), cpu(small, "ledger")),
        "ledger_rps_ratio": ratio(small["ledger"]["ok_rps"], big["ledger"]["ok_rps"]),
        "account_cost_ratio": ratio(cpu(big, "account"), cpu(small, "account")),
        "page_sql_ms_small": small["page_plan"]["execution_ms"],
        "page_sql_ms_big": big["page_plan"]["execution_ms"],
    }
    return out


def print_result(result: dict[str, Any]) -> None:
    print("\nreads: GET /v1/me/account, GET /v1/me/ledger?limit=50 (32 clients, random measured citizen)")
    for key, value in result["headline"].items():
        print(f"  {key:28} {value}")
