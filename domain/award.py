"""evaluate(activity, context) -> Award: the one rule path every scenario goes through.

Plausibility, carbon, points, the daily cap and the breakdown that explains
every number. Campaign bonuses will join here, on points only: carbon is what
the act saved and is never multiplied.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any

from domain import ledger
from domain.activities import Activity, DailySteps, Implausible
from domain.methodology import Methodology
from domain.points import allocate, points_for_carbon


class Status(StrEnum):
    AWARDED = "awarded"
    CAPPED = "capped"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class AwardContext:
    methodology: Methodology | None
    """The version in force at occurred_at for the activity's region; None if there is none."""
    now: datetime
    used_today: int
    """Points the citizen already earned in this activity's family on its local day."""
    duplicate_of: str | None = None
    """The activity already credited for the same real-world act (same fingerprint)."""


@dataclass(frozen=True, slots=True)
class AwardLine:
    scenario: str
    carbon_g: int
    points: int


@dataclass(frozen=True, slots=True)
class Award:
    status: Status
    scenario: str
    family: str
    carbon_g: int
    base_points: int
    points: int
    lines: tuple[AwardLine, ...]
    breakdown: dict[str, Any]
    reason: str | None = None
    bonus_points: int = 0
    methodology_id: str | None = None
    notes: tuple[str, ...] = field(default=())

    def postings(self, *, user_id: str, activity_id: str, posted_at: datetime) -> list[ledger.Posting]:
        """One award posting per scenario line that earned points, from that scenario's issuance account."""
        return [
            ledger.transfer(
                user_id=user_id,
                kind=ledger.EntryKind.AWARD,
                system_account=ledger.issuance_account(line.scenario),
                points=line.points,
                posted_at=posted_at,
                carbon_g=line.carbon_g,
                scenario=line.scenario,
                activity_id=activity_id,
            )
            for line in self.lines
            if line.points > 0
        ]


def _nothing(activity: Activity, status: Status, reason: str, breakdown: dict[str, Any], methodology_id: str | None) -> Award:
    return Award(
        status=status,
        scenario=activity.scenario,
        family=activity.family,
        carbon_g=0,
        base_points=0,
        points=0,
        lines=(),
        breakdown={**breakdown, "reason": reason, "carbon_g": 0, "points": 0},
        reason=reason,
        methodology_id=methodology_id,
    )


def window_problem(activity: Activity, m: Methodology, now: datetime) -> str | None:
    """Not in the future (beyond the allowed clock skew), not older than the reporting window."""
    if isinstance(activity, DailySteps):
        return activity.day_out_of_window(now, m.window.max_age_days)
    if activity.occurred_at > now + timedelta(minutes=m.window.max_future_skew_minutes):
        return "occurred_at is in the future"
    if activity.occurred_at < now - timedelta(days=m.window.max_age_days):
        return f"occurred_at is older than the {m.window.max_age_days}-day reporting window"
    return None


def evaluate(activity: Activity, ctx: AwardContext) -> Award:
    m = ctx.methodology
    if m is None:
        reason = "no methodology is in force for this region at occurred_at"
        return _nothing(activity, Status.REJECTED, reason, {"scenario": activity.scenario}, None)
    breakdown: dict[str, Any] = {
        "methodology": m.id,
        "scenario": activity.scenario,
        "occurred_at": activity.occurred_at.isoformat(),
    }
    if ctx.duplicate_of is not None:
        return _nothing(
            activity, Status.DUPLICATE, f"the same act was already credited as activity {ctx.duplicate_of}", breakdown, m.id
        )
    problem = window_problem(activity, m, ctx.now)
    if problem is not None:
        return _nothing(activity, Status.REJECTED, problem, breakdown, m.id)
    measured = activity.measure(m)
    if isinstance(measured, Implausible):
        return _nothing(activity, Status.REJECTED, measured.reason, breakdown, m.id)

    exact = [carbon for _, carbon in measured.carbon_by_scenario]
    carbon_g = int(sum(exact, Fraction(0)))  # grams, rounded down once per activity
    carbon_lines = allocate(carbon_g, exact)
    base_points = points_for_carbon(carbon_g, m.rate_points_per_g)
    cap = m.caps[activity.family]
    room = max(0, cap - ctx.used_today)
    points = min(base_points, room)
    point_lines = allocate(points, [Fraction(c) for c in carbon_lines]) if carbon_g else [0] * len(exact)
    capped = points < base_points
    breakdown.update(measured.explanation)
    breakdown.update(
        {
            "carbon_g": carbon_g,
            "rate_points_per_g": m.rate_text,
            "base_points": base_points,
            "caps": [
                {
                    "family": activity.family,
                    "daily_cap": cap,
                    "used_before": ctx.used_today,
                    "applied": capped,
                    "points_cut": base_points - points,
                }
            ],
            "campaigns": [],
            "points": points,
        }
    )
    if len(carbon_lines) > 1:
        breakdown["lines"] = [
            {"scenario": scenario, "carbon_g": c, "points": p}
            for (scenario, _), c, p in zip(measured.carbon_by_scenario, carbon_lines, point_lines, strict=True)
        ]
    return Award(
        status=Status.CAPPED if capped else Status.AWARDED,
        scenario=activity.scenario,
        family=activity.family,
        carbon_g=carbon_g,
        base_points=base_points,
        points=points,
        lines=tuple(
            AwardLine(scenario, c, p)
            for (scenario, _), c, p in zip(measured.carbon_by_scenario, carbon_lines, point_lines, strict=True)
        ),
        breakdown=breakdown,
        reason=f"daily {activity.family} cap of {cap} points reached" if capped else None,
        methodology_id=m.id,
    )
