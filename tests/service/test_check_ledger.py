"""`tanpu check-ledger` passes on a valid ledger and names each deliberate corruption.

A database of its own is built (migrations + reference seeds) and filled with valid
postings through the real writer; each corruption is made on a copy of it, and every
database made here is dropped at the end.
"""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import text

from domain import ledger
from domain.ledger import CITIZEN, EntryKind, StoredEntry, StoredPosting, digest_of
from service.database import create_engine, create_sessionmaker
from service.repositories.ledger import insert_posting
from service.repositories.users import get_or_create_citizen
from service.usecases.check_ledger import check_database
from tests.factories import random_phone
from tests.service.cli_helpers import drop_database, fresh_database, run_tanpu, sql, unique_name, with_database

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


async def _write_valid_ledger(url: str) -> dict[str, object]:
    """Adjustments, an award with carbon and a partial reversal of it, for two citizens."""
    engine = create_engine(url, pool_size=1)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        alice = await get_or_create_citizen(session, phone=random_phone(), region="huangpu")
        bob = await get_or_create_citizen(session, phone=random_phone(), region="putuo")
        for user, points in ((alice, 300), (bob, 40), (alice, -25)):
            posting = ledger.adjustment(user_id=str(user), points=points, reason="test", posted_at=T0)
            await insert_posting(session, posting, ledger.account_delta(posting.kind, points, 0), created_by="test")
        award = ledger.transfer(
            user_id=str(alice),
            kind=EntryKind.AWARD,
            system_account=ledger.issuance_account("travel"),
            points=120,
            posted_at=T0 + timedelta(minutes=5),
            carbon_g=1200,
            scenario="travel",
            activity_id=str(uuid.uuid4()),
        )
        award_ids = await insert_posting(session, award, ledger.account_delta(award.kind, 120, 1200), created_by="test")
        await session.execute(
            text(
                "INSERT INTO activities (user_id, id, partner_id, external_id, scenario, family, status, region, occurred_at, "
                "reported_at, carbon_g, points, bonus_points, measurements, breakdown) VALUES (:u, :id, :p, 'trip-1', "
                "'travel.metro', 'travel', 'awarded', 'huangpu', :t, :t, 1200, 120, 0, '{}', '{}')"
            ),
            {"u": alice, "id": award.activity_id, "p": uuid.uuid4(), "t": T0},
        )
        system_entry = award_ids.citizen_entry_id + 1  # the second leg, written right after the first
        stored = StoredPosting(
            id=award_ids.posting_id,
            user_id=str(alice),
            kind=EntryKind.AWARD,
            entries=(
                StoredEntry(award_ids.citizen_entry_id, CITIZEN, 120, EntryKind.AWARD, carbon_g=1200),
                StoredEntry(system_entry, ledger.issuance_account("travel"), -120, EntryKind.AWARD),
            ),
            scenario="travel",
            activity_id=award.activity_id,
        )
        undo = ledger.reversal(stored, citizen_points=30, posted_at=T0 + timedelta(hours=1), memo="partial refund")
        delta = ledger.account_delta(undo.kind, undo.citizen_points, undo.carbon_g, reversed_kind=EntryKind.AWARD)
        await insert_posting(session, undo, delta, created_by="test")
        # the lots hold what can be spent: alice 300 - 25 + 120 - 30, bob 40
        for user, points in ((alice, 365), (bob, 40)):
            await session.execute(
                text(
                    "INSERT INTO expiry_lots (user_id, posting_id, earned_at, expires_at, points, remaining) "
                    "VALUES (:u, 0, :t, :expires, :p, :p)"
                ),
                {"u": user, "t": T0, "expires": T0 + timedelta(days=600), "p": points},
            )
    await engine.dispose()
    return {"alice": alice, "bob": bob, "award_entry": award_ids.citizen_entry_id, "activity": award.activity_id}


@pytest.fixture(scope="module")
async def valid_ledger(server_urls: tuple[str, str]) -> AsyncIterator[tuple[str, str, dict[str, object]]]:
    """(server url, name of a database holding a valid ledger, what was written)."""
    server_url = server_urls[0]
    name = unique_name("tanpu_ledger_ok")
    url = await fresh_database(server_url, name)
    try:
        written = await _write_valid_ledger(url)
        yield server_url, name, written
    finally:
        await drop_database(server_url, name)


@pytest.fixture
async def corrupt_copy(valid_ledger: tuple[str, str, dict[str, object]]) -> AsyncIterator[tuple[str, dict[str, object]]]:
    """A copy of the valid ledger to damage, dropped afterwards."""
    server_url, template, written = valid_ledger
    name = unique_name("tanpu_ledger_bad")
    url = await fresh_database(server_url, name, template=template)
    try:
        yield url, written
    finally:
        await drop_database(server_url, name)


async def _check(url: str) -> tuple[int, str]:
    done = await run_tanpu("check-ledger", env={"DATABASE_URL": url, "TANPU_ENV": "development"})
    return done.returncode, done.stdout + done.stderr


async def test_a_valid_ledger_passes(valid_ledger: tuple[str, str, dict[str, object]]) -> None:
    server_url, name, _ = valid_ledger
    code, output = await _check(with_database(server_url, name))
    assert code == 0, output
    assert "ledger ok: 5 postings, 10 entries, 2 citizen accounts" in output


async def test_an_entry_changed_behind_the_triggers_back_is_reported(corrupt_copy: tuple[str, dict[str, object]]) -> None:
    url, written = corrupt_copy
    await sql(
        url,
        "ALTER TABLE entries DISABLE TRIGGER USER; "
        f"UPDATE entries SET points = points + 1000 WHERE id = {written['award_entry']}; "
        "ALTER TABLE entries ENABLE TRIGGER USER;",
    )
    code, output = await _check(url)
    assert code != 0
    assert "posting_changed" in output
    assert "posting_unbalanced" in output
    assert f"citizen_account_mismatch: citizen {written['alice']}" in output


async def test_an_id_awarded_twice_and_an_activity_paid_other_than_it_says_are_reported(
    corrupt_copy: tuple[str, dict[str, object]],
) -> None:
    url, written = corrupt_copy
    await sql(
        url,
        "INSERT INTO activities (user_id, id, partner_id, external_id, scenario, family, status, region, occurred_at, "
        "reported_at, carbon_g, points, bonus_points, measurements, breakdown) "
        "SELECT user_id, gen_random_uuid(), partner_id, external_id, scenario, family, status, region, occurred_at, "
        f"reported_at, 0, 0, 0, measurements, breakdown FROM activities WHERE id = '{written['activity']}'; "
        f"UPDATE activities SET points = 119 WHERE id = '{written['activity']}'",
    )
    code, output = await _check(url)
    assert code != 0
    assert "external_id_awarded_twice: partner" in output and "'trip-1' has 2 activities" in output
    assert f"activity_paid: activity {written['activity']} of citizen {written['alice']}: 119 points" in output


async def test_an_award_for_no_activity_is_reported(corrupt_copy: tuple[str, dict[str, object]]) -> None:
    url, written = corrupt_copy
    await sql(url, f"DELETE FROM activities WHERE id = '{written['activity']}'")
    code, output = await _check(url)
    assert code != 0
    assert f"activity_missing: citizen {written['alice']} was paid 120 points for no activity {written['activity']}" in output


@pytest.mark.parametrize("table", ["postings", "entries"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET posted_at = posted_at", "DELETE FROM {t}", "TRUNCATE {t} CASCADE"])
async def test_the_ledger_refuses_to_be_rewritten(
    corrupt_copy: tuple[str, dict[str, object]], table: str, statement: str
) -> None:
    url, _ = corrupt_copy
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await sql(url, statement.format(t=table))


async def test_disabled_append_only_triggers_are_reported(corrupt_copy: tuple[str, dict[str, object]]) -> None:
    url, _ = corrupt_copy
    await sql(url, "ALTER TABLE entries DISABLE TRIGGER USER")
    code, output = await _check(url)
    assert code != 0
    assert "trigger entries_append_only on entries is disabled" in output
    assert "trigger entries_no_truncate on entries is disabled" in output


async def test_a_rewritable_audit_log_is_reported(corrupt_copy: tuple[str, dict[str, object]]) -> None:
    url, _ = corrupt_copy
    await sql(url, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only; DROP TRIGGER audit_log_no_truncate ON audit_log")
    code, output = await _check(url)
    assert code != 0
    assert "trigger audit_log_append_only on audit_log is disabled" in output
    assert "trigger audit_log_no_truncate on audit_log is missing" in output


async def test_a_changed_balance_is_reported(corrupt_copy: tuple[str, dict[str, object]]) -> None:
    url, written = corrupt_copy
    await sql(url, f"UPDATE citizen_accounts SET balance = balance + 7 WHERE user_id = '{written['bob']}'")
    code, output = await _check(url)
    assert code != 0
    assert f"citizen_account_mismatch: citizen {written['bob']}: balance 47 (entries give 40)" in output
    assert "posting_changed" not in output


async def test_lots_out_of_step_with_the_balance_are_reported(corrupt_copy: tuple[str, dict[str, object]]) -> None:
    url, written = corrupt_copy
    await sql(url, f"UPDATE expiry_lots SET remaining = remaining - 5 WHERE user_id = '{written['bob']}'")
    code, output = await _check(url)
    assert code != 0
    assert f"lots_balance: citizen {written['bob']}: lots hold 35 points, the balance is 40" in output
    await sql(url, f"UPDATE expiry_lots SET remaining = -1 WHERE user_id = '{written['alice']}'")
    code, output = await _check(url)
    assert "lot_bounds: lot" in output and f"of citizen {written['alice']} holds -1 of its 365 points" in output


async def test_an_unbalanced_posting_is_reported(corrupt_copy: tuple[str, dict[str, object]]) -> None:
    url, written = corrupt_copy
    user = written["bob"]
    legs = [(CITIZEN, 100, None), ("adjustment", -90, None)]
    digest = digest_of(
        user_id=str(user),
        kind="adjustment",
        posted_at=T0,
        carbon_g=0,
        scenario=None,
        activity_id=None,
        campaign_id=None,
        reverses_posting_id=None,
        memo="forged",
        legs=legs,
    )
    await sql(
        url,
        f"""
        INSERT INTO postings (user_id, id, kind, posted_at, carbon_g, memo, digest)
        VALUES ('{user}', 900001, 'adjustment', '{T0.isoformat()}', 0, 'forged', '{digest}');
        INSERT INTO entries (user_id, id, posting_id, leg, account, kind, points, carbon_g, posted_at) VALUES
            ('{user}', 900001, 900001, 1, 'citizen', 'adjustment', 100, 0, '{T0.isoformat()}'),
            ('{user}', 900002, 900001, 2, 'adjustment', 'adjustment', -90, 0, '{T0.isoformat()}');
        UPDATE citizen_accounts SET balance = balance + 100 WHERE user_id = '{user}';
        """,
    )
    code, output = await _check(url)
    assert code != 0
    assert f"posting_unbalanced: posting 900001 of citizen {user}: entries sum to 10, not 0" in output
    assert "citizen_account_mismatch" not in output
    assert "posting_changed" not in output


async def test_reversal_beyond_the_amount_and_unknown_accounts_are_reported(corrupt_copy: tuple[str, dict[str, object]]) -> None:
    url, written = corrupt_copy
    user, target = written["alice"], written["award_entry"]
    await sql(
        url,
        f"""
        INSERT INTO postings (user_id, id, kind, posted_at, carbon_g, digest)
        VALUES ('{user}', 900010, 'award', '{T0.isoformat()}', 0, 'x');
        INSERT INTO entries (user_id, id, posting_id, leg, account, kind, points, carbon_g, reverses_entry_id, posted_at) VALUES
            ('{user}', 900011, 900010, 1, 'citizen', 'award', -500, 0, {target}, '{T0.isoformat()}'),
            ('{user}', 900012, 900010, 2, 'issuance:nowhere', 'award', 500, 0, NULL, '{T0.isoformat()}');
        """,
    )
    code, output = await _check(url)
    assert code != 0
    assert f"reversed_beyond_amount: entry {target} of citizen {user} (+120) is reversed by -530" in output
    assert "unknown_account: 1 entries name account 'issuance:nowhere'" in output
    assert "posting_changed: posting 900010" in output


async def test_the_check_is_pure_reporting(valid_ledger: tuple[str, str, dict[str, object]]) -> None:
    server_url, name, _ = valid_ledger
    first = await check_database(with_database(server_url, name))
    second = await check_database(with_database(server_url, name))
    assert first == second
    assert first.ok


async def test_campaign_spend_that_the_entries_do_not_show_is_reported(corrupt_copy: tuple[str, dict[str, object]]) -> None:
    url, written = corrupt_copy
    campaign = uuid.uuid4()
    await sql(
        url,
        "INSERT INTO campaigns (id, name, regions, scenarios, starts_at, ends_at, bonus, budget, stacking, status) "
        f"VALUES ('{campaign}', 'c', '{{huangpu}}', '{{purchase.green}}', now(), now() + interval '1 day', 10, 100, "
        "'stack', 'active'); "
        f"INSERT INTO campaign_budget_shards (campaign_id, shard, cap, spent) VALUES ('{campaign}', 0, 50, 60); "
        f"INSERT INTO campaign_citizen_spend (user_id, campaign_id, spent) VALUES ('{written['bob']}', '{campaign}', 10);",
    )
    code, output = await _check(url)
    assert code != 0
    assert f"campaign_spend: campaign {campaign} records 60 spent but its entries paid 0" in output
    assert f"campaign_budget: campaign {campaign}" in output
    assert f"campaign_citizen_spend: citizen {written['bob']} got 0 from campaign {campaign} but 10 is recorded" in output


async def test_a_bank_feed_that_no_longer_mirrors_the_ledger_is_reported(corrupt_copy: tuple[str, dict[str, object]]) -> None:
    url, written = corrupt_copy
    bank, link = uuid.uuid4(), uuid.uuid4()
    await sql(
        url,
        "INSERT INTO partners (id, kind, name, region, client_id, client_secret_hash, scopes) "
        f"VALUES ('{bank}', 'bank', 'B', 'huangpu', 'cl_{bank.hex}', 'x', '{{bank}}'); "
        "INSERT INTO bank_links (id, user_id, partner_id, customer_ref, scopes, created_at, revoked_at) "
        f"VALUES ('{link}', '{written['alice']}', '{bank}', 'C-1', '{{changes:read}}', now(), now()); "
        "INSERT INTO bank_events (partner_id, link_id, user_id, kind, points, carbon_g, posting_id, occurred_at) "
        f"SELECT '{bank}', '{link}', user_id, kind, points + 1, carbon_g, posting_id, posted_at FROM entries "
        f"WHERE id = {written['award_entry']}; "
        "ALTER TABLE entries DISABLE TRIGGER entries_bank_events;",
    )
    code, output = await _check(url)
    assert code != 0
    assert "bank_feed_trigger: trigger entries_bank_events is missing or disabled" in output
    assert "bank_event_mismatch: bank event" in output and "121 points" in output
    assert f"bank_revocation_events: revoked link {link} has 0 revocation events" in output
    assert "posting_changed" not in output
