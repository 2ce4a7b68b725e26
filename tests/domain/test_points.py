"""Carbon → points, the one rounding rule, and proportional shares."""

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.points import allocate, exact_decimal, parse_rate, points_for_carbon, proportional_share


def test_one_point_per_gram_is_exact() -> None:
    assert points_for_carbon(468, parse_rate("1")) == 468


def test_points_round_down_once_per_activity() -> None:
    assert points_for_carbon(999, parse_rate("0.01")) == 9
    assert points_for_carbon(1, parse_rate("0.999")) == 0


def test_rates_are_exact_decimals_never_floats() -> None:
    assert parse_rate("0.1") == Fraction(1, 10)
    # 0.1 as a float is 0.1000000000000000055...; 30 × it must still floor to exactly 3
    assert points_for_carbon(30, parse_rate("0.1")) == 3


@pytest.mark.parametrize("text", ["Infinity", "-inf", "NaN", "sNaN", "abc", "", "1e13", "1e-13", "1e999999999"])
def test_numbers_people_write_are_finite_and_bounded(text: str) -> None:
    with pytest.raises(ValueError):
        exact_decimal(text)


def test_numbers_people_write_are_exact() -> None:
    assert exact_decimal("0.1") == Fraction(1, 10)
    assert exact_decimal(3) == 3
    assert exact_decimal("1.25e-3") == Fraction(1, 800)
    assert exact_decimal("0") == 0
    assert exact_decimal("1e12") == 10**12


def test_negative_rates_and_carbon_are_refused() -> None:
    with pytest.raises(ValueError):
        parse_rate("-1")
    with pytest.raises(ValueError):
        points_for_carbon(-1, parse_rate("1"))


@given(total=st.integers(-(10**9), 10**9), qty=st.integers(1, 50), data=st.data())
def test_cumulative_shares_add_up_to_the_whole(total: int, qty: int, data: st.DataObject) -> None:
    steps = data.draw(st.lists(st.integers(1, qty), min_size=1, max_size=qty))
    done, reversed_total = 0, 0
    for step in steps:
        step = min(step, qty - done)
        if step == 0:
            break
        part = proportional_share(total, done + step, qty) - proportional_share(total, done, qty)
        assert abs(part) <= abs(total)
        reversed_total += part
        done += step
    reversed_total += proportional_share(total, qty, qty) - proportional_share(total, done, qty)
    assert reversed_total == total


def test_shares_of_out_of_range_quantities_are_refused() -> None:
    with pytest.raises(ValueError):
        proportional_share(100, 3, 2)
    with pytest.raises(ValueError):
        proportional_share(100, 1, 0)


def _allocate_with_fractions(total: int, weights: list[Fraction]) -> list[int]:
    """allocate as it was first written, in Fractions: the integer version must agree with it exactly."""
    whole = sum(weights, Fraction(0))
    shares = [total * w / whole for w in weights]
    parts = [int(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: (-(shares[i] - parts[i]), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


@given(
    total=st.integers(0, 10**7),
    weights=st.lists(st.fractions(min_value=0, max_value=10**6, max_denominator=10**4), min_size=2, max_size=8),
)
def test_allocate_in_integers_is_the_fraction_rule(total: int, weights: list[Fraction]) -> None:
    if sum(weights) == 0:
        return
    expected = _allocate_with_fractions(total, weights)
    assert allocate(total, weights) == expected
    den = math.lcm(*(w.denominator for w in weights))
    assert allocate(total, [int(w * den) for w in weights]) == expected


@given(carbon=st.integers(0, 10**9), rate=st.fractions(min_value=0, max_value=100, max_denominator=10**6))
def test_points_for_carbon_floors_the_exact_product(carbon: int, rate: Fraction) -> None:
    assert points_for_carbon(carbon, rate) == int(carbon * rate)
