"""Campaign administration: create, read, list, change, activate, pause, simulate."""

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, StrictInt, StrictStr, model_validator
from sqlalchemy import text

from domain.campaigns import Simulation
from service.api.fields import LocalTime
from service.api.schemas import Strict
from service.auth.deps import AnyAdmin, OperatorOrAdmin
from service.clock import utcnow
from service.deps import SessionDep
from service.pagination import CursorQuery, LimitQuery, capped, decode_key_cursor, encode_key_cursor
from service.problems import ProblemError, problem_responses
from service.repositories import campaigns as campaigns_repo
from service.usecases import campaigns as usecase

router = APIRouter(prefix="/v1/admin/campaigns", tags=["admin"])

Slug = Field(default=None, min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")


class RuleIn(Strict):
    multiplier: StrictStr | int | float | None = Field(default=None, description='e.g. "2.0" for double points')
    bonus: StrictInt | None = Field(default=None, description="Fixed bonus points per activity")

    @model_validator(mode="after")
    def _one_rule(self) -> "RuleIn":
        if (self.multiplier is None) == (self.bonus is None):
            raise ValueError("the rule is {multiplier} or {bonus}")
        return self


def _multiplier_text(value: str | float | None) -> str | None:
    return None if value is None else value if isinstance(value, str) else repr(value)


class CampaignIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    code: str | None = Slug
    regions: list[str] = Field(min_length=1, max_length=50)
    scenarios: list[str] = Field(min_length=1, max_length=50)
    starts_at: LocalTime = Field(description="Without an offset: Asia/Shanghai local time")
    ends_at: LocalTime = Field(description="Exclusive; without an offset: Asia/Shanghai local time")
    rule: RuleIn
    merchant_ids: list[uuid.UUID] | None = Field(default=None, max_length=500)
    store_ids: list[uuid.UUID] | None = Field(default=None, max_length=5000)
    categories: list[str] | None = Field(default=None, max_length=100)
    per_citizen_cap: StrictInt | None = Field(default=None, ge=1)
    budget: StrictInt | None = Field(default=None, ge=1)
    stacking: Literal["exclusive", "stack"]


class CampaignPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    regions: list[str] | None = Field(default=None, min_length=1, max_length=50)
    scenarios: list[str] | None = Field(default=None, min_length=1, max_length=50)
    starts_at: LocalTime | None = None
    ends_at: LocalTime | None = None
    rule: RuleIn | None = None
    merchant_ids: list[uuid.UUID] | None = Field(default=None, max_length=500)
    store_ids: list[uuid.UUID] | None = Field(default=None, max_length=5000)
    categories: list[str] | None = Field(default=None, max_length=100)
    per_citizen_cap: StrictInt | None = Field(default=None, ge=1)
    budget: StrictInt | None = Field(default=None, ge=1)
    stacking: Literal["exclusive", "stack"] | None = None


class CampaignOut(BaseModel):
    id: uuid.UUID
    code: str | None
    name: str
    regions: list[str]
    scenarios: list[str]
    starts_at: datetime
    ends_at: datetime
    rule: dict[str, Any]
    merchant_ids: list[uuid.UUID] | None
    store_ids: list[uuid.UUID] | None
    categories: list[str] | None
    per_citizen_cap: int | None
    budget: int | None
    stacking: str
    status: Literal["draft", "active", "paused", "ended"]
    spent: int
    overlaps: list[dict[str, Any]] = Field(description="Other campaigns that could pay the same activities")
    created_at: datetime
    updated_at: datetime


class CampaignList(BaseModel):
    items: list[CampaignOut]
    next_cursor: str | None = None


class SimActivityIn(Strict):
    user_id: str = Field(min_length=1, max_length=64)
    region: str = Field(min_length=1, max_length=64)
    scenario: str = Field(min_length=1, max_length=64)
    occurred_at: LocalTime
    points: StrictInt = Field(ge=0, description="The activity's base points (after caps)")
    merchant_id: str | None = None
    store_id: str | None = None
    category: str | None = None


class SimulateIn(Strict):
    activities: list[SimActivityIn] | None = Field(default=None, max_length=10_000)
    from_: LocalTime | None = Field(default=None, alias="from")
    to: LocalTime | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "SimulateIn":
        if (self.activities is None) == (self.from_ is None or self.to is None):
            raise ValueError("give either activities or a period {from, to}")
        if self.from_ is not None and self.to is not None and usecase.local_time(self.to) <= usecase.local_time(self.from_):
            raise ValueError("to must be after from")
        return self


class SimulationOut(BaseModel):
    campaign_id: str
    activities_considered: int
    activities_matched: int
    activities_paid: int
    bonus_points: int
    cost_points: int
    citizens_paid: int
    cut_by_per_citizen_cap: int
    cut_by_budget: int
    budget: int | None
    budget_exhausted: bool
    by_region_scenario: list[dict[str, Any]]
    took_ms: int


def _fields(body: CampaignIn | CampaignPatch, fields_set: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in fields_set - {"rule"}:
        value = getattr(body, name)
        if name in ("starts_at", "ends_at") and value is not None:
            value = usecase.local_time(value)
        out[name] = value
    if "rule" in fields_set and body.rule is not None:
        out["multiplier"] = _multiplier_text(body.rule.multiplier)
        out["bonus"] = body.rule.bonus
    return out


async def _out(session: SessionDep, rows: list[dict[str, Any]]) -> list[CampaignOut]:
    return [CampaignOut.model_validate(r) for r in await usecase.describe(session, rows, utcnow())]


@router.post(
    "",
    operation_id="create_campaign",
    status_code=201,
    response_model=CampaignOut,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_campaign(body: CampaignIn, request: Request, session: SessionDep, admin: OperatorOrAdmin) -> CampaignOut:
    """A campaign in `draft`: validated (window order, multiplier > 1 or bonus > 0, known regions, scenarios,
    merchants and stores, cap within budget), with its overlaps with other campaigns shown; audited."""
    fields = _fields(body, set(CampaignIn.model_fields)) | {"code": body.code}
    methodologies = await request.app.state.methodologies.versions(session)
    row = await usecase.create(session, fields, admin_id=admin.admin_id, methodologies=methodologies)
    [out] = await _out(session, [row])
    return out


@router.get("", operation_id="list_campaigns", response_model=CampaignList, responses=problem_responses(401, 403))
async def list_campaigns(
    session: SessionDep,
    admin: AnyAdmin,
    status: Literal["draft", "active", "paused"] | None = None,
    region: str | None = Query(default=None, max_length=64),
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> CampaignList:
    """Campaigns, the latest window start first."""
    before_at, before_id = decode_key_cursor(cursor) or (None, None)
    page_size = capped(limit)
    rows = [
        dict(r)
        for r in (
            await session.execute(
                text(
                    f"SELECT {usecase.COLUMNS} FROM campaigns "  # noqa: S608
                    "WHERE (CAST(:s AS text) IS NULL OR status = :s) AND (CAST(:r AS text) IS NULL OR :r = ANY(regions)) "
                    "AND (CAST(:at AS timestamptz) IS NULL OR (starts_at, id) < (:at, :id)) "
                    "ORDER BY starts_at DESC, id DESC LIMIT :n"
                ),
                {"s": status, "r": region, "at": before_at, "id": before_id, "n": page_size + 1},
            )
        ).mappings()
    ]
    more = len(rows) > page_size
    rows = rows[:page_size]
    cursor_out = encode_key_cursor(rows[-1]["starts_at"], rows[-1]["id"]) if more else None
    return CampaignList(items=await _out(session, rows), next_cursor=cursor_out)


@router.get("/{campaign_id}", operation_id="get_campaign", response_model=CampaignOut, responses=problem_responses(401, 403, 404))
async def get_campaign(campaign_id: uuid.UUID, session: SessionDep, admin: AnyAdmin) -> CampaignOut:
    """One campaign with its spend so far (exact: the sum of its bonus entries net of reversals)."""
    [out] = await _out(session, [await usecase.get_row(session, campaign_id)])
    return out


@router.patch(
    "/{campaign_id}",
    operation_id="update_campaign",
    response_model=CampaignOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_campaign(
    campaign_id: uuid.UUID, body: CampaignPatch, request: Request, session: SessionDep, admin: OperatorOrAdmin
) -> CampaignOut:
    """Change fields (validated as on create); a budget can rise, or fall to no less than what was spent; audited."""
    changes = _fields(body, body.model_fields_set)
    for name in ("name", "regions", "scenarios", "starts_at", "ends_at", "stacking"):
        if name in changes and changes[name] is None:
            raise ProblemError(422, "validation_error", f"{name} cannot be removed")
    methodologies = await request.app.state.methodologies.versions(session)
    row = await usecase.patch(session, campaign_id, changes, admin_id=admin.admin_id, methodologies=methodologies)
    [out] = await _out(session, [row])
    return out


@router.post(
    "/{campaign_id}/activate",
    operation_id="activate_campaign",
    response_model=CampaignOut,
    responses=problem_responses(401, 403, 404, 409),
)
async def activate_campaign(campaign_id: uuid.UUID, session: SessionDep, admin: OperatorOrAdmin) -> CampaignOut:
    """Start paying (from a draft or a pause); audited."""
    [out] = await _out(session, [await usecase.move(session, campaign_id, "activate", admin_id=admin.admin_id)])
    return out


@router.post(
    "/{campaign_id}/pause",
    operation_id="pause_campaign",
    response_model=CampaignOut,
    responses=problem_responses(401, 403, 404, 409),
)
async def pause_campaign(campaign_id: uuid.UUID, session: SessionDep, admin: OperatorOrAdmin) -> CampaignOut:
    """Stop paying until activated again; audited."""
    [out] = await _out(session, [await usecase.move(session, campaign_id, "pause", admin_id=admin.admin_id)])
    return out


@router.post(
    "/{campaign_id}/simulate",
    operation_id="simulate_campaign",
    response_model=SimulationOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def simulate_campaign(campaign_id: uuid.UUID, body: SimulateIn, session: SessionDep, admin: AnyAdmin) -> SimulationOut:
    """What the campaign would have paid, alone and from an untouched budget, for the given activities or for
    the stored activities of [from, to) (in time order, caps and budget applied); nothing is written."""
    started = utcnow()
    row = await usecase.get_row(session, campaign_id)
    campaign = campaigns_repo.campaign_of(row)
    if body.activities is not None:
        sim = Simulation(campaign)
        for a in sorted(body.activities, key=lambda a: usecase.local_time(a.occurred_at)):
            extra = {"merchant_id": a.merchant_id, "store_id": a.store_id, "category": a.category}
            sim.add(usecase.candidate(a.user_id, a.region, a.scenario, usecase.local_time(a.occurred_at), a.points, extra))
        summary = sim.summary()
    else:
        assert body.from_ is not None and body.to is not None
        summary = await usecase.simulate_period(session, campaign, usecase.local_time(body.from_), usecase.local_time(body.to))
    took = int((utcnow() - started).total_seconds() * 1000)
    return SimulationOut(**summary, took_ms=took)
