"""Campaigns: bonus points on top of the base award, never on carbon.

A campaign matches an activity by region, scenario, window (decided by
occurred_at, in [starts_at, ends_at)) and optional merchant / store / category
filters; it pays a multiplier on the base points of the lines it matches, or a
fixed bonus per activity spread over them. What it pays is cut, line by line in
order, by the citizen's remaining per-campaign cap and by the campaign's
remaining budget. Stacking: every `stack` campaign adds up; an `exclusive` one
pays alone, so the best exclusive competes with the sum of the stacking ones
and the larger wins (ties go to the stacking side, which pays the same and
spreads the cost).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from domain.errors import DomainError
from domain.points import allocate, exact_decimal

MAX_MULTIPLIER = Fraction(10)
MAX_FIXED_BONUS = 1_000_000


class InvalidCampaign(DomainError):
    code = "invalid_campaign"


class Stacking(StrEnum):
    EXCLUSIVE = "exclusive"
    STACK = "stack"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    name: str
    regions: frozenset[str]
    scenarios: frozenset[str]
    starts_at: datetime
    ends_at: datetime
    stacking: Stacking
    multiplier: Fraction | None = None
    bonus: int | None = None
    merchant_ids: frozenset[str] | None = None
    store_ids: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    per_citizen_cap: int | None = None
    budget: int | None = None

    @property
    def rule_text(self) -> str:
        if self.multiplier is not None:
            return f"multiplier {_decimal_text(self.multiplier)}"
        return f"bonus {self.bonus}"


def _decimal_text(value: Fraction) -> str:
    text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_multiplier(text: str) -> Fraction:
    try:
        return exact_decimal(text)
    except ValueError as exc:
        raise InvalidCampaign(f"multiplier: {exc}") from None


def validate(c: Campaign, *, known_regions: Sequence[str], known_scenarios: Sequence[str]) -> None:
    """Refuse a campaign that could not mean what its author wanted."""
    if c.starts_at.tzinfo is None or c.ends_at.tzinfo is None:
        raise InvalidCampaign("starts_at and ends_at need a timezone")
    if c.ends_at <= c.starts_at:
        raise InvalidCampaign("ends_at must be after starts_at")
    if (c.multiplier is None) == (c.bonus is None):
        raise InvalidCampaign("the rule is either a multiplier or a fixed bonus")
    if c.multiplier is not None and not Fraction(1) < c.multiplier <= MAX_MULTIPLIER:
        raise InvalidCampaign(f"a multiplier must be above 1 and at most {MAX_MULTIPLIER}")
    if c.bonus is not None and not 0 < c.bonus <= MAX_FIXED_BONUS:
        raise InvalidCampaign(f"a fixed bonus must be above 0 and at most {MAX_FIXED_BONUS} points")
    if not c.regions:
        raise InvalidCampaign("a campaign names at least one region")
    if not c.scenarios:
        raise InvalidCampaign("a campaign names at least one scenario")
    unknown_regions = sorted(c.regions - set(known_regions))
    if unknown_regions:
        raise InvalidCampaign(f"unknown regions: {', '.join(unknown_regions)}")
    unknown_scenarios = sorted(c.scenarios - set(known_scenarios))
    if unknown_scenarios:
        raise InvalidCampaign(f"unknown scenarios: {', '.join(unknown_scenarios)}")
    if c.per_citizen_cap is not None and c.per_citizen_cap <= 0:
        raise InvalidCampaign("per_citizen_cap must be a positive number of points")
    if c.budget is not None and c.budget <= 0:
        raise InvalidCampaign("budget must be a positive number of points")
    if c.budget is not None and c.per_citizen_cap is not None and c.per_citizen_cap > c.budget:
        raise InvalidCampaign("per_citizen_cap cannot exceed the budget")


@dataclass(frozen=True, slots=True)
class Occasion:
    """Where and when an activity happened, as campaigns filter it."""

    region: str
    occurred_at: datetime
    merchant_id: str | None = None
    store_id: str | None = None


@dataclass(frozen=True, slots=True)
class Line:
    """One line of an award as campaigns see it: its scenario, base points and category."""

    scenario: str
    points: int
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Offer:
    """A campaign that may pay, with the room it has left (None: no limit)."""

    campaign: Campaign
    budget_left: int | None = None
    citizen_left: int | None = None


@dataclass(frozen=True, slots=True)
class Payout:
    """What one campaign pays for one activity: bonus points per line (aligned with the lines)."""

    campaign: Campaign
    per_line: tuple[int, ...]
    wanted: int
    """What it would have paid with no cap and no budget."""
    limited_by: str | None = None

    @property
    def points(self) -> int:
        return sum(self.per_line)


@dataclass(frozen=True, slots=True)
class Decision:
    paid: tuple[Payout, ...]
    considered: tuple[dict[str, Any], ...] = field(default=())
    """The breakdown's `campaigns`: every matching campaign, what it paid, or why not."""

    @property
    def bonus_points(self) -> int:
        return sum(p.points for p in self.paid)


def _line_matches(c: Campaign, line: Line) -> bool:
    if line.points <= 0 or line.scenario not in c.scenarios:
        return False
    return c.categories is None or (line.category is not None and line.category in c.categories)


def matches(c: Campaign, occasion: Occasion) -> bool:
    """The activity-level filters: region, window, merchant, store."""
    if occasion.region not in c.regions or not c.starts_at <= occasion.occurred_at < c.ends_at:
        return False
    if c.merchant_ids is not None and occasion.merchant_id not in c.merchant_ids:
        return False
    return c.store_ids is None or occasion.store_id in c.store_ids


def wanted_per_line(c: Campaign, lines: Sequence[Line]) -> list[int]:
    """What the campaign's rule gives each line, before caps and budget.

    A multiplier m pays floor(points × (m − 1)) on each matching line; a fixed
    bonus is per activity, spread over the matching lines by their base points
    (largest remainder), so a refund of some lines takes back their share.
    """
    hits = [_line_matches(c, line) for line in lines]
    if c.multiplier is not None:
        extra = c.multiplier - 1  # floor(points × extra) in integers: simulations run this a million times
        num, den = extra.numerator, extra.denominator
        return [line.points * num // den if hit else 0 for line, hit in zip(lines, hits, strict=True)]
    assert c.bonus is not None
    if not any(hits):
        return [0] * len(lines)
    return allocate(c.bonus, [line.points if hit else 0 for line, hit in zip(lines, hits, strict=True)])


def payout(offer: Offer, lines: Sequence[Line]) -> Payout:
    """The campaign's bonus per line, cut in line order by the citizen's cap, then the budget."""
    wanted = wanted_per_line(offer.campaign, lines)
    room = [r for r in (offer.citizen_left, offer.budget_left) if r is not None]
    left = max(0, min(room)) if room else None
    paid = []
    for want in wanted:
        give = want if left is None else min(want, left)
        if left is not None:
            left -= give
        paid.append(give)
    limited_by = None
    if sum(paid) < sum(wanted):
        citizen_short = offer.citizen_left is not None and offer.citizen_left < sum(wanted)
        budget_short = offer.budget_left is not None and offer.budget_left < sum(wanted)
        if citizen_short and (not budget_short or (offer.citizen_left or 0) <= (offer.budget_left or 0)):
            limited_by = "per_citizen_cap"
        else:
            limited_by = "budget"
    return Payout(offer.campaign, tuple(paid), sum(wanted), limited_by)


def decide(offers: Sequence[Offer], occasion: Occasion, lines: Sequence[Line]) -> Decision:
    """Which campaigns pay for this activity, and how much on each line."""
    payouts = [payout(o, lines) for o in offers if matches(o.campaign, occasion)]
    payouts = [p for p in payouts if p.wanted > 0]
    if not payouts:
        return Decision(paid=())
    stacking = [p for p in payouts if p.campaign.stacking is Stacking.STACK]
    exclusive = [p for p in payouts if p.campaign.stacking is Stacking.EXCLUSIVE]
    best = max(exclusive, key=lambda p: (p.points, -p.campaign.starts_at.timestamp(), p.campaign.id), default=None)
    stack_total = sum(p.points for p in stacking)
    paid: list[Payout]
    if best is not None and best.points > stack_total:
        paid, winner = [best], "exclusive"
    else:
        paid, winner = [p for p in stacking if p.points > 0], "stack"
    chosen = {p.campaign.id for p in paid}
    considered = []
    for p in payouts:
        entry: dict[str, Any] = {
            "campaign_id": p.campaign.id,
            "name": p.campaign.name,
            "rule": p.campaign.rule_text,
            "stacking": str(p.campaign.stacking),
            "wanted_points": p.wanted,
            "bonus_points": p.points if p.campaign.id in chosen else 0,
            "applied": p.campaign.id in chosen,
        }
        if p.limited_by is not None:
            entry["limited_by"] = p.limited_by
        if p.campaign.id not in chosen:
            entry["why_not"] = _why_not(p, winner, best)
        considered.append(entry)
    return Decision(paid=tuple(paid), considered=tuple(considered))


def _why_not(p: Payout, winner: str, best: Payout | None) -> str:
    if p.points == 0:
        return "its budget is spent" if p.limited_by == "budget" else "the citizen reached its per-citizen cap"
    if winner == "exclusive" and best is not None:
        return f"exclusive campaign {best.campaign.id} pays more"
    if p.campaign.stacking is Stacking.EXCLUSIVE:
        return "the stacking campaigns together pay at least as much"
    return "outbid"


def spend_by_campaign(decision: Decision) -> Mapping[str, int]:
    return {p.campaign.id: p.points for p in decision.paid if p.points}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A past (or made-up) activity, as a simulation replays it."""

    user_id: str
    occasion: Occasion
    scenario: str
    lines: tuple[Line, ...]


@dataclass
class Simulation:
    """What a campaign would have paid, alone, from an untouched budget, over activities in time order."""

    campaign: Campaign
    activities: int = 0
    matched: int = 0
    paid: int = 0
    bonus_points: int = 0
    cut_by_cap: int = 0
    cut_by_budget: int = 0
    by_region_scenario: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    """(region, scenario) → [activities paid, bonus points]."""
    citizen_spent: dict[str, int] = field(default_factory=dict)

    def add(self, c: Candidate) -> None:
        self.activities += 1
        if not matches(self.campaign, c.occasion):
            return
        budget_left = None if self.campaign.budget is None else self.campaign.budget - self.bonus_points
        citizen_left = (
            None
            if self.campaign.per_citizen_cap is None
            else self.campaign.per_citizen_cap - self.citizen_spent.get(c.user_id, 0)
        )
        p = payout(Offer(self.campaign, budget_left, citizen_left), c.lines)
        if p.wanted == 0:
            return
        self.matched += 1
        if p.limited_by == "per_citizen_cap":
            self.cut_by_cap += 1
        elif p.limited_by == "budget":
            self.cut_by_budget += 1
        if p.points == 0:
            return
        self.paid += 1
        self.bonus_points += p.points
        self.citizen_spent[c.user_id] = self.citizen_spent.get(c.user_id, 0) + p.points
        cell = self.by_region_scenario.setdefault((c.occasion.region, c.scenario), [0, 0])
        cell[0] += 1
        cell[1] += p.points

    def summary(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign.id,
            "activities_considered": self.activities,
            "activities_matched": self.matched,
            "activities_paid": self.paid,
            "bonus_points": self.bonus_points,
            "cost_points": self.bonus_points,
            "citizens_paid": len(self.citizen_spent),
            "cut_by_per_citizen_cap": self.cut_by_cap,
            "cut_by_budget": self.cut_by_budget,
            "budget": self.campaign.budget,
            "budget_exhausted": self.campaign.budget is not None and self.bonus_points >= self.campaign.budget,
            "by_region_scenario": [
                {"region": region, "scenario": scenario, "activities_paid": n, "bonus_points": points}
                for (region, scenario), (n, points) in sorted(self.by_region_scenario.items())
            ],
        }
