"""The citizen's bank links: ask for a link code for a bank, list the links, revoke one at once."""

import uuid
from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from service.api.schemas import Strict
from service.auth.deps import CurrentCitizen
from service.clock import utcnow
from service.deps import SessionDep
from service.problems import problem_responses
from service.repositories import banks as repo
from service.usecases import bank_links

router = APIRouter(prefix="/v1/me/bank-links", tags=["citizen"])


class LinkCodeIn(Strict):
    bank_id: uuid.UUID
    scopes: list[str] = Field(
        min_length=1, max_length=3, description="Any of account:read, changes:read, activities:write: what the bank may do"
    )


class LinkCodeOut(BaseModel):
    link_code: str = Field(description="Give this to the bank; single use, valid for ten minutes")
    expires_at: datetime
    bank_id: uuid.UUID
    scopes: list[str]


class MyBankLinkOut(BaseModel):
    link_id: uuid.UUID
    bank_id: uuid.UUID
    bank_name: str
    customer_ref: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    status: str


class MyBankLinks(BaseModel):
    items: list[MyBankLinkOut]


@router.post(
    "",
    operation_id="create_bank_link_code",
    status_code=201,
    response_model=LinkCodeOut,
    responses=problem_responses(401, 404, 422),
)
async def create_link_code(body: LinkCodeIn, citizen: CurrentCitizen, session: SessionDep) -> LinkCodeOut:
    """A short-lived, single-use code for one bank and the scopes consented to."""
    code, expires_at, scopes = await bank_links.create_link_code(
        session, user_id=citizen.user_id, bank_id=body.bank_id, scopes=body.scopes, now=utcnow()
    )
    return LinkCodeOut(link_code=code, expires_at=expires_at, bank_id=body.bank_id, scopes=scopes)


@router.get("", operation_id="list_my_bank_links", response_model=MyBankLinks, responses=problem_responses(401))
async def list_links(citizen: CurrentCitizen, session: SessionDep) -> MyBankLinks:
    """The caller's bank links, live and revoked, newest first."""
    return MyBankLinks(
        items=[
            MyBankLinkOut(
                link_id=link.id,
                bank_id=link.partner_id,
                bank_name=name,
                customer_ref=link.customer_ref,
                scopes=link.scopes,
                created_at=link.created_at,
                revoked_at=link.revoked_at,
                status="revoked" if link.revoked_at else "live",
            )
            for link, name in await repo.links_of_citizen(session, citizen.user_id)
        ]
    )


@router.delete("/{link_id}", operation_id="revoke_my_bank_link", status_code=204, responses=problem_responses(401, 404))
async def revoke(link_id: uuid.UUID, citizen: CurrentCitizen, session: SessionDep) -> Response:
    """Revoke the link at once: the bank's reads fail from now on and its feed carries the revocation."""
    await bank_links.revoke_link(session, user_id=citizen.user_id, link_id=link_id, now=utcnow())
    return Response(status_code=204)
