"""POST /v1/imports/travel (an NDJSON file of trips, streamed) and GET /v1/imports/{id}."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from service.api.activities import reporting_partner
from service.auth.deps import AnyPartner, PartnerPrincipal, partner_with_scope
from service.deps import SessionDep
from service.problems import ProblemError, problem_responses
from service.usecases import travel_import

router = APIRouter(prefix="/v1/imports", tags=["partners"])

TravelWriter = Annotated[PartnerPrincipal, Depends(partner_with_scope("travel:write"))]


class ImportAccepted(BaseModel):
    import_id: uuid.UUID
    status: str


class ImportOut(BaseModel):
    import_id: uuid.UUID
    status: str
    lines_total: int
    lines_done: int
    awarded: int
    capped: int
    rejected: int
    duplicates: int
    failed: int
    errors: list[dict[str, Any]]
    created_at: datetime
    finished_at: datetime | None


@router.post(
    "/travel",
    operation_id="import_trips",
    status_code=202,
    response_model=ImportAccepted,
    responses=problem_responses(401, 403, 413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "NDJSON: one trip per line, each shaped like the body of POST /v1/activities/travel",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
)
async def import_trips(request: Request, session: SessionDep, partner: TravelWriter) -> JSONResponse:
    """Upload a day's trips as NDJSON, streamed; they are awarded in the background, each line at most once,
    from the first thousand lines on. `GET /v1/imports/{id}` shows progress and per-line errors."""
    facts = await reporting_partner(request, session, partner)
    worker = getattr(request.app.state, "import_worker", None)
    wake = worker.wake if worker is not None else None
    try:
        import_id = await travel_import.receive(
            request.app.state.sessionmaker,
            facts.id,
            request.stream(),
            max_bytes=request.app.state.settings.import_max_bytes,
            on_chunk=wake,  # awarding starts with the first stored chunk
        )
    except travel_import.ImportTooLarge as exc:
        raise ProblemError(413, "import_too_large", str(exc)) from None
    if wake is not None:
        wake()
    return JSONResponse({"import_id": str(import_id), "status": "queued"}, status_code=202)


@router.get("/{import_id}", operation_id="get_import", response_model=ImportOut, responses=problem_responses(401, 404))
async def get_import(import_id: uuid.UUID, session: SessionDep, partner: AnyPartner) -> ImportOut:
    """Progress and the first 1,000 per-line errors of one of the caller's imports."""
    row = (
        await session.execute(
            text(
                "SELECT id AS import_id, status, lines_total, lines_done, awarded, capped, rejected, duplicates, failed, "
                "errors, created_at, finished_at FROM imports WHERE id = :id AND partner_id = :p"
            ),
            {"id": import_id, "p": partner.partner_id},
        )
    ).first()
    if row is None:
        raise ProblemError(404, "not_found", f"no import {import_id} of this partner")
    return ImportOut.model_validate(row, from_attributes=True)
