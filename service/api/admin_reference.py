"""Administration of what awards are computed from: methodology versions and recycling stations."""

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, StrictStr
from sqlalchemy import text

from domain import methodology as methodology_rules
from service import audit
from service.api.fields import Instant
from service.api.schemas import Strict
from service.auth.deps import AnyAdmin, OperatorOrAdmin
from service.clock import utcnow
from service.deps import SessionDep
from service.pagination import CursorQuery, LimitQuery, capped, decode_key_cursor, encode_key_cursor
from service.problems import ProblemError, problem_responses
from service.seeding import insert_methodology

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class FactorIn(Strict):
    value: StrictStr | int | float = Field(description="A decimal number; strings keep exactly what was written")
    unit: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)
    confidence: Literal["official", "press", "paper", "provisional", "per product"]


class MethodologyIn(Strict):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    region: str = Field(min_length=1, max_length=64)
    effective_from: Instant
    rate_points_per_g: StrictStr | int | float
    factors: dict[str, FactorIn]
    bounds: dict[str, dict[str, StrictStr | int | float]]
    caps: dict[str, int]


class MethodologyOut(BaseModel):
    id: str
    region: str
    effective_from: datetime
    rate_points_per_g: str
    factors: dict[str, Any]
    bounds: dict[str, Any]
    caps: dict[str, Any]


class MethodologyList(BaseModel):
    items: list[MethodologyOut]


def _text(value: str | float) -> str:
    # JSON numbers arrive as int or float; their shortest repr is the decimal the client wrote.
    return value if isinstance(value, str) else repr(value)


@router.get(
    "/methodologies", operation_id="list_methodologies", response_model=MethodologyList, responses=problem_responses(401, 403)
)
async def list_methodologies(session: SessionDep, admin: AnyAdmin) -> MethodologyList:
    """Every methodology version, oldest first (any administrator role may read them)."""
    rows = await session.execute(
        text("SELECT id, region, effective_from, rate_points_per_g, document FROM methodologies ORDER BY effective_from, id")
    )
    return MethodologyList(
        items=[
            MethodologyOut(
                id=r.id,
                region=r.region,
                effective_from=r.effective_from,
                rate_points_per_g=r.rate_points_per_g,
                **{k: r.document[k] for k in ("factors", "bounds", "caps")},
            )
            for r in rows
        ]
    )


@router.post(
    "/methodologies",
    operation_id="create_methodology",
    status_code=201,
    response_model=MethodologyOut,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_methodology(
    body: MethodologyIn, request: Request, session: SessionDep, admin: OperatorOrAdmin
) -> MethodologyOut:
    """A new factor version for a region (or `default`), in force from `effective_from`, which must lie ahead:
    a version never changes how an activity already evaluated was evaluated."""
    if body.effective_from <= utcnow():
        raise ProblemError(422, "effective_from_in_past", "a new methodology version must take effect in the future")
    known_region = await session.scalar(text("SELECT 1 FROM regions WHERE code = :r"), {"r": body.region})
    if body.region != methodology_rules.DEFAULT_REGION and known_region is None:
        raise ProblemError(422, "unknown_region", f"unknown region {body.region!r}")
    rate = _text(body.rate_points_per_g)
    doc: dict[str, Any] = {
        "id": body.id,
        "region": body.region,
        "effective_from": body.effective_from.isoformat(),
        "rate_points_per_g": rate,
        "factors": {s: f.model_dump() | {"value": _text(f.value)} for s, f in body.factors.items()},
        "bounds": {k: {n: _text(v) for n, v in b.items()} for k, b in body.bounds.items()},
        "caps": body.caps,
    }
    methodology_rules.parse(body.id, body.region, body.effective_from, rate, doc)  # InvalidMethodology → 422
    if not await insert_methodology(session, doc):
        raise ProblemError(409, "methodology_exists", f"methodology {body.id} exists; versions are never changed, add a new one")
    await audit.record(
        session,
        actor_kind="admin",
        actor_id=admin.admin_id,
        action="methodology.create",
        target_kind="methodology",
        target_id=body.id,
        after=doc,
    )
    request.app.state.methodologies.invalidate()
    return MethodologyOut(
        id=body.id,
        region=body.region,
        effective_from=body.effective_from,
        rate_points_per_g=doc["rate_points_per_g"],
        factors=doc["factors"],
        bounds=doc["bounds"],
        caps=doc["caps"],
    )


class StationIn(Strict):
    partner_id: uuid.UUID
    name: str = Field(min_length=1, max_length=200)
    region: str = Field(min_length=1, max_length=64)


class StationOut(BaseModel):
    id: uuid.UUID
    partner_id: uuid.UUID
    name: str
    region: str
    active: bool
    created_at: datetime


class StationList(BaseModel):
    items: list[StationOut]
    next_cursor: str | None = None


_STATION_COLUMNS = "id, partner_id, name, region, active, created_at"


@router.post(
    "/stations",
    operation_id="create_station",
    status_code=201,
    response_model=StationOut,
    responses=problem_responses(401, 403, 422),
)
async def create_station(body: StationIn, session: SessionDep, admin: OperatorOrAdmin) -> StationOut:
    """A recycling station of a recycling partner, in a region; recycling posts name it as `station_id`."""
    kind = await session.scalar(text("SELECT kind FROM partners WHERE id = :p AND disabled_at IS NULL"), {"p": body.partner_id})
    if kind != "recycling":
        raise ProblemError(422, "unknown_partner", f"no active recycling partner {body.partner_id}")
    if await session.scalar(text("SELECT 1 FROM regions WHERE code = :r"), {"r": body.region}) is None:
        raise ProblemError(422, "unknown_region", f"unknown region {body.region!r}")
    row = (
        await session.execute(
            text(
                f"INSERT INTO stations (id, partner_id, name, region) VALUES (:id, :p, :n, :r) RETURNING {_STATION_COLUMNS}"  # noqa: S608
            ),
            {"id": uuid.uuid4(), "p": body.partner_id, "n": body.name.strip(), "r": body.region},
        )
    ).one()
    station = StationOut.model_validate(row, from_attributes=True)
    await audit.record(
        session,
        actor_kind="admin",
        actor_id=admin.admin_id,
        action="station.create",
        target_kind="station",
        target_id=str(station.id),
        after=station.model_dump(mode="json"),
    )
    return station


@router.get("/stations", operation_id="list_stations", response_model=StationList, responses=problem_responses(401, 403))
async def list_stations(
    session: SessionDep,
    admin: AnyAdmin,
    partner_id: uuid.UUID | None = None,
    region: str | None = Query(default=None, max_length=64),
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> StationList:
    """Stations, optionally of one partner or region, oldest first."""
    after_at, after_id = decode_key_cursor(cursor) or (None, None)
    page_size = capped(limit)
    rows = (
        await session.execute(
            text(
                f"SELECT {_STATION_COLUMNS} FROM stations "  # noqa: S608
                "WHERE (CAST(:p AS uuid) IS NULL OR partner_id = :p) AND (CAST(:r AS text) IS NULL OR region = :r) "
                "AND (CAST(:at AS timestamptz) IS NULL OR (created_at, id) > (:at, :id)) "
                "ORDER BY created_at, id LIMIT :n"
            ),
            {"p": partner_id, "r": region, "at": after_at, "id": after_id, "n": page_size + 1},
        )
    ).all()
    items = [StationOut.model_validate(r, from_attributes=True) for r in rows[:page_size]]
    more = len(rows) > page_size
    return StationList(items=items, next_cursor=encode_key_cursor(items[-1].created_at, items[-1].id) if more else None)
