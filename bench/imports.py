"""`imports` (quality.md P3): NDJSON trip files through POST /v1/imports/travel, end to end.

For each size of --import-sizes (default 100,000 and 1,000,000 lines):
1. an NDJSON file is generated, streamed to disk in blocks (never built in memory): one trip per line
   shaped like POST /v1/activities/travel's body, unique external_ids, random citizens of
   BULK_CITIZENS (made by SQL, harness.bulk_citizens), metro/bus/bike, 1.5-6 km, 15-30 minutes,
   ended between 40 minutes and 6 days ago, so daily caps rarely bite (the capped count is reported);
2. a fresh app process is started (VmHWM only grows, so each size gets its own), a new transit partner
   posts the file with a streamed body (httpx reading the file in 1 MiB pieces, chunked transfer);
3. GET /v1/imports/{id} is polled every POLL_S until done or failed (or --import-timeout);
4. the app's VmHWM (/proc/<pid>/status, peak RSS since start) is read before it is stopped.

Reported per size: generation time (not counted), upload seconds (POST until its 202: the body is
received and stored as chunks), processing seconds (202 until done), end to end (POST until done),
lines/s, the import's counters, the app's peak RSS and CPU, and a check that the activities stored for
the partner equal the counters. Goals: 1M lines ≤ 60 s end to end; peak RSS(1M) ≤ 1.2 × peak RSS(100k).
The ledger invariants (and `tanpu check-ledger`) are verified by bench/__main__.py after the run.
"""

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.batch import Trips
from bench.harness import Context, ProcessSampler, read_vm_hwm

NAME = "imports"
PATH = "/v1/imports/travel"
BULK_CITIZENS = 200_000
POLL_S = 0.5
BLOCK_LINES = 10_000
PIECE = 1 << 20


def generate(path: Path, lines: int, citizens: list[str]) -> dict[str, Any]:
    trips = Trips(citizens, f"i{secrets.token_hex(4)}")
    t0 = time.perf_counter()
    with open(path, "w", encoding="utf-8") as f:
        left = lines
        while left:
            n = min(BLOCK_LINES, left)
            f.write("\n".join(trips.line() for _ in range(n)) + "\n")
            left -= n
    return {"lines": lines, "bytes": path.stat().st_size, "generate_s": round(time.perf_counter() - t0, 2)}


def _pieces(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while piece := f.read(PIECE):
            yield piece


def _one(ctx: Context, lines: int, citizens: list[str]) -> dict[str, Any]:
    path = ctx.tmp / f"trips-{lines}.ndjson"
    out: dict[str, Any] = {"file": generate(path, lines, citizens)}
    partner_id, token = ctx.transit_partner(f"bench import {lines}")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    try:
        with ctx.serve(f"app-import-{lines}", "bench.serve_app:create") as server:
            rss_at_start = read_vm_hwm(server.pid)
            sampler = ProcessSampler(server.pid)
            sampler.start()
            with httpx.Client(base_url=server.url, timeout=httpx.Timeout(600.0)) as client:
                t0 = time.perf_counter()
                response = client.post(PATH, content=_pieces(path), headers=headers)
                t_accepted = time.perf_counter()
                if response.status_code != 202:
                    sampler.stop()
                    return {**out, "error": f"POST answered {response.status_code}: {response.text[:500]}"}
                import_id = response.json()["import_id"]
                status: dict[str, Any] = {}
                timed_out = False
                while True:
                    status = client.get(f"/v1/imports/{import_id}", headers=headers).json()
                    if status.get("status") in ("done", "failed"):
                        break
                    if time.perf_counter() - t0 > ctx.options.import_timeout:
                        timed_out = True
                        break
                    time.sleep(POLL_S)
                t_done = time.perf_counter()
            sampler.stop()
            out["app_peak_rss_mb"] = round((read_vm_hwm(server.pid) or 0) / 2**20, 1)
            out["app_rss_at_ready_mb"] = round((rss_at_start or 0) / 2**20, 1)
            out.update({k: v for k, v in sampler.summary().items() if k != "server_peak_rss_mb"})
    finally:
        path.unlink(missing_ok=True)
    status.pop("errors", None)
    out["import"] = status
    out["timed_out"] = timed_out
    out["upload_s"] = round(t_accepted - t0, 2)
    out["processing_s"] = round(t_done - t_accepted, 2)
    out["end_to_end_s"] = round(t_done - t0, 2)
    done_lines = int(status.get("lines_done") or 0)
    out["lines_per_s"] = round(done_lines / (t_done - t0), 1) if done_lines else 0.0
    out["processing_lines_per_s"] = round(done_lines / (t_done - t_accepted), 1) if done_lines else 0.0
    stored = ctx.activity_statuses(partner_id)
    out["activity_statuses"] = stored
    counted = sum(int(status.get(k) or 0) for k in ("awarded", "capped", "rejected", "duplicates"))
    out["activities_match_counters"] = sum(stored.values()) == counted
    out["all_lines_accounted"] = counted + int(status.get("failed") or 0) == int(status.get("lines_total") or -1)
    return out


def run(ctx: Context) -> dict[str, Any]:
    citizens = ctx.bulk_citizens(BULK_CITIZENS)
    sizes: dict[str, Any] = {}
    for lines in ctx.options.import_sizes:
        sizes[str(lines)] = _one(ctx, lines, citizens)
    out: dict[str, Any] = {"endpoint": f"POST {PATH} + GET /v1/imports/{{id}}", "citizens": len(citizens), "sizes": sizes}
    head: dict[str, Any] = {}
    for lines, r in sizes.items():
        tag = f"{int(lines) // 1000}k" if int(lines) < 1_000_000 else f"{int(lines) // 1_000_000}M"
        head[f"{tag}_end_to_end_s"] = r.get("end_to_end_s")
        head[f"{tag}_lines_per_s"] = r.get("lines_per_s")
        head[f"{tag}_peak_rss_mb"] = r.get("app_peak_rss_mb")
        head[f"{tag}_capped"] = (r.get("import") or {}).get("capped")
    small, big = sizes.get("100000"), sizes.get("1000000")
    if small and big and small.get("app_peak_rss_mb"):
        head["peak_rss_1M_over_100k"] = round(big["app_peak_rss_mb"] / small["app_peak_rss_mb"], 3)
    out["headline"] = head
    return out


def print_result(result: dict[str, Any]) -> None:
    print(f"\nimports: {result['endpoint']} ({result['citizens']:,} citizens)")
    cols = ("lines", "MB", "upload s", "process s", "end-to-end s", "lines/s", "peak RSS MB", "srv CPU%", "box CPU%", "status")
    rows = [cols]
    for lines, r in result["sizes"].items():
        imp = r.get("import") or {}
        rows.append(
            (
                f"{int(lines):,}",
                f"{r['file']['bytes'] / 2**20:,.0f}",
                str(r.get("upload_s")),
                str(r.get("processing_s")),
                str(r.get("end_to_end_s")),
                f"{r.get('lines_per_s', 0):,.0f}",
                str(r.get("app_peak_rss_mb")),
                str(r.get("server_cpu_pct_of_one_core")),
                str(r.get("machine_cpu_busy_pct")),
                ("TIMED OUT " if r.get("timed_out") else "") + str(imp.get("status") or r.get("error")),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    for row in rows:
        print("  " + "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
    for lines, r in result["sizes"].items():
        imp = r.get("import") or {}
        counters = {k: imp.get(k) for k in ("lines_total", "lines_done", "awarded", "capped", "rejected", "duplicates", "failed")}
        print(
            f"  {int(lines):,}: {counters}; activities stored {r.get('activity_statuses')} "
            f"(match counters: {r.get('activities_match_counters')}, every line accounted: {r.get('all_lines_accounted')})"
        )
    ratio = result["headline"].get("peak_rss_1M_over_100k")
    if ratio is not None:
        print(f"  peak RSS 1M / 100k: {ratio} (goal ≤ 1.2)")
