"""POST /v1/admin/adjustments: an administrator moves points, with a reason."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, StrictInt

from service.auth.deps import AdminOnly
from service.clock import utcnow
from service.deps import SessionDep
from service.idempotency import idempotency_key_header
from service.problems import problem_responses
from service.usecases.adjustments import post_adjustment

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class AdjustmentIn(BaseModel):
    user_id: uuid.UUID
    points: StrictInt = Field(description="Non-zero; negative takes points away", ge=-1_000_000, le=1_000_000)
    reason: str = Field(min_length=1, max_length=500)


class AdjustmentOut(BaseModel):
    posting_id: int
    entry_id: int
    user_id: uuid.UUID
    points: int
    reason: str
    balance: int
    posted_at: str


@router.post(
    "/adjustments",
    operation_id="create_adjustment",
    status_code=201,
    response_model=AdjustmentOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def create_adjustment(
    body: AdjustmentIn,
    session: SessionDep,
    admin: AdminOnly,
    idempotency_key: Annotated[str, Depends(idempotency_key_header)],
) -> Any:
    """Credit (positive) or debit (negative) a citizen's points. Requires `Idempotency-Key`; admin role only."""
    answer, replayed = await post_adjustment(
        session,
        admin_id=admin.admin_id,
        idempotency_key=idempotency_key,
        body=body.model_dump(mode="json"),
        user_id=body.user_id,
        points=body.points,
        reason=body.reason,
        now=utcnow(),
    )
    return answer.response(replayed=replayed)
