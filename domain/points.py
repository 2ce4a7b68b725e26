"""Carbon grams to points: the one rounding rule of the platform."""

from decimal import Decimal
from fractions import Fraction


def parse_rate(text: str) -> Fraction:
    """A conversion rate written as a decimal string ("1", "0.5"), exactly.

    Rates are kept as strings in seeds and in the database so no float ever
    touches a point; Fraction(Decimal) is exact.
    """
    rate = Fraction(Decimal(text))
    if rate < 0:
        raise ValueError(f"a conversion rate cannot be negative: {text}")
    return rate


def points_for_carbon(carbon_g: int, rate_points_per_g: Fraction) -> int:
    """Base points for an activity: carbon × rate, rounded down once, per activity."""
    if carbon_g < 0:
        raise ValueError("carbon reduction cannot be negative")
    return int(carbon_g * rate_points_per_g)  # int() of a non-negative Fraction floors


def proportional_share(total: int, done_qty: int, total_qty: int) -> int:
    """The part of `total` that belongs to `done_qty` of `total_qty` units, rounded down.

    Used cumulatively: the share for a partial reversal is
    share(total, reversed_so_far + now) - share(total, reversed_so_far), so a
    sequence of partial reversals that ends with everything reverses exactly
    `total`, never a point more or less.
    """
    if total_qty <= 0 or not 0 <= done_qty <= total_qty:
        raise ValueError("quantities out of range")
    sign = -1 if total < 0 else 1
    return sign * (abs(total) * done_qty // total_qty)
