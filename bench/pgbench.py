"""`pgbench`: the award transaction as raw SQL, PostgreSQL alone (quality.md's database-side reference).

Runs bench/pgbench_award.sql (one statement, the shape the app sends),
bench/pgbench_award_multi.sql (BEGIN + 3 statements + COMMIT, P2's yardstick) and
bench/pgbench_award_full.sql (every row an app award writes, committed one by one) with
`pgbench -n -M prepared -c 16 -j 2 -T 10`, in a database of its own (migrated, with
`--citizens` citizens whose ids pgbench can compute), so its rows never mix with the
ledger the HTTP benchmarks verify. Skipped, saying so, when pgbench is not installed.
"""

import re
import shutil
import subprocess
from typing import Any

from bench.harness import BENCH_DIR, Context, create_database, drop_database

NAME = "pgbench"
SCRIPTS = {
    "one_statement": "pgbench_award.sql",
    "multi_statement": "pgbench_award_multi.sql",
    "full_award": "pgbench_award_full.sql",
}


def _prepare(ctx: Context, url: str) -> None:
    from service.schema import upgrade_to_head

    upgrade_to_head(url)
    ctx.query("INSERT INTO regions (code, name, name_zh) VALUES ('huangpu', 'Huangpu', '黄浦区')", database_url=url)
    ctx.query(
        """
        WITH u AS (
            INSERT INTO users (id, phone, region)
            SELECT CAST(lpad(to_hex(n), 32, '0') AS uuid), '+86137' || lpad(n::text, 8, '0'), 'huangpu'
            FROM generate_series(1, $1) AS n
            RETURNING id
        )
        INSERT INTO citizen_accounts (user_id) SELECT id FROM u
        """,
        ctx.options.citizens,
        database_url=url,
    )


def _parse(output: str) -> dict[str, Any]:
    def number(pattern: str) -> float | None:
        m = re.search(pattern, output)
        return float(m.group(1)) if m else None

    return {
        "tps": number(r"tps = ([\d.]+) \(without initial connection time\)"),
        "latency_avg_ms": number(r"latency average = ([\d.]+) ms"),
        "transactions": number(r"number of transactions actually processed: (\d+)"),
        "failed": number(r"number of failed transactions: (\d+)") or 0,
    }


def run(ctx: Context) -> dict[str, Any]:
    if shutil.which("pgbench") is None:
        return {"ran": False, "why": "pgbench is not installed (apt-get install postgresql-contrib)", "headline": {}}
    from sqlalchemy.engine import make_url

    opts = ctx.options
    name = make_url(ctx.database_url).database + "_pg"
    url = create_database(ctx.server_url, name)
    out: dict[str, Any] = {"ran": True, "clients": opts.pgbench_clients, "duration_s": opts.pgbench_duration}
    try:
        _prepare(ctx, url)
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        for key, script in SCRIPTS.items():
            cmd = [
                "pgbench",
                "-n",
                "-M",
                "prepared",
                "-c",
                str(opts.pgbench_clients),
                "-j",
                "2",
                "-T",
                str(max(1, round(opts.pgbench_duration))),
                "-D",
                f"citizens={opts.citizens}",
                "-f",
                str(BENCH_DIR / script),
                conninfo,
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=opts.pgbench_duration + 120)
            result = _parse(proc.stdout)
            result["exit_code"] = proc.returncode
            result["command"] = " ".join(cmd)
            if proc.returncode != 0:
                result["stderr"] = proc.stderr[-1500:]
            out[key] = result
        balance = ctx.query(
            """
            SELECT count(*) FROM citizen_accounts a
            LEFT JOIN (SELECT user_id, sum(points) AS s FROM entries WHERE account = 'citizen' GROUP BY user_id) e USING (user_id)
            WHERE a.balance <> coalesce(e.s, 0)
            """,
            database_url=url,
        )
        out["balance_mismatches"] = int(balance[0][0])
    finally:
        if not opts.keep_db:
            drop_database(ctx.server_url, name)
    out["headline"] = {
        "one_statement_tps": out["one_statement"]["tps"],
        "multi_statement_tps": out["multi_statement"]["tps"],
        "full_award_tps": out["full_award"]["tps"],
    }
    return out
