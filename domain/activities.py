"""What citizens do, as reported: trips, the day's steps, recycling drop-offs, green purchases.

Each activity knows its scenario, its cap family and when it occurred, and
measures its own carbon reduction against a methodology, or says why it is
implausible. Structural nonsense (negative distances, a trip that ends before
it starts) never gets here: the API refuses it as malformed input.
"""

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction

from domain.calendar import local_day, start_of_local_day
from domain.methodology import Methodology


@dataclass(frozen=True, slots=True)
class Measured:
    """The carbon of an activity, by scenario, and the quantities that explain it."""

    carbon_by_scenario: tuple[tuple[str, int], ...]
    """Per line, its exact carbon in units of 1/`carbon_per` gram."""
    explanation: dict[str, object]
    refs: tuple[str | None, ...] = ()
    """Per line (aligned with carbon_by_scenario), what names it in postings: refunds find lines by it."""
    categories: tuple[str | None, ...] = ()
    """Per line, the category campaigns may filter on (a product's or a recycling category)."""
    carbon_per: int = 1
    """The common denominator of the lines' carbon. Factors and bounds are decimals, so every quantity
    here is an exact ratio of integers; the rules keep numerators and denominators as plain ints
    rather than Fractions because they run for every activity (a million times per import)."""


@dataclass(frozen=True, slots=True)
class Implausible:
    reason: str
    explanation: dict[str, object] | None = None
    """What was measured before the activity was found implausible, for the breakdown."""


def _ratio(numerator: int, denominator: int, places: int = 3) -> str:
    """The non-negative quantity numerator / denominator with `places` decimals, rounded half up."""
    quantum = 10**places
    whole, decimals = divmod((2 * numerator * quantum + denominator) // (2 * denominator), quantum)
    return f"{whole}.{decimals:0{places}d}"


def _fmt(value: Fraction, places: int = 3) -> str:
    return _ratio(value.numerator, value.denominator, places)


@dataclass(frozen=True, slots=True)
class Trip:
    mode: str
    distance_m: int
    started_at: datetime
    ended_at: datetime

    family = "travel"

    @property
    def scenario(self) -> str:
        return f"travel.{self.mode}"

    @property
    def occurred_at(self) -> datetime:
        return self.started_at

    def measure(self, methodology: Methodology) -> Measured | Implausible:
        factor = methodology.factor(self.scenario)
        bounds = methodology.travel.get(self.mode)
        if factor is None or bounds is None:
            return Implausible(f"methodology {methodology.id} has no factor for {self.scenario}")
        # km = metres / 1000, hours = seconds / 3600 and speed = km / hours, compared with the bounds
        # (p / q) by cross-multiplying: a / b < p / q exactly when a × q < p × b (b and q are positive)
        metres = self.distance_m
        seconds = int((self.ended_at - self.started_at).total_seconds())
        min_km, max_km, max_hours, max_kmh = bounds.min_km, bounds.max_km, bounds.max_hours, bounds.max_kmh
        if metres * min_km.denominator < min_km.numerator * 1000:
            return Implausible(f"distance {_ratio(metres, 1000)} km is below the {_fmt(min_km)} km minimum for {self.mode}")
        if metres * max_km.denominator > max_km.numerator * 1000:
            return Implausible(f"distance {_ratio(metres, 1000)} km is above the {_fmt(max_km)} km maximum for {self.mode}")
        if seconds <= 0:
            return Implausible("a trip must take some time")
        if seconds * max_hours.denominator > max_hours.numerator * 3600:
            return Implausible(f"duration {_ratio(seconds, 3600, 2)} h is above the {_fmt(max_hours, 2)} h maximum")
        speed_num, speed_den = metres * 3600, seconds * 1000  # km/h
        if speed_num * max_kmh.denominator > max_kmh.numerator * speed_den:
            return Implausible(
                f"average speed {_ratio(speed_num, speed_den, 1)} km/h is above the"
                f" {_fmt(max_kmh, 1)} km/h maximum for {self.mode}"
            )
        return Measured(
            carbon_by_scenario=((self.scenario, factor.value.numerator * metres),),
            carbon_per=factor.value.denominator * 1000,
            explanation={
                "factor": factor.describe(),
                "distance_km": _ratio(metres, 1000),
                "duration_min": _ratio(seconds, 60, 1),
                "average_kmh": _ratio(speed_num, speed_den, 1),
            },
        )


@dataclass(frozen=True, slots=True)
class DailySteps:
    """The day's step count from the app; only steps not counted before that day earn."""

    day: date
    steps: int
    counted_before: int
    reported_at: datetime

    family = "walk"
    scenario = "travel.walk"

    @property
    def occurred_at(self) -> datetime:
        """When the day's steps were last walked, as near as is known: at the report for today's
        count, at the day's last instant for an earlier day (reported after midnight). The
        methodology version, the campaign window and the leaderboards' week go by the day
        walked, not by the day the phone got round to reporting it."""
        return min(self.reported_at, start_of_local_day(self.day + timedelta(days=1)) - timedelta(microseconds=1))

    def measure(self, methodology: Methodology) -> Measured | Implausible:
        factor = methodology.factor(self.scenario)
        if factor is None:
            return Implausible(f"methodology {methodology.id} has no factor for {self.scenario}")
        rules = methodology.walk
        if self.steps > rules.max_steps_per_day:
            return Implausible(f"{self.steps} steps is above the {rules.max_steps_per_day} steps a day maximum")
        counted_from = max(self.counted_before, rules.floor_steps)
        new_steps = max(0, self.steps - counted_from)
        return Measured(
            carbon_by_scenario=((self.scenario, factor.value.numerator * new_steps),),
            carbon_per=factor.value.denominator,
            explanation={
                "factor": factor.describe(),
                "day": self.day.isoformat(),
                "steps": self.steps,
                "steps_counted_before": self.counted_before,
                "daily_floor_steps": rules.floor_steps,
                "new_steps": new_steps,
            },
        )

    def day_out_of_window(self, now: datetime, max_age_days: int) -> str | None:
        today = local_day(now)
        if self.day > today:
            return f"{self.day.isoformat()} has not begun yet in Shanghai"
        if self.day < today - timedelta(days=max_age_days):
            return f"{self.day.isoformat()} is older than the {max_age_days}-day reporting window"
        return None


@dataclass(frozen=True, slots=True)
class DropoffItem:
    category: str
    weight_g: int


@dataclass(frozen=True, slots=True)
class Dropoff:
    """A recycling drop-off at a station: one or more categories by weight."""

    items: tuple[DropoffItem, ...]
    at: datetime

    family = "recycling"

    @property
    def scenario(self) -> str:
        categories = sorted({item.category for item in self.items})
        return f"recycling.{categories[0]}" if len(categories) == 1 else "recycling"

    @property
    def occurred_at(self) -> datetime:
        return self.at

    def measure(self, methodology: Methodology) -> Measured | Implausible:
        # weights are grams, bounds kg (p / q): g / 1000 > p / q exactly when g × q > p × 1000
        per_line, per_dropoff = methodology.recycling.max_kg_per_line, methodology.recycling.max_kg_per_dropoff
        weighed = []
        lines = []
        total_g = 0
        for item in self.items:
            scenario = f"recycling.{item.category}"
            factor = methodology.factor(scenario)
            if factor is None:
                return Implausible(f"methodology {methodology.id} has no factor for {scenario}")
            if item.weight_g * per_line.denominator > per_line.numerator * 1000:
                return Implausible(
                    f"{_ratio(item.weight_g, 1000)} kg of {item.category} is above the {_fmt(per_line)} kg per line maximum"
                )
            total_g += item.weight_g
            weighed.append((scenario, factor.value, item.weight_g))
            lines.append({"category": item.category, "weight_kg": _ratio(item.weight_g, 1000), "factor": factor.describe()})
        if total_g * per_dropoff.denominator > per_dropoff.numerator * 1000:
            return Implausible(f"{_ratio(total_g, 1000)} kg is above the {_fmt(per_dropoff)} kg per drop-off maximum")
        # carbon = Σ factor × g / 1000, over the common denominator of the factors (× 1000 for the kg)
        common = math.lcm(*(value.denominator for _, value, _ in weighed))
        carbon: dict[str, int] = {}
        for scenario, value, grams in weighed:
            carbon[scenario] = carbon.get(scenario, 0) + value.numerator * (common // value.denominator) * grams
        by_scenario = tuple(sorted(carbon.items()))
        return Measured(
            carbon_by_scenario=by_scenario,
            carbon_per=common * 1000,
            explanation={"items": lines, "total_kg": _ratio(total_g, 1000)},
            categories=tuple(scenario.removeprefix("recycling.") for scenario, _ in by_scenario),
        )


@dataclass(frozen=True, slots=True)
class GreenProduct:
    """A merchant's certified green product as the catalogue held it when the purchase was evaluated."""

    sku: str
    category: str
    carbon_g_per_unit: int
    scheme: str
    number: str
    valid_until: date


@dataclass(frozen=True, slots=True)
class PurchaseLine:
    sku: str
    quantity: int
    amount_fen: int
    product: GreenProduct | None
    """The merchant's catalogue entry for the sku, or None when it has none."""


@dataclass(frozen=True, slots=True)
class Purchase:
    """An order at a merchant's store: only certified green lines earn, each by its certified carbon per unit."""

    merchant_id: str
    store_id: str
    purchased_at: datetime
    lines: tuple[PurchaseLine, ...]

    family = "purchase"
    scenario = "purchase.green"

    @property
    def occurred_at(self) -> datetime:
        return self.purchased_at

    def line_problem(self, line: PurchaseLine, day: date) -> str | None:
        """Why a line earns nothing, or None when it is a certified green product on the purchase day
        (`day`, the purchase's local day, worked out once for all its lines)."""
        if line.product is None:
            return f"sku {line.sku} is not a certified green product of this merchant"
        if line.product.valid_until < day:
            return (
                f"the certificate {line.product.scheme} {line.product.number} of sku {line.sku} "
                f"expired on {line.product.valid_until.isoformat()}, before the purchase day {day.isoformat()}"
            )
        return None

    def measure(self, methodology: Methodology) -> Measured | Implausible:
        factor = methodology.factor(self.scenario)
        if factor is None:
            return Implausible(f"methodology {methodology.id} has no factor for {self.scenario}")
        carbon: list[tuple[str, int]] = []
        explained: list[dict[str, object]] = []
        day = local_day(self.purchased_at)
        for line in self.lines:
            problem = self.line_problem(line, day)
            grams = 0 if problem is not None or line.product is None else line.product.carbon_g_per_unit * line.quantity
            carbon.append((self.scenario, grams))
            entry: dict[str, object] = {"sku": line.sku, "quantity": line.quantity, "amount_fen": line.amount_fen}
            if problem is not None or line.product is None:
                entry |= {"eligible": False, "reason": problem}
            else:
                entry |= {
                    "eligible": True,
                    "category": line.product.category,
                    "carbon_g_per_unit": line.product.carbon_g_per_unit,
                    "certification": {
                        "scheme": line.product.scheme,
                        "number": line.product.number,
                        "valid_until": line.product.valid_until.isoformat(),
                    },
                }
            explained.append(entry)
        explanation: dict[str, object] = {
            "factor": factor.describe(),
            "merchant_id": self.merchant_id,
            "store_id": self.store_id,
            "lines": explained,
        }
        if not any(grams for _, grams in carbon):
            return Implausible("no line of the order is a certified green product valid on the purchase day", explanation)
        return Measured(
            carbon_by_scenario=tuple(carbon),
            explanation=explanation,
            refs=tuple(f"sku:{line.sku}" for line in self.lines),
            categories=tuple(line.product.category if line.product else None for line in self.lines),
        )


@dataclass(frozen=True, slots=True)
class BankAction:
    """A bank customer's own green behaviour, reported by the bank: so many units of it (e-statements,
    transactions done online instead of at a branch, green-loan repayments, yuan of green-card spend)."""

    behaviour: str
    quantity: int
    at: datetime

    family = "bank"

    @property
    def scenario(self) -> str:
        return f"bank.{self.behaviour}"

    @property
    def occurred_at(self) -> datetime:
        return self.at

    def measure(self, methodology: Methodology) -> Measured | Implausible:
        factor = methodology.factor(self.scenario)
        bounds = methodology.bank.get(self.behaviour)
        if factor is None or bounds is None:
            return Implausible(f"methodology {methodology.id} has no factor for {self.scenario}")
        if self.quantity > bounds.max_quantity:
            return Implausible(f"{self.quantity} units of {self.behaviour} is above the {bounds.max_quantity} per report maximum")
        return Measured(
            carbon_by_scenario=((self.scenario, factor.value.numerator * self.quantity),),
            carbon_per=factor.value.denominator,
            explanation={"factor": factor.describe(), "behaviour": self.behaviour, "quantity": self.quantity},
        )


Activity = Trip | DailySteps | Dropoff | Purchase | BankAction
