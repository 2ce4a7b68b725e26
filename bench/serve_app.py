"""The real Tanpu app as the benchmark serves it: `uvicorn bench.serve_app:create --factory`.

Settings come from the environment the harness sets (DATABASE_URL, REDIS_URL, TANPU_DB_POOL_SIZE,
TANPU_LOG_LEVEL=WARNING by default so per-request access logs do not dominate the profile;
`python -m bench --app-log-level INFO` measures with them).

Experiment (never the default, to test a profiling hypothesis without editing service/):
BENCH_APP_NO_PRE_PING=1 builds the engine as service/database.py does but with pool_pre_ping=False.
"""

import os

from fastapi import FastAPI

import service.app as app_module
from service.app import create_app
from service.observability import configure_logging
from service.settings import Settings


def _engine_without_pre_ping(url: str, *, pool_size: int = 20):  # type: ignore[no-untyped-def]
    from sqlalchemy.ext.asyncio import create_async_engine

    from service.database import asyncpg_url

    return create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_timeout=5,
        connect_args={"command_timeout": 10, "server_settings": {"application_name": "tanpu"}},
    )


def create() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_level)
    if os.environ.get("BENCH_APP_NO_PRE_PING") == "1":
        app_module.create_engine = _engine_without_pre_ping  # type: ignore[assignment]
    return create_app(settings)
