"""Delivering the feed to banks as signed webhooks, from the outbox (`webhook_deliveries`).

Each round: sequence what committed (that creates the deliveries), lease the head
of each link (its lowest-seq pending delivery) that is due, and deliver them in
parallel, one stream per link, outside any transaction: each result is recorded
under its lease token, and after a success the link's next event is leased and
sent (up to STREAM_LIMIT a round). Per-link order holds because only a link's
head is ever leased: event n+1 waits until n is delivered (or dead-lettered). A dispatcher killed mid-delivery loses
nothing: its lease runs out and the delivery is tried again (at least once).
Failures back off exponentially with jitter for 24 hours, then dead-letter; an
administrator can replay a dead letter.
"""

import asyncio
import logging
import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.webhooks import RETRY_FOR, next_attempt
from integrations.banks.client import DeliveryResult, WebhookSender
from service.usecases.bank_feed import sequence_committed, webhook_body

log = logging.getLogger(__name__)

_ALL_HEADS = """
    WITH heads AS (
        SELECT DISTINCT ON (link_id) event_id, next_attempt_at, leased_until
        FROM webhook_deliveries WHERE status = 'pending' ORDER BY link_id, seq
    )"""

_HEAD_OF_LINK = """
    WITH heads AS (
        SELECT event_id, next_attempt_at, leased_until
        FROM webhook_deliveries WHERE status = 'pending' AND link_id = :link ORDER BY seq LIMIT 1
    )"""

_LEASE_DUE_HEADS = """
    , due AS (
        SELECT event_id FROM heads
        WHERE next_attempt_at <= :now AND (leased_until IS NULL OR leased_until <= :now)
        ORDER BY next_attempt_at LIMIT :limit
    ), claimed AS (
        UPDATE webhook_deliveries d SET leased_until = :lease_until, lease_token = :token
        FROM due
        WHERE d.event_id = due.event_id AND d.status = 'pending' AND (d.leased_until IS NULL OR d.leased_until <= :now)
        RETURNING d.event_id, d.attempts, d.deadline_at
    )
    SELECT c.event_id, c.attempts, c.deadline_at, p.webhook_url, p.webhook_secret,
           e.seq, e.id, e.link_id, l.customer_ref, e.kind, e.points, e.carbon_g, e.scenario, e.posting_id,
           e.activity_id, e.occurred_at
    FROM claimed c
    JOIN bank_events e ON e.id = c.event_id
    JOIN bank_links l ON l.id = e.link_id
    JOIN partners p ON p.id = e.partner_id
    """

_CLAIM = text(_ALL_HEADS + _LEASE_DUE_HEADS)
_CLAIM_NEXT_OF_LINK = text(_HEAD_OF_LINK + _LEASE_DUE_HEADS)
STREAM_LIMIT = 100
"""Deliveries one link may make in a round before the others' new events get their turn."""

_DELIVERED = text(
    """
    UPDATE webhook_deliveries SET status = 'delivered', delivered_at = :now, attempts = attempts + 1,
        last_status = :status, last_error = NULL, leased_until = NULL, lease_token = NULL
    WHERE event_id = :id AND lease_token = :token AND status = 'pending'
    """
)

_FAILED = text(
    """
    UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = :status, last_error = :error,
        leased_until = NULL, lease_token = NULL,
        status = CASE WHEN CAST(:next AS timestamptz) IS NULL THEN 'dead' ELSE 'pending' END,
        dead_at = CASE WHEN CAST(:next AS timestamptz) IS NULL THEN CAST(:now AS timestamptz) END,
        next_attempt_at = coalesce(CAST(:next AS timestamptz), next_attempt_at)
    WHERE event_id = :id AND lease_token = :token AND status = 'pending'
    """
)


class Dispatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        sender: WebhookSender,
        *,
        clock: Callable[[], datetime],
        jitter: Callable[[], float] = random.random,
        lease: timedelta = timedelta(seconds=60),
        batch: int = 50,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.sender = sender
        self.clock = clock
        self.jitter = jitter
        self.lease = lease
        self.batch = batch

    async def run_once(self) -> int:
        """One round; how many deliveries were attempted."""
        now = self.clock()
        await sequence_committed(self.sessionmaker, now)
        token = uuid.uuid4()
        async with self.sessionmaker() as session, session.begin():
            claimed = list(
                await session.execute(_CLAIM, {"now": now, "lease_until": now + self.lease, "token": token, "limit": self.batch})
            )
        if not claimed:
            return 0
        done = await asyncio.gather(*(self._stream(row, token) for row in claimed))
        return sum(done)

    async def _stream(self, row: Any, token: uuid.UUID) -> int:
        """Deliver the link's head, then, while the bank takes them, the link's next events in seq
        order, each leased before it is sent. Stops at the first failure (it backs off)."""
        attempted = 0
        while row is not None and attempted < STREAM_LIMIT:
            attempted += 1
            if not await self._deliver(row, token):
                break
            row = await self._claim_next(row.link_id, token)
        return attempted

    async def _claim_next(self, link_id: uuid.UUID, token: uuid.UUID) -> Any:
        now = self.clock()
        params = {"link": link_id, "now": now, "lease_until": now + self.lease, "token": token, "limit": 1}
        async with self.sessionmaker() as session, session.begin():
            return (await session.execute(_CLAIM_NEXT_OF_LINK, params)).first()

    async def drain(self, *, max_rounds: int = 10_000) -> int:
        """Rounds until nothing is due (tests, `tanpu webhooks dispatch --once`)."""
        total = 0
        for _ in range(max_rounds):
            done = await self.run_once()
            if not done:
                break
            total += done
        return total

    async def _deliver(self, row: Any, token: uuid.UUID) -> bool:
        sent_at = self.clock()
        if not row.webhook_url or not row.webhook_secret:
            result = DeliveryResult(False, error="the bank has no webhook URL any more")
        else:
            result = await self.sender.deliver(
                url=row.webhook_url,
                secret=row.webhook_secret,
                event_id=str(row.event_id),
                body=webhook_body(row),
                timestamp=int(sent_at.timestamp()),
            )
        now = self.clock()
        async with self.sessionmaker() as session, session.begin():
            if result.ok:
                recorded = await session.execute(
                    _DELIVERED, {"now": now, "status": result.status_code, "id": row.event_id, "token": token}
                )
                # a lease that ran out meanwhile belongs to another dispatcher now: leave the link to it
                return bool(getattr(recorded, "rowcount", 0))
            retry_at = next_attempt(failed_at=now, attempts=row.attempts + 1, deadline=row.deadline_at, jitter=self.jitter())
            await session.execute(
                _FAILED,
                {
                    "now": now,
                    "status": result.status_code,
                    "error": result.error,
                    "next": retry_at,
                    "id": row.event_id,
                    "token": token,
                },
            )
        if retry_at is None:
            log.warning("webhook dead-lettered", extra={"event_id": row.event_id, "error": result.error})
        return False


async def replay(session: AsyncSession, event_id: int, *, now: datetime) -> dict[str, Any] | None:
    """A dead letter back in the queue, due now, with a fresh 24-hour window; None if it is not dead."""
    row = (
        await session.execute(
            text(
                """
                UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = :now,
                    deadline_at = :deadline, dead_at = NULL, leased_until = NULL, lease_token = NULL
                WHERE event_id = :id AND status = 'dead'
                RETURNING event_id, partner_id, link_id, seq, status, next_attempt_at
                """
            ),
            {"now": now, "deadline": now + RETRY_FOR, "id": event_id},
        )
    ).first()
    return dict(row._mapping) if row else None


async def deliveries(session: AsyncSession, *, status: str | None, limit: int, before: int | None = None) -> list[dict[str, Any]]:
    """Newest first; `before`: only older than that event."""
    rows = await session.execute(
        text(
            """
            SELECT event_id, partner_id, link_id, seq, status, attempts, next_attempt_at, deadline_at, last_status,
                   last_error, delivered_at, dead_at, created_at
            FROM webhook_deliveries
            WHERE (CAST(:s AS text) IS NULL OR status = :s) AND (CAST(:before AS bigint) IS NULL OR event_id < :before)
            ORDER BY event_id DESC LIMIT :limit
            """
        ),
        {"s": status, "limit": limit, "before": before},
    )
    return [dict(r._mapping) for r in rows]


async def delivery_exists(session: AsyncSession, event_id: int) -> bool:
    row = (await session.execute(text("SELECT 1 FROM webhook_deliveries WHERE event_id = :id"), {"id": event_id})).first()
    return row is not None


async def run_standalone(settings: Any, *, once: bool) -> int:
    """`tanpu webhooks dispatch`: the dispatcher on its own engine, until stopped (or one drain with `once`)."""
    from integrations.banks.client import WebhookClient
    from service.clock import utcnow
    from service.database import create_engine, create_sessionmaker
    from service.jobs import WebhookWorker

    engine = create_engine(settings.database_url, pool_size=4)
    client = WebhookClient(allow_insecure=settings.webhooks_insecure_ok)
    dispatcher = Dispatcher(create_sessionmaker(engine), client, clock=utcnow, lease=timedelta(seconds=settings.webhook_lease_s))
    try:
        if once:
            return await dispatcher.drain()
        await WebhookWorker(dispatcher).run_forever()
        return 0
    finally:
        await client.aclose()
        await engine.dispose()
