"""The citizen's rewards: the catalogue, redeeming (idempotent), the list, cancelling a held one."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from service.api.schemas import Strict
from service.auth.deps import CurrentCitizen
from service.clock import utcnow
from service.deps import SessionDep
from service.idempotency import idempotency_key_header
from service.pagination import CursorQuery, LimitQuery, capped, decode_cursor, encode_cursor
from service.problems import ProblemError, problem_responses
from service.repositories import rewards as repo
from service.repositories import users as users_repo
from service.usecases import redemptions

router = APIRouter(tags=["citizen"])


class RewardOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    kind: str
    fulfilment: Literal["generated", "pool", "manual"]
    points: int
    stock: int
    region: str | None
    valid_until: datetime | None
    active: bool


class RewardPage(BaseModel):
    items: list[RewardOut]
    next_cursor: str | None


class RedeemIn(Strict):
    reward_id: uuid.UUID


class RedemptionOut(BaseModel):
    id: uuid.UUID
    reward_id: uuid.UUID
    reward_name: str
    points: int
    status: Literal["held", "completed", "cancelled"]
    code: str | None
    created_at: datetime
    completed_at: datetime | None
    cancelled_at: datetime | None


class RedeemedOut(RedemptionOut):
    balance: int


class RedemptionPage(BaseModel):
    items: list[RedemptionOut]
    next_cursor: str | None


def reward_out(row: repo.RewardRow) -> RewardOut:
    return RewardOut.model_validate(row, from_attributes=True)


@router.get("/v1/rewards", operation_id="list_rewards", response_model=RewardPage, responses=problem_responses(401, 422))
async def list_rewards(
    citizen: CurrentCitizen, session: SessionDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> RewardPage:
    """The rewards the caller can redeem now: active, in their region or everywhere, still valid; with price and stock."""
    user = await users_repo.get_citizen(session, citizen.user_id)
    if user is None or user.erased_at is not None:
        raise ProblemError(401, "unauthorized", "this account no longer exists")
    size = capped(limit)
    rows = await repo.list_rewards(
        session, after_seq=decode_cursor(cursor), limit=size + 1, offered_to_region=user.region, now=utcnow()
    )
    return RewardPage(
        items=[reward_out(r) for r in rows[:size]], next_cursor=encode_cursor(rows[size - 1].seq) if len(rows) > size else None
    )


@router.post(
    "/v1/me/redemptions",
    operation_id="redeem",
    status_code=201,
    response_model=RedeemedOut,
    responses=problem_responses(400, 401, 404, 409, 422),
)
async def redeem(
    body: RedeemIn,
    citizen: CurrentCitizen,
    session: SessionDep,
    idempotency_key: Annotated[str, Depends(idempotency_key_header)],
) -> Any:
    """Redeem one reward with `Idempotency-Key`: the points (oldest lots first) and one item of stock are held;
    coupons are fulfilled at once (`completed`, with a code), manual rewards stay `held` until an operator
    completes or cancels them. 409 `insufficient_points` (also for a negative balance), `out_of_stock`,
    `reward_unavailable`."""
    answer, replayed = await redemptions.redeem(
        session,
        user_id=citizen.user_id,
        idempotency_key=idempotency_key,
        body=body.model_dump(mode="json"),
        reward_id=body.reward_id,
        now=utcnow(),
    )
    return answer.response(replayed=replayed)


@router.get(
    "/v1/me/redemptions", operation_id="list_my_redemptions", response_model=RedemptionPage, responses=problem_responses(401, 422)
)
async def list_my_redemptions(
    citizen: CurrentCitizen, session: SessionDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> RedemptionPage:
    """The caller's redemptions, newest first, with their status and code."""
    size = capped(limit)
    rows = await repo.citizen_redemptions(session, citizen.user_id, before_seq=decode_cursor(cursor), limit=size + 1)
    return RedemptionPage(
        items=[RedemptionOut.model_validate(r.public()) for r in rows[:size]],
        next_cursor=encode_cursor(rows[size - 1].seq) if len(rows) > size else None,
    )


@router.get(
    "/v1/me/redemptions/{redemption_id}",
    operation_id="get_my_redemption",
    response_model=RedemptionOut,
    responses=problem_responses(401, 404, 422),
)
async def get_my_redemption(redemption_id: uuid.UUID, citizen: CurrentCitizen, session: SessionDep) -> RedemptionOut:
    """One of the caller's redemptions (another citizen's is 404, as if it did not exist)."""
    found = await repo.get_redemption(session, redemption_id, user_id=citizen.user_id)
    if found is None:
        raise ProblemError(404, "unknown_redemption", f"no redemption {redemption_id}")
    return RedemptionOut.model_validate(found.public())


@router.post(
    "/v1/me/redemptions/{redemption_id}/cancel",
    operation_id="cancel_my_redemption",
    response_model=RedemptionOut,
    responses=problem_responses(401, 404, 409, 422),
)
async def cancel_my_redemption(redemption_id: uuid.UUID, citizen: CurrentCitizen, session: SessionDep) -> RedemptionOut:
    """Cancel one of the caller's held redemptions: the points return to the lots they came from.
    Repeating it answers the cancelled redemption again; a completed one cannot be cancelled (409)."""
    done = await redemptions.cancel(session, redemption_id, now=utcnow(), user_id=citizen.user_id)
    return RedemptionOut.model_validate(done.public())
