"""An administrator's points adjustment: idempotent, audited, one balanced posting."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain import ledger
from domain.calendar import lot_expiry
from domain.lots import credited_lot_points
from service import audit, idempotency
from service.deps import after_commit
from service.idempotency import request_hash
from service.observability import LEDGER_POSTINGS
from service.problems import ProblemError
from service.repositories import ledger as ledger_repo
from service.repositories import lots as lots_repo


async def post_adjustment(
    session: AsyncSession,
    *,
    admin_id: uuid.UUID,
    idempotency_key: str,
    body: dict[str, Any],
    user_id: uuid.UUID,
    points: int,
    reason: str,
    now: datetime,
) -> tuple[idempotency.StoredAnswer, bool]:
    """The answer (201 and the adjustment), and whether it is a replay of an earlier one."""
    scope = f"admin:{admin_id}:adjustments"
    replay = await idempotency.claim(
        session, scope=scope, key=idempotency_key, request_hash=request_hash("POST", "/v1/admin/adjustments", body)
    )
    if replay is not None:
        return replay, True
    account = await lots_repo.lock_account(session, user_id)
    if account is None:
        raise ProblemError(404, "unknown_user", f"no citizen {user_id}")
    posting = ledger.adjustment(user_id=str(user_id), points=points, reason=reason, posted_at=now)
    delta = ledger.account_delta(posting.kind, posting.citizen_points, posting.carbon_g)
    ids = await ledger_repo.insert_posting(session, posting, delta, created_by=f"admin:{admin_id}")
    # Credited points are earned points: a lot of their own (after any debt is repaid);
    # taken points leave the lots that expire first.
    if points > 0:
        await lots_repo.create(
            session,
            user_id,
            posting_id=ids.posting_id,
            earned_at=now,
            expires_at=lot_expiry(now),
            points=credited_lot_points(account.balance, points),
        )
    else:
        await lots_repo.consume(session, user_id, ids.posting_id, -points)
    answer = {
        "posting_id": ids.posting_id,
        "entry_id": ids.citizen_entry_id,
        "user_id": str(user_id),
        "points": points,
        "reason": posting.memo,
        "balance": ids.balance_after,
        "posted_at": now.isoformat(),
    }
    stored = await idempotency.store_answer(session, scope=scope, key=idempotency_key, status_code=201, body=answer)
    await audit.record(
        session,
        actor_kind="admin",
        actor_id=admin_id,
        action="adjustment.create",
        target_kind="citizen",
        target_id=str(user_id),
        after=answer,
    )
    after_commit(session, LEDGER_POSTINGS.labels(str(posting.kind)).inc)
    return stored, False
