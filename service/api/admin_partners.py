"""Administration of partners: create (the secret is shown once), list, rotate the secret."""

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import text

from service.api.schemas import Strict
from service.auth.deps import AnyAdmin, OperatorOrAdmin
from service.deps import SessionDep, SettingsDep
from service.pagination import CursorQuery, LimitQuery, capped, decode_key_cursor, encode_key_cursor
from service.problems import ProblemError, problem_responses
from service.usecases.partners import PartnerError, UnknownRegion, UnsafeWebhook, create_partner, rotate_secret

router = APIRouter(prefix="/v1/admin/partners", tags=["admin"])


class PartnerIn(Strict):
    kind: Literal["transit", "recycling", "merchant", "bank"]
    name: str = Field(min_length=1, max_length=200)
    region: str = Field(min_length=1, max_length=64)
    webhook_url: str | None = Field(
        default=None, min_length=8, max_length=2000, description="Banks only: https URL that receives signed webhooks"
    )


class CredentialsOut(BaseModel):
    partner_id: uuid.UUID
    client_id: str
    client_secret: str = Field(description="Shown this once; only a salted slow hash is kept")
    scopes: list[str]
    webhook_secret: str | None = Field(default=None, description="Banks with a webhook_url: the HMAC key, shown this once")


class PartnerOut(BaseModel):
    partner_id: uuid.UUID
    kind: str
    name: str
    region: str
    client_id: str
    scopes: list[str]
    webhook_url: str | None = None
    active: bool
    created_at: datetime


class PartnerList(BaseModel):
    items: list[PartnerOut]
    next_cursor: str | None = None


@router.post(
    "", operation_id="create_partner", status_code=201, response_model=CredentialsOut, responses=problem_responses(401, 403, 422)
)
async def create(body: PartnerIn, session: SessionDep, settings: SettingsDep, admin: OperatorOrAdmin) -> CredentialsOut:
    """A transit, recycling, merchant or bank partner with client credentials and the scopes of its kind."""
    try:
        created = await create_partner(
            session,
            kind=body.kind,
            name=body.name,
            region=body.region,
            actor_id=admin.admin_id,
            webhook_url=body.webhook_url,
            allow_insecure_webhooks=settings.webhooks_insecure_ok,
        )
    except UnknownRegion as exc:
        raise ProblemError(422, "unknown_region", str(exc)) from None
    except UnsafeWebhook as exc:
        raise ProblemError(422, "unsafe_webhook_url", str(exc)) from None
    except PartnerError as exc:
        raise ProblemError(422, "invalid_partner", str(exc)) from None
    assert created.client_secret is not None  # a generated client id never exists already
    return CredentialsOut(**created.shown_once())


@router.get("", operation_id="list_partners", response_model=PartnerList, responses=problem_responses(401, 403))
async def list_partners(
    session: SessionDep, admin: AnyAdmin, kind: str | None = None, limit: LimitQuery = 100, cursor: CursorQuery = None
) -> PartnerList:
    """Partners, oldest first."""
    after_at, after_id = decode_key_cursor(cursor) or (None, None)
    page_size = capped(limit)
    rows = (
        await session.execute(
            text(
                "SELECT id AS partner_id, kind, name, region, client_id, scopes, webhook_url, "
                "disabled_at IS NULL AS active, created_at FROM partners "
                "WHERE (CAST(:k AS text) IS NULL OR kind = :k) "
                "AND (CAST(:at AS timestamptz) IS NULL OR (created_at, id) > (:at, :id)) "
                "ORDER BY created_at, id LIMIT :n"
            ),
            {"k": kind, "at": after_at, "id": after_id, "n": page_size + 1},
        )
    ).all()
    items = [PartnerOut.model_validate(r, from_attributes=True) for r in rows[:page_size]]
    more = len(rows) > page_size
    return PartnerList(items=items, next_cursor=encode_key_cursor(items[-1].created_at, items[-1].partner_id) if more else None)


@router.post(
    "/{partner_id}/rotate-secret",
    operation_id="rotate_partner_secret",
    response_model=CredentialsOut,
    responses=problem_responses(401, 403, 404),
)
async def rotate(partner_id: uuid.UUID, session: SessionDep, admin: OperatorOrAdmin) -> CredentialsOut:
    """A new client secret, shown once; the old secret stops working immediately."""
    rotated = await rotate_secret(session, partner_id, actor_id=admin.admin_id)
    if rotated is None:
        raise ProblemError(404, "not_found", f"no partner {partner_id}")
    return CredentialsOut(**rotated.shown_once())
