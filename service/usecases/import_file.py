"""`tanpu import travel FILE --partner ID`: the same import as the API, run in this process with a progress bar."""

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from service.clock import utcnow
from service.database import create_engine, create_sessionmaker
from service.directory import Directory
from service.methodologies import MethodologyCache
from service.usecases import travel_import

READ_SIZE = 1 << 20
LEASE = timedelta(minutes=5)


class ImportRefused(Exception):
    pass


async def _read(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while piece := await asyncio.to_thread(f.read, READ_SIZE):
            yield piece


class ProgressBar:
    """One line redrawn in place on a terminal; a line per tenth elsewhere (logs, CI)."""

    def __init__(self, total: int, label: str, out: TextIO = sys.stderr) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.label = label
        self.out = out
        self.started = time.monotonic()
        self._last_tenth = -1

    def advance(self, chunks: int) -> None:
        self.done += chunks
        share = min(self.done / self.total, 1.0)
        width = 30
        bar = "#" * int(share * width) + "-" * (width - int(share * width))
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        text = f"{self.label} [{bar}] {share:4.0%} {self.done}/{self.total} chunks, {rate:.1f} chunks/s"
        if self.out.isatty():
            print("\r" + text, end="", file=self.out, flush=True)
        elif int(share * 10) != self._last_tenth:
            self._last_tenth = int(share * 10)
            print(text, file=self.out, flush=True)

    def close(self) -> None:
        if self.out.isatty():
            print(file=self.out)


async def import_travel_file(
    database_url: str,
    path: Path,
    partner_id: uuid.UUID,
    *,
    max_bytes: int,
    show_progress: bool = True,
    redis_url: str | None = None,
) -> travel_import.ImportSummary:
    """With `redis_url`, the awards also reach the leaderboards (as the API's do); without, a
    `tanpu leaderboards rebuild` catches them up."""
    from service.app import create_redis
    from service.leaderboards import Recorder

    engine = create_engine(database_url, pool_size=2)
    redis = create_redis(redis_url) if redis_url else None
    boards = Recorder(redis) if redis is not None else None
    sessionmaker = create_sessionmaker(engine, info={"redis": redis, "leaderboards": boards} if boards else None)
    if boards is not None:
        boards.start()
    try:
        async with sessionmaker() as session:
            partner = await Directory().partner(session, partner_id)
        if partner is None or not partner.active:
            raise ImportRefused(f"no active partner {partner_id}")
        if partner.kind != "transit":
            raise ImportRefused(f"partner {partner_id} is a {partner.kind} partner; trips come from transit partners")
        import_id = await travel_import.receive(sessionmaker, partner.id, _read(path), max_bytes=max_bytes, hold_for=LEASE)
        bar = ProgressBar(await travel_import.chunks_total(sessionmaker, import_id), f"importing {path.name}")
        methodologies = MethodologyCache()
        await travel_import.run(
            sessionmaker,
            import_id,
            partner,
            methodologies=methodologies.versions,
            clock=utcnow,
            lease=LEASE,
            progress=bar.advance if show_progress else None,
            workers=2,
        )
        if show_progress:
            bar.close()
        return await travel_import.summary(sessionmaker, import_id)
    finally:
        if boards is not None and redis is not None:
            await boards.stop()
            await redis.aclose()
        await engine.dispose()
