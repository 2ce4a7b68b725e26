"""The banks' change feed: sequencing committed events, reading them by seq.

Events are written with no seq by the ledger's own statements (a trigger on
`entries`) and by revocations. Ids are drawn at insert, but transactions commit
in another order, so a reader paging by id could pass id 12 while id 11 is still
uncommitted and skip it for good. The seq is given only to committed rows, by one
sequencer at a time (see repositories.banks.sequence), so seq order is an order in
which rows became visible: a cursor never passes an event that later appears.
"""

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.webhooks import RETRY_FOR
from service.repositories import banks as repo


async def sequence_committed(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Sequence what has committed, in a short transaction of its own (committed before anyone reads)."""
    async with sessionmaker() as session, session.begin():
        return await repo.sequence(session, now=now, retry_for=RETRY_FOR)


def event_body(row: Any) -> dict[str, Any]:
    """One feed item, as the feed and the webhooks show it."""
    return {
        "seq": row.seq,
        "event_id": row.id,
        "link_id": str(row.link_id),
        "customer_ref": row.customer_ref,
        "kind": row.kind,
        "points": row.points,
        "carbon_g": row.carbon_g,
        "scenario": row.scenario,
        "posting_id": row.posting_id,
        "activity_id": str(row.activity_id) if row.activity_id else None,
        "occurred_at": row.occurred_at.isoformat(),
    }


def webhook_body(row: Any) -> bytes:
    kind = "link.revoked" if row.kind == "revocation" else "carbon_account.changed"
    return json.dumps({"type": kind, **event_body(row)}, ensure_ascii=False, separators=(",", ":")).encode()


async def read_changes(session: AsyncSession, *, bank_id: uuid.UUID, after_seq: int, limit: int) -> list[dict[str, Any]]:
    return [event_body(r) for r in await repo.changes(session, bank_id=bank_id, after_seq=after_seq, limit=limit)]
