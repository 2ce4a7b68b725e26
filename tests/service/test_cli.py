"""The `tanpu` command line, run as a subprocess against the suite's database."""

import asyncio
import json
import os
import secrets
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from httpx import AsyncClient

from tests.bank_helpers import free_port
from tests.factories import Factory
from tests.service.cli_helpers import REPO, admin_sql, drop_database, run_tanpu, tanpu_command, unique_name, with_database

STRONG_SECRET = "a-production-secret-of-more-than-32-characters"


def _db(database_url: str) -> dict[str, str | None]:
    return {"DATABASE_URL": database_url, "TANPU_ENV": "development"}


async def test_admins_create_then_a_duplicate_is_a_clear_error(database_url: str) -> None:
    username = f"ops-{secrets.token_hex(4)}"
    args = ("admins", "create", "--username", username, "--password", "a-long-password", "--role", "operator")
    first = await run_tanpu(*args, env=_db(database_url))
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["role"] == "operator"
    again = await run_tanpu(*args, env=_db(database_url))
    assert again.returncode == 1
    assert f"an administrator named '{username}' already exists" in again.stderr
    assert "Traceback" not in again.stderr


async def test_the_created_admin_signs_in_with_the_password(database_url: str, client: AsyncClient) -> None:
    username = f"boss-{secrets.token_hex(4)}"
    done = await run_tanpu(
        "admins", "create", "--username", username, "--password", "correct-horse", "--role", "admin", env=_db(database_url)
    )
    assert done.returncode == 0, done.stderr
    r = await client.post("/v1/oauth/token", data={"grant_type": "password", "username": username, "password": "correct-horse"})
    assert r.status_code == 200, r.text


async def test_partners_create_prints_the_secret_once_and_it_works(database_url: str, client: AsyncClient) -> None:
    done = await run_tanpu(
        "partners", "create", "--kind", "recycling", "--name", "Green Bins", "--region", "putuo", env=_db(database_url)
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert set(shown) == {"partner_id", "client_id", "client_secret", "scopes"}
    assert shown["scopes"] == ["recycling:write"]
    r = await client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": shown["client_id"], "client_secret": shown["client_secret"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "recycling:write"


async def test_partners_create_in_an_unknown_region_is_a_clear_error(database_url: str) -> None:
    done = await run_tanpu("partners", "create", "--kind", "bank", "--name", "B", "--region", "atlantis", env=_db(database_url))
    assert done.returncode == 1
    assert "unknown region 'atlantis'" in done.stderr
    assert "huangpu" in done.stderr
    assert "Traceback" not in done.stderr


async def test_seed_demo_is_idempotent_and_leaves_a_valid_ledger(database_url: str, client: AsyncClient) -> None:
    first = await run_tanpu("seed", "--demo", env=_db(database_url))
    assert first.returncode == 0, first.stderr
    second = await run_tanpu("seed", "--demo", env=_db(database_url))
    assert second.returncode == 0, second.stderr
    assert "(0 new rows" in second.stdout
    r = await client.post("/v1/oauth/token", data={"grant_type": "password", "username": "admin", "password": "tanpu-demo"})
    assert r.status_code == 200, r.text
    r = await client.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "demo-transit",
            "client_secret": "demo-transit-secret-not-for-production",
        },
    )
    assert r.status_code == 200, r.text
    transit = {"Authorization": f"Bearer {r.json()['access_token']}"}
    start = datetime.now(UTC) - timedelta(hours=1)
    trip = {
        "external_id": f"demo-{secrets.token_hex(4)}",
        "user": {"member_ref": "SPTC-DEMO-0001"},
        "mode": "metro",
        "distance_m": 4_000,
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=15)).isoformat(),
    }
    awarded = await client.post("/v1/activities/travel", json=trip, headers=transit)
    assert (awarded.status_code, awarded.json()["carbon_g"]) == (201, 187), awarded.text
    r = await client.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "demo-recycling",
            "client_secret": "demo-recycling-secret-not-for-production",
        },
    )
    dropoff = {
        "external_id": f"demo-{secrets.token_hex(4)}",
        "station_id": "5d000000-0000-4000-8000-000000000003",
        "user": {"member_ref": "SPTC-DEMO-0002"},
        "items": [{"category": "textiles", "weight_g": 1_000}],
        "occurred_at": start.isoformat(),
    }
    unknown = await client.post(
        "/v1/activities/recycling", json=dropoff, headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_member")  # bound at the metro, not here
    check = await run_tanpu("check-ledger", env=_db(database_url))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "every invariant holds" in check.stdout


async def test_production_refuses_embedded_databases() -> None:
    done = await run_tanpu(
        "serve", env={"TANPU_ENV": "production", "TANPU_JWT_SECRET": STRONG_SECRET, "DATABASE_URL": None, "REDIS_URL": None}
    )
    assert done.returncode != 0
    assert "refusing to start" in done.stderr
    assert "DATABASE_URL and REDIS_URL" in done.stderr


async def test_production_refuses_the_default_secret(database_url: str, server_urls: tuple[str, str]) -> None:
    done = await run_tanpu(
        "serve",
        env={"TANPU_ENV": "production", "TANPU_JWT_SECRET": None, "DATABASE_URL": database_url, "REDIS_URL": server_urls[1]},
    )
    assert done.returncode != 0
    assert "TANPU_JWT_SECRET" in done.stderr


async def test_production_refuses_demo_seeds(database_url: str, server_urls: tuple[str, str]) -> None:
    done = await run_tanpu(
        "seed",
        "--demo",
        env={
            "TANPU_ENV": "production",
            "TANPU_JWT_SECRET": STRONG_SECRET,
            "DATABASE_URL": database_url,
            "REDIS_URL": server_urls[1],
        },
    )
    assert done.returncode == 1
    assert "refused with TANPU_ENV=production" in done.stderr


async def test_migrate_is_idempotent(database_url: str) -> None:
    done = await run_tanpu("migrate", env=_db(database_url))
    assert done.returncode == 0, done.stderr
    assert "at head" in done.stdout


async def test_serve_with_urls_answers_ready_and_stops_cleanly(database_url: str, server_urls: tuple[str, str]) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": server_urls[1], "TANPU_ENV": "development"}
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once, then polled over HTTP)
        [*tanpu_command(), "serve", "--port", str(port)], env=env, cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    try:
        started = time.monotonic()
        ready = None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            while time.monotonic() - started < 30 and proc.poll() is None:
                try:
                    r = await http.get("/readyz")
                    if r.status_code == 200:
                        ready = r.json()
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        assert ready is not None and ready["status"] == "ready", "tanpu serve did not become ready"
        assert time.monotonic() - started < 10
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(proc.communicate, timeout=20)
    assert proc.returncode == 0, stderr
    assert f"Tanpu listening on http://127.0.0.1:{port}" in stderr


async def test_instances_starting_together_migrate_one_at_a_time(server_urls: tuple[str, str]) -> None:
    name = unique_name("tanpu_migrate_race")
    await admin_sql(server_urls[0], f'CREATE DATABASE "{name}"')
    try:
        env = {"DATABASE_URL": with_database(server_urls[0], name), "TANPU_ENV": "development"}
        runs = await asyncio.gather(*(run_tanpu("migrate", env=env) for _ in range(3)))
        assert [r.returncode for r in runs] == [0, 0, 0], [r.stderr for r in runs]
    finally:
        await drop_database(server_urls[0], name)


async def test_import_travel_awards_a_file_and_says_what_failed(database_url: str, factory: Factory, tmp_path: Path) -> None:
    partner, citizen = await factory.partner("transit"), await factory.citizen()
    start = datetime.now(UTC) - timedelta(hours=1)
    trip = {
        "user": {"user_id": str(citizen.id)},
        "mode": "bus",
        "distance_m": 2_000,
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=10)).isoformat(),
    }
    lines = [json.dumps(trip | {"external_id": f"cli-{i}"}) for i in range(1_500)] + ["{broken"]
    path = tmp_path / "trips.ndjson"
    path.write_text("\n".join(lines) + "\n")
    done = await run_tanpu("import", "travel", str(path), "--partner", str(partner.id), env={"DATABASE_URL": database_url})
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["status"], summary["lines_total"], summary["failed"]) == ("done", 1_501, 1)
    assert summary["awarded"] + summary["capped"] == 1_500
    assert summary["errors"] == [{"line": 1_501, "code": "validation_error", "detail": summary["errors"][0]["detail"]}]
    assert "importing trips.ndjson [" in done.stderr and "100%" in done.stderr
    again = await run_tanpu("import", "travel", str(path), "--partner", str(partner.id), env={"DATABASE_URL": database_url})
    assert json.loads(again.stdout)["awarded"] == summary["awarded"]  # replays: nothing awarded twice
    refused = await run_tanpu("import", "travel", str(path), "--partner", "not-a-uuid", env={"DATABASE_URL": database_url})
    assert refused.returncode == 1 and "UUID" in refused.stderr
