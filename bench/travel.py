"""`travel` (quality.md P1): POST /v1/activities/travel, full award pipeline, vs the bare reference.

Each request: a transit partner's token (scope travel:write), body
{external_id: unique per request, user: {user_id: a random citizen}, mode: metro, distance_m: 5000,
started_at, ended_at: a 20-minute trip that ended a random time between 40 minutes and 6 days ago}.
Citizens: BULK_CITIZENS made by SQL (harness.bulk_citizens). A 5 km metro trip earns ~234 points,
so a citizen reaches the 1,000-point daily travel cap on the 5th trip of one local day; spreading
the trips over 6 days and 100k citizens keeps capped awards rare (their share is reported: a
capped award is still the whole pipeline).

The app does the whole pipeline (JWT, partner lookup, replay check, citizen lock, usage, evaluation,
activity + key + usage + posting + entries + balance + expiry lot, commit, leaderboard after commit);
two references run in the same process shape (bench/reference_app.py, same route and body):
`reference` writes one posting + 2 entries + the balance in one statement (quality.md's orientation
award), and `reference-award` sends the app's own SQL transaction (context read, then the one write
of every row the product stores for a trip), bare. quality.md P1 is "≥ 0.5 × a bare FastAPI + asyncpg
app doing the same SQL transaction": that is `reference-award`, always run here (its ratio is the
headline `p1_ratio`); the 4-row ratio is reported beside it. Goals: p1_ratio ≥ 0.5, p99 ≤ 50 ms,
0 errors at 32 clients; P5: app peak RSS ≤ 250 MB.
"""

from typing import Any

from bench.adjustments import _profile
from bench.harness import Context

NAME = "travel"
PATH = "/v1/activities/travel"
BULK_CITIZENS = 100_000
TRIP_S = 20 * 60
ENDED_AGO_S = (40 * 60, 6 * 86_400)
BODY = (
    '{"external_id":"$UNIQUE","user":{"user_id":"$USER_ID"},"mode":"metro","distance_m":5000,'
    '"started_at":"$STARTED_AT","ended_at":"$ENDED_AT"}'
)


def request_spec(token: str, citizens: list[str]) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": PATH,
        "headers": {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        "body": BODY,
        "user_ids": citizens,
        "times": [ENDED_AGO_S[0], ENDED_AGO_S[1], TRIP_S],
    }


def _reference_postings(ctx: Context) -> int:
    return int(ctx.query("SELECT count(*) FROM postings WHERE created_by = 'bench:reference'")[0][0])


def run(ctx: Context) -> dict[str, Any]:
    citizens = ctx.bulk_citizens(BULK_CITIZENS)
    partner_id, token = ctx.transit_partner("bench travel")
    spec = request_spec(token, citizens)
    out: dict[str, Any] = {"endpoint": f"POST {PATH}", "targets": {}, "citizens": len(citizens)}

    with ctx.serve("app", "bench.serve_app:create") as server:
        app = ctx.load(server, spec, "travel-app")
    statuses = ctx.activity_statuses(partner_id)
    app["activity_statuses"] = statuses
    app["postings_written"] = int(ctx.query("SELECT count(*) FROM postings WHERE created_by = $1", f"partner:{partner_id}")[0][0])
    answered = app["ok"] + app["warmup_ok"]
    stored = sum(statuses.values())
    # every 201 is a stored activity; requests in flight when the clock stopped may add one per client per run
    app["activities_minus_2xx"] = stored - answered
    app["postings_match_2xx"] = 0 <= stored - answered <= 2 * ctx.options.clients
    out["targets"]["app"] = app
    out["status_share"] = {k: round(v / stored, 4) for k, v in sorted(statuses.items())} if stored else {}

    for mode in dict.fromkeys([*ctx.options.reference_modes, "award"]):  # P1's own yardstick, always
        name = "reference" if mode == "cte" else f"reference-{mode}"
        before = _reference_postings(ctx)
        extra = {"BENCH_REFERENCE_PARTNER": ctx.transit_partner("bench travel reference")[0]} if mode == "award" else {}
        with ctx.serve(name, "bench.reference_app:create", env=ctx.app_env(BENCH_REFERENCE_MODE=mode, **extra)) as server:
            ref = ctx.load(server, spec, f"travel-{name}")
        ref["postings_written"] = _reference_postings(ctx) - before
        ref["mode"] = mode
        slack = ref["postings_written"] - (ref["ok"] + ref["warmup_ok"])
        ref["postings_minus_2xx"] = slack
        ref["postings_match_2xx"] = 0 <= slack <= 2 * ctx.options.clients
        out["targets"][name] = ref

    ref = out["targets"].get("reference") or next((t for n, t in out["targets"].items() if n.startswith("reference")), None)
    if ref is not None and ref["ok_rps"]:
        out["ratio_app_over_reference"] = round(app["ok_rps"] / ref["ok_rps"], 3)
    for name, target in out["targets"].items():
        if name.startswith("reference-") and target["ok_rps"]:
            out[f"ratio_app_over_{name}"] = round(app["ok_rps"] / target["ok_rps"], 3)

    if ctx.options.profile:
        out["profile"] = _profile(ctx, request_spec(ctx.transit_partner("bench travel profiled")[1], citizens))

    out["headline"] = {
        "app_rps": app["ok_rps"],
        "app_p99_ms": app["latency_ms"]["p99"],
        "app_errors": app["errors"],
        "app_peak_rss_mb": app.get("server_peak_rss_mb"),
        "app_cpu_ms_per_request": app.get("server_cpu_ms_per_request"),
        "reference_cpu_ms_per_request": (ref or {}).get("server_cpu_ms_per_request"),
        **{f"{n}_rps": t["ok_rps"] for n, t in out["targets"].items() if n != "app"},
        **{f"{n}_p99_ms": t["latency_ms"]["p99"] for n, t in out["targets"].items() if n != "app"},
        "ratio": out.get("ratio_app_over_reference"),
        "p1_ratio": out.get("ratio_app_over_reference-award"),
        "capped_share": out["status_share"].get("capped", 0.0),
    }
    return out
