"""Merchants report green purchases and refunds."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field, StrictInt, field_validator

from domain.activities import GreenProduct, Purchase, PurchaseLine
from service.api.activities import answer_before_refusing, award, reporting_partner, single_response
from service.api.fields import PRINTABLE, Instant
from service.api.schemas import ActivityOut, ExternalId, Strict, UserRef
from service.auth.deps import PartnerPrincipal, partner_with_scope
from service.clock import utcnow
from service.deps import SessionDep
from service.idempotency import request_hash
from service.problems import ProblemError, problem_responses
from service.repositories import raw
from service.usecases import refunds
from service.usecases.award_pipeline import Report

router = APIRouter(prefix="/v1", tags=["partners"])

PurchaseWriter = Annotated[PartnerPrincipal, Depends(partner_with_scope("purchases:write"))]
Sku = Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")


class PurchaseLineIn(Strict):
    sku: str = Sku
    quantity: StrictInt = Field(ge=1, le=100_000)
    amount_fen: StrictInt = Field(ge=0, le=100_000_000_00, description="What the line cost, in fen")


def _unique_skus(lines: list[PurchaseLineIn] | list["RefundLineIn"]) -> None:
    skus = [line.sku for line in lines]
    if len(set(skus)) != len(skus):
        raise ValueError("each sku appears on one line only (refunds name lines by sku)")


class PurchaseIn(Strict):
    order_id: str = ExternalId
    store_id: uuid.UUID
    user: UserRef
    purchased_at: Instant
    lines: list[PurchaseLineIn] = Field(min_length=1, max_length=200)
    fingerprint: str | None = Field(default=None, min_length=8, max_length=128, pattern=PRINTABLE)

    @field_validator("lines")
    @classmethod
    def _one_line_per_sku(cls, lines: list[PurchaseLineIn]) -> list[PurchaseLineIn]:
        _unique_skus(lines)
        return lines


class RefundLineIn(Strict):
    sku: str = Sku
    quantity: StrictInt = Field(ge=1, le=100_000)


class RefundIn(Strict):
    refund_id: str = ExternalId
    order_id: str = ExternalId
    lines: list[RefundLineIn] | None = Field(
        default=None, max_length=200, description="The lines returned; absent or empty: the whole order (what is left of it)"
    )

    @field_validator("lines")
    @classmethod
    def _one_line_per_sku(cls, lines: list[RefundLineIn] | None) -> list[RefundLineIn] | None:
        if lines:
            _unique_skus(lines)
        return lines


class RefundLineOut(BaseModel):
    sku: str
    quantity: int
    refunded_quantity: int
    bought_quantity: int
    carbon_g_reversed: int
    points_reversed: int
    bonus_points_reversed: int


class RefundOut(BaseModel):
    refund_id: str
    order_id: str
    activity_id: str
    lines: list[RefundLineOut]
    carbon_g_reversed: int
    points_reversed: int
    bonus_points_reversed: int
    posting_ids: list[int]
    refunded_at: str


_CATALOGUE = raw.Sql.of(
    "SELECT sku, category, carbon_g_per_unit, cert_scheme, cert_number, cert_valid_until FROM green_products "
    "WHERE merchant_id = :m AND sku = ANY(CAST(:skus AS text[])) AND active"
)


async def _catalogue(session: SessionDep, merchant_id: uuid.UUID, skus: list[str]) -> dict[str, GreenProduct]:
    # Read on the driver without opening the request's transaction: the award may then take the
    # optimistic path (no row held between its two statements), which keeps a season's budget
    # shards from queueing every purchase behind the one before.
    conn = await raw.connection(session)
    rows = await conn.fetch(_CATALOGUE.text, *_CATALOGUE.args({"m": merchant_id, "skus": skus}))
    return {
        r["sku"]: GreenProduct(
            r["sku"], r["category"], r["carbon_g_per_unit"], r["cert_scheme"], r["cert_number"], r["cert_valid_until"]
        )
        for r in rows
    }


@router.post(
    "/purchases",
    operation_id="report_purchase",
    status_code=201,
    response_model=ActivityOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def report_purchase(body: PurchaseIn, request: Request, session: SessionDep, partner: PurchaseWriter) -> Response:
    """An order at one of the merchant's stores. Certified green lines earn their certified carbon per unit
    (and campaign bonuses, such as Huangpu's green consumption season); the breakdown explains every line.
    Idempotent on `order_id`."""
    facts = await reporting_partner(request, session, partner)
    hash_ = request_hash("POST", "purchases", body.model_dump(mode="json"))
    store = await request.app.state.directory.store(session, body.store_id)
    if store is None or store.merchant_id != facts.id:
        refusal = ProblemError(404, "unknown_store", f"no store {body.store_id} of this merchant")
        return await answer_before_refusing(session, facts.id, body.order_id, hash_, refusal)
    if not store.active:
        refusal = ProblemError(422, "store_inactive", f"store {body.store_id} is not active")
        return await answer_before_refusing(session, facts.id, body.order_id, hash_, refusal)
    products = await _catalogue(session, facts.id, [line.sku for line in body.lines])
    purchase = Purchase(
        merchant_id=str(facts.id),
        store_id=str(store.id),
        purchased_at=body.purchased_at,
        lines=tuple(PurchaseLine(line.sku, line.quantity, line.amount_fen, products.get(line.sku)) for line in body.lines),
    )
    report = Report(
        activity=purchase,
        region=store.region,
        measurements={
            "order_id": body.order_id,
            "store_id": str(store.id),
            "lines": [line.model_dump() for line in body.lines],
        },
        partner_id=facts.id,
        external_id=body.order_id,
        request_hash=hash_,
        fingerprint=body.fingerprint,
        user_id=body.user.user_id,
        member_ref=body.user.member_ref,
    )
    [outcome] = await award(request, session, [report])
    return single_response(outcome)


@router.post(
    "/refunds",
    operation_id="report_refund",
    status_code=201,
    response_model=RefundOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def report_refund(body: RefundIn, request: Request, session: SessionDep, partner: PurchaseWriter) -> Response:
    """The whole order or some of its lines returned: their base points and campaign bonus are reversed in
    proportion, pointing to the original entries; the balance may go negative. Idempotent on `refund_id`."""
    facts = await reporting_partner(request, session, partner)
    answer, replayed = await refunds.refund(
        session,
        partner_id=facts.id,
        body=body.model_dump(mode="json"),
        refund_id=body.refund_id,
        order_id=body.order_id,
        lines=[(line.sku, line.quantity) for line in body.lines] if body.lines else None,
        now=utcnow(),
    )
    return answer.response(replayed=replayed)
