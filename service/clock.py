"""The one place the service reads the time; domain/ is always handed `now`."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
