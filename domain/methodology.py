"""Methodology versions: factors, plausibility bounds and daily caps, as data.

A version is parsed once from its stored document (numbers are decimal
strings) into exact values; an activity is evaluated with the version in force
at its occurred_at for its region, falling back to the `default` region.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from domain.errors import DomainError
from domain.points import exact_decimal, parse_rate

DEFAULT_REGION = "default"
TRAVEL_MODES = ("metro", "bus", "bike")
FAMILIES = ("travel", "walk", "recycling", "purchase", "bank")
BANK_BEHAVIOURS = ("e_statement", "online_banking", "green_loan_repayment", "green_card_spend")
CONFIDENCE_LEVELS = ("official", "press", "paper", "provisional", "per product")


class InvalidMethodology(DomainError):
    code = "invalid_methodology"


@dataclass(frozen=True, slots=True)
class Factor:
    value: Fraction
    text: str
    unit: str
    source: str
    confidence: str

    def describe(self) -> dict[str, str]:
        return {"value": self.text, "unit": self.unit, "source": self.source, "confidence": self.confidence}


@dataclass(frozen=True, slots=True)
class TravelBounds:
    min_km: Fraction
    max_km: Fraction
    max_kmh: Fraction
    max_hours: Fraction


@dataclass(frozen=True, slots=True)
class WalkRules:
    max_steps_per_day: int
    floor_steps: int


@dataclass(frozen=True, slots=True)
class RecyclingBounds:
    max_kg_per_line: Fraction
    max_kg_per_dropoff: Fraction


@dataclass(frozen=True, slots=True)
class BankBounds:
    max_quantity: int
    """The most units of the behaviour one report may carry (a month of e-statements, a day of card spend)."""


@dataclass(frozen=True, slots=True)
class ReportingWindow:
    max_future_skew_minutes: int
    max_age_days: int
    future_skew: timedelta = field(init=False, repr=False, compare=False)
    max_age: timedelta = field(init=False, repr=False, compare=False)
    """The two as timedeltas, made once per version rather than once per activity."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "future_skew", timedelta(minutes=self.max_future_skew_minutes))
        object.__setattr__(self, "max_age", timedelta(days=self.max_age_days))


@dataclass(frozen=True, slots=True)
class Methodology:
    id: str
    region: str
    effective_from: datetime
    rate_points_per_g: Fraction
    rate_text: str
    factors: Mapping[str, Factor]
    travel: Mapping[str, TravelBounds]
    walk: WalkRules
    recycling: RecyclingBounds
    window: ReportingWindow
    caps: Mapping[str, int]
    bank: Mapping[str, BankBounds] = field(default_factory=dict)
    """Bounds per bank behaviour; a behaviour without a factor and bounds is not offered."""

    def factor(self, scenario: str) -> Factor | None:
        return self.factors.get(scenario)

    def bank_behaviours(self) -> list[str]:
        return sorted(self.bank)

    def recycling_categories(self) -> list[str]:
        return sorted(s.removeprefix("recycling.") for s in self.factors if s.startswith("recycling."))


def _number(value: Any, where: str) -> Fraction:
    try:
        number = exact_decimal(value)
    except ValueError as exc:
        raise InvalidMethodology(f"{where}: {exc}") from None
    if number < 0:
        raise InvalidMethodology(f"{where} cannot be negative")
    return number


def _whole(value: Any, where: str) -> int:
    number = _number(value, where)
    if number.denominator != 1:
        raise InvalidMethodology(f"{where} must be a whole number")
    return int(number)


def parse(id: str, region: str, effective_from: datetime, rate: str, document: Mapping[str, Any]) -> Methodology:
    """A methodology from its stored form; every missing or malformed part is an InvalidMethodology."""
    if effective_from.tzinfo is None:
        raise InvalidMethodology("effective_from needs a timezone")
    try:
        rate_value = parse_rate(str(rate))
    except ValueError:
        raise InvalidMethodology(f"rate_points_per_g is not a non-negative number: {rate!r}") from None
    try:
        factors_doc = document["factors"]
        bounds = document["bounds"]
        caps_doc = document["caps"]
        factors: dict[str, Factor] = {}
        for scenario, f in factors_doc.items():
            confidence = f["confidence"]
            if confidence not in CONFIDENCE_LEVELS:
                raise InvalidMethodology(f"{scenario}: confidence must be one of {', '.join(CONFIDENCE_LEVELS)}")
            value = Fraction(0) if scenario == "purchase.green" else _number(f["value"], f"factors.{scenario}.value")
            factors[scenario] = Factor(value, str(f["value"]), str(f["unit"]), str(f["source"]), confidence)
        travel = {
            mode: TravelBounds(
                min_km=_number(bounds[f"travel.{mode}"]["min_km"], f"bounds.travel.{mode}.min_km"),
                max_km=_number(bounds[f"travel.{mode}"]["max_km"], f"bounds.travel.{mode}.max_km"),
                max_kmh=_number(bounds[f"travel.{mode}"]["max_kmh"], f"bounds.travel.{mode}.max_kmh"),
                max_hours=_number(bounds[f"travel.{mode}"]["max_hours"], f"bounds.travel.{mode}.max_hours"),
            )
            for mode in TRAVEL_MODES
            if f"travel.{mode}" in factors
        }
        walk = WalkRules(
            max_steps_per_day=_whole(bounds["travel.walk"]["max_steps_per_day"], "bounds.travel.walk.max_steps_per_day"),
            floor_steps=_whole(bounds["travel.walk"].get("floor_steps", 0), "bounds.travel.walk.floor_steps"),
        )
        recycling = RecyclingBounds(
            max_kg_per_line=_number(bounds["recycling"]["max_kg_per_line"], "bounds.recycling.max_kg_per_line"),
            max_kg_per_dropoff=_number(bounds["recycling"]["max_kg_per_dropoff"], "bounds.recycling.max_kg_per_dropoff"),
        )
        window = ReportingWindow(
            max_future_skew_minutes=_whole(bounds["any"]["max_future_skew_minutes"], "bounds.any.max_future_skew_minutes"),
            max_age_days=_whole(bounds["any"]["max_age_days"], "bounds.any.max_age_days"),
        )
        caps = {family: _whole(caps_doc[family], f"caps.{family}") for family in FAMILIES}
        bank = {
            behaviour: BankBounds(
                max_quantity=_whole(bounds[f"bank.{behaviour}"]["max_quantity"], f"bounds.bank.{behaviour}.max_quantity")
            )
            for behaviour in BANK_BEHAVIOURS
            if f"bank.{behaviour}" in factors and f"bank.{behaviour}" in bounds
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise InvalidMethodology(f"the methodology document lacks {exc}") from None
    for mode, b in travel.items():
        if b.min_km > b.max_km or b.max_kmh == 0 or b.max_hours == 0:
            raise InvalidMethodology(f"bounds.travel.{mode} are inconsistent")
    return Methodology(
        id=id,
        region=region,
        effective_from=effective_from,
        rate_points_per_g=rate_value,
        rate_text=str(rate),
        factors=factors,
        travel=travel,
        walk=walk,
        recycling=recycling,
        window=window,
        caps=caps,
        bank=bank,
    )


def in_force(versions: Iterable[Methodology], region: str, at: datetime) -> Methodology | None:
    """The version in force at `at` for `region`: the region's own latest version that has
    started, else the `default` region's; a version never applies before its effective_from."""
    started = [v for v in versions if v.effective_from <= at]
    for wanted in (region, DEFAULT_REGION):
        candidates = [v for v in started if v.region == wanted]
        if candidates:
            return max(candidates, key=lambda v: (v.effective_from, v.id))
    return None
