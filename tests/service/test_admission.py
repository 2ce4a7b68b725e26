"""Bulk awards are admitted a few at a time; a full queue is turned away with 429."""

import asyncio

import pytest

from service.admission import BulkGate
from service.problems import ProblemError


async def test_batches_past_the_limit_wait_and_past_the_queue_are_refused() -> None:
    gate = BulkGate(1, waiting=1)
    running: list[str] = []
    release = asyncio.Event()

    async def batch(name: str) -> None:
        async with gate.admit():
            running.append(name)
            await release.wait()
            running.remove(name)

    first = asyncio.create_task(batch("first"))
    await asyncio.sleep(0)
    second = asyncio.create_task(batch("second"))
    await asyncio.sleep(0)
    assert running == ["first"]  # the second waits its turn

    with pytest.raises(ProblemError) as refused:  # at once, not after a wait
        await asyncio.wait_for(gate.admit().__aenter__(), timeout=1)
    assert refused.value.status == 429 and refused.value.code == "too_many_batches"
    assert refused.value.headers == {"Retry-After": "1"}

    release.set()
    await asyncio.gather(first, second)
    assert running == []
    async with gate.admit():  # the queue drained: admitted at once
        pass


async def test_a_cancelled_waiter_leaves_its_place() -> None:
    gate = BulkGate(1, waiting=1)
    async with gate.admit():
        waiter = asyncio.create_task(gate.admit().__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        queued = asyncio.create_task(gate.admit().__aenter__())  # the cancelled one's place is free again
        await asyncio.sleep(0)
        assert not queued.done()
    await asyncio.wait_for(queued, timeout=1)
