"""The auditor's summary: what each kind of citizen entry counts as, reversals under what they reverse."""

import pytest

from domain.ledger import EntryKind
from domain.reports import Summary, entry_summary, summarise

K = EntryKind


@pytest.mark.parametrize(
    ("kind", "reversed_kind", "points", "carbon_g", "expected"),
    [
        (K.AWARD, None, 120, 240, Summary(carbon_g=240, points_issued=120)),
        (K.BANK, None, 30, 60, Summary(carbon_g=60, points_issued=30)),
        (K.BONUS, None, 120, 0, Summary(points_issued=120, campaign_spend=120)),
        (K.REVERSAL, K.AWARD, -40, -80, Summary(carbon_g=-80, points_issued=-40)),
        (K.REVERSAL, K.BONUS, -40, 0, Summary(points_issued=-40, campaign_spend=-40)),
        (K.REVERSAL, K.BANK, -10, -20, Summary(carbon_g=-20, points_issued=-10)),
        (K.REDEMPTION_HOLD, None, -300, 0, Summary(redeemed=300)),
        (K.REDEMPTION_RELEASE, None, 300, 0, Summary(redeemed=-300)),
        (K.EXPIRY, None, -70, 0, Summary(expired=70)),
        (K.ADJUSTMENT, None, -25, 0, Summary(adjusted=-25)),
        (K.ADJUSTMENT, None, 25, 0, Summary(adjusted=25)),
    ],
)
def test_each_kind_counts_as_what_it_is(
    kind: EntryKind, reversed_kind: EntryKind | None, points: int, carbon_g: int, expected: Summary
) -> None:
    assert entry_summary(kind, reversed_kind, points, carbon_g) == expected


def test_a_reversal_must_say_what_it_reverses() -> None:
    with pytest.raises(ValueError, match="reverses"):
        entry_summary(K.REVERSAL, None, -1, 0)


def test_groups_keep_their_order_and_the_totals_are_their_sum() -> None:
    groups, total = summarise(
        [
            ("travel.metro", K.AWARD, None, 100, 200),
            ("purchase.green", K.AWARD, None, 50, 50),
            ("purchase.green", K.BONUS, None, 50, 0),
            ("travel.metro", K.REVERSAL, K.AWARD, -100, -200),
            (None, K.EXPIRY, None, -7, 0),
        ]
    )
    assert list(groups) == ["travel.metro", "purchase.green", None]
    assert groups["travel.metro"] == Summary()
    assert groups["purchase.green"] == Summary(carbon_g=50, points_issued=100, campaign_spend=50)
    assert total == Summary(carbon_g=50, points_issued=100, campaign_spend=50, expired=7)
    assert summarise([]) == ({}, Summary())
