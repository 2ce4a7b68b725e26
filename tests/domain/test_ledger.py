"""Ledger rules, without a database."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import ledger
from domain.errors import InvalidAdjustment, InvalidPosting, InvalidReversal, UnbalancedPosting
from domain.ledger import CITIZEN, EntryKind, Leg, Posting, StoredEntry, StoredPosting

NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
USER = "00000000-0000-4000-8000-000000000001"

system_accounts = st.sampled_from(
    ["adjustment", "expiry", "redemption", "issuance:travel.metro", "campaign:00000000-0000-4000-8000-0000000000aa"]
)
nonzero_points = st.integers(min_value=-(10**12), max_value=10**12).filter(lambda p: p != 0)


@given(points=nonzero_points, account=system_accounts, kind=st.sampled_from(list(EntryKind)))
def test_every_transfer_balances(points: int, account: str, kind: EntryKind) -> None:
    posting = ledger.transfer(user_id=USER, kind=kind, system_account=account, points=points, posted_at=NOW)
    assert sum(leg.points for leg in posting.legs) == 0
    assert posting.citizen_points == points


@given(citizen=nonzero_points, splits=st.lists(nonzero_points, min_size=1, max_size=5), account=system_accounts)
def test_multi_leg_postings_balance_or_cannot_exist(citizen: int, splits: list[int], account: str) -> None:
    legs = (Leg(CITIZEN, citizen), *(Leg(account, -p) for p in splits))
    if citizen == sum(splits):
        assert sum(leg.points for leg in Posting(USER, EntryKind.AWARD, legs, NOW).legs) == 0
    else:
        with pytest.raises(UnbalancedPosting):
            Posting(USER, EntryKind.AWARD, legs, NOW)


def test_a_posting_of_one_leg_or_zero_points_is_refused() -> None:
    with pytest.raises(InvalidPosting):
        Posting(USER, EntryKind.AWARD, (Leg(CITIZEN, 0), Leg("adjustment", 0)), NOW)
    with pytest.raises(InvalidPosting):
        Posting(USER, EntryKind.AWARD, (Leg(CITIZEN, 5),), NOW)


def test_points_must_be_integers_not_floats_or_bools() -> None:
    with pytest.raises(InvalidPosting):
        Posting(USER, EntryKind.AWARD, (Leg(CITIZEN, 1.0), Leg("adjustment", -1.0)), NOW)  # type: ignore[arg-type]
    with pytest.raises(InvalidPosting):
        Posting(USER, EntryKind.AWARD, (Leg(CITIZEN, True), Leg("adjustment", -1)), NOW)  # type: ignore[arg-type]


def test_a_posting_moves_exactly_one_citizen_account() -> None:
    with pytest.raises(InvalidPosting):
        Posting(USER, EntryKind.AWARD, (Leg("adjustment", 5), Leg("expiry", -5)), NOW)
    with pytest.raises(InvalidPosting):
        Posting(USER, EntryKind.AWARD, (Leg(CITIZEN, 5), Leg(CITIZEN, -5)), NOW)


def test_unknown_system_accounts_are_refused() -> None:
    with pytest.raises(InvalidPosting):
        ledger.transfer(user_id=USER, kind=EntryKind.AWARD, system_account="treasury", points=5, posted_at=NOW)


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidPosting):
        ledger.adjustment(user_id=USER, points=5, reason="x", posted_at=datetime(2026, 1, 1))


def test_adjustment_needs_a_reason_and_bounded_whole_points() -> None:
    with pytest.raises(InvalidAdjustment):
        ledger.adjustment(user_id=USER, points=5, reason="  ", posted_at=NOW)
    with pytest.raises(InvalidAdjustment):
        ledger.adjustment(user_id=USER, points=0, reason="x", posted_at=NOW)
    with pytest.raises(InvalidAdjustment):
        ledger.adjustment(user_id=USER, points=ledger.MAX_ADJUSTMENT_POINTS + 1, reason="x", posted_at=NOW)
    debit = ledger.adjustment(user_id=USER, points=-40, reason=" fraud ", posted_at=NOW)
    assert debit.citizen_points == -40 and debit.memo == "fraud"


def _award(points: int = 100, carbon: int = 100, reversed_points: dict[int, int] | None = None) -> StoredPosting:
    return StoredPosting(
        id=7,
        user_id=USER,
        kind=EntryKind.AWARD,
        entries=(
            StoredEntry(id=70, account=CITIZEN, points=points, kind=EntryKind.AWARD, carbon_g=carbon),
            StoredEntry(id=71, account="issuance:travel.metro", points=-points, kind=EntryKind.AWARD),
        ),
        scenario="travel.metro",
        activity_id="00000000-0000-4000-8000-00000000000b",
        reversed_points=reversed_points or {},
    )


def test_reversal_points_to_the_entries_it_undoes_and_balances() -> None:
    rev = ledger.reversal(_award(), citizen_points=100, posted_at=NOW)
    assert rev.kind is EntryKind.REVERSAL and rev.reverses_posting_id == 7
    assert [(leg.account, leg.points, leg.reverses_entry_id) for leg in rev.legs] == [
        (CITIZEN, -100, 70),
        ("issuance:travel.metro", 100, 71),
    ]
    assert rev.carbon_g == -100 and rev.scenario == "travel.metro"


def test_partial_reversals_cannot_exceed_what_was_given() -> None:
    ledger.reversal(_award(reversed_points={70: -60}), citizen_points=40, posted_at=NOW)
    with pytest.raises(InvalidReversal):
        ledger.reversal(_award(reversed_points={70: -60}), citizen_points=41, posted_at=NOW)


def test_a_reversal_cannot_be_reversed() -> None:
    rev = StoredPosting(
        id=8,
        user_id=USER,
        kind=EntryKind.REVERSAL,
        entries=(
            StoredEntry(id=80, account=CITIZEN, points=-10, kind=EntryKind.REVERSAL, reverses_entry_id=70),
            StoredEntry(id=81, account="issuance:travel.metro", points=10, kind=EntryKind.REVERSAL, reverses_entry_id=71),
        ),
    )
    with pytest.raises(InvalidReversal):
        ledger.reversal(rev, citizen_points=-10, posted_at=NOW)


def test_reversal_goes_the_way_the_points_went() -> None:
    with pytest.raises(InvalidReversal):
        ledger.reversal(_award(), citizen_points=-5, posted_at=NOW)
    with pytest.raises(InvalidReversal):
        ledger.reversal(_award(), citizen_points=0, posted_at=NOW)


def test_reversed_carbon_is_in_proportion_rounded_toward_zero() -> None:
    rev = ledger.reversal(_award(points=3, carbon=10), citizen_points=1, posted_at=NOW)
    assert rev.carbon_g == -3


def test_account_totals_count_earnings_net_of_reversals_and_spending_net_of_releases() -> None:
    totals = ledger.totals_from_entries(
        [
            (EntryKind.AWARD, 100, 100, None),
            (EntryKind.BONUS, 100, 0, None),
            (EntryKind.REVERSAL, -50, -50, EntryKind.AWARD),
            (EntryKind.REDEMPTION_HOLD, -80, 0, None),
            (EntryKind.REDEMPTION_RELEASE, 30, 0, None),
            (EntryKind.ADJUSTMENT, 7, 0, None),
            (EntryKind.EXPIRY, -2, 0, None),
        ]
    )
    assert totals == ledger.AccountDelta(balance=105, lifetime_earned=150, lifetime_spent=50, carbon_g=50)


def test_digest_changes_when_any_part_of_a_posting_changes() -> None:
    base = ledger.adjustment(user_id=USER, points=5, reason="x", posted_at=NOW)
    same = ledger.adjustment(user_id=USER, points=5, reason="x", posted_at=NOW.astimezone(timezone(timedelta(hours=8))))
    assert base.digest() == same.digest()  # the instant matters, not its offset
    assert base.digest() != ledger.adjustment(user_id=USER, points=6, reason="x", posted_at=NOW).digest()
    assert base.digest() != ledger.adjustment(user_id=USER, points=5, reason="y", posted_at=NOW).digest()
    assert (
        base.digest() != ledger.adjustment(user_id=USER, points=5, reason="x", posted_at=NOW + timedelta(microseconds=1)).digest()
    )
