"""When to try a webhook delivery again: exponential backoff with jitter for 24 hours, then the dead letter."""

from datetime import datetime, timedelta

FIRST_DELAY = timedelta(seconds=10)
MAX_DELAY = timedelta(hours=1)
RETRY_FOR = timedelta(hours=24)


def retry_delay(attempts: int, jitter: float) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 10 s doubling up to an hour, of which a
    random half (`jitter` in [0, 1), from the caller) is taken off, so banks coming back are not
    hit by every retry at the same instant ("equal jitter")."""
    if attempts < 1:
        raise ValueError("attempts counts failed attempts, from 1")
    if not 0 <= jitter < 1:
        raise ValueError("jitter is in [0, 1)")
    full = min(MAX_DELAY, FIRST_DELAY * (1 << min(attempts - 1, 20)))
    return full / 2 + full / 2 * jitter


def next_attempt(*, failed_at: datetime, attempts: int, deadline: datetime, jitter: float) -> datetime | None:
    """When to try again after a failure, or None: the retry window is over, dead-letter it."""
    at = failed_at + retry_delay(attempts, jitter)
    return at if at <= deadline else None
