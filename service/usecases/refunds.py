"""A merchant's refund: idempotent on refund_id, reversing the refunded lines' base and bonus points.

One transaction: find the merchant's own order, claim the refund id, hold the
citizen's account row (refunds and awards of one citizen take turns), plan the
reversals in the domain, then write the reversal postings (pointing to the
originals), take the points back from the lots, return the bonus to its
campaign's budget and the citizen's cap, give the base points' room back under
the day's cap, and store the exact answer. A refund may leave the balance
negative (product.md); later earnings repay it first.
"""

import functools
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain import ledger
from domain.activities import Purchase
from domain.calendar import local_day
from domain.errors import DomainError
from domain.ledger import EntryKind
from domain.refunds import RefundRefused, plan
from service import leaderboards
from service.deps import after_commit
from service.idempotency import StoredAnswer, request_hash
from service.observability import LEDGER_POSTINGS
from service.problems import ProblemError
from service.repositories import ledger as ledger_repo
from service.repositories import lots
from service.repositories import refunds as repo

STATUS = {"refund_exceeds_purchase": 409, "unknown_order_line": 422}


def _refused(exc: DomainError) -> ProblemError:
    return ProblemError(STATUS.get(exc.code, 409), exc.code, exc.detail)


async def refund(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    body: dict[str, Any],
    refund_id: str,
    order_id: str,
    lines: list[tuple[str, int]] | None,
    now: datetime,
) -> tuple[StoredAnswer, bool]:
    """The answer (201 and what was reversed) and whether it replays an earlier one."""
    hashed = request_hash("POST", "refunds", body)
    stored = await repo.stored_refund(session, partner_id, refund_id)
    if stored is not None and stored.status_code:
        return _replay(stored, hashed), True
    order = await repo.find_order(session, partner_id, order_id)
    if order is None:
        raise ProblemError(404, "unknown_order", f"no order {order_id} of this merchant")
    if not await repo.claim(
        session, partner_id=partner_id, refund_id=refund_id, order=order, order_id=order_id, request_hash=hashed
    ):
        # a concurrent request with the same refund_id committed first: answer as it did
        stored = await repo.stored_refund(session, partner_id, refund_id)
        assert stored is not None
        return _replay(stored, hashed), True
    await lots.lock_account(session, order.user_id)  # refunds of one citizen take turns, with awards too
    bought = {line["sku"]: int(line["quantity"]) for line in order.lines}
    before = await repo.refunded_before(session, order)
    postings, memos, reversed_carbon = await repo.order_postings(session, order)
    try:
        refund_plan = plan(bought, before, lines, postings, memos, reversed_carbon)
    except RefundRefused as exc:
        raise _refused(exc) from None
    reversals = [
        ledger.reversal(
            t.original,
            citizen_points=t.points,
            carbon_g=t.carbon_g,
            posted_at=now,
            memo=f"refund {refund_id} {memos[t.original.id]}",
        )
        for t in refund_plan.takes
    ]
    deltas = [
        ledger.account_delta(r.kind, r.citizen_points, r.carbon_g, reversed_kind=t.original.kind)
        for r, t in zip(reversals, refund_plan.takes, strict=True)
    ]
    ids = await ledger_repo.insert_postings(session, reversals, deltas, created_by=f"partner:{partner_id}", now=now)
    # the points taken back leave the lots (the reversed posting's own lot first); past what the lots
    # hold, the balance goes negative and later earnings repay it before they make new lots
    own_lot = await repo.lots_of(session, order.user_id, [t.original.id for t in refund_plan.takes])
    for t, posted in zip(refund_plan.takes, ids, strict=True):
        await lots.consume(session, order.user_id, posted.posting_id, t.points, first_lot_id=own_lot.get(t.original.id))
    if reversals:
        carbon_back = sum(r.carbon_g for r in reversals)
        leaderboards.record_after_commit(
            session, [leaderboards.Gain(str(order.user_id), order.region, order.occurred_at, carbon_back)]
        )
    bonus_back: dict[str, int] = {}
    for t in refund_plan.takes:
        if t.original.kind is EntryKind.BONUS and t.original.campaign_id is not None:
            bonus_back[t.original.campaign_id] = bonus_back.get(t.original.campaign_id, 0) + t.points
    await repo.give_back_campaign_spend(session, order.user_id, bonus_back)
    base = refund_plan.points_by_sku(EntryKind.AWARD)
    bonus = refund_plan.points_by_sku(EntryKind.BONUS)
    await repo.give_back_daily_room(session, order.user_id, local_day(order.occurred_at), Purchase.family, sum(base.values()))
    carbon = {sku: 0 for sku in refund_plan.quantities}
    for t in refund_plan.takes:
        carbon[t.sku] += t.carbon_g
    answer = {
        "refund_id": refund_id,
        "order_id": order_id,
        "activity_id": str(order.activity_id),
        "lines": [
            {
                "sku": sku,
                "quantity": qty,
                "refunded_quantity": before.get(sku, 0) + qty,
                "bought_quantity": bought[sku],
                "carbon_g_reversed": carbon[sku],
                "points_reversed": base[sku],
                "bonus_points_reversed": bonus[sku],
            }
            for sku, qty in refund_plan.quantities.items()
        ],
        "carbon_g_reversed": sum(carbon.values()),
        "points_reversed": sum(base.values()),
        "bonus_points_reversed": sum(bonus.values()),
        "posting_ids": [i.posting_id for i in ids],
        "refunded_at": now.isoformat(),
    }
    text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
    await repo.record(
        session,
        partner_id=partner_id,
        refund_id=refund_id,
        order=order,
        quantities=dict(refund_plan.quantities),
        status_code=201,
        response=text,
    )
    if reversals:
        after_commit(session, functools.partial(LEDGER_POSTINGS.labels("reversal").inc, len(reversals)))
    return StoredAnswer(201, text), False


def _replay(stored: repo.StoredRefund, hashed: str) -> StoredAnswer:
    if stored.request_hash != hashed:
        raise ProblemError(409, "idempotency_conflict", "this refund_id was already used with a different request")
    return StoredAnswer(stored.status_code, stored.response)
