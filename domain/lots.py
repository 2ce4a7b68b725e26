"""Expiry lots: which earned points are spent, restored and expired, and when.

Each lot holds points earned together and expiring together (domain/calendar.py
`lot_expiry`). The invariant every writer keeps, and `check-ledger` verifies:
for every citizen, the lots' remaining points sum to max(balance, 0). Spending
takes the lots that expire first (FIFO by expiry, then by age), so a citizen
never loses points that could have been spent.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import InvalidLotMove

EXPIRING_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class OpenLot:
    id: int
    expires_at: datetime
    remaining: int
    points: int


@dataclass(frozen=True, slots=True)
class LotMove:
    """Points taken from (negative) or given back to (positive) one lot by one posting."""

    lot_id: int
    points: int


def consumption(lots: Iterable[OpenLot], points: int, *, first_lot_id: int | None = None) -> list[LotMove]:
    """Take `points` from the lots, the soonest to expire first (oldest lot on a tie).

    `first_lot_id` is drained before the others (a refund takes back its own
    award's lot first). When the lots hold fewer points than asked (the balance
    goes below zero), every lot is emptied and the rest is debt, held by no lot.
    """
    if type(points) is not int or points <= 0:
        raise InvalidLotMove("lots are consumed by a positive whole number of points")
    ordered = sorted((lot for lot in lots if lot.remaining > 0), key=lambda lot: (lot.id != first_lot_id, lot.expires_at, lot.id))
    moves: list[LotMove] = []
    left = points
    for lot in ordered:
        if left == 0:
            break
        take = min(lot.remaining, left)
        moves.append(LotMove(lot.id, -take))
        left -= take
    return moves


def restoration(consumed: Sequence[LotMove], up_to: int | None = None) -> list[LotMove]:
    """Give back what a posting took, lot by lot (a cancelled redemption's hold).

    With `up_to`, no more than that: points given back while the balance is negative
    repay the debt first (`credited_lot_points`). The lots taken last (those that
    expire last) are refilled first, which leaves the citizen the most time.
    """
    totals: dict[int, int] = {}
    for move in consumed:
        totals[move.lot_id] = totals.get(move.lot_id, 0) + move.points
    left = sum(-p for p in totals.values() if p < 0) if up_to is None else up_to
    moves: list[LotMove] = []
    for lot_id in reversed([m.lot_id for m in consumed if totals.get(m.lot_id, 0) < 0]):
        give = min(-totals.pop(lot_id), left)
        if give > 0:
            moves.append(LotMove(lot_id, give))
            left -= give
    return sorted(moves, key=lambda m: m.lot_id)


def open_lot_points(balance: int) -> int:
    """What the citizen's lots must hold between them: the balance, or nothing while it is negative."""
    return max(balance, 0)


def credited_lot_points(balance_before: int, credit: int) -> int:
    """What a credit of `credit` points puts into a new lot: a negative balance is repaid first."""
    if credit <= 0:
        return 0
    return max(0, min(credit, balance_before + credit))


def due(lots: Iterable[OpenLot], as_of: datetime) -> list[LotMove]:
    """The moves that expire every lot due at `as_of` (its expiry instant included)."""
    if as_of.tzinfo is None:
        raise InvalidLotMove("as_of needs a timezone")
    return [
        LotMove(lot.id, -lot.remaining)
        for lot in sorted(lots, key=lambda lot: lot.id)
        if lot.remaining > 0 and lot.expires_at <= as_of
    ]


@dataclass(frozen=True, slots=True)
class Expiring:
    points: int
    expires_at: datetime


def expiring(lots: Iterable[OpenLot], now: datetime, window: timedelta = EXPIRING_WINDOW) -> list[Expiring]:
    """Points that expire within `window` of `now` (or are overdue and not yet expired), by expiry instant."""
    by_instant: dict[datetime, int] = {}
    horizon = now + window
    for lot in lots:
        if lot.remaining > 0 and lot.expires_at <= horizon:
            by_instant[lot.expires_at] = by_instant.get(lot.expires_at, 0) + lot.remaining
    return [Expiring(points, at) for at, points in sorted(by_instant.items())]


def apply(lots: Sequence[OpenLot], moves: Iterable[LotMove]) -> dict[int, int]:
    """Each touched lot's remaining points after `moves`; refuses to overdraw or overfill a lot."""
    by_id = {lot.id: lot for lot in lots}
    after: dict[int, int] = {}
    for move in moves:
        lot = by_id.get(move.lot_id)
        if lot is None:
            raise InvalidLotMove(f"no lot {move.lot_id}")
        value = after.get(move.lot_id, lot.remaining) + move.points
        if not 0 <= value <= lot.points:
            raise InvalidLotMove(f"lot {move.lot_id} would hold {value} of its {lot.points} points")
        after[move.lot_id] = value
    return after
