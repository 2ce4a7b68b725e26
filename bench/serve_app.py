"""The real Tanpu app as the benchmark serves it: `uvicorn bench.serve_app:create --factory`.

Settings come from the environment the harness sets (DATABASE_URL, REDIS_URL, TANPU_DB_POOL_SIZE,
TANPU_LOG_LEVEL=WARNING by default so per-request access logs do not dominate the profile;
`python -m bench --app-log-level INFO` measures with them).
"""

from fastapi import FastAPI

from service.app import create_app
from service.observability import configure_logging
from service.settings import Settings


def create() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)
