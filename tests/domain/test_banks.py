"""Bank rules without a database: behaviours and their factors, link codes and scopes, webhook backoff,
the statement's canonical digest and reconciliation."""

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest

from domain import statements
from domain.activities import BankAction
from domain.award import AwardContext, Status, evaluate
from domain.bank_links import (
    LINK_CODE_TTL,
    CodeRefusal,
    StoredCode,
    canonical_scopes,
    format_link_code,
    is_replay,
    judge_code,
    link_code_digest,
    normalize_link_code,
)
from domain.methodology import BANK_BEHAVIOURS, Methodology
from domain.webhooks import RETRY_FOR, next_attempt, retry_delay

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "behaviour, quantity, carbon",
    [("e_statement", 3, 15), ("online_banking", 2, 100), ("green_loan_repayment", 1, 100), ("green_card_spend", 199, 99)],
)
def test_every_bank_behaviour_has_a_provisional_factor(
    default_2025: Methodology, behaviour: str, quantity: int, carbon: int
) -> None:
    award = evaluate(BankAction(behaviour, quantity, NOW - timedelta(hours=1)), AwardContext(default_2025, NOW, used_today=0))
    assert (award.status, award.scenario, award.family, award.carbon_g, award.points) == (
        Status.AWARDED,
        f"bank.{behaviour}",
        "bank",
        carbon,
        carbon,
    )
    assert award.breakdown["factor"]["confidence"] == "provisional"
    assert sorted(default_2025.bank_behaviours()) == sorted(BANK_BEHAVIOURS)


def test_bank_quantities_are_bounded_and_the_bank_cap_applies(default_2025: Methodology) -> None:
    too_many = evaluate(BankAction("e_statement", 32, NOW), AwardContext(default_2025, NOW, used_today=0))
    assert (too_many.status, too_many.points) == (Status.REJECTED, 0)
    assert too_many.reason == "32 units of e_statement is above the 31 per report maximum"
    capped = evaluate(BankAction("online_banking", 10, NOW), AwardContext(default_2025, NOW, used_today=450))
    assert (capped.status, capped.carbon_g, capped.points) == (Status.CAPPED, 500, 50)
    assert capped.breakdown["caps"][0] == {
        "family": "bank",
        "daily_cap": 500,
        "used_before": 450,
        "applied": True,
        "points_cut": 450,
    }


def test_scopes_are_known_deduplicated_and_ordered() -> None:
    assert canonical_scopes(["changes:read", "account:read", "changes:read"]) == ["account:read", "changes:read"]
    with pytest.raises(ValueError, match="unknown"):
        canonical_scopes(["account:read", "ledger:write"])
    with pytest.raises(ValueError, match="at least one"):
        canonical_scopes([])


def test_link_codes_read_aloud_and_hash_the_same_however_typed() -> None:
    code = format_link_code(bytes(range(10)))
    assert code == "AAAQ-EAYE-AUDA-OCAJ" and len(normalize_link_code(code)) == 16
    assert link_code_digest(code) == link_code_digest(" aaaq eaye-auda-ocaj ") == hashlib.sha256(b"AAAQEAYEAUDAOCAJ").hexdigest()


def test_who_may_use_a_code() -> None:
    fresh = StoredCode(bank_id="b1", expires_at=NOW + LINK_CODE_TTL, used_at=None, customer_ref=None)
    assert judge_code(fresh, bank_id="b1", customer_ref="c", now=NOW) is None
    assert judge_code(fresh, bank_id="b2", customer_ref="c", now=NOW) is CodeRefusal.UNKNOWN
    assert judge_code(None, bank_id="b1", customer_ref="c", now=NOW) is CodeRefusal.UNKNOWN
    assert judge_code(fresh, bank_id="b1", customer_ref="c", now=NOW + LINK_CODE_TTL) is CodeRefusal.EXPIRED
    used = StoredCode(bank_id="b1", expires_at=NOW + LINK_CODE_TTL, used_at=NOW, customer_ref="c")
    assert judge_code(used, bank_id="b1", customer_ref="c", now=NOW + timedelta(hours=1)) is None and is_replay(
        used, customer_ref="c"
    )
    assert judge_code(used, bank_id="b1", customer_ref="d", now=NOW) is CodeRefusal.USED
    assert judge_code(used, bank_id="b2", customer_ref="c", now=NOW) is CodeRefusal.UNKNOWN


def test_retries_back_off_exponentially_with_jitter_up_to_an_hour() -> None:
    assert [retry_delay(n, 0.0).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert [retry_delay(n, 0.999999).total_seconds() for n in (1, 2)] == pytest.approx([10, 20], rel=1e-5)
    assert retry_delay(30, 0.5) == timedelta(minutes=45)
    with pytest.raises(ValueError):
        retry_delay(0, 0.5)


def test_after_24_hours_a_delivery_is_dead_lettered() -> None:
    deadline = NOW + RETRY_FOR
    assert next_attempt(failed_at=NOW, attempts=1, deadline=deadline, jitter=0.5) == NOW + timedelta(seconds=7.5)
    assert next_attempt(failed_at=deadline - timedelta(minutes=1), attempts=20, deadline=deadline, jitter=0.0) is None
    # the whole window: attempts stay countable (no hammering) and end at the deadline
    at, n = NOW, 0
    while (later := next_attempt(failed_at=at, attempts=n + 1, deadline=deadline, jitter=0.5)) is not None:
        at, n = later, n + 1
    assert 30 <= n <= 40 and at <= deadline


def _entry(posting_id: int, kind: str = "award", points: int = 10) -> statements.StatementEntry:
    return statements.StatementEntry(posting_id, "link-1", kind, points, max(points, 0), NOW + timedelta(seconds=posting_id))


def test_the_statement_digest_is_over_a_canonical_order() -> None:
    a = statements.build(date(2026, 11, 21), [_entry(2), _entry(1, "reversal", -4)])
    b = statements.build(date(2026, 11, 21), [_entry(1, "reversal", -4), _entry(2)])
    assert a.digest == b.digest
    assert statements.canonical_line(a.entries[0]) == "1,link-1,reversal,-4,0,2026-11-21T08:00:01.000000Z"
    assert (a.count, a.points, a.carbon_g) == (2, 6, 10)
    assert a.by_kind == {"award": statements.KindTotal(1, 10, 10), "reversal": statements.KindTotal(1, -4, 0)}
    assert statements.build(date(2026, 11, 21), [_entry(1), _entry(2, points=11)]).digest != a.digest


def test_the_shanghai_day_bounds() -> None:
    assert statements.day_bounds(date(2026, 11, 21)) == (
        datetime(2026, 11, 20, 16, tzinfo=UTC),
        datetime(2026, 11, 21, 16, tzinfo=UTC),
    )


def test_reconciliation_names_every_difference() -> None:
    ours = statements.build(date(2026, 11, 21), [_entry(1), _entry(2), _entry(3, "expiry", -5)])
    agreed = statements.BankTotals(count=3, points=15, carbon_g=20, digest=ours.digest, posting_ids=[1, 2, 3])
    assert statements.reconcile(ours, agreed).agrees
    theirs = statements.BankTotals(
        count=3, points=20, by_kind={"award": statements.KindTotal(3, 30, 30)}, posting_ids=[1, 2, 4], digest="0" * 64
    )
    r = statements.reconcile(ours, theirs)
    assert not r.agrees
    assert [(d.field, d.ours, d.theirs) for d in r.differences] == [
        ("points", 15, 20),
        ("by_kind.award.count", 2, 3),
        ("by_kind.award.points", 20, 30),
        ("by_kind.award.carbon_g", 20, 30),
        ("by_kind.expiry.count", 1, 0),
        ("by_kind.expiry.points", -5, 0),
        ("digest", ours.digest, "0" * 64),
    ]
    assert (r.missing_at_bank, r.unknown_to_us) == ((3,), (4,))
