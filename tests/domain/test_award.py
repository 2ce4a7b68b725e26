"""The award rules of methodology.md: factors, bounds, window, caps, rounding, breakdown."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.activities import DailySteps, Dropoff, DropoffItem, Trip
from domain.award import AwardContext, Status, evaluate
from domain.methodology import Methodology

NOW = datetime(2025, 5, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def trip(mode: str, metres: int, minutes: float, start: datetime = NOW - timedelta(hours=6)) -> Trip:
    return Trip(mode=mode, distance_m=metres, started_at=start, ended_at=start + timedelta(minutes=minutes))


def ctx(m: Methodology, used: int = 0, **kw: object) -> AwardContext:
    return AwardContext(methodology=m, now=NOW, used_today=used, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "metres", "carbon"),
    [("metro", 10_000, 468), ("bus", 10_000, 269), ("bike", 5_000, 200), ("metro", 12_345, 577), ("bus", 1_001, 26)],
)
def test_travel_carbon_is_factor_times_km_rounded_down(default_2025: Methodology, mode: str, metres: int, carbon: int) -> None:
    award = evaluate(trip(mode, metres, 30), ctx(default_2025))
    assert award.status is Status.AWARDED
    assert award.carbon_g == carbon and award.points == carbon  # 1 point per gram


def test_walk_is_two_hundredths_of_a_gram_per_step(default_2025: Methodology) -> None:
    steps = DailySteps(day=date(2025, 5, 10), steps=10_000, counted_before=0, reported_at=NOW)
    assert evaluate(steps, ctx(default_2025)).carbon_g == 200
    later = DailySteps(day=date(2025, 5, 10), steps=12_549, counted_before=10_000, reported_at=NOW)
    assert evaluate(later, ctx(default_2025)).carbon_g == 50  # 2,549 new steps × 0.02 = 50.98 → 50
    lower = DailySteps(day=date(2025, 5, 10), steps=9_000, counted_before=10_000, reported_at=NOW)
    award = evaluate(lower, ctx(default_2025))
    assert (award.status, award.points, award.breakdown["new_steps"]) == (Status.AWARDED, 0, 0)


@pytest.mark.parametrize(
    ("category", "grams", "carbon"),
    [
        ("paper", 1000, 1760),
        ("cardboard", 1000, 3160),
        ("plastic_pet", 1000, 1370),
        ("plastic_hdpe", 1000, 1580),
        ("aluminium", 1000, 8110),
        ("steel", 1000, 1830),
        ("glass", 1000, 309),
        ("textiles", 500, 1800),
        ("e_waste", 250, 250),
    ],
)
def test_every_recycling_factor(default_2025: Methodology, category: str, grams: int, carbon: int) -> None:
    award = evaluate(Dropoff(items=(DropoffItem(category, grams),), at=NOW), ctx(default_2025))
    assert award.carbon_g == carbon
    assert award.scenario == f"recycling.{category}"


def test_mixed_dropoff_rounds_once_and_splits_points_by_category(default_2025: Methodology) -> None:
    dropoff = Dropoff(items=(DropoffItem("glass", 1500), DropoffItem("paper", 333)), at=NOW)
    award = evaluate(dropoff, ctx(default_2025))
    # 1.5 × 309 + 0.333 × 1760 = 463.5 + 586.08 = 1049.58 → 1049 g, once
    assert award.carbon_g == 1049 and award.points == 1049
    assert sum(line.points for line in award.lines) == 1049
    assert {line.scenario for line in award.lines} == {"recycling.glass", "recycling.paper"}
    assert award.scenario == "recycling"


@pytest.mark.parametrize(
    ("mode", "metres", "minutes", "reason"),
    [
        ("metro", 299, 5, "below the 0.300 km minimum"),
        ("metro", 80_001, 60, "above the 80.000 km maximum"),
        ("metro", 20_000, 10, "120.0 km/h is above the 90.0 km/h maximum"),
        ("metro", 20_000, 241, "above the 4.00 h maximum"),
        ("bus", 199, 5, "below the 0.200 km minimum"),
        ("bus", 60_001, 120, "above the 60.000 km maximum"),
        ("bus", 11_000, 10, "66.0 km/h is above the 60.0 km/h maximum"),
        ("bike", 199, 5, "below the 0.200 km minimum"),
        ("bike", 40_001, 200, "above the 40.000 km maximum"),
        ("bike", 6_000, 10, "36.0 km/h is above the 30.0 km/h maximum"),
        ("bike", 1_000, 0, "must take some time"),
    ],
)
def test_travel_plausibility_bounds(default_2025: Methodology, mode: str, metres: int, minutes: float, reason: str) -> None:
    award = evaluate(trip(mode, metres, minutes), ctx(default_2025))
    assert award.status is Status.REJECTED and award.points == 0 and award.carbon_g == 0
    assert reason in (award.reason or "")
    assert award.postings(user_id="u", activity_id="a", posted_at=NOW) == []


def test_travel_bounds_are_inclusive(default_2025: Methodology) -> None:
    assert evaluate(trip("metro", 300, 1), ctx(default_2025)).status is Status.AWARDED
    assert evaluate(trip("metro", 80_000, 240), ctx(default_2025)).status is Status.CAPPED  # plausible, over the cap
    assert evaluate(trip("bike", 15_000, 30), ctx(default_2025)).status is Status.AWARDED  # exactly 30 km/h


def test_steps_and_recycling_bounds(default_2025: Methodology) -> None:
    too_many = DailySteps(day=date(2025, 5, 10), steps=60_001, counted_before=0, reported_at=NOW)
    assert evaluate(too_many, ctx(default_2025)).status is Status.REJECTED
    most = DailySteps(day=date(2025, 5, 10), steps=60_000, counted_before=0, reported_at=NOW)
    assert evaluate(most, ctx(default_2025)).status is not Status.REJECTED
    heavy_line = Dropoff(items=(DropoffItem("paper", 50_001),), at=NOW)
    assert "per line" in (evaluate(heavy_line, ctx(default_2025)).reason or "")
    heavy_total = Dropoff(items=(*tuple(DropoffItem("glass", 50000) for _ in range(4)), DropoffItem("glass", 1)), at=NOW)
    assert "per drop-off" in (evaluate(heavy_total, ctx(default_2025)).reason or "")
    assert evaluate(Dropoff(items=tuple(DropoffItem("glass", 50_000) for _ in range(4)), at=NOW), ctx(default_2025)).status in (
        Status.AWARDED,
        Status.CAPPED,
    )


def test_reporting_window(default_2025: Methodology) -> None:
    assert evaluate(trip("metro", 5000, 10, start=NOW - timedelta(minutes=8)), ctx(default_2025)).status is Status.AWARDED
    future = evaluate(trip("metro", 5000, 10, start=NOW + timedelta(minutes=2, seconds=1)), ctx(default_2025))
    assert (future.status, future.reason) == (Status.REJECTED, "occurred_at is in the future")
    # a trip is over when it is reported: one that ends later (beyond the clock skew) is not a trip yet
    unfinished = evaluate(trip("metro", 50_000, 180, start=NOW - timedelta(minutes=1)), ctx(default_2025))
    assert (unfinished.status, unfinished.reason) == (
        Status.REJECTED,
        "ended_at is in the future: a trip is reported once it has ended",
    )
    ending = evaluate(trip("metro", 5000, 10, start=NOW - timedelta(minutes=7, seconds=59)), ctx(default_2025))
    assert ending.status is Status.REJECTED
    assert evaluate(trip("metro", 5000, 10, start=NOW - timedelta(days=7)), ctx(default_2025)).status is Status.AWARDED
    stale = evaluate(trip("metro", 5000, 10, start=NOW - timedelta(days=7, seconds=1)), ctx(default_2025))
    assert stale.status is Status.REJECTED and "7-day" in (stale.reason or "")
    tomorrow = DailySteps(day=date(2025, 5, 11), steps=100, counted_before=0, reported_at=NOW)
    assert evaluate(tomorrow, ctx(default_2025)).status is Status.REJECTED


def test_daily_cap_awards_up_to_the_cap_and_says_so(default_2025: Methodology) -> None:
    award = evaluate(trip("metro", 10_000, 30), ctx(default_2025, used=800))
    assert (award.status, award.base_points, award.points, award.carbon_g) == (Status.CAPPED, 468, 200, 468)
    assert award.breakdown["caps"] == [
        {"family": "travel", "daily_cap": 1000, "used_before": 800, "applied": True, "points_cut": 268}
    ]
    assert "cap" in (award.reason or "")
    full = evaluate(trip("metro", 10_000, 30), ctx(default_2025, used=1000))
    assert (full.status, full.points) == (Status.CAPPED, 0)
    assert full.postings(user_id="u", activity_id="a", posted_at=NOW) == []


def test_each_family_has_its_own_cap(default_2025: Methodology) -> None:
    assert default_2025.caps == {"travel": 1000, "walk": 300, "recycling": 2000, "purchase": 5000, "bank": 500}
    walk = evaluate(DailySteps(day=date(2025, 5, 10), steps=60_000, counted_before=0, reported_at=NOW), ctx(default_2025))
    assert (walk.status, walk.base_points, walk.points) == (Status.CAPPED, 1200, 300)
    recycle = evaluate(Dropoff(items=(DropoffItem("aluminium", 1000),), at=NOW), ctx(default_2025))
    assert (recycle.status, recycle.points) == (Status.CAPPED, 2000)


def test_a_duplicate_act_earns_nothing_and_names_the_original(default_2025: Methodology) -> None:
    award = evaluate(trip("metro", 10_000, 30), ctx(default_2025, duplicate_of="act-1"))
    assert (award.status, award.points, award.carbon_g) == (Status.DUPLICATE, 0, 0)
    assert "act-1" in (award.reason or "")


def test_conversion_rate_rounds_points_down_once(default_2025: Methodology) -> None:
    from fractions import Fraction

    tenth = replace(default_2025, rate_points_per_g=Fraction(1, 10), rate_text="0.1")
    award = evaluate(trip("metro", 12_345, 30), ctx(tenth))
    assert (award.carbon_g, award.points) == (577, 57)
    assert award.breakdown["rate_points_per_g"] == "0.1"


def test_breakdown_explains_every_number(default_2025: Methodology) -> None:
    award = evaluate(trip("metro", 12_345, 30), ctx(default_2025, used=100))
    b = award.breakdown
    assert b["methodology"] == "default-2025" and b["scenario"] == "travel.metro"
    assert b["factor"] == {
        "value": "46.8",
        "unit": "g CO2e per passenger-km",
        "source": "Shenzhen low-carbon public travel methodology (2021), as published for 低碳星球",
        "confidence": "official",
    }
    assert (b["distance_km"], b["duration_min"], b["average_kmh"]) == ("12.345", "30.0", "24.7")
    assert (b["carbon_g"], b["rate_points_per_g"], b["base_points"], b["points"]) == (577, "1", 577, 577)
    assert b["campaigns"] == []


def test_award_postings_come_from_the_scenario_issuance_account(default_2025: Methodology) -> None:
    award = evaluate(trip("bike", 5_000, 20), ctx(default_2025))
    [posting] = award.postings(user_id="u1", activity_id="a1", posted_at=NOW)
    assert [(leg.account, leg.points) for leg in posting.legs] == [("citizen", 200), ("issuance:travel.bike", -200)]
    assert (posting.carbon_g, posting.scenario, posting.activity_id) == (200, "travel.bike", "a1")


def test_without_a_methodology_in_force_nothing_is_awarded() -> None:
    award = evaluate(trip("metro", 10_000, 30), AwardContext(methodology=None, now=NOW, used_today=0))
    assert (award.status, award.points, award.methodology_id) == (Status.REJECTED, 0, None)
    assert "no methodology" in (award.reason or "")
