"""The README's first command on a machine with only Python: `tanpu serve` with no DATABASE_URL and
no REDIS_URL starts an embedded PostgreSQL and Redis in its data folder, migrates, seeds and
serves; started again on that folder, it finds everything there."""

import asyncio
from pathlib import Path

import httpx

from tests.e2e.servers import Server, logged_errors


def _stop_embedded_postgres(pg_dir: Path) -> None:
    import pgserver

    if (pg_dir / "postmaster.pid").exists():
        server = pgserver.get_server(str(pg_dir), cleanup_mode=None)  # type: ignore[attr-defined]
        pgserver.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pg_dir, user=server.system_user)  # type: ignore[attr-defined]


async def test_serve_without_urls_runs_on_its_own_embedded_servers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    try:
        for start in ("a new data folder", "the same folder again"):
            server = Server(None, None, log=tmp_path / "serve.log", TANPU_DATA_DIR=str(data))
            try:
                await server.start(within_s=120)  # the first start runs initdb
                async with httpx.AsyncClient(base_url=server.url) as http:
                    ready = (await http.get("/readyz")).json()
                    assert ready == {
                        "status": "ready",
                        "checks": {"database": "ok", "migrations": "ok", "redis": "ok"},
                    }, (start, ready)
                    # it answers from its database: a client it does not know is refused
                    token = await http.post(
                        "/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
                    )
                    assert token.status_code == 401, (start, token.text)
            except AssertionError:
                raise AssertionError(f"{start}; the server logged:\n{logged_errors(server)}") from None
            finally:
                server.stop()
        assert (data / "pg" / "PG_VERSION").exists() and (data / "redis").is_dir()
    finally:
        await asyncio.to_thread(_stop_embedded_postgres, (data / "pg").resolve())
