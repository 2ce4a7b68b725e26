"""The `tanpu` command line: it parses arguments and calls service/runtime.py and the use cases.

Every command that needs the database uses DATABASE_URL, or starts the embedded
one under TANPU_DATA_DIR the way `tanpu serve` does.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from service import gc_policy, runtime
from service.settings import InsecureConfiguration, Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTED = time.perf_counter()


class CommandError(Exception):
    """A clear, expected failure: printed without a traceback, exit status 1."""


def _settings() -> Settings:
    try:
        return Settings()
    except InsecureConfiguration as exc:
        raise SystemExit(f"tanpu: refusing to start: {exc}") from None


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    runtime.serve(settings, host=args.host, port=args.port, started=STARTED)
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    with runtime.servers(settings, redis=False) as ready:
        runtime.migrate(ready)
    print("migrations applied: the schema is at head")
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    if args.demo and settings.production:
        raise CommandError("--demo loads public demo passwords and secrets: refused with TANPU_ENV=production")
    with runtime.servers(settings, redis=False) as ready:
        runtime.migrate(ready)
        runtime.seed_reference(ready)
        print("reference seeds loaded (regions, methodologies, recycling categories, levels, system accounts)")
        if args.demo:
            from service.seeding import seeds_dir
            from service.usecases.demo import load_demo

            async def work(session: Any) -> Any:
                return await load_demo(session, seeds_dir() / "demo", production=settings.production)

            summary = runtime.with_session(ready, work)
            print(f"demo seeds loaded ({summary.created} new rows; a second run adds none)")
            print("  administrators: " + ", ".join(summary.admins) + " (password tanpu-demo)")
            print("  partners: " + ", ".join(summary.partners) + " (secrets in seeds/demo/partners.json)")
            print("  citizens: " + ", ".join(summary.citizens))
            print("  recycling stations: " + ", ".join(summary.stations))
            print("  merchants' stores: " + ", ".join(summary.stores))
            print("  green products: " + ", ".join(summary.products) + " (seeds/demo/catalogue.json)")
    return 0


def cmd_admins_create(args: argparse.Namespace, settings: Settings) -> int:
    from service.usecases.admins import AdminError, create_admin

    async def work(session: Any) -> Any:
        return await create_admin(session, username=args.username, password=args.password, role=args.role)

    with runtime.servers(settings, redis=False) as ready:
        try:
            admin = runtime.with_session(ready, work)
        except AdminError as exc:
            raise CommandError(str(exc)) from None
    print(json.dumps({"admin_id": str(admin.id), "username": admin.username, "role": admin.role}))
    return 0


def cmd_partners_create(args: argparse.Namespace, settings: Settings) -> int:
    from service.usecases.partners import PartnerError, create_partner

    async def work(session: Any) -> Any:
        return await create_partner(
            session,
            kind=args.kind,
            name=args.name,
            region=args.region,
            webhook_url=args.webhook_url,
            allow_insecure_webhooks=settings.webhooks_insecure_ok,
        )

    with runtime.servers(settings, redis=False) as ready:
        try:
            credentials = runtime.with_session(ready, work)
        except PartnerError as exc:
            raise CommandError(str(exc)) from None
    print(json.dumps(credentials.shown_once()))
    print("the client secret is shown only this once: store it now", file=sys.stderr)
    return 0


def cmd_import_travel(args: argparse.Namespace, settings: Settings) -> int:
    import uuid

    from service.usecases.import_file import ImportRefused, import_travel_file

    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"no file {path}")
    try:
        partner_id = uuid.UUID(args.partner)
    except ValueError:
        raise CommandError(f"--partner takes a partner id (a UUID), not {args.partner!r}") from None
    with runtime.servers(settings, redis=False) as ready, gc_policy.long_lived_process():
        try:
            result = asyncio.run(
                import_travel_file(
                    runtime.database_url(ready),
                    path,
                    partner_id,
                    max_bytes=settings.import_max_bytes,
                    redis_url=settings.redis_url,  # a configured Redis gets the leaderboards; none: rebuild later
                )
            )
        except ImportRefused as exc:
            raise CommandError(str(exc)) from None
    print(
        json.dumps(
            {
                "import_id": str(result.import_id),
                "status": result.status,
                "lines_total": result.lines_total,
                "awarded": result.awarded,
                "capped": result.capped,
                "rejected": result.rejected,
                "duplicates": result.duplicates,
                "failed": result.failed,
                "errors": result.errors[:20],
            },
            ensure_ascii=False,
        )
    )
    return 0


def cmd_check_ledger(args: argparse.Namespace, settings: Settings) -> int:
    from service.usecases.check_ledger import LedgerMissing, check_database

    with runtime.servers(settings, redis=False) as ready:
        try:
            report = asyncio.run(check_database(runtime.database_url(ready), examples=args.examples))
        except LedgerMissing as exc:
            raise CommandError(str(exc)) from None
    if report.ok:
        print(
            f"ledger ok: {report.postings} postings, {report.entries} entries, "
            f"{report.citizen_accounts} citizen accounts; every invariant holds"
        )
        return 0
    print(f"ledger check FAILED: {len(report.violations)} violation(s)")
    for violation in report.violations:
        print(f"  {violation}")
    return 2


def cmd_webhooks_dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from service.usecases.webhooks import run_standalone

    with runtime.servers(settings, redis=False) as ready:
        runtime.migrate(ready)
        delivered = asyncio.run(run_standalone(ready, once=args.once))
    if args.once:
        print(json.dumps({"attempted": delivered}))
    return 0


def parse_as_of(value: str | None, now: datetime) -> datetime:
    """`--as-of`: a date means its first instant in Asia/Shanghai; a time needs its offset."""
    from domain.calendar import start_of_local_day

    if value is None:
        return now
    try:
        if len(value) == 10:
            return start_of_local_day(date.fromisoformat(value))
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of takes a date (2027-01-01) or a time with its offset, not {value!r}") from None
    if parsed.tzinfo is None:
        raise CommandError("--as-of needs an offset with a time (2027-01-01T00:00:00+08:00), or a plain date")
    return parsed


def cmd_expire(args: argparse.Namespace, settings: Settings) -> int:
    from service.clock import utcnow
    from service.database import create_engine, create_sessionmaker
    from service.usecases.expiry import expire_due

    now = utcnow()
    as_of = parse_as_of(args.as_of, now)

    async def run(url: str) -> Any:
        engine = create_engine(url, pool_size=1)
        try:
            return await expire_due(create_sessionmaker(engine), as_of=as_of, now=now)
        finally:
            await engine.dispose()

    with runtime.servers(settings, redis=False) as ready:
        done = asyncio.run(run(runtime.database_url(ready)))
    print(json.dumps({"as_of": done.as_of.isoformat(), "citizens": done.citizens, "points": done.points}))
    return 0


def cmd_leaderboards_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from service.app import create_redis
    from service.clock import utcnow
    from service.database import create_engine, create_sessionmaker
    from service.leaderboards import rebuild

    async def run(url: str, redis_url: str) -> Any:
        engine = create_engine(url, pool_size=1)
        redis = create_redis(redis_url)
        try:
            async with create_sessionmaker(engine)() as session:
                return await rebuild(session, redis, now=utcnow())
        finally:
            await redis.aclose()
            await engine.dispose()

    with runtime.servers(settings, redis=True) as ready:
        assert ready.redis_url is not None
        done = asyncio.run(run(runtime.database_url(ready), ready.redis_url))
    print(json.dumps({"boards": done.boards, "entries": done.entries}))
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings | None) -> int:
    return run_bench(args.bench_args)


def run_bench(bench_args: Sequence[str]) -> int:
    if not (REPO_ROOT / "bench" / "__main__.py").exists():
        raise CommandError("the benchmarks live in bench/ of a source checkout, and there is no bench/__main__.py here")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.call([sys.executable, "-m", "bench", *bench_args], env=env)  # noqa: S603 (our own module)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tanpu", description="Tanpu, the carbon-inclusive points platform.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API (embedded PostgreSQL and Redis when the URLs are unset)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(handler=cmd_serve)

    commands.add_parser("migrate", help="apply the database migrations").set_defaults(handler=cmd_migrate)

    seed = commands.add_parser("seed", help="load the reference seeds (and with --demo the demo data), idempotently")
    seed.add_argument(
        "--demo",
        action="store_true",
        help="also demo administrators, partners, stores, green products and citizens (never in production)",
    )
    seed.set_defaults(handler=cmd_seed)

    admins = commands.add_parser("admins", help="administrators").add_subparsers(dest="action", required=True, metavar="ACTION")
    admin_create = admins.add_parser("create", help="create an administrator")
    admin_create.add_argument("--username", required=True)
    admin_create.add_argument("--password", required=True)
    admin_create.add_argument("--role", required=True, choices=["admin", "operator", "auditor"])
    admin_create.set_defaults(handler=cmd_admins_create)

    partners = commands.add_parser("partners", help="partners").add_subparsers(dest="action", required=True, metavar="ACTION")
    partner_create = partners.add_parser("create", help="create a partner; prints its client secret once, as JSON")
    partner_create.add_argument("--kind", required=True, choices=["transit", "recycling", "merchant", "bank"])
    partner_create.add_argument("--name", required=True)
    partner_create.add_argument("--region", required=True)
    partner_create.add_argument("--webhook-url", help="banks: the https URL that receives signed webhooks")
    partner_create.set_defaults(handler=cmd_partners_create)

    imports = commands.add_parser("import", help="import partner files").add_subparsers(
        dest="action", required=True, metavar="KIND"
    )
    travel = imports.add_parser(
        "travel", help="award an NDJSON file of trips, as POST /v1/imports/travel does, with a progress bar"
    )
    travel.add_argument("file", help="NDJSON: one trip per line, shaped like the body of POST /v1/activities/travel")
    travel.add_argument("--partner", required=True, help="the reporting transit partner's id")
    travel.set_defaults(handler=cmd_import_travel)

    expire = commands.add_parser("expire", help="post the expiry of the points lots due (exactly once, however often it runs)")
    expire.add_argument("--as-of", help="a date (its local midnight, Asia/Shanghai) or an RFC 3339 time; default now")
    expire.set_defaults(handler=cmd_expire)

    boards = commands.add_parser("leaderboards", help="leaderboards")
    board_actions = boards.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = board_actions.add_parser("rebuild", help="rebuild this and last week's and month's boards from PostgreSQL")
    rebuild.set_defaults(handler=cmd_leaderboards_rebuild)

    check = commands.add_parser("check-ledger", help="verify every ledger invariant; non-zero exit on a violation")
    check.add_argument("--examples", type=int, default=20, help="violations listed per invariant (default 20)")
    check.set_defaults(handler=cmd_check_ledger)

    webhooks = commands.add_parser("webhooks", help="bank webhooks").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    dispatch = webhooks.add_parser("dispatch", help="run the bank webhook dispatcher alone (tanpu serve runs one too)")
    dispatch.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    dispatch.set_defaults(handler=cmd_webhooks_dispatch)

    bench = commands.add_parser("bench", help="the benchmarks of bench/ (arguments go to `python -m bench`)")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    bench.set_defaults(handler=cmd_bench, needs_settings=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # everything after `bench`, --help included, is the benchmarks'
        try:
            return run_bench(argv[1:])
        except CommandError as exc:
            print(f"tanpu bench: {exc}", file=sys.stderr)
            return 1
    args = build_parser().parse_args(argv)
    settings = _settings() if getattr(args, "needs_settings", True) else None
    try:
        status: int = args.handler(args, settings)
    except CommandError as exc:
        print(f"tanpu {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
