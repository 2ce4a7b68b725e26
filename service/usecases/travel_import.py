"""Importing a partner's NDJSON file of trips, of any size.

Receiving streams the body into chunks of CHUNK_LINES lines stored in
PostgreSQL (any instance can then process them; nothing is held in memory
whole, nothing lives on one machine's disk). Processing awards one chunk per
transaction through the award pipeline and records the chunk as done in that
same transaction, so a killed import resumes where it stopped; every line is
also idempotent on its external_id, so no line is ever awarded twice.
"""

import asyncio
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
from service.usecases.award_pipeline import Report, award_reports
from service.usecases.reports import travel_report

log = logging.getLogger(__name__)

CHUNK_LINES = 1000
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


async def split_lines(stream: AsyncIterator[bytes], *, max_bytes: int) -> AsyncIterator[Line]:
    """NDJSON lines of a byte stream, numbered from 1, without holding more than one line."""
    buffer = b""
    number = 0
    total = 0
    skipping = False
    async for piece in stream:
        total += len(piece)
        if total > max_bytes:
            raise ImportTooLarge(f"an import is at most {max_bytes} bytes")
        buffer += piece
        while True:
            cut = buffer.find(b"\n")
            if cut < 0:
                if len(buffer) > MAX_LINE_BYTES and not skipping:
                    number += 1
                    skipping = True
                    yield Line(number, None)
                if skipping:
                    buffer = b""
                break
            raw, buffer = buffer[:cut], buffer[cut + 1 :]
            if skipping:
                skipping = False
                continue
            number += 1
            yield _decode(number, raw)
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
) -> uuid.UUID:
    """Store the file as chunks (a transaction each) and queue it; a failed upload is marked failed.
    `hold_for`: the caller will process it itself, so it keeps the lease and no worker takes it."""
    import_id = uuid.uuid4()
    async with sessionmaker() as session:
        await session.execute(
            text("INSERT INTO imports (id, partner_id, status) VALUES (:id, :p, 'receiving')"),
            {"id": import_id, "p": partner_id},
        )
        await session.commit()
        seq = lines_total = 0
        batch: list[Line] = []
        try:
            async for line in split_lines(stream, max_bytes=max_bytes):
                lines_total = line.number
                batch.append(line)
                if len(batch) == CHUNK_LINES:
                    await _store_chunk(session, import_id, seq, batch)
                    seq += 1
                    batch = []
            if batch:
                await _store_chunk(session, import_id, seq, batch)
                seq += 1
        except BaseException:
            await session.rollback()
            await session.execute(
                text("UPDATE imports SET status = 'failed', finished_at = now() WHERE id = :id"), {"id": import_id}
            )
            await session.commit()
            raise
        await session.execute(
            text(
                "UPDATE imports SET status = CASE WHEN :chunks = 0 THEN 'done' WHEN :held THEN 'processing' ELSE 'queued' END, "
                "chunks_total = :chunks, lines_total = :lines, lease_until = CAST(:lease AS timestamptz), "
                "finished_at = CASE WHEN :chunks = 0 THEN now() END WHERE id = :id"
            ),
            {
                "chunks": seq,
                "lines": lines_total,
                "id": import_id,
                "held": hold_for is not None,
                "lease": utcnow() + hold_for if hold_for is not None else None,
            },
        )
        await session.commit()
    return import_id


async def _store_chunk(session: AsyncSession, import_id: uuid.UUID, seq: int, lines: Sequence[Line]) -> None:
    # Lines that could not be read travel as JSON null, so their numbers are kept for the error report.
    payload = compact_json.dumps([[line.number, line.text] for line in lines])
    await session.execute(
        text("INSERT INTO import_chunks (import_id, seq, first_line, lines) VALUES (:id, :seq, :first, :lines)"),
        {"id": import_id, "seq": seq, "first": lines[0].number, "lines": payload},
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


async def process_chunk(
    session: AsyncSession,
    import_id: uuid.UUID,
    partner: PartnerFacts,
    *,
    methodologies: Sequence[Methodology],
    now: datetime,
    lease: timedelta = timedelta(seconds=60),
    award_session: AsyncSession | None = None,
) -> bool:
    """Award a chunk nobody else is on and record it done, in the session's one transaction.
    False when no chunk is left to take. Each chunk renews the lease on the import.

    With `award_session` (a second connection, in autocommit) the awards commit in rounds
    while `session` keeps the chunk: a crash between the two replays the chunk, and every
    line replays its stored answer, so no line is awarded twice and the counts stay true.
    Without it, the awards run inside `session`'s transaction, holding their citizens' locks.

    Several of these may run at once for one import (SKIP LOCKED hands each its own chunk);
    they meet only on the import's counters, updated last, just before each commits."""
    status = await session.scalar(text("SELECT status FROM imports WHERE id = :id"), {"id": import_id})
    if status not in ("queued", "processing"):
        return False
    chunk = (
        await session.execute(
            text("SELECT seq, lines FROM import_chunks WHERE import_id = :id ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED"),
            {"id": import_id},
        )
    ).first()
    if chunk is None:
        left = await session.scalar(text("SELECT count(*) FROM import_chunks WHERE import_id = :id"), {"id": import_id})
        if left == 0:  # the last one is done (not merely taken by another worker)
            await session.execute(
                text("UPDATE imports SET status = 'done', finished_at = :now WHERE id = :id AND status <> 'done'"),
                {"id": import_id, "now": now},
            )
        return False
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
    for number, outcome in zip(
        numbers, await award_reports(award_session or session, reports, methodologies=methodologies, now=now), strict=True
    ):
        if outcome.problem is not None:
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
                status = 'processing', lease_until = :lease
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
    return True


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
) -> None:
    """Process chunks until none is left, `workers` at a time (each chunk its own transaction):
    while one waits on PostgreSQL, another evaluates."""

    async def worker() -> None:
        while True:
            async with sessionmaker() as session, sessionmaker() as awards:
                more = await process_chunk(
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
            if not more:
                return
            if progress is not None:
                progress(1)

    await asyncio.gather(*(worker() for _ in range(max(1, workers))))


async def claim_next(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime, lease: timedelta = timedelta(seconds=60)
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """An import nobody is working on (queued, or processing with an expired lease: its worker died)."""
    async with sessionmaker() as session:
        row = (
            await session.execute(
                text(
                    """
                    UPDATE imports SET status = 'processing', lease_until = :lease
                    WHERE id = (
                        SELECT id FROM imports
                        WHERE status IN ('queued', 'processing') AND (lease_until IS NULL OR lease_until < :now)
                        ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED
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
