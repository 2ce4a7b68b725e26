"""Leaderboards of carbon saved (not points: campaigns must not distort them), in Redis sorted sets.

One sorted set per period (ISO week, calendar month; Asia/Shanghai, by the
activity's occurred_at) and per region (the activity's region, and `all`),
member the citizen's id, score grams CO2e. They are maintained after commit by
the award pipeline (`record_after_commit`; refunds call it with negative carbon)
and can always be rebuilt from PostgreSQL (`rebuild`), which holds the truth:
Redis being down never fails an award, it only leaves the boards behind.

Gains are summed in memory by a `Recorder` and sent every FLUSH_S to a script
that applies them in Redis: an award pays a dictionary update, not a Redis round
trip (measured: a pipeline per award cost ~0.4 ms of CPU on a ~2 ms award). A process that dies
loses at most FLUSH_S of board updates, which `tanpu leaderboards rebuild` restores.
"""

import asyncio
import contextlib
import functools
import itertools
import logging
import secrets
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.calendar import SHANGHAI
from domain.leaderboards import Period, period_bounds, period_key
from service import compact_json
from service.deps import after_commit

log = logging.getLogger(__name__)

ALL_REGIONS = "all"
# Boards outlive their period long enough to be read and rebuilt; then Redis forgets them.
TTL = {Period.WEEKLY: timedelta(days=35), Period.MONTHLY: timedelta(days=400)}


@dataclass(frozen=True)
class Gain:
    """Carbon (grams; negative for a refund) saved by a citizen in an activity of a region at a time."""

    user_id: str
    region: str
    occurred_at: datetime
    carbon_g: int


def board_key(period: Period, instant: datetime, region: str | None) -> str:
    return f"lb:{period}:{period_key(period, instant)}:{region or ALL_REGIONS}"


FLUSH_S = 0.5
# Increments per script call: a script holds up every other client of Redis while it runs
# (measured ~3.5 us an increment, so ~7 ms a call), so a large flush is sent in several calls.
CHUNK = 2_000
# (Local day, region) pairs whose board keys are remembered; cleared when full (an import can span many days).
_DAYS_CACHED = 1_024

# The increments travel as one JSON argument, {"inc": {key: {member: grams}}, "ttl": {key: seconds}},
# not as three arguments per increment: redis-py's encoding of each argument cost the app more CPU
# than everything else a flush does. A zero sum is skipped, as it always was: it must not put a
# citizen on a board with 0. Keys are in the argument, not KEYS: these boards are never clustered.
# pcall, as the pipeline did: a command that fails does not stop the others; the count is returned.
_FLUSH_LUA = """
local batch = cjson.decode(ARGV[1])
local failed = 0
local function run(...)
  local reply = redis.pcall(...)
  if type(reply) == 'table' and reply.err then failed = failed + 1 end
end
for key, members in pairs(batch.inc) do
  for member, grams in pairs(members) do
    if grams ~= 0 then run('ZINCRBY', key, grams, member) end
  end
end
for key, seconds in pairs(batch.ttl) do run('EXPIRE', key, seconds) end
return failed
"""


def _batches(pending: dict[str, dict[str, int]], size: int) -> Iterator[str]:
    """`pending` as script arguments of at most `size` increments, each with its keys' TTLs."""
    inc: dict[str, dict[str, int]] = {}
    count = 0
    for key, members in pending.items():
        if count + len(members) <= size:
            inc[key] = members
            count += len(members)
            continue
        items = iter(members.items())
        while part := dict(itertools.islice(items, size - count)):
            inc[key] = part
            count += len(part)
            if count >= size:
                yield _batch(inc)
                inc, count = {}, 0
    if inc:
        yield _batch(inc)


def _batch(inc: dict[str, dict[str, int]]) -> str:
    return compact_json.dumps({"inc": inc, "ttl": {key: int(TTL[Period(key.split(":")[1])].total_seconds()) for key in inc}})


class Recorder:
    """Board increments gathered in memory and flushed to Redis by a server-side script now and then."""

    def __init__(self, redis: Redis, *, flush_s: float = FLUSH_S) -> None:
        self.redis = redis
        self.flush_s = flush_s
        self._pending: dict[str, dict[str, int]] = {}  # board key -> citizen -> grams
        self._keys: dict[tuple[date, str], tuple[str, ...]] = {}
        self._script = redis.register_script(_FLUSH_LUA)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def _boards(self, instant: datetime, region: str) -> tuple[str, ...]:
        """The keys of the boards a gain counts on, computed once per local day and region."""
        local = instant.astimezone(SHANGHAI)
        day = (local.date(), region)
        keys = self._keys.get(day)
        if keys is None:
            if len(self._keys) >= _DAYS_CACHED:
                self._keys.clear()
            keys = self._keys[day] = tuple(board_key(p, local, r) for p in Period for r in (region, None))
        return keys

    def add(self, gains: Sequence[Gain]) -> None:
        pending = self._pending
        for gain in gains:
            carbon = gain.carbon_g
            if carbon == 0:
                continue
            user = gain.user_id
            for key in self._boards(gain.occurred_at, gain.region):
                board = pending.get(key)
                if board is None:
                    board = pending[key] = {}
                board[user] = board.get(user, 0) + carbon

    def discard(self, user_id: str) -> None:
        """Drop what is pending for a citizen (erased: nothing of theirs may reach the boards again)."""
        for board in self._pending.values():
            board.pop(user_id, None)

    async def flush(self) -> None:
        """Send what is pending; on a Redis failure it is dropped (a rebuild restores it), never retried forever."""
        pending = self._pending
        if not pending:
            return
        self._pending = {}
        failed = 0
        try:
            for batch in _batches(pending, CHUNK):
                failed += await self._script(args=[batch])
        except Exception:
            log.warning("redis unavailable: leaderboards left behind; `tanpu leaderboards rebuild` restores them")
        if failed:
            log.warning("%d leaderboard updates failed in redis; `tanpu leaderboards rebuild` restores them", failed)

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="tanpu-leaderboards")

    async def stop(self) -> None:
        """Flush what is left and end the loop. The loop is asked to stop, not cancelled: a
        cancellation landing inside redis-py's pipeline can be swallowed there, and the
        loop would never end."""
        if self._task is not None:
            self._stopping.set()
            try:
                await asyncio.wait_for(self._task, timeout=5)
            except TimeoutError:
                log.warning("the leaderboard recorder did not stop in time")
        await self.flush()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.flush_s)
            await self.flush()


def record_after_commit(session: AsyncSession, gains: Sequence[Gain]) -> None:
    """Record `gains` once the session's transaction commits (the app's sessions carry its Recorder)."""
    recorder: Recorder | None = session.info.get("leaderboards")
    if recorder is not None and gains:
        after_commit(session, functools.partial(recorder.add, list(gains)))


@dataclass(frozen=True)
class Standing:
    rank: int
    user_id: str
    carbon_g: int


@dataclass(frozen=True)
class Board:
    period: Period
    key: str
    starts_at: datetime
    ends_at: datetime
    top: list[Standing]
    me: Standing | None


async def read(redis: Redis, period: Period, *, region: str | None, now: datetime, limit: int, user_id: str) -> Board:
    """The top `limit` with competition ranks (ties share a rank), and the caller's own standing."""
    key = board_key(period, now, region)
    rows = await redis.zrevrangebyscore(key, "+inf", "(0", start=0, num=limit, withscores=True)
    top: list[Standing] = []
    for position, row in enumerate(rows, start=1):
        member, score = row[0], float(row[1])  # (member, score) with withscores
        rank = top[-1].rank if top and top[-1].carbon_g == int(score) else position
        top.append(Standing(rank, str(member), int(score)))
    me = next((s for s in top if s.user_id == user_id), None)
    if me is None:
        mine = await redis.zscore(key, user_id)
        if mine is not None and mine > 0:
            above = await redis.zcount(key, f"({mine}", "+inf")
            me = Standing(int(above) + 1, user_id, int(mine))
    starts_at, ends_at = period_bounds(period, now)
    return Board(period, key.split(":")[2], starts_at, ends_at, top, me)


async def forget(redis: Redis, user_id: uuid.UUID, regions: Sequence[str], now: datetime) -> None:
    """Take an erased citizen off the boards of this and the previous period."""
    try:
        pipe = redis.pipeline(transaction=False)
        for period in Period:
            start, _ = period_bounds(period, now)
            for instant in (now, start - timedelta(seconds=1)):
                for region in (*regions, None):
                    pipe.zrem(board_key(period, instant, region), str(user_id))
        await pipe.execute()
    except Exception:
        log.warning("redis unavailable: an erased citizen stays on the boards until `tanpu leaderboards rebuild`")


_CARBON_BY_CITIZEN = text(
    """
    SELECT p.user_id, a.region, sum(p.carbon_g)
    FROM activities a
    JOIN postings p ON p.user_id = a.user_id AND p.activity_id = a.id
    JOIN users u ON u.id = a.user_id
    WHERE a.occurred_at >= :start AND a.occurred_at < :end AND p.carbon_g <> 0 AND u.erased_at IS NULL
    GROUP BY p.user_id, a.region
    """
)


@dataclass(frozen=True)
class Rebuilt:
    boards: int
    entries: int


async def rebuild(session: AsyncSession, redis: Redis, *, now: datetime) -> Rebuilt:
    """Recompute the boards of the current and the previous week and month from the ledger, and
    swap each in atomically (RENAME); boards with nobody on them any more are deleted."""
    boards = entries = 0
    for period in Period:
        start, _ = period_bounds(period, now)
        for instant in (now, start - timedelta(seconds=1)):
            begin, end = period_bounds(period, instant)
            scores: dict[str, dict[str, int]] = {}
            for user_id, region, carbon in await session.execute(_CARBON_BY_CITIZEN, {"start": begin, "end": end}):
                for board_region in (region, None):
                    board = scores.setdefault(board_key(period, instant, board_region), {})
                    board[str(user_id)] = board.get(str(user_id), 0) + int(carbon)
            prefix = board_key(period, instant, None).rsplit(":", 1)[0] + ":"
            stale = {key async for key in redis.scan_iter(match=prefix + "*") if ":rebuild:" not in key} - set(scores)
            for key, members in scores.items():
                staging = f"{key}:rebuild:{secrets.token_hex(4)}"
                positive = {m: s for m, s in members.items() if s != 0}
                if not positive:
                    stale.add(key)
                    continue
                await redis.zadd(staging, positive)
                await redis.expire(staging, TTL[period])
                await redis.rename(staging, key)
                boards, entries = boards + 1, entries + len(positive)
            if stale:
                await redis.delete(*stale)
    return Rebuilt(boards, entries)
