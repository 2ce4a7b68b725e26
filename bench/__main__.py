"""`python -m bench [name ...]`: run benchmarks, print a table, write bench/results/<timestamp>.json.

A benchmark is a module `bench/<name>.py` with `NAME` and `run(ctx) -> dict`; the dict may hold a
flat `headline` of numbers that the summary (and the spread over `--repeat`) is made of.
"""

import argparse
import importlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import RESULTS_DIR, Options, open_context

DEFAULT = ("adjustments", "pgbench")
PLANNED: dict[str, str] = {}


def available() -> list[str]:
    here = Path(__file__).parent
    names = []
    for path in sorted(here.glob("*.py")):
        if path.stem.startswith("_") or path.stem in ("harness", "loadgen", "profile", "serve_app", "reference_app"):
            continue
        names.append(path.stem)
    return names


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: {' '.join(DEFAULT)}); available: {', '.join(available())}"
    )
    p.add_argument("--duration", type=float, default=15.0, help="measured seconds per target (default 15)")
    p.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds before each measurement (default 3)")
    p.add_argument("--clients", type=int, default=32, help="concurrent HTTP clients (default 32)")
    p.add_argument("--citizens", type=int, default=1000, help="citizens created in the scratch database (default 1000)")
    p.add_argument("--pool-size", type=int, default=20, help="database pool of the app and the reference (default 20)")
    p.add_argument("--repeat", type=int, default=1, help="run everything this many times and report the spread")
    p.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto", help="auto: wrk if installed")
    p.add_argument(
        "--reference",
        default="cte",
        help="reference app's SQL, comma-separated: cte (one statement), multi (6 round trips), award (travel: the "
        "app's own context read and write, bare); both = cte,multi",
    )
    p.add_argument("--profile", action="store_true", help="record one extra app run with py-spy and summarise it")
    p.add_argument("--keep-db", action="store_true", help="keep the scratch database(s)")
    p.add_argument("--app-log-level", default="WARNING", help="TANPU_LOG_LEVEL of the app (INFO logs every request)")
    p.add_argument("--pgbench-clients", type=int, default=16)
    p.add_argument("--pgbench-duration", type=float, default=10.0)
    p.add_argument(
        "--import-sizes", default="100000,1000000", help="imports: NDJSON sizes in lines, comma-separated (100000,1000000)"
    )
    p.add_argument("--import-timeout", type=float, default=1800.0, help="imports: give up waiting for one import after S s")
    p.add_argument("--simulate-activities", type=int, default=1_000_000, help="simulate: stored activities to replay (1,000,000)")
    p.add_argument("--simulate-runs", type=int, default=3, help="simulate: timed calls on one app process (3)")
    p.add_argument(
        "--reads-entries", type=int, default=10_000_000, help="reads: ledger entries in the database at the big size (10M)"
    )
    return p.parse_args(argv)


def _reference_modes(value: str) -> list[str]:
    modes = ["cte", "multi"] if value == "both" else [m.strip() for m in value.split(",") if m.strip()]
    unknown = [m for m in modes if m not in ("cte", "multi", "award")]
    if unknown or not modes:
        raise SystemExit(f"--reference: unknown mode(s) {unknown or value!r}; cte, multi, award or both")
    return modes


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    try:
        mem_kb = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
        info["memory_gib"] = round(mem_kb / 2**20, 1)
        info["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except (OSError, StopIteration):
        pass
    for tool, args in (("wrk", ["wrk", "--version"]), ("pgbench", ["pgbench", "--version"])):
        if shutil.which(tool):
            proc = subprocess.run(args, capture_output=True, text=True)
            info[tool] = (proc.stdout or proc.stderr).strip().splitlines()[0] if (proc.stdout or proc.stderr) else "?"
    return info


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def print_targets(name: str, result: dict[str, Any]) -> None:
    targets = result.get("targets")
    if not targets:
        return
    print(f"\n{name}: {result.get('endpoint', '')}")
    cols = (
        "target",
        "gen",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "errors",
        "srv CPU%",
        "CPU ms/req",
        "box CPU%",
        "peak RSS MB",
    )
    rows = [cols]
    for target, r in targets.items():
        lat = r["latency_ms"]
        rows.append(
            (
                target,
                r["generator"],
                fmt(r["ok_rps"]),
                fmt(lat["p50"]),
                fmt(lat["p95"]),
                fmt(lat["p99"]),
                fmt(lat["max"]),
                fmt(r["errors"]) + (f" {r['error_detail']}" if r["errors"] else ""),
                fmt(r.get("server_cpu_pct_of_one_core")),
                fmt(r.get("server_cpu_ms_per_request")),
                fmt(r.get("machine_cpu_busy_pct")),
                fmt(r.get("server_peak_rss_mb")),
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(cols))]
    for row in rows:
        print(
            "  " + "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
    for key, value in result.items():
        if key.startswith("ratio_") or key == "status_share":
            print(f"  {key}: {value}")
    for target, r in targets.items():
        answered = r["ok"] + r["warmup_ok"]
        if "postings_written" in r:
            print(
                f"  {target}: postings written {r['postings_written']:,} for {answered:,} 2xx (match: {r['postings_match_2xx']})"
            )
        else:
            print(f"  {target}: {answered:,} 2xx")
        db = r.get("db")
        if db:
            print(
                f"    db: {db['sessions_opened']} connections opened, {db['commits_per_request']} commits and "
                f"{db['rollbacks_per_request']} rollbacks per request, "
                f"{db['rows_inserted_per_request']} rows inserted per request"
            )
        log = r.get("server_log")
        if log and log["lines"]:
            print(f"    server logged {log['lines']:,} lines while measured; most frequent:")
            for item in log["top"][:3]:
                print(f"      {item['count']:>6}x {item['message'][:150]}")
    for key, value in (result.get("checks") or {}).items():
        print(f"  check {key}: {value}")
    prof = result.get("profile")
    if prof:
        print_profile(prof)


def print_profile(prof: dict[str, Any]) -> None:
    if not prof.get("ran"):
        print(f"  profile: not run ({prof.get('why')})")
        return
    print(
        f"  profile ({prof['samples']:,} samples, {fmt(prof['rps_while_profiled'])} req/s while sampled; {prof['raw_stacks']}):"
    )
    print("    self time by layer: " + ", ".join(f"{k} {v}%" for k, v in prof["self_by_layer_pct"].items()))
    print("    top inclusive:")
    for pct, frame in prof["top_inclusive"][:25]:
        print(f"      {pct:5.1f}%  {frame}")
    print("    top self:")
    for pct, frame in prof["top_self"][:15]:
        print(f"      {pct:5.1f}%  {frame}")


def print_pgbench(result: dict[str, Any]) -> None:
    if not result.get("ran"):
        print(f"\npgbench: skipped ({result.get('why')})")
        return
    print(f"\npgbench ({result['clients']} clients, {fmt(result['duration_s'])} s each, -M prepared):")
    for key in ("one_statement", "multi_statement"):
        r = result[key]
        print(f"  {key:16} {fmt(r['tps'])} tx/s, latency avg {fmt(r['latency_avg_ms'])} ms, failed {fmt(r['failed'])}")
        if r["exit_code"] != 0:
            print(f"    pgbench exited {r['exit_code']}: {r.get('stderr', '')[:400]}")
    print(f"  balance mismatches after pgbench: {result['balance_mismatches']}")


def spread(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """min / median / max of every headline number over the repeats."""
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        for name, result in run.items():
            for key, value in (result.get("headline") or {}).items():
                if isinstance(value, int | float):
                    out.setdefault(f"{name}.{key}", {"values": []})["values"].append(value)
    for entry in out.values():
        vals = entry["values"]
        entry.update(min=min(vals), median=statistics.median(vals), max=max(vals))
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    names = args.names or list(DEFAULT)
    for name in names:
        if name in PLANNED and name not in available():
            print(f"{name}: {PLANNED[name]}", file=sys.stderr)
            return 2
        if name not in available():
            print(f"unknown benchmark {name!r}; available: {', '.join(available())}", file=sys.stderr)
            return 2
    modules = {name: importlib.import_module(f"bench.{name}") for name in names}
    options = Options(
        duration=args.duration,
        warmup=args.warmup,
        clients=args.clients,
        citizens=args.citizens,
        pool_size=args.pool_size,
        loadgen=args.loadgen,
        profile=args.profile,
        keep_db=args.keep_db,
        app_log_level=args.app_log_level,
        pgbench_clients=args.pgbench_clients,
        pgbench_duration=args.pgbench_duration,
        reference_modes=_reference_modes(args.reference),
        import_sizes=[int(x) for x in args.import_sizes.split(",") if x.strip()],
        import_timeout=args.import_timeout,
        simulate_activities=args.simulate_activities,
        simulate_runs=args.simulate_runs,
        reads_entries=args.reads_entries,
    )
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "started_at": started.isoformat(),
        "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "options": vars(args),
    }
    t0 = time.perf_counter()
    with open_context(options) as ctx:
        ctx.results_stem = RESULTS_DIR / stamp
        report["load_generator"] = ctx.loadgen
        print(f"load generator: {ctx.loadgen}" + (" (wrk + bench/wrk_post.lua)" if ctx.loadgen == "wrk" else ""))
        for note in ctx.notes:
            print(f"note: {note}")
        runs: list[dict[str, Any]] = []
        for i in range(args.repeat):
            if args.repeat > 1:
                print(f"\n=== repeat {i + 1}/{args.repeat} ===")
            run: dict[str, Any] = {}
            for name, module in modules.items():
                result = module.run(ctx)
                run[name] = result
                if name == "pgbench":
                    print_pgbench(result)
                elif hasattr(module, "print_result"):
                    module.print_result(result)
                else:
                    print_targets(name, result)
            runs.append(run)
        report["runs"] = runs
        report["notes"] = ctx.notes
        if any(name != "pgbench" for name in names):
            report["ledger"] = ctx.verify_ledger()
    report["spread"] = spread(runs)
    report["elapsed_s"] = round(time.perf_counter() - t0, 1)

    ledger = report.get("ledger")
    if ledger:
        print(
            f"\nledger after the run: {ledger['postings']:,} postings, {ledger['entries']:,} entries, "
            f"{ledger['unbalanced_postings']} unbalanced postings, {ledger['balance_mismatches']} balances != sum of entries "
            f"-> {'OK' if ledger['sql_ok'] else 'VIOLATED'}"
        )
        cl = ledger["check_ledger"]
        print(
            "tanpu check-ledger: "
            + (f"exit {cl['exit_code']}: {cl['output'][-300:]}" if cl.get("ran") else f"not run ({cl.get('why')})")
        )
    if args.repeat > 1:
        print("\nspread over repeats (min / median / max):")
        for key, entry in report["spread"].items():
            print(f"  {key:40} {fmt(entry['min'])} / {fmt(entry['median'])} / {fmt(entry['max'])}")
    out = RESULTS_DIR / f"{stamp}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nresults: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out} ({report['elapsed_s']} s)")
    failed = ledger is not None and (
        not ledger["sql_ok"] or (ledger["check_ledger"].get("ran") and ledger["check_ledger"]["exit_code"] != 0)
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
