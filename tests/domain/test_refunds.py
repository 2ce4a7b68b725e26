"""Refund rules: proportional, cumulative reversal of a line's base and bonus points, and every refusal."""

from datetime import UTC, datetime

import pytest

from domain import ledger, refunds
from domain.ledger import EntryKind, StoredEntry, StoredPosting
from domain.refunds import RefundExceedsPurchase, UnknownRefundLine

NOW = datetime(2025, 7, 10, tzinfo=UTC)
BOUGHT = {"TV": 3, "LED": 10}
MEMOS = {1: "sku:TV", 2: "sku:TV", 3: "sku:LED"}


def posting(pid: int, kind: EntryKind, points: int, carbon: int = 0, reversed_points: int = 0) -> StoredPosting:
    account = "issuance:purchase.green" if kind is EntryKind.AWARD else "campaign:c1"
    citizen_entry = pid * 10
    return StoredPosting(
        id=pid,
        user_id="u1",
        kind=kind,
        entries=(
            StoredEntry(citizen_entry, "citizen", points, kind, carbon),
            StoredEntry(citizen_entry + 1, account, -points, kind),
        ),
        scenario="purchase.green",
        activity_id="a1",
        campaign_id="c1" if kind is EntryKind.BONUS else None,
        reversed_points={citizen_entry: -reversed_points} if reversed_points else {},
    )


def test_partial_refunds_take_back_exactly_everything_in_the_end() -> None:
    taken = {1: 0, 2: 0}
    carbon_taken = 0
    units = 0
    steps = []
    for qty in (1, 1, 1):  # three refunds of one TV each
        stored = [posting(1, EntryKind.AWARD, 1000, 1000, taken[1]), posting(2, EntryKind.BONUS, 1000, 0, taken[2])]
        plan = refunds.plan(BOUGHT, {"TV": units}, [("TV", qty)], stored, MEMOS, {1: carbon_taken})
        steps.append([(t.original.id, t.points, t.carbon_g) for t in plan.takes])
        for t in plan.takes:
            taken[t.original.id] += t.points
            carbon_taken += t.carbon_g if t.original.id == 1 else 0
        units += qty
    assert steps[0] == [(1, 333, 333), (2, 333, 0)] and steps[1] == [(1, 333, 333), (2, 333, 0)]
    assert steps[2] == [(1, 334, 334), (2, 334, 0)]
    assert taken == {1: 1000, 2: 1000} and carbon_taken == 1000


def test_whole_order_refund_returns_what_is_left_of_every_line() -> None:
    stored = [posting(1, EntryKind.AWARD, 900, 900, 300), posting(3, EntryKind.AWARD, 50, 50)]
    plan = refunds.plan(BOUGHT, {"TV": 1}, None, stored, MEMOS, {1: 300})
    assert plan.quantities == {"TV": 2, "LED": 10}
    assert [(t.sku, t.points, t.carbon_g) for t in plan.takes] == [("TV", 600, 600), ("LED", 50, 50)]
    assert plan.points_by_sku(EntryKind.AWARD) == {"TV": 600, "LED": 50}


def test_the_reversals_are_valid_ledger_postings_pointing_to_the_originals() -> None:
    stored = [posting(1, EntryKind.AWARD, 1000, 1000), posting(2, EntryKind.BONUS, 1000)]
    plan = refunds.plan(BOUGHT, {}, [("TV", 1)], stored, MEMOS, {})
    postings = [ledger.reversal(t.original, citizen_points=t.points, carbon_g=t.carbon_g, posted_at=NOW) for t in plan.takes]
    assert [(p.kind, p.citizen_points, p.carbon_g, p.reverses_posting_id, p.campaign_id) for p in postings] == [
        (EntryKind.REVERSAL, -333, -333, 1, None),
        (EntryKind.REVERSAL, -333, 0, 2, "c1"),
    ]


@pytest.mark.parametrize(
    ("before", "lines", "error", "message"),
    [
        ({}, [("TV", 4)], RefundExceedsPurchase, "only 3 of the 3 bought"),
        ({"TV": 2}, [("TV", 2)], RefundExceedsPurchase, "only 1 of the 3 bought"),
        ({}, [("TV", 2), ("TV", 2)], RefundExceedsPurchase, "4 to refund"),
        ({}, [("SOAP", 1)], UnknownRefundLine, "not a line of this order"),
        ({"TV": 3, "LED": 10}, None, RefundExceedsPurchase, "already been refunded"),
    ],
)
def test_refusals(before: dict[str, int], lines: list[tuple[str, int]] | None, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        refunds.plan(BOUGHT, before, lines, [], MEMOS, {})


def test_a_line_that_earned_nothing_is_refunded_without_postings() -> None:
    plan = refunds.plan(BOUGHT, {}, [("LED", 5)], [], MEMOS, {})
    assert plan.quantities == {"LED": 5} and plan.takes == ()
