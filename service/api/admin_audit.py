"""GET /v1/admin/audit: who changed what, when, from what to what (auditors and admins)."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from service.api.fields import Instant
from service.auth.deps import AuditorOrAdmin
from service.deps import SessionDep
from service.pagination import CursorQuery, LimitQuery, capped, decode_cursor, encode_cursor
from service.problems import ProblemError, problem_responses
from service.repositories import audit_log as audit_repo

router = APIRouter(prefix="/v1/admin", tags=["admin"])

# No control characters (PostgreSQL text cannot hold NUL; no action, kind or id has one).
Text = Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class AuditRecordOut(BaseModel):
    id: int
    at: datetime
    actor_kind: str
    actor_id: uuid.UUID | None
    action: str
    target_kind: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


class AuditPage(BaseModel):
    items: list[AuditRecordOut]
    next_cursor: str | None


@router.get("/audit", operation_id="list_audit_records", response_model=AuditPage, responses=problem_responses(401, 403, 422))
async def list_audit_records(
    session: SessionDep,
    admin: AuditorOrAdmin,
    action: Text = None,
    target_kind: Text = None,
    target_id: Text = None,
    actor_id: uuid.UUID | None = None,
    at_from: Annotated[Instant | None, Query(alias="from", description="`at` on or after this instant")] = None,
    at_to: Annotated[Instant | None, Query(alias="to", description="`at` before this instant")] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> AuditPage:
    """The audit log, newest first, filtered by action (`product.update`), target, actor and a period
    [from, to); cursor-paginated (limit capped at 500)."""
    if at_from is not None and at_to is not None and at_to <= at_from:
        raise ProblemError(422, "invalid_period", "`to` must be after `from`")
    page_size = capped(limit)
    rows = await audit_repo.records(
        session,
        audit_repo.AuditFilter(
            action=action, target_kind=target_kind, target_id=target_id, actor_id=actor_id, at_from=at_from, at_to=at_to
        ),
        before_id=decode_cursor(cursor),
        limit=page_size + 1,
    )
    more, rows = len(rows) > page_size, rows[:page_size]
    return AuditPage(
        items=[AuditRecordOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None,
    )
