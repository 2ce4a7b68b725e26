"""`tanpu webhooks dispatch` killed (-9) in the middle of a delivery, then started again: nothing is lost,
each link's events still arrive in order (a redelivery of the interrupted one is allowed: at least once)."""

import asyncio
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient

from service.usecases.bank_feed import sequence_committed
from tests.bank_helpers import bank_endpoint, make_bank
from tests.factories import Factory
from tests.service.cli_helpers import REPO, tanpu_command
from tests.service.test_bank_webhooks import _earn, _events_of, _in_link_order


def _dispatcher(database_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TANPU_ENV": "development",
        "TANPU_WEBHOOK_LEASE_S": "1",
        "TANPU_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [*tanpu_command(), "webhooks", "dispatch"], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def test_a_killed_dispatcher_loses_nothing(client: AsyncClient, factory: Factory, app: Any, database_url: str) -> None:
    async with bank_endpoint() as endpoint:
        bank = await make_bank(factory, webhook_url=endpoint.url)
        endpoint.secret = bank.webhook_secret
        await _earn(client, factory, bank, citizens=2, trips=3)
        await sequence_committed(app.state.sessionmaker, datetime.now(UTC))
        expected = await _events_of(app, bank)
        assert len(expected) == 6
        endpoint.delay_s = 5  # the bank hangs: the dispatcher is caught mid-delivery
        first = _dispatcher(database_url)
        try:
            deadline = time.monotonic() + 60
            while endpoint.attempts == 0:
                assert time.monotonic() < deadline and first.poll() is None, "the dispatcher never called the bank"
                await asyncio.sleep(0.1)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        assert endpoint.accepted == []
        endpoint.delay_s = 0
        second = _dispatcher(database_url)
        try:
            deadline = time.monotonic() + 90
            while not {e["event_id"] for e in endpoint.accepted} >= set(expected):
                assert time.monotonic() < deadline and second.poll() is None, endpoint.accepted
                await asyncio.sleep(0.2)
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=10)
            except subprocess.TimeoutExpired:
                second.kill()
    assert endpoint.bad_signatures == 0
    assert _in_link_order(endpoint)
