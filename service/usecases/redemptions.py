"""Redeeming points: hold the points and one item of stock, then complete or cancel.

Everything happens under the citizen's account row lock (taken first), so the
balance checked is the balance spent from, and concurrent redemptions of one
citizen queue. Stock is taken by a conditional UPDATE, so concurrent
redemptions of the last items never take more than there is. A refusal raises,
and the request's transaction (with its Idempotency-Key claim) rolls back whole.
"""

import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain import ledger
from domain import redemption as rules
from domain.errors import OutOfStock
from domain.redemption import RedemptionStatus, RewardTerms
from service import audit, idempotency
from service.deps import after_commit
from service.idempotency import request_hash
from service.observability import LEDGER_POSTINGS
from service.problems import ProblemError
from service.repositories import ledger as ledger_repo
from service.repositories import lots as lots_repo
from service.repositories import rewards as repo

FULFILMENTS = ("generated", "pool", "manual")
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud at tills


def generate_code() -> str:
    groups = ("".join(secrets.choice(_CODE_ALPHABET) for _ in range(4)) for _ in range(3))
    return "TP-" + "-".join(groups)


def _gone() -> ProblemError:
    return ProblemError(401, "unauthorized", "this account no longer exists")


async def redeem(
    session: AsyncSession, *, user_id: uuid.UUID, idempotency_key: str, body: dict[str, Any], reward_id: uuid.UUID, now: datetime
) -> tuple[idempotency.StoredAnswer, bool]:
    """The answer (201 and the redemption) and whether it replays an earlier one."""
    scope = f"citizen:{user_id}:redemptions"
    replay = await idempotency.claim(
        session, scope=scope, key=idempotency_key, request_hash=request_hash("POST", "/v1/me/redemptions", body)
    )
    if replay is not None:
        return replay, True
    account = await lots_repo.lock_account(session, user_id)
    if account is None or account.erased:
        raise _gone()
    reward = await repo.get_reward(session, reward_id)
    if reward is None:
        raise ProblemError(404, "unknown_reward", f"no reward {reward_id}")
    terms = RewardTerms(reward.points, reward.stock, reward.active, reward.region, reward.valid_until)
    rules.check_redeemable(terms, balance=account.balance, citizen_region=account.region, now=now)
    if not await repo.take_stock(session, reward.id):
        raise OutOfStock("this reward is out of stock")
    redemption_id = uuid.uuid4()
    code: str | None = None
    if reward.fulfilment == "pool":
        code = await repo.take_code(session, reward.id, redemption_id, now)
        if code is None:
            raise OutOfStock("every code of this reward has been handed out")
    elif reward.fulfilment == "generated":
        code = generate_code()
    posting = rules.hold(user_id=str(user_id), points=reward.points, redemption_id=str(redemption_id), posted_at=now)
    ids = await ledger_repo.insert_posting(
        session, posting, ledger.account_delta(posting.kind, posting.citizen_points, 0), created_by=f"citizen:{user_id}"
    )
    await lots_repo.consume(session, user_id, ids.posting_id, reward.points)
    status = RedemptionStatus.HELD if reward.fulfilment == "manual" else RedemptionStatus.COMPLETED
    await repo.insert_redemption(
        session,
        redemption_id=redemption_id,
        user_id=user_id,
        reward_id=reward.id,
        points=reward.points,
        status=str(status),
        code=code,
        hold_posting_id=ids.posting_id,
        now=now,
    )
    stored = await repo.get_redemption(session, redemption_id)
    assert stored is not None
    answer = stored.public() | {"balance": ids.balance_after}
    after_commit(session, LEDGER_POSTINGS.labels(str(posting.kind)).inc)
    return await idempotency.store_answer(session, scope=scope, key=idempotency_key, status_code=201, body=answer), False


async def _locked(
    session: AsyncSession, redemption_id: uuid.UUID, user_id: uuid.UUID | None
) -> tuple[repo.RedemptionRow, lots_repo.LockedAccount]:
    """The redemption (the citizen's own when `user_id` is given), read again under its citizen's lock."""
    found = await repo.get_redemption(session, redemption_id, user_id=user_id)
    if found is None:
        raise ProblemError(404, "unknown_redemption", f"no redemption {redemption_id}")
    account = await lots_repo.lock_account(session, found.user_id)
    again = await repo.get_redemption(session, redemption_id)
    assert again is not None and account is not None
    return again, account


async def cancel(
    session: AsyncSession,
    redemption_id: uuid.UUID,
    *,
    now: datetime,
    user_id: uuid.UUID | None = None,
    admin_id: uuid.UUID | None = None,
) -> repo.RedemptionRow:
    """Release a held redemption: the points go back to the lots they came from (a debt run up
    meanwhile, by a refund, is repaid first), the item to stock. Cancelling again changes nothing."""
    found, account = await _locked(session, redemption_id, user_id)
    rules.next_status(found.status, RedemptionStatus.CANCELLED)  # only a held one moves on
    if found.status == RedemptionStatus.CANCELLED:
        return found
    posting = rules.release(user_id=str(found.user_id), points=found.points, redemption_id=str(found.id), posted_at=now)
    actor = f"admin:{admin_id}" if admin_id else f"citizen:{found.user_id}"
    ids = await ledger_repo.insert_posting(
        session, posting, ledger.account_delta(posting.kind, posting.citizen_points, 0), created_by=actor
    )
    await lots_repo.restore(
        session,
        found.user_id,
        taken_by=found.hold_posting_id,
        posting_id=ids.posting_id,
        balance_before=account.balance,
        points=found.points,
    )
    await repo.return_stock(session, found.reward_id)
    await repo.finish(session, found.id, status=str(RedemptionStatus.CANCELLED), now=now, release_posting_id=ids.posting_id)
    done = await repo.get_redemption(session, found.id)
    assert done is not None
    if admin_id is not None:
        await audit.record(
            session,
            actor_kind="admin",
            actor_id=admin_id,
            action="redemption.cancel",
            target_kind="redemption",
            target_id=str(found.id),
            before=found.public(),
            after=done.public(),
        )
    after_commit(session, LEDGER_POSTINGS.labels(str(posting.kind)).inc)
    return done


async def complete(
    session: AsyncSession, redemption_id: uuid.UUID, *, now: datetime, admin_id: uuid.UUID, code: str | None
) -> repo.RedemptionRow:
    """An operator fulfilled a held (manual) redemption: the points stay spent."""
    found, _ = await _locked(session, redemption_id, None)
    rules.next_status(found.status, RedemptionStatus.COMPLETED)  # only a held one moves on
    if found.status == RedemptionStatus.COMPLETED:
        return found
    await repo.finish(session, found.id, status=str(RedemptionStatus.COMPLETED), now=now, code=code)
    done = await repo.get_redemption(session, found.id)
    assert done is not None
    await audit.record(
        session,
        actor_kind="admin",
        actor_id=admin_id,
        action="redemption.complete",
        target_kind="redemption",
        target_id=str(found.id),
        before=found.public(),
        after=done.public(),
    )
    return done
