"""Leaderboard periods: the week and month an activity counts in, in Asia/Shanghai.

Weeks are ISO weeks (Monday 00:00 to Monday 00:00 local time), months calendar
months, both decided by the activity's occurred_at, so a late report still
counts where the act happened and a rebuild from the ledger gives the same boards.
"""

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum

from domain.calendar import SHANGHAI


class Period(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"


def period_key(period: Period, instant: datetime) -> str:
    local = instant.astimezone(SHANGHAI)
    if period is Period.WEEKLY:
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year}-{local.month:02d}"


def period_bounds(period: Period, instant: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the period containing `instant`, as Shanghai-local instants."""
    local = instant.astimezone(SHANGHAI)
    day = datetime(local.year, local.month, local.day, tzinfo=SHANGHAI)
    if period is Period.WEEKLY:
        start = day - timedelta(days=local.weekday())
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def pseudonym(user_id: str) -> str:
    """How a citizen appears on a board: never their id or phone."""
    return "citizen-" + hashlib.sha256(user_id.encode()).hexdigest()[:8]
