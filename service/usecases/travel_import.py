"""Importing a partner's NDJSON file of trips, of any size.

Receiving streams the body into chunks of CHUNK_LINES lines stored in
PostgreSQL (any instance can then process them; nothing is held in memory
whole, nothing lives on one machine's disk). Processing awards one chunk per
transaction through the award pipeline and records the chunk as done in that
same transaction, so a killed import resumes where it stopped; every line is
also idempotent on its external_id, so no line is ever awarded twice.

Processing starts with the first stored chunk, while the rest of the body is
still arriving (status `receiving`): a worker awards what is there and lets
the import go when it runs out, to take it again when more arrives, so a slow
upload never holds a worker that other imports wait for. An upload that fails
half-way leaves the import `failed` with the lines it had awarded counted; its
other chunks are dropped, and sending the file again awards only the rest.
"""

import asyncio
import enum
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.methodology import Methodology
from service import compact_json
from service.api.schemas import TravelIn
from service.clock import utcnow
from service.deps import commit
from service.directory import PartnerFacts
from service.problems import is_database_outage
from service.usecases.award_pipeline import Outcome, Report, award_reports
from service.usecases.reports import travel_report

log = logging.getLogger(__name__)

CHUNK_LINES = 1000
# An upload not heard from for this long has lost its sender (a chunk is ~200 KB: this is
# a link slower than 250 bytes a second): `fail_silent_uploads` fails it. The upload says it is
# alive at most every HEARTBEAT, not at every chunk: the import's row is also where the workers
# count, and a write per chunk there made the two wait on each other.
UPLOAD_SILENCE = timedelta(minutes=15)
HEARTBEAT = timedelta(seconds=30)
MAX_LINE_BYTES = 64 * 1024
MAX_STORED_ERRORS = 1000

_travel = TypeAdapter(TravelIn)


class ImportTooLarge(Exception):
    pass


@dataclass(frozen=True)
class Line:
    number: int
    text: str | None
    """None: the line was too long or not UTF-8; it is reported, never parsed."""


class Step(enum.Enum):
    """What one call of `process_chunk` did."""

    AWARDED = "awarded"
    """a chunk was awarded"""
    WAITING = "waiting"
    """no chunk yet, but the upload is still arriving"""
    FINISHED = "finished"
    """no chunk left to take, or the import is done or failed"""


async def split_lines(stream: AsyncIterator[bytes], *, max_bytes: int) -> AsyncIterator[Line]:
    """NDJSON lines of a byte stream, numbered from 1, without holding more than one line.
    Each piece is scanned once from a moving offset: cutting the line off the front of the
    piece instead copied its rest at every line, quadratic in the piece's size (a 1 MiB piece
    cost ~15 us a line against ~2)."""
    buffer = b""  # the start of a line that continues in the next piece
    number = 0
    total = 0
    skipping = False  # inside a line already reported as too long
    async for piece in stream:
        total += len(piece)
        if total > max_bytes:
            raise ImportTooLarge(f"an import is at most {max_bytes} bytes")
        start = 0
        while (cut := piece.find(b"\n", start)) >= 0:
            raw = buffer + piece[start:cut] if buffer else piece[start:cut]
            buffer = b""
            start = cut + 1
            if skipping:
                skipping = False
                continue
            number += 1
            yield _decode(number, raw)
        if skipping:
            continue
        buffer += piece[start:]
        if len(buffer) > MAX_LINE_BYTES:
            number += 1
            skipping = True
            buffer = b""
            yield Line(number, None)
    if buffer.strip() and not skipping:
        yield _decode(number + 1, buffer)


def _decode(number: int, raw: bytes) -> Line:
    if len(raw) > MAX_LINE_BYTES:
        return Line(number, None)
    try:
        return Line(number, raw.decode("utf-8").strip())
    except UnicodeDecodeError:
        return Line(number, None)


async def receive(
    sessionmaker: async_sessionmaker[AsyncSession],
    partner_id: uuid.UUID,
    stream: AsyncIterator[bytes],
    *,
    max_bytes: int,
    hold_for: timedelta | None = None,
    on_chunk: Callable[[], None] | None = None,
) -> uuid.UUID:
    """Store the file as chunks (a transaction each) and queue it; a failed upload is marked failed.
    `hold_for`: the caller will process it itself, so it keeps the lease and no worker takes it.
    `on_chunk`: called once a chunk is stored (a worker may start on it at once)."""
    import_id = uuid.uuid4()
    heard = utcnow()
    async with sessionmaker() as session:
        await session.execute(
            text(
                "INSERT INTO imports (id, partner_id, status, lease_until, received_at) "
                "VALUES (:id, :p, 'receiving', CAST(:lease AS timestamptz), :now)"
            ),
            {"id": import_id, "p": partner_id, "lease": heard + hold_for if hold_for is not None else None, "now": heard},
        )
        await session.commit()
        seq = lines_total = 0
        batch: list[Line] = []
        try:
            async for line in split_lines(stream, max_bytes=max_bytes):
                lines_total = line.number
                batch.append(line)
                if len(batch) == CHUNK_LINES:
                    if utcnow() - heard >= HEARTBEAT:
                        heard = utcnow()
                        await session.execute(
                            text("UPDATE imports SET received_at = :now WHERE id = :id"), {"now": heard, "id": import_id}
                        )
                    await _store_chunk(session, import_id, seq, batch)
                    seq += 1
                    batch = []
                    if on_chunk is not None:
                        on_chunk()
            if batch:
                await _store_chunk(session, import_id, seq, batch)
                seq += 1
        except BaseException:
            await session.rollback()
            # a worker may be on one chunk: this waits for it, and its count stays
            await session.execute(
                text("UPDATE imports SET status = 'failed', finished_at = now() WHERE id = :id"), {"id": import_id}
            )
            await session.execute(text("DELETE FROM import_chunks WHERE import_id = :id"), {"id": import_id})
            await session.commit()
            raise
        # A worker may already be on it (its lease is live): then it is processing, not queued.
        now = utcnow()
        await session.execute(
            text(
                "UPDATE imports SET status = CASE WHEN :chunks = 0 THEN 'done' "
                "WHEN :held OR lease_until > CAST(:now AS timestamptz) THEN 'processing' ELSE 'queued' END, "
                "chunks_total = :chunks, lines_total = :lines, "
                "lease_until = CASE WHEN :held THEN CAST(:lease AS timestamptz) ELSE lease_until END, "
                "finished_at = CASE WHEN :chunks = 0 THEN now() END WHERE id = :id"
            ),
            {
                "chunks": seq,
                "lines": lines_total,
                "id": import_id,
                "held": hold_for is not None,
                "now": now,
                "lease": now + hold_for if hold_for is not None else None,
            },
        )
        await session.commit()
    return import_id


async def _store_chunk(session: AsyncSession, import_id: uuid.UUID, seq: int, lines: Sequence[Line]) -> None:
    # Lines that could not be read travel as JSON null, so their numbers are kept for the error report.
    payload = compact_json.dumps([[line.number, line.text] for line in lines])
    await session.execute(
        text(
            "INSERT INTO import_chunks (import_id, seq, first_line, lines, received_at) "
            "VALUES (:id, :seq, :first, :lines, :received_at)"
        ),
        {"id": import_id, "seq": seq, "first": lines[0].number, "lines": payload, "received_at": utcnow()},
    )
    await session.commit()


def _line_error(number: int, code: str, detail: str) -> dict[str, Any]:
    return {"line": number, "code": code, "detail": detail}


def _parse(number: int, line: str | None, partner: PartnerFacts) -> Report | dict[str, Any]:
    if line is None:
        return _line_error(number, "unreadable_line", f"not UTF-8 or longer than {MAX_LINE_BYTES} bytes")
    try:
        item = _travel.validate_json(line)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "line"
        return _line_error(number, "validation_error", f"{where}: {first['msg']}")
    return travel_report(item, partner)


async def _award_chunk(
    session: AsyncSession,
    reports: list[Report],
    *,
    methodologies: Sequence[Methodology],
    now: datetime,
    reported_at: datetime,
    isolated: bool,
) -> list[Outcome | None]:
    """The chunk's outcomes; None for a line that failed to award. A line the pipeline cannot take
    (a bug, or input that validation let through) must not hold back its chunk: retried as it is,
    the chunk would fail again at every lease, and the import would never finish. So on such a
    failure the lines are awarded one by one (the ones the failed attempt committed replay their
    answers), and only the failing line is reported. A database outage is not such a failure:
    it propagates, and the chunk is retried once the database is back. Nor is a failure inside the
    caller's transaction (not `isolated`): that may be aborted, and every line would fail after it."""
    try:
        return list(await award_reports(session, reports, methodologies=methodologies, now=now, reported_at=reported_at))
    except Exception as exc:
        if is_database_outage(exc) or not isolated:
            raise
        log.exception("a chunk failed to award; awarding its lines one by one")
    outcomes: list[Outcome | None] = []
    for report in reports:
        try:
            [outcome] = await award_reports(session, [report], methodologies=methodologies, now=now, reported_at=reported_at)
        except Exception as exc:
            if is_database_outage(exc):
                raise
            log.exception("a line failed to award", extra={"external_id": report.external_id})
            outcome = None
        outcomes.append(outcome)
    return outcomes


async def process_chunk(
    session: AsyncSession,
    import_id: uuid.UUID,
    partner: PartnerFacts,
    *,
    methodologies: Sequence[Methodology],
    now: datetime,
    lease: timedelta = timedelta(seconds=60),
    award_session: AsyncSession | None = None,
) -> Step:
    """Award a chunk nobody else is on and record it done, in the session's one transaction.
    AWARDED when it did; WAITING when none is there yet but more are arriving; FINISHED when
    none is left to take (or the import is failed or done). Each chunk renews the lease.

    With `award_session` (a second connection, in autocommit) the awards commit in rounds
    while `session` keeps the chunk: a crash between the two replays the chunk, and every
    line replays its stored answer, so no line is awarded twice and the counts stay true.
    Without it, the awards run inside `session`'s transaction, holding their citizens' locks.

    Several of these may run at once for one import (SKIP LOCKED hands each its own chunk);
    they meet only on the import's counters, updated last, just before each commits."""
    status = await session.scalar(text("SELECT status FROM imports WHERE id = :id"), {"id": import_id})
    if status not in ("receiving", "queued", "processing"):
        return Step.FINISHED
    chunk = (
        await session.execute(
            text(
                "SELECT seq, lines, received_at FROM import_chunks WHERE import_id = :id "
                "ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED"
            ),
            {"id": import_id},
        )
    ).first()
    if chunk is None:
        if status == "receiving":
            return Step.WAITING
        left = await session.scalar(text("SELECT count(*) FROM import_chunks WHERE import_id = :id"), {"id": import_id})
        if left == 0:  # the last one is done (not merely taken by another worker)
            await session.execute(
                text(
                    "UPDATE imports SET status = 'done', finished_at = :now WHERE id = :id AND status IN ('queued', 'processing')"
                ),
                {"id": import_id, "now": now},
            )
        return Step.FINISHED
    errors: list[dict[str, Any]] = []
    reports: list[Report] = []
    numbers: list[int] = []
    lines = orjson.loads(chunk.lines)
    for number, line in lines:
        if line == "":
            continue  # blank lines separate nothing in NDJSON; they are not errors
        parsed = _parse(number, line, partner)
        if isinstance(parsed, dict):
            errors.append(parsed)
        else:
            reports.append(parsed)
            numbers.append(number)
    tally = {"awarded": 0, "capped": 0, "rejected": 0, "duplicate": 0}
    # judged as of its arrival: a file that waited in the queue, or resumed after a crash, is not older for it
    outcomes = await _award_chunk(
        award_session or session,
        reports,
        methodologies=methodologies,
        now=now,
        reported_at=min(chunk.received_at, now),
        isolated=award_session is not None,
    )
    for number, outcome in zip(numbers, outcomes, strict=True):
        if outcome is None:
            errors.append(_line_error(number, "internal_error", "this line could not be awarded; the operators have its log"))
        elif outcome.problem is not None:
            errors.append(_line_error(number, outcome.problem.code, outcome.problem.detail or outcome.problem.title))
        else:
            tally[outcome.status] += 1
    await session.execute(
        text(
            """
            UPDATE imports SET
                chunks_done = chunks_done + 1,
                lines_done = lines_done + :lines,
                awarded = awarded + :awarded, capped = capped + :capped, rejected = rejected + :rejected,
                duplicates = duplicates + :duplicate, failed = failed + :failed,
                errors = CASE WHEN jsonb_array_length(errors) >= :max_errors THEN errors
                              ELSE errors || CAST(:errors AS jsonb) END,
                status = CASE WHEN status = 'queued' THEN 'processing' ELSE status END, lease_until = :lease
            WHERE id = :id
            """
        ),
        {
            "lines": len(lines),
            **tally,
            "failed": len(errors),
            "errors": compact_json.dumps(errors[:MAX_STORED_ERRORS]),
            "max_errors": MAX_STORED_ERRORS,
            "lease": now + lease,
            "id": import_id,
        },
    )
    await session.execute(
        text("DELETE FROM import_chunks WHERE import_id = :id AND seq = :seq"), {"id": import_id, "seq": chunk.seq}
    )
    return Step.AWARDED


async def run(
    sessionmaker: async_sessionmaker[AsyncSession],
    import_id: uuid.UUID,
    partner: PartnerFacts,
    *,
    methodologies: Callable[[AsyncSession], Any],
    clock: Callable[[], datetime],
    lease: timedelta = timedelta(seconds=60),
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> bool:
    """Process chunks until none is left, `workers` at a time (each chunk its own transaction):
    while one waits on PostgreSQL, another evaluates. An import still being received is let go
    when its stored chunks run out (lease cleared): `claim_next` hands it out again once more
    have arrived, and a slow upload never holds the worker. True when it was let go so."""

    async def worker() -> Step:
        while True:
            async with sessionmaker() as session, sessionmaker() as awards:
                step = await process_chunk(
                    session,
                    import_id,
                    partner,
                    methodologies=await methodologies(session),
                    now=clock(),
                    lease=lease,
                    award_session=awards,
                )
                await commit(awards)
                await commit(session)
            if step is not Step.AWARDED:
                return step
            if progress is not None:
                progress(1)

    waited = Step.WAITING in await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    if waited:  # let it go; the upload may also have ended meanwhile, with chunks that are nobody's yet
        async with sessionmaker() as session:
            await session.execute(
                text("UPDATE imports SET lease_until = NULL WHERE id = :id AND status IN ('receiving', 'queued', 'processing')"),
                {"id": import_id},
            )
            await session.commit()
    return waited


async def fail_silent_uploads(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime, silence: timedelta = UPLOAD_SILENCE
) -> list[uuid.UUID]:
    """Imports still `receiving` that stored nothing for `silence`: their sender died (a killed
    process; a cut upload that was not seen to fail). They end as a cut upload does: `failed`,
    with what was awarded counted and the chunks not yet awarded dropped."""
    async with sessionmaker() as session:
        failed = list(
            (
                await session.scalars(
                    text(
                        "UPDATE imports SET status = 'failed', finished_at = :now "
                        "WHERE status = 'receiving' AND received_at < :cutoff RETURNING id"
                    ),
                    {"now": now, "cutoff": now - silence},
                )
            ).all()
        )
        if failed:
            await session.execute(text("DELETE FROM import_chunks WHERE import_id = ANY(CAST(:ids AS uuid[]))"), {"ids": failed})
        await session.commit()
    return failed


async def claim_next(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime, lease: timedelta = timedelta(seconds=60)
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """An import nobody is working on: queued; processing with an expired lease (its worker died);
    or still being received with chunks stored and waiting."""
    async with sessionmaker() as session:
        row = (
            await session.execute(
                text(
                    """
                    UPDATE imports SET status = CASE WHEN status = 'queued' THEN 'processing' ELSE status END,
                                       lease_until = :lease
                    WHERE id = (
                        SELECT i.id FROM imports i
                        WHERE i.status IN ('receiving', 'queued', 'processing')
                          AND (i.lease_until IS NULL OR i.lease_until < :now)
                          AND (i.status <> 'receiving' OR EXISTS (SELECT 1 FROM import_chunks c WHERE c.import_id = i.id))
                        ORDER BY i.created_at LIMIT 1 FOR UPDATE OF i SKIP LOCKED
                    )
                    RETURNING id, partner_id
                    """
                ),
                {"now": now, "lease": now + lease},
            )
        ).first()
        await session.commit()
    return (row.id, row.partner_id) if row else None


@dataclass(frozen=True)
class ImportSummary:
    import_id: uuid.UUID
    status: str
    lines_total: int
    awarded: int
    capped: int
    rejected: int
    duplicates: int
    failed: int
    errors: list[dict[str, Any]]


async def summary(sessionmaker: async_sessionmaker[AsyncSession], import_id: uuid.UUID) -> ImportSummary:
    async with sessionmaker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT id, status, lines_total, awarded, capped, rejected, duplicates, failed, errors "
                    "FROM imports WHERE id = :id"
                ),
                {"id": import_id},
            )
        ).one()
    return ImportSummary(*row)


async def chunks_total(sessionmaker: async_sessionmaker[AsyncSession], import_id: uuid.UUID) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(text("SELECT chunks_total FROM imports WHERE id = :id"), {"id": import_id}) or 0)
