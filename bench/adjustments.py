"""`adjustments`: POST /v1/admin/adjustments under load, against the bare FastAPI + asyncpg reference.

Each request: an admin token, a unique Idempotency-Key, body {user_id: a random one of the
bench's citizens, points: 1, reason}. The app does its full pipeline (JWT, idempotency claim,
account lookup, the one-statement ledger write, stored answer, audit row, commit); the reference
(bench/reference_app.py) writes the same posting + 2 entries + balance in one statement.
Goal (issue 2, and the yardstick P1 will use): app/reference requests/s; quality.md P1 wants
≥ 0.5 for the award pipeline, p99 ≤ 50 ms, 0 errors; P5 wants the API ≤ 250 MB RSS under load.
"""

from typing import Any

from bench import profile
from bench.harness import Context

NAME = "adjustments"
PATH = "/v1/admin/adjustments"


def request_spec(ctx: Context) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": PATH,
        "headers": {"Authorization": f"Bearer {ctx.admin_token}", "Content-Type": "application/json"},
        "unique_header": "Idempotency-Key",
        "body": '{"user_id":"$USER_ID","points":1,"reason":"bench $UNIQUE"}',
        "user_ids": ctx.citizens,
    }


def _postings(ctx: Context, created_by: str) -> int:
    return int(ctx.query("SELECT count(*) FROM postings WHERE created_by = $1", created_by)[0][0])


def run(ctx: Context) -> dict[str, Any]:
    spec = request_spec(ctx)
    app_by = f"admin:{ctx.admin_id}"
    out: dict[str, Any] = {"endpoint": f"POST {PATH}", "targets": {}}

    before = _postings(ctx, app_by)
    with ctx.serve("app", "bench.serve_app:create") as server:
        app = ctx.load(server, spec, "app")
    app["postings_written"] = _postings(ctx, app_by) - before
    out["targets"]["app"] = app

    for mode in ctx.options.reference_modes:
        name = "reference" if mode == "cte" else f"reference-{mode}"
        before = _postings(ctx, "bench:reference")
        with ctx.serve(name, "bench.reference_app:create", env=ctx.app_env(BENCH_REFERENCE_MODE=mode)) as server:
            ref = ctx.load(server, spec, name)
        ref["postings_written"] = _postings(ctx, "bench:reference") - before
        ref["mode"] = mode
        out["targets"][name] = ref

    for name, target in out["targets"].items():
        # Every 2xx is a committed posting; requests in flight when the clock stopped may add up to
        # one per client per run (warm-up and measured), never fewer.
        answered = target["ok"] + target["warmup_ok"]
        slack = target["postings_written"] - answered
        target["postings_match_2xx"] = 0 <= slack <= 2 * ctx.options.clients
        target["postings_minus_2xx"] = slack
        del name

    ref = out["targets"].get("reference") or next((t for n, t in out["targets"].items() if n.startswith("reference")), None)
    if ref is not None and ref["ok_rps"]:
        out["ratio_app_over_reference"] = round(app["ok_rps"] / ref["ok_rps"], 3)
    for name, target in out["targets"].items():
        if name.startswith("reference-") and target["ok_rps"]:
            out[f"ratio_app_over_{name}"] = round(app["ok_rps"] / target["ok_rps"], 3)

    if ctx.options.profile:
        out["profile"] = _profile(ctx, spec)

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
    }
    return out


def _profile(ctx: Context, spec: dict[str, Any], label: str = "app") -> dict[str, Any]:
    if not profile.available():
        return {"ran": False, "why": "py-spy is not installed (pip install py-spy into the venv; not a project dependency)"}
    raw = ctx.tmp / f"{label}-profile.txt"
    keep = ctx.results_stem.with_name(f"{ctx.results_stem.name}-{label}-profile.txt")
    holder: dict[str, Any] = {}

    def on_measure(server: Any) -> Any:
        holder["proc"] = profile.start(server.pid, ctx.options.duration, raw)

        def finish() -> None:
            proc = holder["proc"]
            _, err = proc.communicate(timeout=ctx.options.duration + 60)
            holder["rc"] = proc.returncode
            holder["stderr"] = err.decode(errors="replace")[-500:]

        return finish

    with ctx.serve("app-profiled", "bench.serve_app:create") as server:
        run = ctx.load(server, spec, "app-profiled", on_measure=on_measure)
    if not raw.exists():
        return {"ran": False, "why": f"py-spy produced nothing (rc {holder.get('rc')}): {holder.get('stderr')}"}
    keep.parent.mkdir(parents=True, exist_ok=True)
    keep.write_bytes(raw.read_bytes())
    summary = profile.summarize(raw)
    summary.update(ran=True, raw_stacks=str(keep), rps_while_profiled=run["ok_rps"])
    return summary
