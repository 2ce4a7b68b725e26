"""The points ledger: double entry, append-only, integer points.

Every posting concerns exactly one citizen (its `user_id`, the key the tables
are distributed by) and moves points between that citizen's account and one
or more system accounts. Its legs sum to zero. A correction never edits a
posting: it is a reversal posting whose legs point to the legs they undo.
"""

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.errors import InvalidAdjustment, InvalidPosting, InvalidReversal, UnbalancedPosting

CITIZEN = "citizen"
"""The account code of the posting's citizen; system accounts have their own codes."""

MAX_ADJUSTMENT_POINTS = 1_000_000


class EntryKind(StrEnum):
    AWARD = "award"
    BONUS = "bonus"
    REVERSAL = "reversal"
    REDEMPTION_HOLD = "redemption_hold"
    REDEMPTION_RELEASE = "redemption_release"
    EXPIRY = "expiry"
    ADJUSTMENT = "adjustment"
    BANK = "bank"


class SystemAccountKind(StrEnum):
    ISSUANCE = "issuance"
    CAMPAIGN = "campaign"
    REDEMPTION = "redemption"
    EXPIRY = "expiry"
    ADJUSTMENT = "adjustment"


_ISSUANCE = f"{SystemAccountKind.ISSUANCE}:"  # formatted once: formatting the enum member is the slow part
_CAMPAIGN = f"{SystemAccountKind.CAMPAIGN}:"


def issuance_account(scenario: str) -> str:
    """Points awarded for a scenario come out of that scenario's issuance account."""
    return f"{_ISSUANCE}{scenario}"


def campaign_account(campaign_id: str) -> str:
    return f"{_CAMPAIGN}{campaign_id}"


ADJUSTMENT_ACCOUNT = str(SystemAccountKind.ADJUSTMENT)
REDEMPTION_ACCOUNT = str(SystemAccountKind.REDEMPTION)
EXPIRY_ACCOUNT = str(SystemAccountKind.EXPIRY)


_KINDS = {str(kind): kind for kind in SystemAccountKind}


def system_account_kind(code: str) -> SystemAccountKind:
    """The kind of a system account from its code; rejects unknown codes."""
    kind = _KINDS.get(code.split(":", 1)[0])
    if kind is None:
        raise InvalidPosting(f"unknown account {code!r}")
    return kind


@dataclass(frozen=True, slots=True)
class Leg:
    account: str
    points: int
    reverses_entry_id: int | None = None


@dataclass(frozen=True, slots=True)
class Posting:
    """What should be written: validated on construction, so an unbalanced one cannot exist."""

    user_id: str
    kind: EntryKind
    legs: tuple[Leg, ...]
    posted_at: datetime
    carbon_g: int = 0
    scenario: str | None = None
    activity_id: str | None = None
    campaign_id: str | None = None
    reverses_posting_id: int | None = None
    memo: str | None = None

    def __post_init__(self) -> None:
        if self.posted_at.tzinfo is None:
            raise InvalidPosting("posted_at must carry a timezone")
        if len(self.legs) < 2:
            raise InvalidPosting("a posting needs at least two legs")
        total = citizens = 0  # summed in the one pass: every award builds postings
        for leg in self.legs:
            if type(leg.points) is not int:
                raise InvalidPosting("points are integers")
            if leg.points == 0:
                raise InvalidPosting("a leg of zero points moves nothing")
            if leg.account == CITIZEN:
                citizens += 1
            else:
                system_account_kind(leg.account)
            total += leg.points
        if total != 0:
            raise UnbalancedPosting(f"legs sum to {total}, not 0")
        if citizens != 1:
            raise InvalidPosting("a posting moves the points of exactly one citizen account")
        if type(self.carbon_g) is not int:
            raise InvalidPosting("carbon is integer grams")

    @property
    def citizen_points(self) -> int:
        """What this posting does to the citizen's balance."""
        return next(leg.points for leg in self.legs if leg.account == CITIZEN)

    def digest(self) -> str:
        return posting_digest(self)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as the ledger holds it, for rules that look at the past."""

    id: int
    account: str
    points: int
    kind: EntryKind
    carbon_g: int = 0
    reverses_entry_id: int | None = None


@dataclass(frozen=True, slots=True)
class StoredPosting:
    id: int
    user_id: str
    kind: EntryKind
    entries: tuple[StoredEntry, ...]
    scenario: str | None = None
    activity_id: str | None = None
    campaign_id: str | None = None
    reversed_points: Mapping[int, int] = field(default_factory=dict)
    """Points already reversed, by original entry id (signed as the reversal legs)."""


def transfer(
    *,
    user_id: str,
    kind: EntryKind,
    system_account: str,
    points: int,
    posted_at: datetime,
    carbon_g: int = 0,
    scenario: str | None = None,
    activity_id: str | None = None,
    campaign_id: str | None = None,
    memo: str | None = None,
) -> Posting:
    """Move `points` from a system account to the citizen (negative: the other way)."""
    return Posting(
        user_id=user_id,
        kind=kind,
        legs=(Leg(CITIZEN, points), Leg(system_account, -points)),
        posted_at=posted_at,
        carbon_g=carbon_g,
        scenario=scenario,
        activity_id=activity_id,
        campaign_id=campaign_id,
        memo=memo,
    )


def adjustment(*, user_id: str, points: int, reason: str, posted_at: datetime) -> Posting:
    """An administrator's correction, to or from the adjustment account, always with a reason."""
    if type(points) is not int or points == 0:
        raise InvalidAdjustment("an adjustment moves a non-zero whole number of points")
    if abs(points) > MAX_ADJUSTMENT_POINTS:
        raise InvalidAdjustment(f"an adjustment is at most {MAX_ADJUSTMENT_POINTS} points either way")
    if not reason.strip():
        raise InvalidAdjustment("an adjustment needs a reason")
    return transfer(
        user_id=user_id,
        kind=EntryKind.ADJUSTMENT,
        system_account=ADJUSTMENT_ACCOUNT,
        points=points,
        posted_at=posted_at,
        memo=reason.strip(),
    )


def reversal(
    original: StoredPosting,
    *,
    citizen_points: int,
    posted_at: datetime,
    memo: str | None = None,
    carbon_g: int | None = None,
) -> Posting:
    """Undo `citizen_points` of what `original` gave the citizen (all of it, or a part).

    Every leg of the original is reversed in the same proportion, each new leg
    pointing to the leg it undoes; the legs of a two-leg posting are reversed
    exactly, so the reversal balances by construction. Reversals cannot be
    reversed, and nothing can be reversed twice over. `carbon_g` is the carbon
    to take back when the caller counts it cumulatively (refunds by quantity);
    by default the same share of the original's carbon as of its points.
    """
    if original.kind is EntryKind.REVERSAL:
        raise InvalidReversal("a reversal cannot itself be reversed; post a new entry instead")
    if len(original.entries) != 2:
        raise InvalidReversal("only two-leg postings can be reversed")
    citizen_leg = next((e for e in original.entries if e.account == CITIZEN), None)
    other_leg = next((e for e in original.entries if e.account != CITIZEN), None)
    if citizen_leg is None or other_leg is None:
        raise InvalidReversal("the original posting has no citizen leg")
    if citizen_points == 0 or (citizen_points > 0) != (citizen_leg.points > 0):
        raise InvalidReversal("a reversal undoes points in the direction they were given")
    already = -original.reversed_points.get(citizen_leg.id, 0)
    remaining = citizen_leg.points - already
    if abs(citizen_points) > abs(remaining):
        raise InvalidReversal(f"only {remaining} points of entry {citizen_leg.id} are left to reverse, not {citizen_points}")
    carbon = _carbon_share(citizen_leg, citizen_points) if carbon_g is None else carbon_g
    if not 0 <= carbon <= citizen_leg.carbon_g:
        raise InvalidReversal(f"cannot take back {carbon} g of the {citizen_leg.carbon_g} g entry {citizen_leg.id} recorded")
    return Posting(
        user_id=original.user_id,
        kind=EntryKind.REVERSAL,
        legs=(
            Leg(CITIZEN, -citizen_points, reverses_entry_id=citizen_leg.id),
            Leg(other_leg.account, citizen_points, reverses_entry_id=other_leg.id),
        ),
        posted_at=posted_at,
        carbon_g=-carbon,
        scenario=original.scenario,
        activity_id=original.activity_id,
        campaign_id=original.campaign_id,
        reverses_posting_id=original.id,
        memo=memo,
    )


def _carbon_share(citizen_leg: StoredEntry, citizen_points: int) -> int:
    if citizen_leg.carbon_g == 0:
        return 0
    return citizen_leg.carbon_g * citizen_points // citizen_leg.points


@dataclass(frozen=True, slots=True)
class AccountDelta:
    """What one posting does to the citizen's account row."""

    balance: int
    lifetime_earned: int
    lifetime_spent: int
    carbon_g: int


_EARNING_KINDS = frozenset({EntryKind.AWARD, EntryKind.BONUS, EntryKind.BANK})
_SPENDING_KINDS = frozenset({EntryKind.REDEMPTION_HOLD, EntryKind.REDEMPTION_RELEASE})


def account_delta(kind: EntryKind, citizen_points: int, carbon_g: int, reversed_kind: EntryKind | None = None) -> AccountDelta:
    """How the stored totals move with one posting.

    Lifetime earnings count awards, bonuses and bank awards net of their
    reversals; lifetime spending counts redemption holds net of releases.
    Adjustments and expiry move only the balance: they are corrections and
    lapses, not earning or spending. `check-ledger` derives the same totals
    from the entries through `totals_from_entries`.
    """
    effective = reversed_kind if kind is EntryKind.REVERSAL else kind
    earned = citizen_points if effective in _EARNING_KINDS else 0
    spent = -citizen_points if effective in _SPENDING_KINDS else 0
    return AccountDelta(balance=citizen_points, lifetime_earned=earned, lifetime_spent=spent, carbon_g=carbon_g)


def totals_from_entries(entries: Iterable[tuple[EntryKind, int, int, EntryKind | None]]) -> AccountDelta:
    """The account row a citizen should have: the sum of `account_delta` over their entries."""
    balance = earned = spent = carbon = 0
    for kind, points, carbon_g, reversed_kind in entries:
        d = account_delta(kind, points, carbon_g, reversed_kind)
        balance += d.balance
        earned += d.lifetime_earned
        spent += d.lifetime_spent
        carbon += d.carbon_g
    return AccountDelta(balance, earned, spent, carbon)


def posting_digest(posting: Posting) -> str:
    """A SHA-256 over the posting's content, stored with it so `check-ledger` can see edits."""
    return digest_of(
        user_id=posting.user_id,
        kind=str(posting.kind),
        posted_at=posting.posted_at,
        carbon_g=posting.carbon_g,
        scenario=posting.scenario,
        activity_id=posting.activity_id,
        campaign_id=posting.campaign_id,
        reverses_posting_id=posting.reverses_posting_id,
        memo=posting.memo,
        legs=[(leg.account, leg.points, leg.reverses_entry_id) for leg in posting.legs],
    )


def digest_of(
    *,
    user_id: str,
    kind: str,
    posted_at: datetime,
    carbon_g: int,
    scenario: str | None,
    activity_id: str | None,
    campaign_id: str | None,
    reverses_posting_id: int | None,
    memo: str | None,
    legs: Sequence[tuple[str, int, int | None]],
) -> str:
    """The canonical digest, shared by the writer and the checker (legs in posting order)."""
    parts = [
        user_id,
        kind,
        f"{posted_at.timestamp():.6f}",
        str(carbon_g),
        scenario or "",
        activity_id or "",
        campaign_id or "",
        "" if reverses_posting_id is None else str(reverses_posting_id),
        memo or "",
    ]
    parts += [f"{account}|{points}|{'' if rev is None else rev}" for account, points, rev in legs]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
