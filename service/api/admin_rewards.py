"""Administration of the rewards catalogue, coupon pools and manual fulfilment; every change audited."""

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, StrictBool, StrictInt
from sqlalchemy import text

from service import audit
from service.api.fields import Instant
from service.api.rewards import RedemptionOut, RewardOut
from service.api.schemas import Strict
from service.auth.deps import AdminPrincipal, AnyAdmin, OperatorOrAdmin
from service.clock import utcnow
from service.deps import SessionDep
from service.pagination import CursorQuery, LimitQuery, capped, decode_cursor, encode_cursor
from service.problems import ProblemError, problem_responses
from service.repositories import rewards as repo
from service.usecases import redemptions

router = APIRouter(prefix="/v1/admin", tags=["admin"])

MAX_CODES_PER_UPLOAD = 10_000


class RewardIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    points: StrictInt = Field(ge=1, le=10_000_000, description="The price in points")
    stock: StrictInt = Field(ge=0, le=10_000_000, description="Items available; for a `pool` reward 0, the codes make the stock")
    region: str | None = Field(
        default=None, min_length=1, max_length=64, description="Offered in this region only; none: everywhere"
    )
    valid_until: Instant | None = None
    kind: Literal["coupon", "transit_credit", "donation"] = "coupon"
    fulfilment: Literal["generated", "pool", "manual"] = Field(
        default="generated",
        description="`generated`: a code made at redemption; `pool`: a code from the uploaded pool; "
        "`manual`: held until an operator completes or cancels it",
    )
    description: str | None = Field(default=None, max_length=2000)


class RewardPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    points: StrictInt | None = Field(default=None, ge=1, le=10_000_000)
    stock: StrictInt | None = Field(default=None, ge=0, le=10_000_000)
    region: str | None = Field(default=None, min_length=1, max_length=64)
    valid_until: Instant | None = None
    active: StrictBool | None = None
    description: str | None = Field(default=None, max_length=2000)


class AdminRewardOut(RewardOut):
    created_at: datetime
    updated_at: datetime


class AdminRewardPage(BaseModel):
    items: list[AdminRewardOut]
    next_cursor: str | None


class CodesIn(Strict):
    codes: list[str] = Field(min_length=1, max_length=MAX_CODES_PER_UPLOAD)


class CodesOut(BaseModel):
    added: int
    skipped: int
    stock: int


class CompleteIn(Strict):
    code: str | None = Field(default=None, min_length=1, max_length=200, description="What the citizen receives, if anything")


def _admin_out(row: repo.RewardRow) -> AdminRewardOut:
    return AdminRewardOut.model_validate(row, from_attributes=True)


async def _known_region(session: SessionDep, region: str | None) -> None:
    if region is not None and await session.scalar(text("SELECT 1 FROM regions WHERE code = :r"), {"r": region}) is None:
        raise ProblemError(422, "unknown_region", f"unknown region {region!r}")


async def _record(session: SessionDep, admin: AdminPrincipal, action: str, target: str, before: object, after: object) -> None:
    await audit.record(
        session,
        actor_kind="admin",
        actor_id=admin.admin_id,
        action=action,
        target_kind="reward",
        target_id=target,
        before=before if isinstance(before, dict) else None,
        after=after if isinstance(after, dict) else None,
    )


@router.get(
    "/rewards", operation_id="admin_list_rewards", response_model=AdminRewardPage, responses=problem_responses(401, 403, 422)
)
async def admin_list_rewards(
    session: SessionDep, admin: AnyAdmin, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> AdminRewardPage:
    """Every reward, inactive and expired ones included, oldest first."""
    size = capped(limit)
    rows = await repo.list_rewards(session, after_seq=decode_cursor(cursor), limit=size + 1, offered_to_region=None, now=None)
    return AdminRewardPage(
        items=[_admin_out(r) for r in rows[:size]], next_cursor=encode_cursor(rows[size - 1].seq) if len(rows) > size else None
    )


@router.post(
    "/rewards",
    operation_id="create_reward",
    status_code=201,
    response_model=AdminRewardOut,
    responses=problem_responses(401, 403, 422),
)
async def create_reward(body: RewardIn, session: SessionDep, admin: OperatorOrAdmin) -> AdminRewardOut:
    """A reward with its price and stock [operator]."""
    await _known_region(session, body.region)
    if body.fulfilment == "pool" and body.stock != 0:
        raise ProblemError(422, "stock_follows_codes", "a pool reward starts with stock 0: each uploaded code adds one")
    row = await repo.insert_reward(session, body.model_dump() | {"name": body.name.strip(), "active": True})
    await _record(session, admin, "reward.create", str(row.id), None, row.public())
    return _admin_out(row)


@router.patch(
    "/rewards/{reward_id}",
    operation_id="update_reward",
    response_model=AdminRewardOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def update_reward(reward_id: uuid.UUID, body: RewardPatch, session: SessionDep, admin: OperatorOrAdmin) -> AdminRewardOut:
    """Change a reward's name, price, stock, region, validity or whether it is offered [operator].
    A price change applies to redemptions from now on; redemptions made keep their price."""
    before = await repo.get_reward(session, reward_id, for_update=True)
    if before is None:
        raise ProblemError(404, "unknown_reward", f"no reward {reward_id}")
    changes = body.model_dump(include=body.model_fields_set)
    for required in ("name", "points", "stock", "active"):
        if required in changes and changes[required] is None:
            raise ProblemError(422, "validation_error", f"{required} cannot be null")
    if "stock" in changes and before.fulfilment == "pool":
        raise ProblemError(422, "stock_follows_codes", "a pool reward's stock is its unused codes: upload codes instead")
    await _known_region(session, changes.get("region"))
    if not changes:
        return _admin_out(before)
    after = await repo.update_reward(session, reward_id, changes, utcnow())
    await _record(session, admin, "reward.update", str(reward_id), before.public(), after.public())
    return _admin_out(after)


@router.post(
    "/rewards/{reward_id}/codes",
    operation_id="upload_reward_codes",
    response_model=CodesOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def upload_reward_codes(reward_id: uuid.UUID, body: CodesIn, session: SessionDep, admin: OperatorOrAdmin) -> CodesOut:
    """Add coupon codes to a `pool` reward (up to 10,000 per request); a code already in the pool is skipped,
    and the stock grows by the number added [operator]. The codes themselves are not written to the audit log."""
    reward = await repo.get_reward(session, reward_id, for_update=True)
    if reward is None:
        raise ProblemError(404, "unknown_reward", f"no reward {reward_id}")
    if reward.fulfilment != "pool":
        raise ProblemError(422, "not_a_pool_reward", "codes are uploaded for rewards with fulfilment `pool` only")
    codes = list(dict.fromkeys(c.strip() for c in body.codes if c.strip()))
    if not codes or any(len(c) > 200 for c in codes):
        raise ProblemError(422, "invalid_codes", "codes are 1-200 characters, not blank")
    added = await repo.add_codes(session, reward_id, codes)
    after = await repo.get_reward(session, reward_id)
    assert after is not None
    await _record(session, admin, "reward.codes", str(reward_id), {"stock": reward.stock}, {"stock": after.stock, "added": added})
    return CodesOut(added=added, skipped=len(body.codes) - added, stock=after.stock)


class AdminRedemptionOut(RedemptionOut):
    user_id: uuid.UUID


class AdminRedemptionPage(BaseModel):
    items: list[AdminRedemptionOut]
    next_cursor: str | None


@router.get(
    "/redemptions",
    operation_id="admin_list_redemptions",
    response_model=AdminRedemptionPage,
    responses=problem_responses(401, 403, 422),
)
async def admin_list_redemptions(
    session: SessionDep,
    admin: AnyAdmin,
    status: Literal["held", "completed", "cancelled"] | None = None,
    reward_id: uuid.UUID | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> AdminRedemptionPage:
    """Redemptions of every citizen, newest first; `status=held` is the queue of manual rewards to fulfil."""
    size = capped(limit)
    rows = await repo.all_redemptions(
        session, status=status, reward_id=reward_id, before_seq=decode_cursor(cursor), limit=size + 1
    )
    return AdminRedemptionPage(
        items=[AdminRedemptionOut.model_validate(r.public() | {"user_id": str(r.user_id)}) for r in rows[:size]],
        next_cursor=encode_cursor(rows[size - 1].seq) if len(rows) > size else None,
    )


@router.post(
    "/redemptions/{redemption_id}/complete",
    operation_id="complete_redemption",
    response_model=RedemptionOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def complete_redemption(
    redemption_id: uuid.UUID, body: CompleteIn, session: SessionDep, admin: OperatorOrAdmin
) -> RedemptionOut:
    """Mark a held (manual) redemption fulfilled [operator]; repeating it changes nothing."""
    done = await redemptions.complete(session, redemption_id, now=utcnow(), admin_id=admin.admin_id, code=body.code)
    return RedemptionOut.model_validate(done.public())


@router.post(
    "/redemptions/{redemption_id}/cancel",
    operation_id="cancel_redemption",
    response_model=RedemptionOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def cancel_redemption(redemption_id: uuid.UUID, session: SessionDep, admin: OperatorOrAdmin) -> RedemptionOut:
    """Cancel a held redemption [operator]: its points go back to the citizen's lots, its item to stock."""
    done = await redemptions.cancel(session, redemption_id, now=utcnow(), admin_id=admin.admin_id)
    return RedemptionOut.model_validate(done.public())
