"""Carbon grams to points: the one rounding rule of the platform."""

import math
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

# Factors, rates and multipliers are written by people: anything beyond these is a typo, and an
# unbounded exponent ("1e999999999") would build an integer of a billion digits.
_MAX_EXPONENT = 12


def exact_decimal(text: object) -> Fraction:
    """A number written in decimal ("0.5", 3, "1.25e-3"), exactly, or ValueError: not a finite
    number, or one beyond 10^±12."""
    try:
        number = Decimal(str(text))
    except ArithmeticError:  # decimal.InvalidOperation
        raise ValueError(f"not a number: {text!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    if number and not -_MAX_EXPONENT <= number.adjusted() <= _MAX_EXPONENT:
        raise ValueError(f"out of range (10^-{_MAX_EXPONENT} to 10^{_MAX_EXPONENT}): {text!r}")
    return Fraction(number)


def parse_rate(text: str) -> Fraction:
    """A conversion rate written as a decimal string ("1", "0.5"), exactly.

    Rates are kept as strings in seeds and in the database so no float ever
    touches a point; Fraction(Decimal) is exact.
    """
    rate = exact_decimal(text)
    if rate < 0:
        raise ValueError(f"a conversion rate cannot be negative: {text}")
    return rate


def points_for_carbon(carbon_g: int, rate_points_per_g: Fraction) -> int:
    """Base points for an activity: carbon × rate, rounded down once, per activity."""
    if carbon_g < 0:
        raise ValueError("carbon reduction cannot be negative")
    # floor(carbon × rate) in integers: this runs for every activity, and Fraction arithmetic is slow
    return carbon_g * rate_points_per_g.numerator // rate_points_per_g.denominator


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


def allocate(total: int, weights: Sequence[int] | Sequence[Fraction]) -> list[int]:
    """Split a whole number of points (or grams) across lines in proportion to `weights`.

    Largest remainder: every part is its floor share, and the points the floors
    leave over go one each to the largest remainders (earliest line on ties), so
    the parts always add up to exactly `total`.
    """
    if len(weights) == 1:  # most activities have one line: nothing to split
        if total < 0 or weights[0] < 0:
            raise ValueError("allocate splits non-negative amounts by non-negative weights")
        if total and weights[0] == 0:
            raise ValueError("cannot split points across lines that all weigh nothing")
        return [total]
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("allocate splits non-negative amounts by non-negative weights")
    if not all(type(w) is int for w in weights):
        # Fractions: scale them to whole numbers over a common denominator (the proportions are the same)
        den = math.lcm(*(Fraction(w).denominator for w in weights))
        weights = [int(w * den) for w in weights]
    whole = sum(weights)
    if whole == 0:
        if total:
            raise ValueError("cannot split points across lines that all weigh nothing")
        return [0] * len(weights)
    # line i's exact share is total × w / whole = part + remainder / whole: integers only, as this runs
    # for every line of every activity (the remainders share the denominator `whole`, so they compare)
    parts_and_remainders = [divmod(total * w, whole) for w in weights]
    parts = [part for part, _ in parts_and_remainders]
    left = total - sum(parts)
    if left:
        order = sorted(range(len(weights)), key=lambda i: (-parts_and_remainders[i][1], i))
        for i in order[:left]:
            parts[i] += 1
    return parts
