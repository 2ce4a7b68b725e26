"""evaluate(activity, context) -> Award: the one rule path every scenario goes through.

Plausibility, carbon, points, the daily cap, campaign bonuses and the breakdown
that explains every number. Bonuses are on points only: carbon is what the act
saved and is never multiplied.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain import campaigns, ledger
from domain.activities import Activity, DailySteps, Implausible, Trip
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
    region: str = ""
    """Where the activity happened (the station's, store's or citizen's region), as campaigns see it."""
    offers: tuple[campaigns.Offer, ...] = ()
    """Active campaigns that could pay, with the budget and per-citizen room they have left."""


@dataclass(frozen=True, slots=True)
class AwardLine:
    scenario: str
    carbon_g: int
    points: int
    ref: str | None = None
    """What names the line in its postings (`sku:...` for purchase lines), so a refund finds them."""


@dataclass(frozen=True, slots=True)
class BonusLine:
    line: int
    """Index into Award.lines."""
    campaign_id: str
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
    bonuses: tuple[BonusLine, ...] = ()

    def bonus_by_campaign(self) -> dict[str, int]:
        spent: dict[str, int] = {}
        for b in self.bonuses:
            spent[b.campaign_id] = spent.get(b.campaign_id, 0) + b.points
        return spent

    def postings(self, *, user_id: str, activity_id: str, posted_at: datetime) -> list[ledger.Posting]:
        """One award posting per line that earned points, from its scenario's issuance account,
        then one bonus posting per campaign and line, from the campaign's account."""
        awards = [
            ledger.transfer(
                user_id=user_id,
                kind=ledger.EntryKind.AWARD,
                system_account=ledger.issuance_account(line.scenario),
                points=line.points,
                posted_at=posted_at,
                carbon_g=line.carbon_g,
                scenario=line.scenario,
                activity_id=activity_id,
                memo=line.ref,
            )
            for line in self.lines
            if line.points > 0
        ]
        bonuses = [
            ledger.transfer(
                user_id=user_id,
                kind=ledger.EntryKind.BONUS,
                system_account=ledger.campaign_account(b.campaign_id),
                points=b.points,
                posted_at=posted_at,
                scenario=self.lines[b.line].scenario,
                activity_id=activity_id,
                campaign_id=b.campaign_id,
                memo=self.lines[b.line].ref,
            )
            for b in self.bonuses
            if b.points > 0
        ]
        return awards + bonuses


def _nothing(activity: Activity, status: Status, reason: str, breakdown: dict[str, Any], methodology_id: str | None) -> Award:
    if "campaigns" not in breakdown:
        breakdown = {**breakdown, "campaigns": []}
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
    if activity.occurred_at > now + m.window.future_skew:
        return "occurred_at is in the future"
    if isinstance(activity, Trip) and activity.ended_at > now + m.window.future_skew:
        return "ended_at is in the future: a trip is reported once it has ended"
    if activity.occurred_at < now - m.window.max_age:
        return f"occurred_at is older than the {m.window.max_age_days}-day reporting window"
    return None


_NO_CAMPAIGN = campaigns.Decision(paid=())


def evaluate(activity: Activity, ctx: AwardContext) -> Award:
    m = ctx.methodology
    if m is None:
        reason = "no methodology is in force for this region at occurred_at"
        return _nothing(activity, Status.REJECTED, reason, {"scenario": activity.scenario}, None)
    scenario = activity.scenario  # (a drop-off works its scenario out from its items each time)
    breakdown: dict[str, Any] = {
        "methodology": m.id,
        "scenario": scenario,
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
        return _nothing(activity, Status.REJECTED, measured.reason, {**breakdown, **(measured.explanation or {})}, m.id)

    exact = [carbon for _, carbon in measured.carbon_by_scenario]  # in 1/carbon_per grams
    carbon_g = sum(exact) // measured.carbon_per  # grams, rounded down once per activity
    carbon_lines = allocate(carbon_g, exact)
    base_points = points_for_carbon(carbon_g, m.rate_points_per_g)
    cap = m.caps[activity.family]
    room = max(0, cap - ctx.used_today)
    points = min(base_points, room)
    point_lines = allocate(points, carbon_lines) if carbon_g else [0] * len(exact)
    capped = points < base_points
    n = len(exact)
    refs = measured.refs or (None,) * n
    categories = measured.categories or (None,) * n
    scenarios = [line_scenario for line_scenario, _ in measured.carbon_by_scenario]
    decision = (
        campaigns.decide(
            ctx.offers,
            campaigns.Occasion(
                region=ctx.region,
                occurred_at=activity.occurred_at,
                merchant_id=getattr(activity, "merchant_id", None),
                store_id=getattr(activity, "store_id", None),
            ),
            [campaigns.Line(scenarios[i], point_lines[i], categories[i]) for i in range(n)],
        )
        if ctx.offers
        else _NO_CAMPAIGN  # what decide() says without offers, without building its input
    )
    bonuses = tuple(BonusLine(i, p.campaign.id, given) for p in decision.paid for i, given in enumerate(p.per_line) if given > 0)
    bonus_by_line = [0] * n
    for b in bonuses:
        bonus_by_line[b.line] += b.points
    bonus_points = sum(bonus_by_line)
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
            "campaigns": list(decision.considered),
            "points": points,
            "bonus_points": bonus_points,
            "total_points": points + bonus_points,
        }
    )
    explained_lines = measured.explanation.get("lines")
    if n > 1 or isinstance(explained_lines, list):  # (one line of its own: the activity's numbers say it all)
        line_numbers = [
            {"carbon_g": c, "base_points": p, "bonus_points": bonus_by_line[i]}
            | ({"campaigns": {b.campaign_id: b.points for b in bonuses if b.line == i}} if bonus_by_line[i] else {})
            for i, (c, p) in enumerate(zip(carbon_lines, point_lines, strict=True))
        ]
        if isinstance(explained_lines, list):  # lines the activity already explains (purchases): add the numbers
            breakdown["lines"] = [{**line, **numbers} for line, numbers in zip(explained_lines, line_numbers, strict=True)]
        else:
            breakdown["lines"] = [
                {"scenario": scenarios[i]} | ({"category": categories[i]} if categories[i] else {}) | line_numbers[i]
                for i in range(n)
            ]
    return Award(
        status=Status.CAPPED if capped else Status.AWARDED,
        scenario=scenario,
        family=activity.family,
        carbon_g=carbon_g,
        base_points=base_points,
        points=points,
        lines=tuple(AwardLine(scenarios[i], carbon_lines[i], point_lines[i], refs[i]) for i in range(n)),
        breakdown=breakdown,
        reason=f"daily {activity.family} cap of {cap} points reached" if capped else None,
        bonus_points=bonus_points,
        methodology_id=m.id,
        bonuses=bonuses,
    )
