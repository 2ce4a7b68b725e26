"""Background work inside `tanpu serve`: travel imports (a loop that claims and processes them),
the bank webhook dispatcher, and two periodic runs: points expiry and housekeeping.

Imports are leased, so a second instance, or this one after a crash, picks up
where a dead worker stopped once its lease runs out.
"""

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from integrations.banks.client import WebhookSender
from service.clock import utcnow
from service.directory import Directory
from service.usecases import expiry, housekeeping, travel_import
from service.usecases.webhooks import Dispatcher

log = logging.getLogger(__name__)


class _Background:
    """A loop run as a task of the server's event loop from start-up, cancelled at shutdown."""

    task_name = "tanpu-background"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        raise NotImplementedError


class ImportWorker(_Background):
    task_name = "tanpu-import-worker"

    def __init__(self, app: FastAPI, *, idle_s: float = 1.0) -> None:
        super().__init__()
        self.app = app
        self.idle_s = idle_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """An import was queued, or a chunk of one being received was stored: look now, not at the next tick."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                worked = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("import worker failed; retrying shortly")
                worked = False
            if not worked:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.idle_s)

    async def run_once(self) -> bool:
        state: Any = self.app.state
        lease = timedelta(seconds=state.settings.import_lease_s)
        for import_id in await travel_import.fail_silent_uploads(state.sessionmaker, utcnow()):
            log.warning("an upload fell silent; its import failed", extra={"import_id": str(import_id)})
        claimed = await travel_import.claim_next(state.sessionmaker, utcnow(), lease)
        if claimed is None:
            return False
        import_id, partner_id = claimed
        directory: Directory = state.directory
        async with state.sessionmaker() as session:
            partner = await directory.partner(session, partner_id)
        if partner is None:
            return True
        let_go = await travel_import.run(
            state.sessionmaker,
            import_id,
            partner,
            methodologies=state.methodologies.versions,
            clock=utcnow,
            lease=lease,
            workers=state.settings.import_workers,
        )
        if let_go:  # still being received: the next chunk wakes us (or the next tick does)
            return False
        log.info("import finished", extra={"import_id": str(import_id)})
        return True


class WebhookWorker(_Background):
    """The bank webhook dispatcher inside `tanpu serve` (also run alone by `tanpu webhooks dispatch`)."""

    task_name = "tanpu-webhook-dispatcher"

    def __init__(self, dispatcher: Dispatcher, *, idle_s: float = 1.0) -> None:
        super().__init__()
        self.dispatcher = dispatcher
        self.idle_s = idle_s

    async def _loop(self) -> None:
        await self.run_forever()

    async def run_forever(self) -> None:
        while True:
            try:
                worked = await self.dispatcher.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook dispatcher failed; retrying shortly")
                worked = 0
            if not worked:
                await asyncio.sleep(self.idle_s)


def build_dispatcher(state: Any, sender: WebhookSender) -> Dispatcher:
    settings = state.settings
    return Dispatcher(state.sessionmaker, sender, clock=utcnow, lease=timedelta(seconds=settings.webhook_lease_s))


class _Periodic(_Background):
    """`run_once` now and then, every `interval_s`; a failed run is logged and tried again next time."""

    def __init__(self, app: FastAPI, *, interval_s: float) -> None:
        super().__init__()
        self.app = app
        self.interval_s = interval_s

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; trying again at the next interval", self.task_name)
            await asyncio.sleep(self.interval_s)

    async def run_once(self) -> Any:
        raise NotImplementedError


class ExpiryJob(_Periodic):
    """Expires due lots now and then every `TANPU_EXPIRY_INTERVAL_S`. Lots fall due at local
    midnight on 1 January, so an hourly run is late by an hour at most; several instances
    running it at once is safe (see service/usecases/expiry.py)."""

    task_name = "tanpu-expiry"

    async def run_once(self) -> expiry.ExpiryRun:
        now = utcnow()
        run = await expiry.expire_due(self.app.state.sessionmaker, as_of=now, now=now)
        if run.citizens:
            log.info("points expired", extra={"citizens": run.citizens, "points": run.points})
        return run


class HousekeepingJob(_Periodic):
    """Deletes expired codes and refresh tokens (service/usecases/housekeeping.py) on the expiry's interval."""

    task_name = "tanpu-housekeeping"

    async def run_once(self) -> housekeeping.Trimmed:
        trimmed = await housekeeping.trim_expired(self.app.state.sessionmaker, now=utcnow())
        if any(vars(trimmed).values()):
            log.info("expired credentials deleted", extra=vars(trimmed))
        return trimmed
