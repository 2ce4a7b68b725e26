import json
from datetime import UTC, datetime

import pytest

from domain import methodology
from domain.calendar import SHANGHAI, local_day, lot_expiry
from domain.methodology import InvalidMethodology, Methodology, in_force
from domain.points import allocate
from tests.domain.conftest import SEED, load_seed


def _version(base: Methodology, id: str, region: str, start: datetime) -> Methodology:
    from dataclasses import replace

    return replace(base, id=id, region=region, effective_from=start)


def test_the_version_in_force_is_the_latest_started_one_of_the_region_else_default(default_2025: Methodology) -> None:
    d25 = default_2025
    d26 = _version(d25, "default-2026", "default", datetime(2026, 1, 1, tzinfo=SHANGHAI))
    hp = _version(d25, "huangpu-2025b", "huangpu", datetime(2025, 6, 1, tzinfo=SHANGHAI))
    versions = [d25, d26, hp]
    assert in_force(versions, "putuo", datetime(2025, 5, 1, tzinfo=UTC)) is d25
    assert in_force(versions, "putuo", datetime(2026, 1, 1, tzinfo=SHANGHAI)) is d26
    assert in_force(versions, "huangpu", datetime(2025, 5, 31, 23, 59, tzinfo=SHANGHAI)) is d25
    assert in_force(versions, "huangpu", datetime(2025, 6, 1, tzinfo=SHANGHAI)) is hp
    assert in_force(versions, "huangpu", datetime(2024, 12, 31, tzinfo=UTC)) is None


def test_a_malformed_document_is_refused_with_what_is_wrong() -> None:
    base = load_seed()
    with pytest.raises(InvalidMethodology, match="lacks"):
        methodology.parse("x", "default", base.effective_from, "1", {"factors": {}, "bounds": {}, "caps": {}})
    with pytest.raises(InvalidMethodology, match="rate"):
        methodology.parse("x", "default", base.effective_from, "-1", {})
    with pytest.raises(InvalidMethodology, match="timezone"):
        methodology.parse("x", "default", datetime(2025, 1, 1), "1", {})
    with pytest.raises(InvalidMethodology, match="rate"):
        methodology.parse("x", "default", base.effective_from, "Infinity", {})


@pytest.mark.parametrize("value", ["Infinity", "NaN", "1e999999999", float("inf")])
def test_a_factor_that_is_not_a_finite_number_is_refused(value: object) -> None:
    doc = json.loads(SEED.read_text(encoding="utf-8"))
    doc["factors"]["travel.metro"]["value"] = value
    with pytest.raises(InvalidMethodology, match=r"factors\.travel\.metro\.value"):
        methodology.parse("x", "default", datetime.fromisoformat(doc["effective_from"]), "1", doc)


def test_local_day_is_shanghai() -> None:
    assert local_day(datetime(2025, 5, 9, 15, 59, 59, tzinfo=UTC)).isoformat() == "2025-05-09"
    assert local_day(datetime(2025, 5, 9, 16, 0, 0, tzinfo=UTC)).isoformat() == "2025-05-10"


def test_points_expire_at_the_end_of_the_year_after_they_were_earned() -> None:
    assert lot_expiry(datetime(2025, 1, 1, tzinfo=SHANGHAI)) == datetime(2027, 1, 1, tzinfo=SHANGHAI)
    assert lot_expiry(datetime(2025, 12, 31, 23, 59, tzinfo=SHANGHAI)) == datetime(2027, 1, 1, tzinfo=SHANGHAI)
    # 2025-12-31 16:00 UTC is already 2026 in Shanghai
    assert lot_expiry(datetime(2025, 12, 31, 16, 0, tzinfo=UTC)) == datetime(2028, 1, 1, tzinfo=SHANGHAI)


def test_allocate_adds_up_exactly_and_favours_largest_remainders() -> None:
    from fractions import Fraction

    assert allocate(10, [Fraction(1), Fraction(1), Fraction(1)]) == [4, 3, 3]
    assert allocate(1049, [Fraction(463), Fraction(586)]) == [463, 586]
    assert allocate(0, [Fraction(0), Fraction(0)]) == [0, 0]
    with pytest.raises(ValueError):
        allocate(1, [Fraction(0)])
