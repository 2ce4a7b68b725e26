"""Redeeming points for rewards: who may, and the postings of a hold and its release.

A redemption holds the points (a `redemption_hold` posting to the redemption
account) and one item of stock, then completes (the points stay spent) or is
cancelled (a `redemption_release` posting gives them back).
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain import ledger
from domain.errors import InsufficientPoints, InvalidRedemptionState, OutOfStock, RewardUnavailable


class RedemptionStatus(StrEnum):
    HELD = "held"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class RewardTerms:
    points: int
    stock: int
    active: bool
    region: str | None
    valid_until: datetime | None


def check_redeemable(reward: RewardTerms, *, balance: int, citizen_region: str, now: datetime) -> None:
    """Raise the reason this citizen cannot redeem this reward now, if there is one.

    A negative balance (a refund of points already spent) blocks every redemption
    until earnings cover it, whatever the price.
    """
    if not reward.active or (reward.valid_until is not None and reward.valid_until <= now):
        raise RewardUnavailable("this reward is no longer offered")
    if reward.region is not None and reward.region != citizen_region:
        raise RewardUnavailable(f"this reward is offered in {reward.region} only")
    if balance < 0:
        raise InsufficientPoints(f"the balance is negative ({balance}): redemptions wait until earnings cover it")
    if balance < reward.points:
        raise InsufficientPoints(f"this reward costs {reward.points} points; the balance is {balance}")
    if reward.stock <= 0:
        raise OutOfStock("this reward is out of stock")


def hold(*, user_id: str, points: int, redemption_id: str, posted_at: datetime) -> ledger.Posting:
    return ledger.transfer(
        user_id=user_id,
        kind=ledger.EntryKind.REDEMPTION_HOLD,
        system_account=ledger.REDEMPTION_ACCOUNT,
        points=-points,
        posted_at=posted_at,
        memo=f"redemption {redemption_id}",
    )


def release(*, user_id: str, points: int, redemption_id: str, posted_at: datetime) -> ledger.Posting:
    return ledger.transfer(
        user_id=user_id,
        kind=ledger.EntryKind.REDEMPTION_RELEASE,
        system_account=ledger.REDEMPTION_ACCOUNT,
        points=points,
        posted_at=posted_at,
        memo=f"redemption {redemption_id} cancelled",
    )


def next_status(current: str, wanted: RedemptionStatus) -> RedemptionStatus:
    """Only a held redemption moves on, to completed or cancelled; repeating the move is a no-op."""
    if current == wanted:
        return wanted
    if current != RedemptionStatus.HELD or wanted is RedemptionStatus.HELD:
        raise InvalidRedemptionState(f"a {current} redemption cannot become {wanted}")
    return wanted


def expiry(*, user_id: str, points: int, as_of: datetime, posted_at: datetime) -> ledger.Posting:
    """The one posting that expires a citizen's due lots (`points` > 0 are taken away)."""
    return ledger.transfer(
        user_id=user_id,
        kind=ledger.EntryKind.EXPIRY,
        system_account=ledger.EXPIRY_ACCOUNT,
        points=-points,
        posted_at=posted_at,
        memo=f"points due by {as_of.isoformat()}",
    )
