"""`tanpu check-ledger`: verify every invariant of the ledger and report what is violated.

Pure reporting: nothing is written. Every check is an SQL aggregate (or a
streamed scan where rows must be looked at in Python), all inside one
read-only REPEATABLE READ transaction, so a ledger being written to while it
is checked is seen as one consistent snapshot.
"""

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.ledger import CITIZEN, AccountDelta, EntryKind, digest_of, totals_from_entries
from domain.lots import open_lot_points

APPEND_ONLY_TRIGGERS = {
    "postings": ("postings_append_only", "postings_no_truncate"),
    "entries": ("entries_append_only", "entries_no_truncate"),
    # GET /v1/admin/audit is only worth reading if nobody can rewrite it
    "audit_log": ("audit_log_append_only", "audit_log_no_truncate"),
    "lot_moves": ("lot_moves_append_only", "lot_moves_no_truncate"),
}
STREAM_BATCH = 2000


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


@dataclass(frozen=True)
class LedgerReport:
    violations: list[Violation]
    postings: int
    entries: int
    citizen_accounts: int

    @property
    def ok(self) -> bool:
        return not self.violations


class _Collector:
    """Keeps the first `limit` examples of each invariant and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.violations: list[Violation] = []
        self._counts: dict[str, int] = {}

    def add(self, invariant: str, detail: str) -> None:
        seen = self._counts.get(invariant, 0)
        self._counts[invariant] = seen + 1
        if seen < self.limit:
            self.violations.append(Violation(invariant, detail))

    def finish(self) -> list[Violation]:
        out = list(self.violations)
        for invariant, count in self._counts.items():
            if count > self.limit:
                out.append(Violation(invariant, f"... and {count - self.limit} more"))
        return out


async def _rows(conn: AsyncConnection, sql: str) -> list[Any]:
    return list((await conn.execute(text(sql))).all())


async def _stream(conn: AsyncConnection, sql: str) -> AsyncIterator[Any]:
    """Rows through a server-side cursor, in batches: memory stays flat however large the ledger.

    On asyncpg the driver's own cursor is used (inside the snapshot's transaction,
    which the first statement began): it is several times faster than going through
    SQLAlchemy's result machinery for millions of rows.
    """
    raw = (await conn.get_raw_connection()).driver_connection
    if raw is not None and hasattr(raw, "cursor") and hasattr(raw, "is_in_transaction") and raw.is_in_transaction():
        async for record in raw.cursor(sql, prefetch=STREAM_BATCH):
            yield record
        return
    result = await conn.stream(text(sql).execution_options(yield_per=STREAM_BATCH))
    async for row in result:
        yield row


async def _balanced_postings(conn: AsyncConnection, out: _Collector) -> None:
    for user_id, posting_id, total, count in await _rows(
        conn,
        """
        SELECT p.user_id, p.id, coalesce(e.total, 0), coalesce(e.n, 0)
        FROM postings p
        LEFT JOIN (SELECT user_id, posting_id, sum(points) AS total, count(*) AS n
                   FROM entries GROUP BY user_id, posting_id) e
               ON e.user_id = p.user_id AND e.posting_id = p.id
        WHERE e.n IS NULL OR e.n < 2 OR e.total <> 0
        ORDER BY p.id
        """,
    ):
        if count < 2:
            out.add("posting_too_few_entries", f"posting {posting_id} of citizen {user_id} has {count} entries (needs 2 or more)")
        if total != 0:
            out.add("posting_unbalanced", f"posting {posting_id} of citizen {user_id}: entries sum to {int(total)}, not 0")


async def _orphan_entries(conn: AsyncConnection, out: _Collector) -> None:
    for user_id, entry_id, posting_id in await _rows(
        conn,
        """
        SELECT e.user_id, e.id, e.posting_id FROM entries e
        WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.user_id = e.user_id AND p.id = e.posting_id)
        ORDER BY e.id
        """,
    ):
        out.add(
            "entry_without_posting", f"entry {entry_id} of citizen {user_id} names posting {posting_id}, which does not exist"
        )


async def _entry_kinds(conn: AsyncConnection, out: _Collector) -> None:
    known = ", ".join(f"'{k.value}'" for k in EntryKind)
    for (kind,) in await _rows(conn, f"SELECT DISTINCT kind FROM entries WHERE kind NOT IN ({known}) ORDER BY 1"):  # noqa: S608 (enum values)
        out.add("unknown_entry_kind", f"entries of kind {kind!r}, which is no entry kind")
    for (kind,) in await _rows(conn, f"SELECT DISTINCT kind FROM postings WHERE kind NOT IN ({known}) ORDER BY 1"):  # noqa: S608
        out.add("unknown_entry_kind", f"postings of kind {kind!r}, which is no entry kind")


async def _system_accounts(conn: AsyncConnection, out: _Collector) -> None:
    for account, n in await _rows(
        conn,
        f"""
        SELECT e.account, count(*) FROM entries e
        WHERE e.account <> '{CITIZEN}' AND NOT EXISTS (SELECT 1 FROM system_accounts s WHERE s.code = e.account)
        GROUP BY e.account ORDER BY e.account
        """,  # noqa: S608 (a constant)
    ):
        out.add("unknown_account", f"{n} entries name account {account!r}, which is not in system_accounts")
    for user_id, posting_id, n in await _rows(
        conn,
        f"""
        SELECT user_id, posting_id, count(*) FROM entries
        GROUP BY user_id, posting_id HAVING count(*) FILTER (WHERE account = '{CITIZEN}') <> 1
        ORDER BY posting_id
        """,  # noqa: S608 (a constant)
    ):
        out.add(
            "posting_citizen_legs",
            f"posting {posting_id} of citizen {user_id} does not have exactly one citizen leg ({n} entries)",
        )


async def _reversals(conn: AsyncConnection, out: _Collector) -> None:
    for user_id, entry_id, target, points, target_account, account, target_points in await _rows(
        conn,
        """
        SELECT r.user_id, r.id, r.reverses_entry_id, r.points, o.account, r.account, o.points
        FROM entries r
        LEFT JOIN entries o ON o.user_id = r.user_id AND o.id = r.reverses_entry_id
        WHERE r.reverses_entry_id IS NOT NULL
          AND (o.id IS NULL OR o.account <> r.account OR sign(o.points) <> -sign(r.points))
        ORDER BY r.id
        """,
    ):
        if target_account is None:
            out.add("reversal_target", f"entry {entry_id} of citizen {user_id} reverses entry {target}, no entry of that citizen")
        elif target_account != account:
            out.add(
                "reversal_target",
                f"entry {entry_id} ({account}) of citizen {user_id} reverses entry {target} of account {target_account}",
            )
        else:
            out.add(
                "reversal_sign",
                f"entry {entry_id} of citizen {user_id} ({points:+d}) reverses {target} ({target_points:+d}), same sign",
            )
    for user_id, entry_id, points, reversed_total in await _rows(
        conn,
        """
        SELECT o.user_id, o.id, o.points, sum(r.points)
        FROM entries r JOIN entries o ON o.user_id = r.user_id AND o.id = r.reverses_entry_id
        GROUP BY o.user_id, o.id, o.points
        HAVING abs(sum(r.points)) > abs(o.points)
        ORDER BY o.id
        """,
    ):
        out.add(
            "reversed_beyond_amount",
            f"entry {entry_id} of citizen {user_id} ({points:+d}) is reversed by {int(reversed_total):+d}",
        )
    for user_id, posting_id, kind, reverses, target_kind in await _rows(
        conn,
        """
        SELECT p.user_id, p.id, p.kind, p.reverses_posting_id, o.kind
        FROM postings p LEFT JOIN postings o ON o.user_id = p.user_id AND o.id = p.reverses_posting_id
        WHERE (p.kind = 'reversal') <> (p.reverses_posting_id IS NOT NULL)
           OR (p.reverses_posting_id IS NOT NULL AND (o.id IS NULL OR o.kind = 'reversal'))
        ORDER BY p.id
        """,
    ):
        if reverses is None:
            out.add("reversal_posting", f"posting {posting_id} of citizen {user_id} is a reversal that names no posting")
        elif kind != "reversal":
            out.add(
                "reversal_posting", f"posting {posting_id} of citizen {user_id} of kind {kind} names reversed posting {reverses}"
            )
        elif target_kind is None:
            out.add(
                "reversal_posting",
                f"posting {posting_id} of citizen {user_id} reverses posting {reverses}, no posting of that citizen",
            )
        else:
            out.add(
                "reversal_posting", f"posting {posting_id} of citizen {user_id} reverses posting {reverses}, itself a reversal"
            )
    for user_id, entry_id, posting_id, reverses in await _rows(
        conn,
        """
        SELECT r.user_id, r.id, p.id, p.reverses_posting_id
        FROM entries r
        JOIN postings p ON p.user_id = r.user_id AND p.id = r.posting_id
        JOIN entries o ON o.user_id = r.user_id AND o.id = r.reverses_entry_id
        WHERE o.posting_id IS DISTINCT FROM p.reverses_posting_id
        ORDER BY r.id
        """,
    ):
        out.add(
            "reversal_target",
            f"entry {entry_id} of citizen {user_id} (posting {posting_id}) reverses an entry outside posting {reverses}",
        )


def _kind(value: str | None) -> EntryKind | None:
    if value is None:
        return None
    try:
        return EntryKind(value)
    except ValueError:
        return None  # reported by _entry_kinds


async def _citizen_accounts(conn: AsyncConnection, out: _Collector) -> None:
    """Every account row equals `totals_from_entries` over its citizen legs.

    The entries are summed per (citizen, kind, reversed kind) in SQL; account_delta
    is linear in points and carbon, so applying the domain's own rule to those sums
    gives the same totals as applying it entry by entry.
    """
    current: Any = None
    stored: tuple[int, int, int, int] | None = None
    groups: list[tuple[EntryKind, int, int, EntryKind | None]] = []

    def flush() -> None:
        if current is None:
            return
        derived: AccountDelta = totals_from_entries(groups)
        want = (derived.balance, derived.lifetime_earned, derived.lifetime_spent, derived.carbon_g)
        if stored is None:
            out.add("citizen_account_missing", f"citizen {current} has ledger entries but no citizen_accounts row")
            return
        names = ("balance", "lifetime_earned", "lifetime_spent", "carbon_g_total")
        wrong = [f"{n} {s} (entries give {w})" for n, s, w in zip(names, stored, want, strict=True) if s != w]
        if wrong:
            out.add("citizen_account_mismatch", f"citizen {current}: " + ", ".join(wrong))

    async for row in _stream(
        conn,
        f"""
        WITH g AS (
            SELECT e.user_id, e.kind, rp.kind AS reversed_kind, sum(e.points) AS points, sum(e.carbon_g) AS carbon_g
            FROM entries e
            JOIN postings p ON p.user_id = e.user_id AND p.id = e.posting_id
            LEFT JOIN postings rp ON rp.user_id = p.user_id AND rp.id = p.reverses_posting_id
            WHERE e.account = '{CITIZEN}'
            GROUP BY e.user_id, e.kind, rp.kind
        )
        SELECT coalesce(a.user_id, g.user_id) AS uid, a.user_id IS NOT NULL,
               a.balance, a.lifetime_earned, a.lifetime_spent, a.carbon_g_total,
               g.kind, g.reversed_kind, g.points, g.carbon_g
        FROM citizen_accounts a FULL JOIN g ON g.user_id = a.user_id
        ORDER BY uid
        """,  # noqa: S608 (a constant)
    ):
        uid, has_row, balance, earned, spent, carbon, kind, reversed_kind, points, carbon_g = row
        if uid != current:
            flush()
            current = uid
            stored = (balance, earned, spent, carbon) if has_row else None
            groups = []
        entry_kind = _kind(kind)
        if entry_kind is not None:
            groups.append((entry_kind, int(points), int(carbon_g), _kind(reversed_kind)))
    flush()


async def _digests(conn: AsyncConnection, out: _Collector) -> None:
    """No entry changed: each stored digest equals the one recomputed from the rows."""
    async for row in _stream(
        conn,
        """
        SELECT p.user_id, p.id, p.kind, p.posted_at, p.carbon_g, p.scenario, p.activity_id, p.campaign_id,
               p.reverses_posting_id, p.memo, p.digest,
               e.accounts, e.points, e.reverses
        FROM postings p
        LEFT JOIN LATERAL (
            SELECT array_agg(account ORDER BY leg, id) AS accounts, array_agg(points ORDER BY leg, id) AS points,
                   array_agg(reverses_entry_id ORDER BY leg, id) AS reverses
            FROM entries x WHERE x.user_id = p.user_id AND x.posting_id = p.id
        ) e ON true
        ORDER BY p.user_id, p.id
        """,
    ):
        (user_id, posting_id, kind, posted_at, carbon_g, scenario, activity_id, campaign_id, reverses, memo, digest) = row[:11]
        accounts, points, reversed_entries = row[11] or [], row[12] or [], row[13] or []
        recomputed = digest_of(
            user_id=str(user_id),
            kind=kind,
            posted_at=posted_at,
            carbon_g=carbon_g,
            scenario=scenario,
            activity_id=_str_or_none(activity_id),
            campaign_id=_str_or_none(campaign_id),
            reverses_posting_id=reverses,
            memo=memo,
            legs=list(zip(accounts, points, reversed_entries, strict=True)),
        )
        if recomputed != digest:
            out.add("posting_changed", f"posting {posting_id} of citizen {user_id}: its rows no longer match its digest")


def _str_or_none(value: uuid.UUID | str | None) -> str | None:
    return None if value is None else str(value)


async def _triggers(conn: AsyncConnection, out: _Collector) -> None:
    rows = await _rows(
        conn,
        """
        SELECT c.relname, t.tgname, t.tgenabled::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relname IN ('postings', 'entries', 'audit_log', 'lot_moves')
          AND c.relnamespace = to_regnamespace(current_schema())
          AND NOT t.tgisinternal
        """,
    )
    present = {(table, name): enabled for table, name, enabled in rows}
    for table, names in APPEND_ONLY_TRIGGERS.items():
        for name in names:
            enabled = present.get((table, name))
            if enabled is None:
                out.add("append_only_trigger", f"trigger {name} on {table} is missing: the table can be edited")
            elif enabled == "D":
                out.add("append_only_trigger", f"trigger {name} on {table} is disabled: the table can be edited")


async def _campaign_spend(conn: AsyncConnection, out: _Collector) -> None:
    """A campaign's spend (its budget shards) is exactly what its account paid out net of reversals,
    no shard is past its cap (so the campaign is within its budget), and each citizen's spend in a
    campaign (its per-citizen cap) is what that citizen's bonus entries add up to."""
    rows = await _rows(
        conn,
        """
        WITH spend AS (SELECT campaign_id, sum(spent) AS spent, bool_or(cap IS NOT NULL AND spent > cap) AS over_cap
                       FROM campaign_budget_shards GROUP BY campaign_id),
             paid AS (SELECT substr(account, 10)::uuid AS campaign_id, -sum(points) AS paid
                      FROM entries WHERE account LIKE 'campaign:%' GROUP BY account)
        SELECT coalesce(s.campaign_id, p.campaign_id), coalesce(s.spent, 0), coalesce(p.paid, 0), coalesce(s.over_cap, false),
               c.budget
        FROM spend s FULL JOIN paid p ON p.campaign_id = s.campaign_id
        LEFT JOIN campaigns c ON c.id = coalesce(s.campaign_id, p.campaign_id)
        WHERE coalesce(s.spent, 0) <> coalesce(p.paid, 0) OR coalesce(s.over_cap, false)
           OR (c.budget IS NOT NULL AND coalesce(p.paid, 0) > c.budget)
        """,
    )
    for campaign_id, spent, paid, over_cap, budget in rows:
        if spent != paid:
            out.add("campaign_spend", f"campaign {campaign_id} records {spent} spent but its entries paid {paid}")
        if over_cap or (budget is not None and paid > budget):
            out.add("campaign_budget", f"campaign {campaign_id} paid {paid} of a {budget} budget (or a shard is past its cap)")
    rows = await _rows(
        conn,
        """
        WITH paid AS (SELECT user_id, campaign_id, sum(points) AS paid FROM entries
                      WHERE account = 'citizen' AND campaign_id IS NOT NULL GROUP BY user_id, campaign_id)
        SELECT coalesce(s.user_id, p.user_id), coalesce(s.campaign_id, p.campaign_id), coalesce(s.spent, 0), coalesce(p.paid, 0)
        FROM campaign_citizen_spend s FULL JOIN paid p ON p.user_id = s.user_id AND p.campaign_id = s.campaign_id
        WHERE coalesce(s.spent, 0) <> coalesce(p.paid, 0)
        """,
    )
    for user_id, campaign_id, spent, paid in rows:
        out.add("campaign_citizen_spend", f"citizen {user_id} got {paid} from campaign {campaign_id} but {spent} is recorded")


async def _bank_feed(conn: AsyncConnection, out: _Collector) -> None:
    """The banks' feed mirrors the ledger: each event of a posting is that posting's citizen entry,
    the trigger that writes them is in place, and every revoked link told its bank once."""
    if (await conn.execute(text("SELECT to_regclass('bank_events')"))).scalar() is None:
        return
    trigger = await _rows(
        conn,
        """
        SELECT t.tgenabled::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relname = 'entries' AND t.tgname = 'entries_bank_events'
          AND c.relnamespace = to_regnamespace(current_schema())
        """,
    )
    if not trigger or trigger[0][0] == "D":
        out.add("bank_feed_trigger", "trigger entries_bank_events is missing or disabled: banks miss ledger changes")
    for event_id, posting_id, kind, points, carbon in await _rows(
        conn,
        f"""
        SELECT b.id, b.posting_id, b.kind, b.points, b.carbon_g FROM bank_events b
        LEFT JOIN entries e ON e.user_id = b.user_id AND e.posting_id = b.posting_id AND e.account = '{CITIZEN}'
        WHERE b.posting_id IS NOT NULL
          AND (e.id IS NULL OR e.kind <> b.kind OR e.points <> b.points OR e.carbon_g <> b.carbon_g)
        ORDER BY b.id
        """,  # noqa: S608 (a constant)
    ):
        out.add(
            "bank_event_mismatch",
            f"bank event {event_id} ({kind} {points} points, {carbon} g) does not match posting {posting_id}'s citizen entry",
        )
    for link_id, revoked, events in await _rows(
        conn,
        """
        SELECT l.id, l.revoked_at IS NOT NULL, count(b.id) FROM bank_links l
        LEFT JOIN bank_events b ON b.link_id = l.id AND b.kind = 'revocation'
        GROUP BY l.id, l.revoked_at HAVING count(b.id) <> CASE WHEN l.revoked_at IS NULL THEN 0 ELSE 1 END
        ORDER BY l.id
        """,
    ):
        state = "revoked" if revoked else "live"
        out.add("bank_revocation_events", f"{state} link {link_id} has {events} revocation events in the feed")


async def _lots(conn: AsyncConnection, out: _Collector) -> None:
    """The expiry lots hold exactly the spendable points: for every citizen, the lots' remaining
    points sum to max(balance, 0) (domain/lots.py), and no lot holds less than 0 or more than it got."""
    for user_id, balance, remaining in await _rows(
        conn,
        """
        WITH l AS (SELECT user_id, sum(remaining) AS remaining FROM expiry_lots GROUP BY user_id)
        SELECT coalesce(a.user_id, l.user_id), coalesce(a.balance, 0), coalesce(l.remaining, 0)
        FROM citizen_accounts a FULL JOIN l ON l.user_id = a.user_id
        WHERE coalesce(l.remaining, 0) <> greatest(coalesce(a.balance, 0), 0)
        ORDER BY 1
        """,
    ):
        if int(remaining) != open_lot_points(int(balance)):
            out.add("lots_balance", f"citizen {user_id}: lots hold {int(remaining)} points, the balance is {int(balance)}")
    for user_id, lot_id, points, remaining in await _rows(
        conn, "SELECT user_id, id, points, remaining FROM expiry_lots WHERE remaining < 0 OR remaining > points ORDER BY id"
    ):
        out.add("lot_bounds", f"lot {lot_id} of citizen {user_id} holds {remaining} of its {points} points")


async def _activities(conn: AsyncConnection, out: _Collector) -> None:
    """Every partner id was awarded at most once (quality.md R4), and every activity was paid
    exactly what it says: its award postings sum to its points, its bonus postings to its bonus
    points, and no award or bonus posting names an activity that does not exist."""
    for partner_id, external_id, count in await _rows(
        conn,
        """
        SELECT partner_id, external_id, count(*) FROM activities
        WHERE external_id IS NOT NULL GROUP BY partner_id, external_id HAVING count(*) > 1 ORDER BY 1, 2
        """,
    ):
        out.add("external_id_awarded_twice", f"partner {partner_id}'s id {external_id!r} has {count} activities")
    for activity_id, user_id, points, bonus, awarded, bonus_paid in await _rows(
        conn,
        """
        WITH paid AS (
            SELECT user_id, activity_id,
                   coalesce(sum(points) FILTER (WHERE kind = 'award'), 0) AS awarded,
                   coalesce(sum(points) FILTER (WHERE kind = 'bonus'), 0) AS bonus_paid
            FROM entries
            WHERE account = 'citizen' AND activity_id IS NOT NULL AND kind IN ('award', 'bonus')
            GROUP BY user_id, activity_id)
        SELECT coalesce(a.id, p.activity_id), coalesce(a.user_id, p.user_id), a.points, a.bonus_points,
               coalesce(p.awarded, 0), coalesce(p.bonus_paid, 0)
        FROM activities a FULL JOIN paid p ON p.user_id = a.user_id AND p.activity_id = a.id
        WHERE a.id IS NULL OR coalesce(p.awarded, 0) <> a.points OR coalesce(p.bonus_paid, 0) <> a.bonus_points
        ORDER BY 1
        """,
    ):
        if points is None:
            paid = int(awarded + bonus_paid)
            out.add("activity_missing", f"citizen {user_id} was paid {paid} points for no activity {activity_id}")
        else:
            out.add(
                "activity_paid",
                f"activity {activity_id} of citizen {user_id}: {points} points and {bonus} bonus, "
                f"paid {int(awarded)} and {int(bonus_paid)}",
            )


async def _redemptions(conn: AsyncConnection, out: _Collector) -> None:
    """Each redemption's hold took its price; a cancelled one (and only it) was released by a posting giving it back."""
    for user_id, redemption_id, status, points, held, released in await _rows(
        conn,
        """
        SELECT d.user_id, d.id, d.status, d.points, h.points, r.points
        FROM redemptions d
        LEFT JOIN entries h ON h.user_id = d.user_id AND h.posting_id = d.hold_posting_id
                           AND h.account = 'citizen' AND h.kind = 'redemption_hold'
        LEFT JOIN entries r ON r.user_id = d.user_id AND r.posting_id = d.release_posting_id
                           AND r.account = 'citizen' AND r.kind = 'redemption_release'
        WHERE h.points IS DISTINCT FROM -d.points
           OR (d.status = 'cancelled') <> (r.points IS NOT NULL)
           OR (r.points IS NOT NULL AND r.points <> d.points)
        ORDER BY d.created_at
        """,
    ):
        out.add(
            "redemption_postings",
            f"redemption {redemption_id} of citizen {user_id} ({status}, {points} points): hold {held}, release {released}",
        )


CHECKS: tuple[Callable[[AsyncConnection, _Collector], Any], ...] = (
    _triggers,
    _balanced_postings,
    _orphan_entries,
    _entry_kinds,
    _system_accounts,
    _reversals,
    _citizen_accounts,
    _lots,
    _activities,
    _redemptions,
    _digests,
    _campaign_spend,
    _bank_feed,
)


class LedgerMissing(Exception):
    """The database has no ledger tables (not migrated)."""


async def check_ledger(conn: AsyncConnection, *, examples: int = 20) -> LedgerReport:
    """Run every check on one snapshot; at most `examples` violations are listed per invariant."""
    await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
    tables = ("postings", "entries", "citizen_accounts", "system_accounts")
    found = (await conn.execute(text("SELECT " + ", ".join(f"to_regclass('{t}')" for t in tables)))).one()
    missing = [t for t, oid in zip(tables, found, strict=True) if oid is None]
    if missing:
        raise LedgerMissing(f"the database has no table {', '.join(missing)}: run `tanpu migrate` first")
    out = _Collector(examples)
    for check in CHECKS:
        await check(conn, out)
    postings, entries, accounts = (
        await conn.execute(
            text(
                "SELECT (SELECT count(*) FROM postings), (SELECT count(*) FROM entries), (SELECT count(*) FROM citizen_accounts)"
            )
        )
    ).one()
    return LedgerReport(out.finish(), int(postings), int(entries), int(accounts))


async def check_database(database_url: str, *, examples: int = 20) -> LedgerReport:
    """The check on a database given by its URL (the CLI and the test suite's teardown)."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from service.database import asyncpg_url

    # No statement timeout here (the API's engine has one): a large ledger takes a while to scan.
    engine = create_async_engine(asyncpg_url(database_url), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            report = await check_ledger(conn, examples=examples)
            await conn.rollback()
            return report
    finally:
        await engine.dispose()
