"""The auditor's summary: what the ledger issued, redeemed and let expire, from the citizens' entries.

Every figure is a sum over citizen entries (the citizen's leg of each posting), so a report
agrees with the balances to the point. A reversal counts under what it reverses: a refunded
purchase lowers the carbon and the points issued, a reversed bonus lowers the campaign spend.

- `carbon_g`: the carbon reduction credited (g CO2e), net of reversals;
- `points_issued`: points earned (awards, campaign bonuses, bank awards), net of reversals:
  what `lifetime_earned` counts;
- `campaign_spend`: the part of `points_issued` that campaigns paid as bonuses;
- `redeemed`: points held for redemptions, net of holds released (a cancelled redemption gives
  its points back): what `lifetime_spent` counts;
- `expired`: points that lapsed at their expiry;
- `adjusted`: administrators' adjustments, signed (a deduction is negative).
"""

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, fields
from typing import TypeVar

from domain.ledger import EntryKind

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Summary:
    carbon_g: int = 0
    points_issued: int = 0
    campaign_spend: int = 0
    redeemed: int = 0
    expired: int = 0
    adjusted: int = 0

    def __add__(self, other: "Summary") -> "Summary":
        return Summary(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Summary)))


MEASURES = tuple(f.name for f in fields(Summary))


def entry_summary(kind: EntryKind, reversed_kind: EntryKind | None, points: int, carbon_g: int) -> Summary:
    """What citizen entries of one kind, `points` and `carbon_g` in all, add to a summary.
    `reversed_kind`: for a reversal, the kind of the entries it reverses."""
    effective = reversed_kind if kind is EntryKind.REVERSAL else kind
    if effective is None:
        raise ValueError("a reversal needs the kind it reverses")
    issued = points if effective in (EntryKind.AWARD, EntryKind.BONUS, EntryKind.BANK) else 0
    return Summary(
        carbon_g=carbon_g,
        points_issued=issued,
        campaign_spend=points if effective is EntryKind.BONUS else 0,
        redeemed=-points if effective in (EntryKind.REDEMPTION_HOLD, EntryKind.REDEMPTION_RELEASE) else 0,
        expired=-points if effective is EntryKind.EXPIRY else 0,
        adjusted=points if effective is EntryKind.ADJUSTMENT else 0,
    )


def summarise(rows: Iterable[tuple[K, EntryKind, EntryKind | None, int, int]]) -> tuple[dict[K, Summary], Summary]:
    """Per group and in total, from (group, kind, reversed kind, points, carbon_g) sums.
    Groups keep the order they first appear in."""
    groups: dict[K, Summary] = {}
    total = Summary()
    for group, kind, reversed_kind, points, carbon_g in rows:
        part = entry_summary(kind, reversed_kind, points, carbon_g)
        groups[group] = groups.get(group, Summary()) + part
        total = total + part
    return groups, total
