"""evaluate() gives exactly the awards it gave when award_golden.json was written.

A broad, deterministic set of generated activities (every scenario, bounds and
window edges, caps, campaigns) against outputs recorded from the rule path
before it was optimised: status, numbers, lines, bonuses, reason, the whole
breakdown (key order and value types included) and the postings with their
digests. A rule change that is meant to change results regenerates the file:
    AWARD_GOLDEN_WRITE=1 .venv/bin/pytest tests/domain/test_award_golden.py
"""

import json
import os
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from fractions import Fraction
from pathlib import Path
from typing import Any

from domain import methodology
from domain.activities import Activity, BankAction, DailySteps, Dropoff, DropoffItem, GreenProduct, Purchase, PurchaseLine, Trip
from domain.award import AwardContext, evaluate
from domain.calendar import SHANGHAI
from domain.campaigns import Campaign, Offer, Stacking
from domain.methodology import Methodology
from tests.domain.conftest import SEED, load_seed

GOLDEN = Path(__file__).with_name("award_golden.json")
NOW = datetime(2025, 5, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
NEAR_MIDNIGHT = datetime(2025, 5, 10, 15, 59, 59, 999_999, tzinfo=UTC)  # 23:59:59.999999 in Shanghai


def odd_methodology() -> Methodology:
    """Like the seed, with a fractional rate, ragged factors and bounds, another window and a step floor."""
    doc = json.loads(SEED.read_text(encoding="utf-8"))
    doc["factors"]["travel.metro"]["value"] = "46.83"
    doc["factors"]["travel.bus"]["value"] = "26.917"
    doc["factors"]["travel.walk"]["value"] = "0.0213"
    doc["factors"]["recycling.glass"]["value"] = "309.5"
    doc["factors"]["recycling.paper"]["value"] = "1760.25"
    doc["factors"]["bank.green_card_spend"]["value"] = "0.37"
    doc["bounds"]["travel.metro"] = {"min_km": "0.25", "max_km": "33.3", "max_kmh": "27.5", "max_hours": "1.5"}
    doc["bounds"]["travel.bus"] = {"min_km": "0.125", "max_km": "60", "max_kmh": "45.05", "max_hours": "2.25"}
    doc["bounds"]["travel.walk"]["floor_steps"] = "1000"
    doc["bounds"]["recycling"] = {"max_kg_per_line": "12.5", "max_kg_per_dropoff": "30.75"}
    doc["bounds"]["any"] = {"max_future_skew_minutes": "5", "max_age_days": "3"}
    doc["caps"] = {"travel": 333, "walk": 77, "recycling": 1500, "purchase": 4321, "bank": 120}
    return methodology.parse("odd-2025", "default", datetime(2025, 1, 1, tzinfo=SHANGHAI), "0.7", doc)


def campaign(id: str, scenarios: set[str], stacking: Stacking, **kw: Any) -> Campaign:
    return Campaign(
        id=id,
        name=f"campaign {id}",
        regions=frozenset(kw.pop("regions", {"huangpu", "xuhui"})),
        scenarios=frozenset(scenarios),
        starts_at=kw.pop("starts_at", datetime(2025, 5, 1, tzinfo=SHANGHAI)),
        ends_at=kw.pop("ends_at", datetime(2025, 6, 1, tzinfo=SHANGHAI)),
        stacking=stacking,
        **kw,
    )


ALL = {"travel.metro", "travel.bus", "travel.bike", "travel.walk", "purchase.green", "bank.e_statement", "bank.green_card_spend"}
RECYCLING = {f"recycling.{c}" for c in ("paper", "cardboard", "plastic_pet", "glass", "aluminium", "steel", "textiles")}
CAMPAIGNS = [
    campaign("stack-1.5", ALL | RECYCLING, Stacking.STACK, multiplier=Fraction(3, 2)),
    campaign("stack-bonus-7", ALL, Stacking.STACK, bonus=7, store_ids=frozenset({"s2"})),
    campaign("excl-bonus-100", RECYCLING, Stacking.EXCLUSIVE, bonus=100, categories=frozenset({"paper", "glass"})),
    campaign("excl-x2-m1", {"purchase.green"}, Stacking.EXCLUSIVE, multiplier=Fraction(2), merchant_ids=frozenset({"m1"})),
    campaign("excl-x1.25", ALL | RECYCLING, Stacking.EXCLUSIVE, multiplier=Fraction(5, 4), per_citizen_cap=50, budget=1000),
    campaign("stack-bonus-33-cat", RECYCLING | {"purchase.green"}, Stacking.STACK, bonus=33, categories=frozenset({"appliance"})),
    campaign(
        "stack-x3-short",
        ALL | RECYCLING,
        Stacking.STACK,
        multiplier=Fraction(3),
        starts_at=NOW - timedelta(hours=1),
        ends_at=NOW + timedelta(minutes=1),
        regions={"xuhui"},
    ),
]
CATEGORIES = ["paper", "cardboard", "plastic_pet", "plastic_hdpe", "aluminium", "steel", "glass", "textiles", "e_waste"]


def offers(rng: random.Random) -> tuple[Offer, ...]:
    chosen = rng.sample(CAMPAIGNS, rng.choice([0, 0, 1, 1, 2, 3, 4]))
    rooms = [None, None, 0, 1, 5, 40, 300, 10_000]
    return tuple(Offer(c, budget_left=rng.choice(rooms), citizen_left=rng.choice(rooms)) for c in chosen)


def edges(at: float, spread: int = 2) -> list[int]:
    return [max(0, round(at) + d) for d in range(-spread, spread + 1)]


def trips(m: Methodology, rng: random.Random, now: datetime) -> Iterator[Trip]:
    for mode in ("metro", "bus", "bike", "walk", "car"):
        b = m.travel.get(mode)
        if b is None:  # no factor or no bounds for the mode
            yield from (Trip(mode, metres, now - timedelta(hours=1), now) for metres in (0, 5000))
            continue
        lo, hi, kmh, hours = float(b.min_km), float(b.max_km), float(b.max_kmh), float(b.max_hours)
        distances = [0, 1000, 5000, 12_345, *edges(lo * 1000, 1), *edges(hi * 1000, 1)]
        distances += [rng.randrange(0, int(hi * 1000) + 2000) for _ in range(20)]
        for metres in distances:
            start = now - timedelta(minutes=rng.randrange(5, 600))
            fast = metres / 1000 / kmh * 3600  # seconds at exactly the top speed
            plausible = rng.uniform(fast, max(fast, hours * 3600))
            seconds = [rng.choice([*edges(fast, 1), fast * 1.7, plausible]), plausible]
            if rng.random() < 0.4:
                seconds[1] = rng.choice([0, 0.4, -0.7, 1, hours * 3600, hours * 3600 + 1])
            for s in seconds:
                yield Trip(mode, metres, start, start + timedelta(seconds=s))
    skew = timedelta(minutes=m.window.max_future_skew_minutes)
    age = timedelta(days=m.window.max_age_days)
    for start in (now + skew, now + skew + timedelta(microseconds=1), now - age, now - age - timedelta(microseconds=1)):
        yield Trip("metro", 5000, start, start + timedelta(minutes=12))
        yield Trip("bike", 3000, start.astimezone(SHANGHAI), start + timedelta(minutes=11))


def steps(m: Methodology, rng: random.Random, now: datetime) -> Iterator[DailySteps]:
    today = now.astimezone(SHANGHAI).date()
    top = m.walk.max_steps_per_day
    for day in (today, today + timedelta(days=1), today - timedelta(days=m.window.max_age_days + 1)):
        for n in (0, 1, 999, 1000, 1001, 10_000, 12_549, *edges(top)):
            yield DailySteps(day, n, rng.choice([0, 0, 500, 1000, 5000, n, n + 10]), now)
    for back in range(m.window.max_age_days + 1):
        yield DailySteps(today - timedelta(days=back), rng.randrange(0, top + 10), rng.randrange(0, 20_000), now)
    for _ in range(30):
        yield DailySteps(today, rng.randrange(0, top + 100), rng.randrange(0, top), now - timedelta(minutes=rng.randrange(0, 60)))


def dropoffs(m: Methodology, rng: random.Random, now: datetime) -> Iterator[Dropoff]:
    line = int(m.recycling.max_kg_per_line * 1000)
    total = int(m.recycling.max_kg_per_dropoff * 1000)
    for category in [*CATEGORIES, "wood"]:
        for grams in (0, 1, 333, 1500, *edges(line, 1)):
            yield Dropoff((DropoffItem(category, grams),), now - timedelta(minutes=rng.randrange(0, 300)))
    per = line
    count = total // per
    for extra in (-1, 0, 1):
        items = [DropoffItem("glass", per) for _ in range(count)] + [DropoffItem("paper", max(0, total - per * count + extra))]
        yield Dropoff(tuple(items), now)
    for _ in range(110):
        n = rng.choice([1, 2, 2, 3, 3, 4, 5])
        items = tuple(
            DropoffItem(
                rng.choice(CATEGORIES if rng.random() > 0.02 else ["wood"]),
                rng.choice([rng.randrange(0, line + 5), rng.randrange(0, 2000), 1, 7]),
            )
            for _ in range(n)
        )
        yield Dropoff(items, now - timedelta(minutes=rng.randrange(-3, 3000)))


def purchases(rng: random.Random, now: datetime) -> Iterator[Purchase]:
    day = now.astimezone(SHANGHAI).date()
    for _ in range(110):
        lines = []
        for k in range(rng.choice([1, 1, 2, 3, 3, 4, 6])):
            sku = f"sku-{k}-{rng.randrange(100)}"
            quantity = rng.choice([1, 1, 2, 3, 7])
            kind = rng.random()
            product: GreenProduct | None
            if kind < 0.15:
                product = None
            else:
                valid = (
                    rng.choice([date(2026, 12, 31), day, day - timedelta(days=1), date(2025, 1, 1)])
                    if kind < 0.35
                    else date(2027, 1, 1)
                )
                grams = rng.choice([0, 1, 3, 33, 150, 800, 2500, rng.randrange(0, 5000)])
                product = GreenProduct(
                    sku, rng.choice(["appliance", "appliance", "food", "textile"]), grams, "CGP", f"N-{sku}", valid
                )
            lines.append(PurchaseLine(sku, quantity, 100 * quantity + k, product))
        yield Purchase(
            rng.choice(["m1", "m2"]), rng.choice(["s1", "s2"]), now - timedelta(minutes=rng.randrange(0, 900)), tuple(lines)
        )


def bank_actions(rng: random.Random, now: datetime) -> Iterator[BankAction]:
    for behaviour in ("e_statement", "online_banking", "green_loan_repayment", "green_card_spend", "cheques"):
        for quantity in (0, 1, 5, 6, 32, 51, 50_000, 50_001):
            yield BankAction(behaviour, quantity, now - timedelta(minutes=rng.randrange(0, 100)))


def cases() -> Iterator[tuple[Activity, AwardContext]]:
    rng = random.Random(20251121)
    for m in (load_seed(), odd_methodology()):
        for now in (NOW, NEAR_MIDNIGHT):
            activities: list[Activity] = [
                *trips(m, rng, now),
                *steps(m, rng, now),
                *dropoffs(m, rng, now),
                *purchases(rng, now),
                *bank_actions(rng, now),
            ]
            for activity in activities:
                cap = m.caps[activity.family]
                used = rng.choice([0, 0, 0, 1, cap // 2, cap - 1, cap, cap + 3, rng.randrange(0, cap + 1)])
                ctx = AwardContext(m, now, used, region=rng.choice(["huangpu", "xuhui", "jingan"]), offers=offers(rng))
                roll = rng.random()
                if roll < 0.01:
                    ctx = replace(ctx, methodology=None)
                elif roll < 0.02:
                    ctx = replace(ctx, duplicate_of="act-0")
                yield activity, ctx


def canon(value: Any, strings: dict[str, int]) -> Any:
    """JSON that keeps what JSON alone would lose: exact types (enums, tuples, bools) and key order.

    Long strings (reasons, timestamps) and factor descriptions repeat across thousands of cases: they
    are numbered in `strings`, kept once at the head of the golden file, so the file stays small.
    """
    if type(value) is str and len(value) > 16 and len(value) != 64:  # (not the digests: each is unique)
        return {"str": strings.setdefault(value, len(strings))}
    if value is None or type(value) in (str, int, bool):
        return value
    if type(value) is list:
        return [canon(v, strings) for v in value]
    if type(value) is tuple:
        return {"tuple": [canon(v, strings) for v in value]}
    if type(value) is dict and "source" in value:  # a factor's description, the same in many cases
        text = json.dumps({k: canon(v, {}) for k, v in value.items()}, ensure_ascii=False)
        return {"factor": strings.setdefault(text, len(strings))}
    if type(value) is dict and all(type(k) is str for k in value):
        return {k: canon(v, strings) for k, v in value.items()}  # json keeps the key order
    if isinstance(value, Enum):
        return {type(value).__name__: value.value}
    return {type(value).__name__: repr(value)}


def outcome(activity: Activity, ctx: AwardContext, strings: dict[str, int]) -> Any:
    try:
        award = evaluate(activity, ctx)
    except Exception as exc:  # an exception today must stay the same exception
        return {"raises": [type(exc).__name__, str(exc)]}
    postings = award.postings(user_id="u-1", activity_id="a-1", posted_at=NOW)
    fields = [  # positional, in this order: the golden file repeats them thousands of times
        award.status,
        award.scenario,
        award.family,
        award.carbon_g,
        award.base_points,
        award.points,
        award.bonus_points,
        award.reason,
        award.methodology_id,
        award.notes,
        [[line.scenario, line.carbon_g, line.points, line.ref] for line in award.lines],
        [[b.line, b.campaign_id, b.points] for b in award.bonuses],
        award.breakdown,
        [p.digest() for p in postings],  # the digest covers every field and leg
    ]
    return canon(fields, strings)


def test_evaluate_matches_the_recorded_awards() -> None:
    if os.environ.get("AWARD_GOLDEN_WRITE") == "1":
        strings: dict[str, int] = {}
        rows = [[repr(activity)[:60], outcome(activity, ctx, strings)] for activity, ctx in cases()]
        lines = [json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in [list(strings), *rows]]
        GOLDEN.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    table, *want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    strings = {s: i for i, s in enumerate(table)}
    got = [[repr(activity)[:60], outcome(activity, ctx, strings)] for activity, ctx in cases()]
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert json.dumps(g, ensure_ascii=False) == json.dumps(w, ensure_ascii=False), f"case {i}: {g[0]}"
    assert len(strings) == len(table), f"strings the recorded awards never had: {list(strings)[len(table) :][:5]}"
