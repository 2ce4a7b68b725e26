"""Local days and years in Asia/Shanghai, where caps, windows and expiry are counted.

Shanghai has kept UTC+8 without daylight saving since 1991, so a fixed offset
is exact for every date this platform sees and needs no tz database.
"""

from datetime import date, datetime, time, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


def local_day(instant: datetime) -> date:
    """The citizen's local day of an instant (daily caps count this day)."""
    if instant.tzinfo is None:
        raise ValueError("an instant needs a timezone")
    return instant.astimezone(SHANGHAI).date()


def start_of_local_day(day: date) -> datetime:
    return datetime.combine(day, time.min, SHANGHAI)


def lot_expiry(earned_at: datetime) -> datetime:
    """Points earned in year Y expire at the end of year Y+1, Shanghai time (= Y+2-01-01 00:00 local)."""
    year = earned_at.astimezone(SHANGHAI).year
    return datetime(year + 2, 1, 1, tzinfo=SHANGHAI)
