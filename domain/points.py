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


def allocate(total: int, weights: list[Fraction]) -> list[int]:
    """Split a whole number of points (or grams) across lines in proportion to `weights`.

    Largest remainder: every part is its floor share, and the points the floors
    leave over go one each to the largest remainders (earliest line on ties), so
    the parts always add up to exactly `total`.
    """
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("allocate splits non-negative amounts by non-negative weights")
    if len(weights) == 1:  # most activities have one line: nothing to split
        if total and weights[0] == 0:
            raise ValueError("cannot split points across lines that all weigh nothing")
        return [total]
    whole = sum(weights, Fraction(0))
    if whole == 0:
        if total:
            raise ValueError("cannot split points across lines that all weigh nothing")
        return [0] * len(weights)
    shares = [total * w / whole for w in weights]
    parts = [int(s) for s in shares]
    left = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(shares[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return parts
