"""The citizen's own activities: the day's steps, member references, one activity's breakdown."""

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, StrictInt
from sqlalchemy import text

from domain.activities import DailySteps
from service.api.activities import activity_out, award, single_response
from service.api.fields import Day
from service.api.schemas import ActivityOut, Strict
from service.auth.deps import CurrentCitizen
from service.clock import utcnow
from service.deps import SessionDep
from service.problems import ProblemError, problem_responses
from service.repositories import activities as activities_repo
from service.repositories import identities as identities_repo
from service.repositories import users as users_repo
from service.usecases.award_pipeline import Report

router = APIRouter(prefix="/v1/me", tags=["citizen"])


class StepsIn(Strict):
    date: Day
    steps: StrictInt = Field(ge=0, le=1_000_000, description="The day's total so far, as the phone counts it")


class IdentityIn(Strict):
    partner_id: uuid.UUID
    kind: Literal["transit_card", "bike_account", "membership"]
    ref: str = Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")


class IdentityOut(BaseModel):
    id: uuid.UUID
    partner_id: uuid.UUID
    kind: str
    ref: str
    created_at: datetime


class IdentityList(BaseModel):
    items: list[IdentityOut]


@router.post(
    "/steps",
    operation_id="report_my_steps",
    status_code=201,
    response_model=ActivityOut,
    responses=problem_responses(401, 422),
)
async def report_my_steps(body: StepsIn, request: Request, session: SessionDep, citizen: CurrentCitizen) -> Response:
    """The day's step count; a later, higher count that day earns only the difference, a lower one nothing."""
    user = await users_repo.get_citizen(session, citizen.user_id)
    if user is None or user.erased_at is not None:
        raise ProblemError(401, "unauthorized", "this account no longer exists")
    now = utcnow()
    report = Report(
        activity=DailySteps(day=body.date, steps=body.steps, counted_before=0, reported_at=now),
        region=user.region,
        measurements={"date": body.date.isoformat(), "steps": body.steps},
        user_id=citizen.user_id,
    )
    [outcome] = await award(request, session, [report], now)
    return single_response(outcome)


@router.get(
    "/activities/{activity_id}",
    operation_id="get_my_activity",
    response_model=ActivityOut,
    responses=problem_responses(401, 404),
)
async def get_my_activity(activity_id: uuid.UUID, session: SessionDep, citizen: CurrentCitizen) -> ActivityOut:
    """One of the caller's activities with its status and full breakdown."""
    activity = await activities_repo.get_activity(session, activity_id)
    if activity is None or activity.user_id != citizen.user_id:
        raise ProblemError(404, "not_found", f"no activity {activity_id} of yours")
    return activity_out(activity)


@router.post(
    "/identities",
    operation_id="bind_identity",
    status_code=201,
    response_model=IdentityOut,
    responses=problem_responses(401, 404, 409, 422),
)
async def bind_identity(body: IdentityIn, session: SessionDep, citizen: CurrentCitizen) -> IdentityOut:
    """Bind a member reference (transit card token, bike account, membership number) of one partner."""
    partner = (
        await session.execute(text("SELECT id FROM partners WHERE id = :id AND disabled_at IS NULL"), {"id": body.partner_id})
    ).first()
    if partner is None:
        raise ProblemError(404, "unknown_partner", f"no partner {body.partner_id}")
    bound = await identities_repo.bind(session, citizen.user_id, body.partner_id, body.kind, body.ref)
    if bound.user_id != citizen.user_id:
        raise ProblemError(409, "member_ref_taken", "that reference is bound to another account")
    return IdentityOut.model_validate(bound, from_attributes=True)


@router.get("/identities", operation_id="list_identities", response_model=IdentityList, responses=problem_responses(401))
async def list_identities(session: SessionDep, citizen: CurrentCitizen) -> IdentityList:
    rows = await identities_repo.of_citizen(session, citizen.user_id)
    return IdentityList(items=[IdentityOut.model_validate(r, from_attributes=True) for r in rows])


@router.delete(
    "/identities/{identity_id}",
    operation_id="unbind_identity",
    status_code=204,
    responses=problem_responses(401, 404),
)
async def unbind_identity(identity_id: uuid.UUID, session: SessionDep, citizen: CurrentCitizen) -> Response:
    if not await identities_repo.unbind(session, citizen.user_id, identity_id):
        raise ProblemError(404, "not_found", f"no identity {identity_id} of yours")
    return Response(status_code=204)
