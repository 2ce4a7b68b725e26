"""Rate limits: fixed-window counters in Redis, one atomic round trip per hit.

A window opens with the first hit on a key and lasts `window_s`; the counter
and its expiry are set by one Lua script, so no hit can leave a counter
without an expiry and concurrent hits never lose a count. Keys carry a hash of
the subject (a phone number, an address), never the subject itself.

When Redis is unreachable each limit follows its own policy (`fail_open`):

- fail closed (answer 503): where letting a request through costs money or
  invites abuse with nothing else to stop it. Sending an OTP is the example:
  every SMS is paid for and SMS pumping is a known fraud, so while the limiter
  is blind we send nothing rather than send without bound.
- fail open (let the request through, log a warning): where another guard
  already bounds the damage. Guessing a code is the example: each code allows
  only `TANPU_OTP_MAX_ATTEMPTS` guesses, counted in PostgreSQL, and no new
  codes can be sent while Redis is down, so refusing sign-ins would only lock
  out people holding a valid code.
"""

import hashlib
import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.problems import ProblemError

log = logging.getLogger(__name__)

# INCR, then make sure the key expires: a key left without a TTL would block its subject forever.
_HIT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""


@dataclass(frozen=True)
class Limit:
    name: str
    max_hits: int
    window_s: int
    fail_open: bool


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int


def _key(limit: Limit, subject: str) -> str:
    digest = hashlib.sha256(subject.encode()).hexdigest()[:24]
    return f"rl:{limit.name}:{digest}"


def _unavailable(limit: Limit, exc: Exception) -> Decision:
    if limit.fail_open:
        log.warning("rate limiter unavailable (%s); %s fails open", type(exc).__name__, limit.name)
        return Decision(allowed=True, retry_after_s=0)
    log.warning("rate limiter unavailable (%s); %s fails closed", type(exc).__name__, limit.name)
    raise ProblemError(
        503,
        "rate_limiter_unavailable",
        "this request is rate limited and the limiter is unreachable; retry shortly",
        title="Service Unavailable",
        headers={"Retry-After": "30"},
    ) from None


async def hit(redis: Redis, limit: Limit, subject: str) -> Decision:
    """Count one hit; allowed while the window holds at most `max_hits`."""
    try:
        count, ttl = await redis.eval(_HIT, 1, _key(limit, subject), limit.window_s)
    except (RedisError, OSError) as exc:
        return _unavailable(limit, exc)
    allowed = int(count) <= limit.max_hits
    return Decision(allowed=allowed, retry_after_s=0 if allowed else max(int(ttl), 1))


async def peek(redis: Redis, limit: Limit, subject: str) -> Decision:
    """Whether one more hit would be allowed, without counting one."""
    key = _key(limit, subject)
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.get(key)
            pipe.ttl(key)
            count, ttl = await pipe.execute()
    except (RedisError, OSError) as exc:
        return _unavailable(limit, exc)
    allowed = int(count or 0) < limit.max_hits
    return Decision(allowed=allowed, retry_after_s=0 if allowed else max(int(ttl), 1))


def too_many_requests(decision: Decision, detail: str) -> ProblemError:
    return ProblemError(
        429, "rate_limited", detail, title="Too Many Requests", headers={"Retry-After": str(decision.retry_after_s)}
    )
