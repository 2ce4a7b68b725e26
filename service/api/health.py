"""Liveness, readiness and metrics."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from service.observability import REGISTRY
from service.schema import head_revision

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz", responses={503: {"description": "Not ready"}})
async def readyz(request: Request) -> JSONResponse:
    """Ready when the database and Redis answer and the schema is at the migrations' head."""
    checks: dict[str, str] = {}
    try:
        async with request.app.state.engine.connect() as conn:
            current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        checks["database"] = "ok"
        checks["migrations"] = "ok" if current == head_revision() else f"at {current}, head is {head_revision()}"
    except Exception as exc:  # any failure here means "not ready", never a 500
        checks["database"] = f"unavailable: {type(exc).__name__}"
        checks["migrations"] = "unknown"
    try:
        await request.app.state.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", operation_id="metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus text format: requests and latencies by route, ledger postings by kind."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
