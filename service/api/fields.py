"""Field types of request bodies and queries: times the platform can hold, ids without control characters.

A time far outside the platform's years (0001-01-01, 9999-12-31T20:00-10:00) is not a stale or
future activity to store as rejected: converting it to UTC or to Shanghai's day overflows, and
PostgreSQL cannot hold every year Python can. It is refused as the client's mistake (422), before
anything is evaluated, so it can neither answer 500 nor hold back the rest of a batch or an import.
"""

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

from domain.calendar import SHANGHAI

FIRST_YEAR, LAST_YEAR = 2000, 2099


def _instant_in_range(value: datetime) -> datetime:
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"an instant between {FIRST_YEAR} and {LAST_YEAR}")
    return value


def _local_time_in_range(value: datetime) -> datetime:
    return _instant_in_range(value if value.tzinfo is not None else value.replace(tzinfo=SHANGHAI))


def _day_in_range(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"a date between {FIRST_YEAR} and {LAST_YEAR}")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_instant_in_range)]
"""An RFC 3339 instant with its offset, in the years 2000-2099."""
LocalTime = Annotated[datetime, AfterValidator(_local_time_in_range)]
"""An instant, or a time without offset read as Asia/Shanghai local time, in the years 2000-2099."""
Day = Annotated[date, AfterValidator(_day_in_range)]
"""A calendar date in the years 2000-2099."""

# Ids that partners choose (member references, fingerprints) are printable: a NUL cannot be stored
# in PostgreSQL text, and a batch or an import must refuse that one item, not fail as a whole.
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
PrintableId = Annotated[str, Field(min_length=1, max_length=128, pattern=PRINTABLE)]
