"""Partners report activities: trips (one, a batch), recycling drop-offs; and read them back."""

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import TypeAdapter, ValidationError

from domain.activities import Dropoff, DropoffItem
from service.api.schemas import ActivityOut, BatchOut, RecyclingIn, TravelBatchIn, TravelIn
from service.auth.deps import AnyPartner, PartnerPrincipal, partner_with_scope
from service.clock import utcnow
from service.deps import SessionDep
from service.directory import Directory, PartnerFacts
from service.idempotency import REPLAYED_HEADER, request_hash
from service.problems import ProblemError, problem_responses
from service.repositories import activities as activities_repo
from service.repositories import raw
from service.usecases.award_pipeline import Outcome, Report, award_reports, replay_or_conflict
from service.usecases.reports import travel_report

router = APIRouter(prefix="/v1", tags=["partners"])

TravelWriter = Annotated[PartnerPrincipal, Depends(partner_with_scope("travel:write"))]
RecyclingWriter = Annotated[PartnerPrincipal, Depends(partner_with_scope("recycling:write"))]
_travel_item = TypeAdapter(TravelIn)


async def reporting_partner(request: Request, session: SessionDep, partner: PartnerPrincipal) -> PartnerFacts:
    directory: Directory = request.app.state.directory
    facts = await directory.partner(session, partner.partner_id)
    if facts is None or not facts.active:
        raise ProblemError(401, "unauthorized", "this partner is disabled", headers={"WWW-Authenticate": "Bearer"})
    return facts


def single_response(outcome: Outcome) -> Response:
    if outcome.problem is not None:
        raise outcome.problem
    headers = {REPLAYED_HEADER: "true"} if outcome.replayed else None
    return Response(outcome.body, status_code=outcome.status_code, media_type="application/json", headers=headers)


async def answer_before_refusing(
    session: SessionDep, partner_id: uuid.UUID, external_id: str, hash_: str, refusal: ProblemError
) -> Response:
    """`refusal`, unless the partner was already answered for this id: then that answer again (or
    409 for another body). A retry gets its original result even if the station, store or link
    it names has since been closed or revoked (api.md: "returns the original result")."""
    conn = await raw.connection(session)
    stored = (await activities_repo.stored_keys(conn, partner_id, [external_id])).get(external_id)
    if stored is None:
        raise refusal
    return single_response(replay_or_conflict(stored, hash_))


async def award(request: Request, session: SessionDep, reports: list[Report], now: datetime | None = None) -> list[Outcome]:
    """The reports through the award pipeline with the methodology versions this process holds."""
    versions = await request.app.state.methodologies.versions(session)
    return await award_reports(session, reports, methodologies=versions, now=now or utcnow())


@router.post(
    "/activities/travel",
    operation_id="report_trip",
    status_code=201,
    response_model=ActivityOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def report_trip(body: TravelIn, request: Request, session: SessionDep, partner: TravelWriter) -> Response:
    """A metro, bus or bike trip. Idempotent on `external_id`; an implausible trip is stored as `rejected`."""
    facts = await reporting_partner(request, session, partner)
    [outcome] = await award(request, session, [travel_report(body, facts)])
    return single_response(outcome)


@router.post(
    "/activities/travel:batch",
    operation_id="report_trips",
    response_model=BatchOut,
    responses=problem_responses(401, 403, 422, 429),
)
async def report_trips(body: TravelBatchIn, request: Request, session: SessionDep, partner: TravelWriter) -> Response:
    """Up to 1,000 trips in one request and one transaction; a result per item, in order, each idempotent on its own.
    A server evaluates a few batches at once and queues a few more; past that it answers 429 with `Retry-After`."""
    async with request.app.state.bulk_gate.admit():
        return await _report_trips(body, request, session, partner)


async def _report_trips(body: TravelBatchIn, request: Request, session: SessionDep, partner: PartnerPrincipal) -> Response:
    facts = await reporting_partner(request, session, partner)
    results: list[str | None] = [None] * len(body.items)
    reports: list[Report] = []
    positions: list[int] = []
    for i, given in enumerate(body.items):
        try:
            item = _travel_item.validate_python(given)
        except ValidationError as exc:
            errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            problem = {"status": 422, "code": "validation_error", "title": "Unprocessable Content", "errors": errors}
            results[i] = json.dumps({"index": i, "status_code": 422, "problem": problem}, ensure_ascii=False, default=str)
            continue
        reports.append(travel_report(item, facts))
        positions.append(i)
    ok = 0
    for i, outcome in zip(positions, await award(request, session, reports), strict=True):
        if outcome.problem is not None:
            p = outcome.problem
            problem = {"status": p.status, "code": p.code, "title": p.title, "detail": p.detail}
            results[i] = json.dumps({"index": i, "status_code": p.status, "problem": problem}, ensure_ascii=False)
        else:
            # the stored answer is spliced in as it is: no decoding and encoding it again per item
            replayed = "true" if outcome.replayed else "false"
            results[i] = f'{{"index":{i},"status_code":{outcome.status_code},"replayed":{replayed},"activity":{outcome.body}}}'
            ok += 1
    done = ",".join(r for r in results if r is not None)
    return Response(f'{{"results":[{done}],"awarded":{ok},"failed":{len(results) - ok}}}', media_type="application/json")


@router.post(
    "/activities/recycling",
    operation_id="report_dropoff",
    status_code=201,
    response_model=ActivityOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def report_dropoff(body: RecyclingIn, request: Request, session: SessionDep, partner: RecyclingWriter) -> Response:
    """A drop-off at one of the partner's active stations: categories and weights in grams."""
    facts = await reporting_partner(request, session, partner)
    hash_ = request_hash("POST", "recycling", body.model_dump(mode="json"))
    station = await request.app.state.directory.station(session, body.station_id)
    if station is None or station.partner_id != facts.id:
        refusal = ProblemError(404, "unknown_station", f"no station {body.station_id} of this partner")
        return await answer_before_refusing(session, facts.id, body.external_id, hash_, refusal)
    if not station.active:
        refusal = ProblemError(422, "station_inactive", f"station {body.station_id} is not active")
        return await answer_before_refusing(session, facts.id, body.external_id, hash_, refusal)
    known = {c for m in await request.app.state.methodologies.versions(session) for c in m.recycling_categories()}
    unknown = sorted({item.category for item in body.items} - known)
    if unknown:
        refusal = ProblemError(422, "unknown_category", f"unknown categories {unknown}; known: {sorted(known)}")
        return await answer_before_refusing(session, facts.id, body.external_id, hash_, refusal)
    report = Report(
        activity=Dropoff(items=tuple(DropoffItem(i.category, i.weight_g) for i in body.items), at=body.occurred_at),
        region=station.region,
        measurements={"items": [i.model_dump() for i in body.items], "station_id": str(station.id)},
        partner_id=facts.id,
        external_id=body.external_id,
        request_hash=hash_,
        fingerprint=body.fingerprint,
        station_id=station.id,
        user_id=body.user.user_id,
        member_ref=body.user.member_ref,
    )
    [outcome] = await award(request, session, [report])
    return single_response(outcome)


@router.get(
    "/activities/{activity_id}",
    operation_id="get_partner_activity",
    response_model=ActivityOut,
    responses=problem_responses(401, 404),
)
async def get_partner_activity(activity_id: uuid.UUID, session: SessionDep, partner: AnyPartner) -> ActivityOut:
    """One of the calling partner's own activities: what was awarded, or why not."""
    activity = await activities_repo.get_activity(session, activity_id)
    if activity is None or activity.partner_id != partner.partner_id:
        raise ProblemError(404, "not_found", f"no activity {activity_id} reported by this partner")
    return activity_out(activity)


def activity_out(activity: Any) -> ActivityOut:
    return ActivityOut(
        activity_id=activity.id,
        status=activity.status,
        scenario=activity.scenario,
        carbon_g=activity.carbon_g,
        points=activity.points,
        bonus_points=activity.bonus_points,
        breakdown=activity.breakdown,
        reason=activity.reason,
    )
