"""How many bulk awards (1,000-item batches) one process evaluates at once.

A batch holds ~20 MB while it is evaluated and written (its items, their awards, the rows
as JSON), so memory grew with every batch in flight: 270 MB at 8 concurrent batches
(quality.md P5: 250 MB). More in flight also bought no speed, the cores being busy already
(bench `batch`: 5,743 awards/s at 2 clients, 4,784 at 8). Batches past the limit wait their
turn; past a queue of `waiting` they are turned away with 429 and Retry-After, as a rate
limit is, instead of piling parsed bodies up in memory.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.problems import ProblemError


class BulkGate:
    def __init__(self, at_once: int, *, waiting: int) -> None:
        self._slots = asyncio.Semaphore(at_once)
        self._waiting_max = waiting
        self._waiting = 0

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        if self._slots.locked():
            if self._waiting >= self._waiting_max:
                raise ProblemError(
                    429,
                    "too_many_batches",
                    "this server is evaluating as many batches as it takes; send this one again shortly",
                    title="Too Many Requests",
                    headers={"Retry-After": "1"},
                )
            self._waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self._waiting -= 1
        else:
            await self._slots.acquire()
        try:
            yield
        finally:
            self._slots.release()
