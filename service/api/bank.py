"""The bank's side (partner tokens with scope `bank`): link a customer, read the carbon account,
pull the change feed, post the bank's own green behaviours, daily statements and reconciliation."""

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from domain import statements
from domain.activities import BankAction
from service.api.activities import answer_before_refusing, award, reporting_partner, single_response
from service.api.bank_schemas import (
    BankAccountOut,
    BankActivityIn,
    ChangeOut,
    ChangesPage,
    LinkIn,
    LinkOut,
    ReconcileIn,
    ReconciliationOut,
    StatementOut,
)
from service.api.me import level_view
from service.api.schemas import ActivityOut
from service.auth.deps import PartnerPrincipal, partner_with_scope
from service.clock import utcnow
from service.deps import SessionDep
from service.idempotency import REPLAYED_HEADER, request_hash
from service.pagination import CursorQuery, LimitQuery, capped, decode_cursor, encode_cursor
from service.problems import ProblemError, problem_responses
from service.repositories import ledger as ledger_repo
from service.usecases import bank_feed, bank_links, bank_statements
from service.usecases.award_pipeline import Report

router = APIRouter(prefix="/v1/bank", tags=["bank"])

BankToken = Annotated[PartnerPrincipal, Depends(partner_with_scope("bank"))]


async def active_bank(request: Request, session: SessionDep, token: BankToken) -> PartnerPrincipal:
    """A bank's token, refused (401) once the bank is disabled, like every partner's."""
    await reporting_partner(request, session, token)
    return token


Bank = Annotated[PartnerPrincipal, Depends(active_bank)]


@router.post(
    "/links",
    operation_id="link_bank_customer",
    status_code=201,
    response_model=LinkOut,
    responses=problem_responses(401, 403, 404, 409, 410, 422),
)
async def link_customer(body: LinkIn, session: SessionDep, bank: Bank) -> Response:
    """Present a citizen's link code with the bank's customer reference; the same code and reference again replay the link."""
    answer, replayed = await bank_links.accept_link_code(
        session, bank_id=bank.partner_id, code=body.link_code, customer_ref=body.customer_ref, now=utcnow()
    )
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return Response(
        LinkOut.model_validate(answer).model_dump_json(), status_code=201, media_type="application/json", headers=headers
    )


@router.get(
    "/links/{link_id}/account",
    operation_id="get_linked_account",
    response_model=BankAccountOut,
    responses=problem_responses(401, 403, 404),
)
async def linked_account(link_id: uuid.UUID, session: SessionDep, bank: Bank) -> BankAccountOut:
    """The linked customer's carbon account: carbon saved in total and by scenario, points, level, as of now."""
    link = await bank_links.bank_link(session, bank_id=bank.partner_id, link_id=link_id, scope="account:read")
    # one statement, one snapshot: the totals, the split by scenario and the level agree
    account = await ledger_repo.account_view(session, link.user_id, horizon=utcnow())
    if account is None:
        raise ProblemError(403, "consent_revoked", "the customer's account no longer exists")
    return BankAccountOut(
        link_id=link.id,
        customer_ref=link.customer_ref,
        carbon_g_total=account.carbon_g_total,
        carbon_g_by_scenario=account.carbon_g_by_scenario,
        balance=account.balance,
        lifetime_earned=account.lifetime_earned,
        level=level_view(account.carbon_g_total, account.levels),
        as_of=account.updated_at,
    )


@router.get("/changes", operation_id="list_bank_changes", response_model=ChangesPage, responses=problem_responses(401, 403, 422))
async def changes(
    request: Request, session: SessionDep, bank: Bank, cursor: CursorQuery = None, limit: LimitQuery = 100
) -> ChangesPage:
    """The change feed of the bank's linked customers, ordered by seq, at least once: resume from `next_cursor`.
    Events that committed are never skipped, whatever order concurrent transactions committed in."""
    after = decode_cursor(cursor) or 0
    if not 0 <= after < 2**62:
        raise ProblemError(422, "invalid_cursor", "the cursor is not one this API gave out")
    await bank_feed.sequence_committed(request.app.state.sessionmaker, utcnow())
    page_size = capped(limit)
    items = await bank_feed.read_changes(session, bank_id=bank.partner_id, after_seq=after, limit=page_size + 1)
    more = len(items) > page_size
    items = items[:page_size]
    last = items[-1]["seq"] if items else after
    return ChangesPage(items=[ChangeOut.model_validate(i) for i in items], next_cursor=encode_cursor(last), has_more=more)


@router.post(
    "/activities",
    operation_id="report_bank_activity",
    status_code=201,
    response_model=ActivityOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def report_activity(body: BankActivityIn, request: Request, session: SessionDep, bank: Bank) -> Response:
    """One of the bank's green behaviours for a linked customer (who consented to activities:write),
    awarded through the same pipeline, daily cap and campaigns as every activity. Idempotent on external_id."""
    facts = await reporting_partner(request, session, bank)
    hash_ = request_hash("POST", "bank/activities", body.model_dump(mode="json"))
    try:
        link = await bank_links.bank_link(session, bank_id=bank.partner_id, link_id=body.link_id, scope="activities:write")
    except ProblemError as refusal:  # revoked since: a retry still gets its original answer
        return await answer_before_refusing(session, facts.id, body.external_id, hash_, refusal)
    report = Report(
        activity=BankAction(behaviour=body.behaviour, quantity=body.quantity, at=body.occurred_at),
        region=facts.region,
        measurements={"behaviour": body.behaviour, "quantity": body.quantity, "link_id": str(link.id)},
        partner_id=facts.id,
        external_id=body.external_id,
        request_hash=hash_,
        fingerprint=body.fingerprint,
        user_id=link.user_id,
    )
    [outcome] = await award(request, session, [report])
    return single_response(outcome)


@router.get(
    "/statements/{date}",
    operation_id="get_bank_statement",
    response_model=StatementOut,
    responses=problem_responses(401, 403, 422),
)
async def get_statement(date: dt.date, session: SessionDep, bank: Bank) -> Any:
    """The day's entries (Asia/Shanghai) of the bank's linked customers, with counts, sums by kind and a SHA-256 digest."""
    now = utcnow()
    s = await bank_statements.statement(session, bank_id=bank.partner_id, day=date, now=now)
    return bank_statements.statement_answer(s, now=now)


@router.post(
    "/statements/{date}/reconcile",
    operation_id="reconcile_bank_statement",
    response_model=ReconciliationOut,
    responses=problem_responses(401, 403, 422),
)
async def reconcile(date: dt.date, body: ReconcileIn, session: SessionDep, bank: Bank) -> Any:
    """The bank's totals for the day against ours: the differences, and which entries either side lacks."""
    s = await bank_statements.statement(session, bank_id=bank.partner_id, day=date, now=utcnow())
    theirs = statements.BankTotals(
        count=body.count,
        points=body.points,
        carbon_g=body.carbon_g,
        by_kind={k: statements.KindTotal(v.count, v.points, v.carbon_g) for k, v in body.by_kind.items()}
        if body.by_kind
        else None,
        digest=body.digest,
        posting_ids=body.posting_ids,
    )
    return bank_statements.reconciliation_answer(s, statements.reconcile(s, theirs))
