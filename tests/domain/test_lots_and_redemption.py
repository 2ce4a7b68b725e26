"""Rules of lots, redemptions and leaderboard periods, without a database."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.calendar import SHANGHAI, lot_expiry
from domain.errors import InsufficientPoints, InvalidLotMove, InvalidRedemptionState, OutOfStock, RewardUnavailable
from domain.leaderboards import Period, period_bounds, period_key, pseudonym
from domain.ledger import CITIZEN, EXPIRY_ACCOUNT, REDEMPTION_ACCOUNT, EntryKind, account_delta
from domain.lots import LotMove, OpenLot, apply, consumption, credited_lot_points, due, expiring, open_lot_points, restoration
from domain.redemption import RedemptionStatus, RewardTerms, check_redeemable, expiry, hold, next_status, release

Y2027 = datetime(2027, 1, 1, tzinfo=SHANGHAI)
Y2028 = datetime(2028, 1, 1, tzinfo=SHANGHAI)
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def lot(id: int, expires_at: datetime, remaining: int, points: int | None = None) -> OpenLot:
    return OpenLot(id, expires_at, remaining, points if points is not None else remaining)


def test_consumption_takes_the_soonest_expiring_lot_first_whatever_its_age() -> None:
    lots = [lot(1, Y2028, 100), lot(2, Y2027, 30), lot(3, Y2027, 50)]
    assert consumption(lots, 60) == [LotMove(2, -30), LotMove(3, -30)]
    assert consumption(lots, 150) == [LotMove(2, -30), LotMove(3, -50), LotMove(1, -70)]


def test_consumption_beyond_the_lots_empties_them_and_leaves_the_rest_as_debt() -> None:
    assert consumption([lot(1, Y2027, 10), lot(2, Y2028, 0, 5)], 25) == [LotMove(1, -10)]
    assert consumption([], 5) == []


def test_consumption_drains_a_named_lot_first() -> None:
    lots = [lot(1, Y2027, 10), lot(2, Y2028, 10)]
    assert consumption(lots, 15, first_lot_id=2) == [LotMove(2, -10), LotMove(1, -5)]


@pytest.mark.parametrize("points", [0, -1])
def test_consumption_needs_positive_points(points: int) -> None:
    with pytest.raises(InvalidLotMove):
        consumption([lot(1, Y2027, 10)], points)


def test_restoration_gives_back_exactly_what_was_taken() -> None:
    taken = [LotMove(2, -30), LotMove(3, -30)]
    assert restoration(taken) == [LotMove(2, 30), LotMove(3, 30)]
    assert restoration([]) == []


def test_restoration_repays_a_debt_first_and_refills_the_last_taken_lot_first() -> None:
    taken = [LotMove(2, -30), LotMove(3, -30)]  # 2 expires first, so it was taken first
    assert restoration(taken, up_to=40) == [LotMove(2, 10), LotMove(3, 30)]
    assert restoration(taken, up_to=0) == []


def test_apply_refuses_to_overdraw_or_overfill_a_lot() -> None:
    lots = [lot(1, Y2027, 10, 20)]
    assert apply(lots, [LotMove(1, -10)]) == {1: 0}
    assert apply(lots, [LotMove(1, 10)]) == {1: 20}
    for bad in (LotMove(1, -11), LotMove(1, 11), LotMove(9, 1)):
        with pytest.raises(InvalidLotMove):
            apply(lots, [bad])


def test_a_credit_repays_debt_before_it_fills_a_lot() -> None:
    assert credited_lot_points(0, 50) == 50
    assert credited_lot_points(-30, 50) == 20
    assert credited_lot_points(-80, 50) == 0
    assert credited_lot_points(10, 0) == 0
    assert [open_lot_points(b) for b in (-5, 0, 7)] == [0, 0, 7]


def test_a_lot_is_due_at_its_expiry_instant_and_not_a_microsecond_before() -> None:
    earned = datetime(2024, 12, 31, 23, 59, 59, tzinfo=SHANGHAI)
    assert lot_expiry(earned) == datetime(2026, 1, 1, tzinfo=SHANGHAI)
    assert lot_expiry(datetime(2024, 12, 31, 16, 0, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=SHANGHAI)  # 2025 locally
    lots = [lot(1, lot_expiry(earned), 40), lot(2, Y2027, 5)]
    assert due(lots, lot_expiry(earned) - timedelta(microseconds=1)) == []
    assert due(lots, lot_expiry(earned)) == [LotMove(1, -40)]
    with pytest.raises(InvalidLotMove):
        due(lots, datetime(2026, 1, 1))


def test_expiring_groups_the_next_30_days_by_instant() -> None:
    now = datetime(2026, 12, 5, tzinfo=UTC)
    lots = [lot(1, Y2027, 10), lot(2, Y2027, 5), lot(3, Y2028, 99), lot(4, Y2027, 0, 3)]
    assert [(e.points, e.expires_at) for e in expiring(lots, now)] == [(15, Y2027)]
    assert expiring(lots, datetime(2026, 11, 1, tzinfo=UTC)) == []


def test_expiring_includes_exactly_30_days_ahead_and_not_a_microsecond_more() -> None:
    lots = [lot(1, Y2027, 10)]
    assert [e.points for e in expiring(lots, Y2027 - timedelta(days=30))] == [10]
    assert expiring(lots, Y2027 - timedelta(days=30, microseconds=1)) == []


TERMS = RewardTerms(points=100, stock=3, active=True, region=None, valid_until=None)


def test_a_citizen_with_enough_points_may_redeem() -> None:
    check_redeemable(TERMS, balance=100, citizen_region="huangpu", now=NOW)


@pytest.mark.parametrize(
    ("terms", "balance", "error"),
    [
        (TERMS, 99, InsufficientPoints),
        (RewardTerms(1, 3, True, None, None), -1, InsufficientPoints),
        (RewardTerms(100, 0, True, None, None), 500, OutOfStock),
        (RewardTerms(100, 3, False, None, None), 500, RewardUnavailable),
        (RewardTerms(100, 3, True, "suzhou", None), 500, RewardUnavailable),
        (RewardTerms(100, 3, True, None, NOW), 500, RewardUnavailable),
    ],
)
def test_every_refusal_has_its_reason(terms: RewardTerms, balance: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_redeemable(terms, balance=balance, citizen_region="huangpu", now=NOW)


def test_hold_release_and_expiry_postings_balance_and_move_the_right_totals() -> None:
    h = hold(user_id="u", points=100, redemption_id="r", posted_at=NOW)
    r = release(user_id="u", points=100, redemption_id="r", posted_at=NOW)
    e = expiry(user_id="u", points=40, as_of=NOW, posted_at=NOW)
    assert [(leg.account, leg.points) for leg in h.legs] == [(CITIZEN, -100), (REDEMPTION_ACCOUNT, 100)]
    assert [(leg.account, leg.points) for leg in r.legs] == [(CITIZEN, 100), (REDEMPTION_ACCOUNT, -100)]
    assert [(leg.account, leg.points) for leg in e.legs] == [(CITIZEN, -40), (EXPIRY_ACCOUNT, 40)]
    assert account_delta(h.kind, -100, 0).lifetime_spent == 100
    assert account_delta(r.kind, 100, 0).lifetime_spent == -100
    assert account_delta(e.kind, -40, 0).lifetime_spent == 0 and e.kind is EntryKind.EXPIRY


def test_only_a_held_redemption_moves_on() -> None:
    assert next_status("held", RedemptionStatus.COMPLETED) is RedemptionStatus.COMPLETED
    assert next_status("cancelled", RedemptionStatus.CANCELLED) is RedemptionStatus.CANCELLED
    for current, wanted in (("completed", RedemptionStatus.CANCELLED), ("cancelled", RedemptionStatus.COMPLETED)):
        with pytest.raises(InvalidRedemptionState):
            next_status(current, wanted)


def test_weeks_and_months_are_counted_in_shanghai_time() -> None:
    sunday_night_utc = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)  # Monday 00:30 in Shanghai
    assert period_key(Period.WEEKLY, sunday_night_utc) == "2026-W48"
    assert period_key(Period.WEEKLY, sunday_night_utc - timedelta(hours=1)) == "2026-W47"
    assert period_key(Period.MONTHLY, datetime(2026, 11, 30, 16, 0, tzinfo=UTC)) == "2026-12"
    assert period_key(Period.WEEKLY, datetime(2027, 1, 1, tzinfo=SHANGHAI)) == "2026-W53"
    start, end = period_bounds(Period.WEEKLY, sunday_night_utc)
    assert (start, end) == (datetime(2026, 11, 23, tzinfo=SHANGHAI), datetime(2026, 11, 30, tzinfo=SHANGHAI))
    assert period_bounds(Period.MONTHLY, datetime(2026, 12, 15, tzinfo=UTC)) == (
        datetime(2026, 12, 1, tzinfo=SHANGHAI),
        datetime(2027, 1, 1, tzinfo=SHANGHAI),
    )


def test_pseudonyms_are_stable_and_reveal_no_id() -> None:
    uid = "0e34f335-ee7b-4955-b6f2-bdd93a32e32b"
    assert pseudonym(uid) == pseudonym(uid) and pseudonym(uid) != pseudonym(uid[::-1])
    assert uid[-8:] not in pseudonym(uid)
