"""Campaign rules (product.md Campaigns, methodology.md Green consumption season), without a database."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest

from domain import campaigns
from domain.activities import DailySteps, Dropoff, DropoffItem, GreenProduct, Purchase, PurchaseLine, Trip
from domain.award import AwardContext, Status, evaluate
from domain.calendar import SHANGHAI
from domain.campaigns import Campaign, InvalidCampaign, Line, Occasion, Offer, Stacking
from domain.ledger import EntryKind
from domain.methodology import Methodology

SEASON = Campaign(
    id="huangpu-green-season-2025",
    name="Huangpu green consumption season 2025",
    regions=frozenset({"huangpu"}),
    scenarios=frozenset({"purchase.green"}),
    starts_at=datetime(2025, 5, 1, tzinfo=SHANGHAI),
    ends_at=datetime(2025, 7, 1, tzinfo=SHANGHAI),
    stacking=Stacking.EXCLUSIVE,
    multiplier=Fraction(2),
    per_citizen_cap=20_000,
    budget=50_000_000,
)
NOW = datetime(2025, 5, 10, 4, 0, tzinfo=UTC)


def product(sku: str, grams: int, category: str = "appliance", valid_until: date = date(2026, 12, 31)) -> GreenProduct:
    return GreenProduct(sku, category, grams, "CGP", f"CGP-{sku}", valid_until)


def purchase(*lines: PurchaseLine, at: datetime = NOW - timedelta(hours=1), store: str = "store-hp") -> Purchase:
    return Purchase(merchant_id="m1", store_id=store, purchased_at=at, lines=lines)


def line(sku: str, qty: int, grams: int | None, **kw: object) -> PurchaseLine:
    return PurchaseLine(sku, qty, 100 * qty, product(sku, grams, **kw) if grams is not None else None)  # type: ignore[arg-type]


def ctx(m: Methodology, *offers: Offer, region: str = "huangpu", used: int = 0) -> AwardContext:
    return AwardContext(methodology=m, now=NOW, used_today=used, region=region, offers=offers)


# -- matching and the window ------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "inside"),
    [
        (datetime(2025, 4, 30, 23, 59, 59), False),
        (datetime(2025, 5, 1, 0, 0, 0), True),
        (datetime(2025, 6, 30, 23, 59, 59), True),
        (datetime(2025, 7, 1, 0, 0, 0), False),
    ],
)
def test_the_window_is_half_open_in_shanghai_time(local: datetime, inside: bool) -> None:
    at = local.replace(tzinfo=SHANGHAI).astimezone(UTC)  # stored and compared as instants
    assert campaigns.matches(SEASON, Occasion("huangpu", at)) is inside


def test_region_merchant_store_and_category_filters() -> None:
    c = replace(SEASON, merchant_ids=frozenset({"m1"}), store_ids=frozenset({"s1"}), categories=frozenset({"food"}))
    at = datetime(2025, 5, 2, tzinfo=SHANGHAI)
    assert campaigns.matches(c, Occasion("huangpu", at, "m1", "s1"))
    assert not campaigns.matches(c, Occasion("putuo", at, "m1", "s1"))
    assert not campaigns.matches(c, Occasion("huangpu", at, "m2", "s1"))
    assert not campaigns.matches(c, Occasion("huangpu", at, "m1", "s2"))
    lines = [Line("purchase.green", 100, "food"), Line("purchase.green", 100, "appliance"), Line("travel.metro", 100)]
    assert campaigns.wanted_per_line(c, lines) == [100, 0, 0]


def test_multiplier_pays_the_extra_on_base_points_rounded_down_per_line() -> None:
    c = replace(SEASON, multiplier=Fraction(3, 2))
    assert campaigns.wanted_per_line(c, [Line("purchase.green", 101), Line("purchase.green", 0)]) == [50, 0]


def test_fixed_bonus_is_per_activity_spread_over_matching_lines() -> None:
    c = replace(SEASON, multiplier=None, bonus=100)
    lines = [Line("purchase.green", 1), Line("purchase.green", 2), Line("travel.bus", 50)]
    assert campaigns.wanted_per_line(c, lines) == [33, 67, 0]


# -- limits -------------------------------------------------------------------------------


def test_per_citizen_cap_reached_midway_through_an_order() -> None:
    lines = [Line("purchase.green", 300), Line("purchase.green", 300), Line("purchase.green", 300)]
    p = campaigns.payout(Offer(SEASON, budget_left=10_000, citizen_left=450), lines)
    assert p.per_line == (300, 150, 0) and p.wanted == 900 and p.limited_by == "per_citizen_cap"


def test_budget_exhausted_midway_through_an_order() -> None:
    lines = [Line("purchase.green", 300), Line("purchase.green", 300)]
    p = campaigns.payout(Offer(SEASON, budget_left=400, citizen_left=20_000), lines)
    assert p.per_line == (300, 100) and p.limited_by == "budget"
    spent = campaigns.payout(Offer(SEASON, budget_left=0), lines)
    assert spent.points == 0


# -- stacking -----------------------------------------------------------------------------


def _occasion() -> Occasion:
    return Occasion("huangpu", datetime(2025, 5, 2, 12, tzinfo=SHANGHAI))


def test_exclusive_campaigns_pay_the_best_one_only() -> None:
    double = SEASON
    fixed = replace(SEASON, id="fixed", multiplier=None, bonus=50)
    d = campaigns.decide([Offer(double), Offer(fixed)], _occasion(), [Line("purchase.green", 200)])
    assert [p.campaign.id for p in d.paid] == [SEASON.id] and d.bonus_points == 200
    loser = next(c for c in d.considered if c["campaign_id"] == "fixed")
    assert loser["applied"] is False and SEASON.id in loser["why_not"]


def test_stacking_campaigns_add_up() -> None:
    a = replace(SEASON, id="a", stacking=Stacking.STACK)
    b = replace(SEASON, id="b", stacking=Stacking.STACK, multiplier=None, bonus=30)
    d = campaigns.decide([Offer(a), Offer(b)], _occasion(), [Line("purchase.green", 200)])
    assert sorted(p.campaign.id for p in d.paid) == ["a", "b"] and d.bonus_points == 230


def test_an_exclusive_campaign_competes_with_the_stack_as_a_whole() -> None:
    exclusive = replace(SEASON, id="x", multiplier=Fraction(3, 2))  # pays 100 on 200
    a = replace(SEASON, id="a", stacking=Stacking.STACK, multiplier=None, bonus=60)
    b = replace(SEASON, id="b", stacking=Stacking.STACK, multiplier=None, bonus=50)
    d = campaigns.decide([Offer(exclusive), Offer(a), Offer(b)], _occasion(), [Line("purchase.green", 200)])
    assert d.bonus_points == 110 and {p.campaign.id for p in d.paid} == {"a", "b"}
    d = campaigns.decide([Offer(exclusive), Offer(a)], _occasion(), [Line("purchase.green", 200)])
    assert d.bonus_points == 100 and [p.campaign.id for p in d.paid] == ["x"]


def test_a_spent_exclusive_campaign_gives_way() -> None:
    other = replace(SEASON, id="other", multiplier=Fraction(3, 2))
    d = campaigns.decide([Offer(SEASON, budget_left=0), Offer(other)], _occasion(), [Line("purchase.green", 200)])
    assert [p.campaign.id for p in d.paid] == ["other"]
    spent = next(c for c in d.considered if c["campaign_id"] == SEASON.id)
    assert spent["why_not"] == "its budget is spent"


# -- validation ---------------------------------------------------------------------------

KNOWN = {"known_regions": ["huangpu", "putuo"], "known_scenarios": ["purchase.green", "travel.metro"]}


@pytest.mark.parametrize("text", ["Infinity", "NaN", "1e999999999", "two"])
def test_a_multiplier_is_a_finite_decimal(text: str) -> None:
    with pytest.raises(InvalidCampaign, match="multiplier"):
        campaigns.parse_multiplier(text)
    assert campaigns.parse_multiplier("1.5") == Fraction(3, 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ends_at": SEASON.starts_at}, "after starts_at"),
        ({"multiplier": Fraction(1)}, "above 1"),
        ({"multiplier": None, "bonus": 0}, "above 0"),
        ({"multiplier": None}, "either a multiplier or a fixed bonus"),
        ({"bonus": 5}, "either a multiplier or a fixed bonus"),
        ({"regions": frozenset({"atlantis"})}, "unknown regions: atlantis"),
        ({"scenarios": frozenset({"travel.teleport"})}, "unknown scenarios"),
        ({"regions": frozenset()}, "at least one region"),
        ({"per_citizen_cap": 0}, "per_citizen_cap"),
        ({"budget": -1}, "budget"),
        ({"budget": 10, "per_citizen_cap": 20}, "cannot exceed the budget"),
    ],
)
def test_validation_refuses_what_cannot_be_meant(change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidCampaign, match=message):
        campaigns.validate(replace(SEASON, **change), **KNOWN)  # type: ignore[arg-type]
    campaigns.validate(SEASON, **KNOWN)  # type: ignore[arg-type]


# -- through evaluate: purchases and other scenarios --------------------------------------


def test_season_doubles_points_of_green_lines_only_and_never_carbon(default_2025: Methodology) -> None:
    order = purchase(line("TV", 1, 800), line("BREAD", 2, None))
    award = evaluate(order, ctx(default_2025, Offer(SEASON, budget_left=SEASON.budget, citizen_left=20_000)))
    assert (award.status, award.carbon_g, award.points, award.bonus_points) == (Status.AWARDED, 800, 800, 800)
    lines = award.breakdown["lines"]
    assert lines[0]["base_points"] == 800 and lines[0]["bonus_points"] == 800
    assert lines[1]["eligible"] is False and "not a certified green product" in lines[1]["reason"]
    postings = award.postings(user_id="u", activity_id="a", posted_at=NOW)
    assert [(p.kind, p.citizen_points, p.campaign_id, p.carbon_g, p.memo) for p in postings] == [
        (EntryKind.AWARD, 800, None, 800, "sku:TV"),
        (EntryKind.BONUS, 800, SEASON.id, 0, "sku:TV"),
    ]
    assert award.breakdown["campaigns"][0]["applied"] is True


def test_a_putuo_store_in_the_season_gets_no_bonus(default_2025: Methodology) -> None:
    award = evaluate(purchase(line("TV", 1, 800)), ctx(default_2025, Offer(SEASON), region="putuo"))
    assert (award.points, award.bonus_points, award.breakdown["campaigns"]) == (800, 0, [])


def test_a_certificate_that_expired_the_day_before_earns_nothing(default_2025: Methodology) -> None:
    at = datetime(2025, 5, 10, 0, 30, tzinfo=SHANGHAI)  # the purchase day in Shanghai is 10 May
    expired = purchase(line("TV", 1, 800, valid_until=date(2025, 5, 9)), at=at.astimezone(UTC))
    award = evaluate(expired, ctx(default_2025))
    assert award.status is Status.REJECTED and award.points == 0
    assert "expired on 2025-05-09" in award.breakdown["lines"][0]["reason"]
    still_valid = purchase(line("TV", 1, 800, valid_until=date(2025, 5, 10)), at=at.astimezone(UTC))
    assert evaluate(still_valid, ctx(default_2025)).points == 800


def test_the_daily_cap_cuts_base_points_before_the_bonus_is_computed(default_2025: Methodology) -> None:
    award = evaluate(purchase(line("TV", 1, 800)), ctx(default_2025, Offer(SEASON), used=4_700))
    assert (award.status, award.points, award.bonus_points) == (Status.CAPPED, 300, 300)


def test_campaigns_apply_to_travel_and_recycling_too(default_2025: Methodology) -> None:
    travel = replace(SEASON, id="t", scenarios=frozenset({"travel.metro"}), multiplier=None, bonus=10)
    trip = Trip("metro", 10_000, NOW - timedelta(hours=1), NOW - timedelta(minutes=30))
    award = evaluate(trip, ctx(default_2025, Offer(travel)))
    assert (award.carbon_g, award.points, award.bonus_points) == (468, 468, 10)
    paper = replace(SEASON, id="p", scenarios=frozenset({"recycling.paper"}), categories=frozenset({"paper"}))
    drop = Dropoff((DropoffItem("paper", 500), DropoffItem("glass", 1000)), NOW - timedelta(hours=1))
    award = evaluate(drop, ctx(default_2025, Offer(paper)))
    assert award.bonus_points == 880 and award.breakdown["lines"][1]["bonus_points"] == 880  # lines sorted: glass, paper


def test_a_duplicate_or_rejected_activity_gets_no_bonus(default_2025: Methodology) -> None:
    dup = evaluate(purchase(line("TV", 1, 800)), replace(ctx(default_2025, Offer(SEASON)), duplicate_of="x"))
    assert (dup.status, dup.bonus_points) == (Status.DUPLICATE, 0)


def test_simulation_replays_caps_and_budget_in_order_and_sums_by_region_and_scenario() -> None:
    c = replace(SEASON, regions=frozenset({"huangpu", "putuo"}), per_citizen_cap=150, budget=250)
    sim = campaigns.Simulation(c)
    at = datetime(2025, 5, 2, 12, tzinfo=SHANGHAI)
    for user, region in [("a", "huangpu"), ("a", "huangpu"), ("b", "putuo"), ("c", "huangpu"), ("d", "minhang")]:
        sim.add(campaigns.Candidate(user, Occasion(region, at), "purchase.green", (Line("purchase.green", 100),)))
    sim.add(campaigns.Candidate("e", Occasion("huangpu", at), "travel.metro", (Line("travel.metro", 100),)))
    out = sim.summary()
    # a: 100 then 50 (cap 150); b: 100; c: budget 250 is spent → 0
    assert (out["activities_considered"], out["activities_matched"], out["activities_paid"]) == (6, 4, 3)
    assert (out["bonus_points"], out["budget_exhausted"], out["cut_by_per_citizen_cap"], out["cut_by_budget"]) == (
        250,
        True,
        1,
        1,
    )
    assert out["by_region_scenario"] == [
        {"region": "huangpu", "scenario": "purchase.green", "activities_paid": 2, "bonus_points": 150},
        {"region": "putuo", "scenario": "purchase.green", "activities_paid": 1, "bonus_points": 100},
    ]


def test_steps_count_in_the_window_of_the_day_walked_not_the_day_reported(default_2025: Methodology) -> None:
    starts = datetime(2025, 5, 10, tzinfo=SHANGHAI)
    walking = replace(SEASON, id="walk-week", scenarios=frozenset({"travel.walk"}), starts_at=starts)
    # reported just after midnight on the campaign's first day: yesterday's steps are outside it
    just_after_midnight = datetime(2025, 5, 9, 16, 5, tzinfo=UTC)  # 00:05 on 10 May in Shanghai
    yesterday = DailySteps(day=date(2025, 5, 9), steps=10_000, counted_before=0, reported_at=just_after_midnight)
    assert yesterday.occurred_at == datetime(2025, 5, 9, 23, 59, 59, 999_999, tzinfo=SHANGHAI)
    award = evaluate(yesterday, replace(ctx(default_2025, Offer(walking)), now=just_after_midnight))
    assert (award.points, award.bonus_points) == (200, 0)
    today = DailySteps(day=date(2025, 5, 10), steps=10_000, counted_before=0, reported_at=just_after_midnight)
    assert today.occurred_at == just_after_midnight
    assert evaluate(today, replace(ctx(default_2025, Offer(walking)), now=just_after_midnight)).bonus_points == 200
