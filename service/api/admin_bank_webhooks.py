"""Bank webhook deliveries for administrators: see them (dead letters especially) and replay a dead letter."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel

from service import audit
from service.auth.deps import AdminOnly, AnyAdmin
from service.clock import utcnow
from service.deps import SessionDep
from service.pagination import CursorQuery, LimitQuery, capped, decode_cursor, encode_cursor
from service.problems import ProblemError, problem_responses
from service.usecases import webhooks

router = APIRouter(prefix="/v1/admin/bank-webhooks", tags=["admin"])


class DeliveryOut(BaseModel):
    event_id: int
    partner_id: uuid.UUID
    link_id: uuid.UUID
    seq: int
    status: str
    attempts: int
    next_attempt_at: datetime
    deadline_at: datetime
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    dead_at: datetime | None
    created_at: datetime


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = None


class ReplayOut(BaseModel):
    event_id: int
    status: str
    next_attempt_at: datetime


@router.get("", operation_id="list_bank_webhooks", response_model=DeliveryList, responses=problem_responses(401, 403, 422))
async def list_deliveries(
    session: SessionDep,
    admin: AnyAdmin,
    status: Literal["pending", "delivered", "dead"] | None = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> DeliveryList:
    """Webhook deliveries, newest first; `?status=dead` shows the dead letters."""
    page_size = capped(limit)
    rows = await webhooks.deliveries(session, status=status, limit=page_size + 1, before=decode_cursor(cursor))
    items = [DeliveryOut.model_validate(r) for r in rows[:page_size]]
    more = len(rows) > page_size
    return DeliveryList(items=items, next_cursor=encode_cursor(items[-1].event_id) if more else None)


@router.post(
    "/{event_id}/replay",
    operation_id="replay_bank_webhook",
    response_model=ReplayOut,
    responses=problem_responses(401, 403, 404, 409),
)
async def replay(event_id: Annotated[int, Path(ge=1, le=2**63 - 1)], session: SessionDep, admin: AdminOnly) -> ReplayOut:
    """Put a dead-lettered delivery back in the queue, due now, with a fresh 24-hour retry window."""
    row = await webhooks.replay(session, event_id, now=utcnow())
    if row is None:
        if await webhooks.delivery_exists(session, event_id):
            raise ProblemError(409, "not_dead_lettered", f"delivery {event_id} is not dead-lettered")
        raise ProblemError(404, "not_found", f"no webhook delivery {event_id}")
    await audit.record(
        session,
        actor_kind="admin",
        actor_id=admin.admin_id,
        action="bank_webhook.replay",
        target_kind="webhook_delivery",
        target_id=str(event_id),
        after={"status": "pending", "link_id": str(row["link_id"]), "seq": row["seq"]},
    )
    return ReplayOut(event_id=event_id, status=row["status"], next_attempt_at=row["next_attempt_at"])
