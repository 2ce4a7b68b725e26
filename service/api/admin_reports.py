"""GET /v1/admin/reports/summary: carbon, points issued, redeemed, expired and campaign spend
over a period, by local day, scenario or region (auditors and admins), as JSON or CSV."""

import csv
import io
import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, Field

from domain.calendar import start_of_local_day
from domain.reports import MEASURES, Summary, summarise
from service.api import fields
from service.auth.deps import AuditorOrAdmin
from service.deps import SessionDep
from service.problems import ProblemError, problem_responses
from service.repositories import catalogue as catalogue_repo
from service.repositories import reports as reports_repo

router = APIRouter(prefix="/v1/admin", tags=["admin"])


def _date_only(value: Any) -> Any:
    # pydantic would also take "2026-01-01T00:00:00" as a date: an instant without its offset is refused
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a date is YYYY-MM-DD; an instant needs its offset")
    return value


# A date is a local day (Asia/Shanghai) and means its first instant.
Instant = fields.Instant | Annotated[fields.Day, BeforeValidator(_date_only)]
_INSTANT_HELP = "an RFC 3339 instant, or a date (YYYY-MM-DD) for the start of that local day in Asia/Shanghai"


class SummaryFigures(BaseModel):
    carbon_g: int = Field(description="carbon reduction credited, g CO2e, net of reversals")
    points_issued: int = Field(description="points earned (awards, campaign bonuses, bank awards), net of reversals")
    campaign_spend: int = Field(description="the part of points_issued that campaigns paid as bonuses")
    redeemed: int = Field(description="points held for redemptions, net of holds released")
    expired: int = Field(description="points that lapsed at their expiry")
    adjusted: int = Field(description="administrators' adjustments, signed")


class SummaryRow(SummaryFigures):
    group: str | None = Field(
        description="the local day (YYYY-MM-DD), the scenario (null: entries of no scenario: redemptions, expiry, "
        "adjustments) or the region"
    )


class SummaryOut(BaseModel):
    since: datetime = Field(serialization_alias="from")
    until: datetime = Field(serialization_alias="to")
    region: str | None
    group_by: reports_repo.GroupBy
    rows: list[SummaryRow]
    totals: SummaryFigures


def _instant(value: datetime | date) -> datetime:
    return value if isinstance(value, datetime) else start_of_local_day(value)


def _figures(summary: Summary) -> dict[str, int]:
    return {name: getattr(summary, name) for name in MEASURES}


def _csv(report: SummaryOut) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([report.group_by, *MEASURES])
    for row in report.rows:
        writer.writerow(["" if row.group is None else row.group, *(getattr(row, name) for name in MEASURES)])
    return out.getvalue()


@router.get(
    "/reports/summary",
    operation_id="report_summary",
    response_model=SummaryOut,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 422, 503)
    | {200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The summary, as JSON or CSV"}},
)
async def report_summary(
    request: Request,
    session: SessionDep,
    admin: AuditorOrAdmin,
    since: Annotated[Instant, Query(alias="from", description=f"entries posted at or after this: {_INSTANT_HELP}")],
    until: Annotated[Instant, Query(alias="to", description=f"entries posted before this: {_INSTANT_HELP}")],
    region: Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")] = None,
    group_by: reports_repo.GroupBy = "day",
) -> Any:
    """Figures from the citizens' ledger entries posted in [from, to), in total and per group; a
    reversal counts under what it reverses. An earning belongs to the region of its activity; a
    redemption, an expiry or an adjustment to the citizen's region. `Accept: text/csv` for CSV
    (one row per group, the group's column named after `group_by`)."""
    start, end = _instant(since), _instant(until)
    if end <= start:
        raise ProblemError(422, "invalid_period", "`to` must be after `from`")
    if region is not None and not await catalogue_repo.region_exists(session, region):
        raise ProblemError(422, "unknown_region", f"unknown region {region!r}")
    try:
        sums = await reports_repo.summary_sums(session, since=start, until=end, region=region, group_by=group_by)
    except reports_repo.ReportTooSlow:
        raise ProblemError(
            503,
            "report_too_slow",
            f"the report took more than {reports_repo.REPORT_TIMEOUT_S:.0f} s: ask for a shorter period or one region",
            headers={"Retry-After": "60"},
        ) from None
    groups, totals = summarise((s.group, s.kind, s.reversed_kind, s.points, s.carbon_g) for s in sums)
    report = SummaryOut(
        since=start,
        until=end,
        region=region,
        group_by=group_by,
        rows=[SummaryRow(group=None if key is None else str(key), **_figures(summary)) for key, summary in groups.items()],
        totals=SummaryFigures(**_figures(totals)),
    )
    if "text/csv" in request.headers.get("accept", ""):
        return Response(
            _csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="tanpu-summary-{group_by}.csv"'},
        )
    return report
