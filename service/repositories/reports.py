"""The sums behind the auditor's summary (domain/reports.py folds them into figures)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from domain.calendar import SHANGHAI
from domain.ledger import EntryKind
from service.repositories import raw
from service.repositories.raw import Sql

GroupBy = Literal["day", "scenario", "region"]
REPORT_TIMEOUT_S = 120.0


class ReportTooSlow(Exception):
    """The sums took longer than REPORT_TIMEOUT_S (the query was cancelled)."""


# Where a posting happened: the region of the activity it is for (a trip's, a station's, a
# store's; reversals carry their original's activity), else the citizen's own region
# (redemptions, expiry, adjustments).
_REGION = "coalesce(a.region, u.region)"
_GROUP = {
    # local days, as caps and expiry count them
    "day": "((e.posted_at AT TIME ZONE 'UTC') + make_interval(secs => :offset_s))::date",
    "scenario": "e.scenario",
    "region": _REGION,
}


@dataclass(frozen=True)
class Sums:
    group: Any
    kind: EntryKind
    reversed_kind: EntryKind | None
    points: int
    carbon_g: int


async def summary_sums(
    session: AsyncSession, *, since: datetime, until: datetime, region: str | None, group_by: GroupBy
) -> list[Sums]:
    """Citizen entries posted in [since, until), in `region` if given, summed per group and kind
    (a reversal's kind being that of what it reverses), ordered by group."""
    needs_region = region is not None or group_by == "region"
    joins = (
        "LEFT JOIN activities a ON a.user_id = e.user_id AND a.id = e.activity_id JOIN users u ON u.id = e.user_id "
        if needs_region
        else ""
    )
    # Only the fixed fragments above are spliced in; every value is a bound parameter.
    sql = f"""
        SELECT {_GROUP[group_by]} AS grp, e.kind,
               -- reversals are few: each looks up what it reverses, where a join would hash every entry
               CASE WHEN e.kind = 'reversal' THEN (
                   SELECT r.kind FROM entries r WHERE r.user_id = e.user_id AND r.id = e.reverses_entry_id
               ) END AS reversed_kind,
               sum(e.points), sum(e.carbon_g)
        FROM entries e
        {joins}
        WHERE e.account = 'citizen' AND e.posted_at >= :since AND e.posted_at < :until
          {"AND " + _REGION + " = :region" if region is not None else ""}
        GROUP BY 1, 2, 3
        ORDER BY 1 NULLS LAST, 2, 3
    """  # noqa: S608
    params: dict[str, Any] = {"since": since, "until": until}
    if region is not None:
        params["region"] = region
    if group_by == "day":
        offset = SHANGHAI.utcoffset(None)
        params["offset_s"] = offset.total_seconds() if offset is not None else 0
    statement = Sql.of(sql)
    try:
        # a period of millions of entries takes seconds: more than the API's usual statement timeout
        rows = await (await raw.connection(session)).fetch(*statement.call(params), timeout=REPORT_TIMEOUT_S)
    except TimeoutError:
        raise ReportTooSlow from None
    return [
        Sums(grp, EntryKind(kind), EntryKind(reversed_kind) if reversed_kind else None, int(points), int(carbon))
        for grp, kind, reversed_kind, points, carbon in rows
    ]
