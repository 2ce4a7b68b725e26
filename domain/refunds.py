"""Refunds of green purchases: which postings to reverse, and by how much.

A refund names order lines by sku and quantity (or the whole order). Each line's
award posting and campaign bonus postings are reversed in proportion to the
quantity, counted cumulatively: after refunds of q1, q2, ... of Q units, exactly
floor(points × (q1 + q2 + ...) / Q) has been taken back (what earlier reversals
took is subtracted), so refunding everything in any number of steps takes back
exactly what was given, never a point more. Carbon is taken back the same way.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from domain.errors import DomainError
from domain.ledger import CITIZEN, EntryKind, StoredPosting
from domain.points import proportional_share


class RefundRefused(DomainError):
    code = "refund_refused"


class RefundExceedsPurchase(RefundRefused):
    code = "refund_exceeds_purchase"


class UnknownRefundLine(RefundRefused):
    code = "unknown_order_line"


@dataclass(frozen=True, slots=True)
class Take:
    """Reverse `points` (and `carbon_g`) of `original`."""

    original: StoredPosting
    points: int
    carbon_g: int
    sku: str


@dataclass(frozen=True, slots=True)
class RefundPlan:
    quantities: Mapping[str, int]
    """What this refund returns, by sku."""
    takes: tuple[Take, ...]

    def points_by_sku(self, kind: EntryKind) -> dict[str, int]:
        out = dict.fromkeys(self.quantities, 0)
        for t in self.takes:
            if t.original.kind is kind:
                out[t.sku] += t.points
        return out


def line_ref(sku: str) -> str:
    """How an order line is named in its postings' memo."""
    return f"sku:{sku}"


def requested(
    bought: Mapping[str, int], refunded_before: Mapping[str, int], lines: Sequence[tuple[str, int]] | None
) -> dict[str, int]:
    """The quantities this refund returns: the lines named, or everything not yet refunded."""
    if lines is None:
        rest = {sku: qty - refunded_before.get(sku, 0) for sku, qty in bought.items()}
        rest = {sku: q for sku, q in rest.items() if q > 0}
        if not rest:
            raise RefundExceedsPurchase("everything in this order has already been refunded")
        return rest
    wanted: dict[str, int] = {}
    for sku, qty in lines:
        if sku not in bought:
            raise UnknownRefundLine(f"sku {sku} is not a line of this order")
        if qty <= 0:
            raise RefundExceedsPurchase(f"a refund returns a positive quantity of sku {sku}")
        wanted[sku] = wanted.get(sku, 0) + qty
    for sku, qty in wanted.items():
        left = bought[sku] - refunded_before.get(sku, 0)
        if qty > left:
            raise RefundExceedsPurchase(
                f"sku {sku}: {qty} to refund but only {left} of the {bought[sku]} bought are left to refund"
            )
    return wanted


def plan(
    bought: Mapping[str, int],
    refunded_before: Mapping[str, int],
    lines: Sequence[tuple[str, int]] | None,
    postings: Sequence[StoredPosting],
    memos: Mapping[int, str | None],
    reversed_carbon: Mapping[int, int],
) -> RefundPlan:
    """What to reverse: for each refunded line, its award and bonus postings, each by its cumulative share.
    `reversed_carbon` is the carbon earlier reversals took back, by original posting id (grams, positive)."""
    quantities = requested(bought, refunded_before, lines)
    takes: list[Take] = []
    for sku, qty in quantities.items():
        total = bought[sku]
        before = refunded_before.get(sku, 0)
        for p in postings:
            if memos.get(p.id) != line_ref(sku) or p.kind not in (EntryKind.AWARD, EntryKind.BONUS):
                continue
            leg = next(e for e in p.entries if e.account == CITIZEN)
            points = proportional_share(leg.points, before + qty, total) + p.reversed_points.get(leg.id, 0)
            carbon = proportional_share(leg.carbon_g, before + qty, total) - reversed_carbon.get(p.id, 0)
            if points > 0:
                takes.append(Take(p, points, max(0, carbon), sku))
    return RefundPlan(quantities=quantities, takes=tuple(takes))
