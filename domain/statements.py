"""A bank's daily statement: the day's entries of its linked customers, summed, with a digest over a
canonical ordering; and reconciliation of the bank's totals against it.

The canonical form is documented for banks: one line per entry,
`posting_id,link_id,kind,points,carbon_g,posted_at` (posted_at in UTC, RFC 3339 with
microseconds and `Z`), lines ordered by posting_id then link_id, joined by "\\n";
the digest is the hex SHA-256 of that text (UTF-8).
"""

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from domain.calendar import start_of_local_day


@dataclass(frozen=True, slots=True)
class StatementEntry:
    posting_id: int
    link_id: str
    kind: str
    points: int
    carbon_g: int
    posted_at: datetime


@dataclass(frozen=True, slots=True)
class KindTotal:
    count: int
    points: int
    carbon_g: int


@dataclass(frozen=True, slots=True)
class Statement:
    day: date
    entries: tuple[StatementEntry, ...]
    count: int
    points: int
    carbon_g: int
    by_kind: Mapping[str, KindTotal]
    digest: str


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of an Asia/Shanghai day, in UTC."""
    start = start_of_local_day(day)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def canonical_line(e: StatementEntry) -> str:
    at = e.posted_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{e.posting_id},{e.link_id},{e.kind},{e.points},{e.carbon_g},{at}"


def build(day: date, entries: Iterable[StatementEntry]) -> Statement:
    ordered = tuple(sorted(entries, key=lambda e: (e.posting_id, e.link_id)))
    by_kind: dict[str, KindTotal] = {}
    for e in ordered:
        t = by_kind.get(e.kind, KindTotal(0, 0, 0))
        by_kind[e.kind] = KindTotal(t.count + 1, t.points + e.points, t.carbon_g + e.carbon_g)
    text = "\n".join(canonical_line(e) for e in ordered)
    return Statement(
        day=day,
        entries=ordered,
        count=len(ordered),
        points=sum(e.points for e in ordered),
        carbon_g=sum(e.carbon_g for e in ordered),
        by_kind=dict(sorted(by_kind.items())),
        digest=hashlib.sha256(text.encode()).hexdigest(),
    )


@dataclass(frozen=True, slots=True)
class BankTotals:
    """What the bank says it received for the day; every part but `count` is optional."""

    count: int
    points: int | None = None
    carbon_g: int | None = None
    by_kind: Mapping[str, KindTotal] | None = None
    digest: str | None = None
    posting_ids: Sequence[int] | None = None


@dataclass(frozen=True, slots=True)
class Difference:
    field: str
    ours: object
    theirs: object


@dataclass(frozen=True, slots=True)
class Reconciliation:
    differences: tuple[Difference, ...]
    missing_at_bank: tuple[int, ...]
    unknown_to_us: tuple[int, ...]

    @property
    def agrees(self) -> bool:
        return not self.differences and not self.missing_at_bank and not self.unknown_to_us


def reconcile(ours: Statement, theirs: BankTotals) -> Reconciliation:
    diffs: list[Difference] = []

    def compare(name: str, mine: object, given: object | None) -> None:
        if given is not None and mine != given:
            diffs.append(Difference(name, mine, given))

    compare("count", ours.count, theirs.count)
    compare("points", ours.points, theirs.points)
    compare("carbon_g", ours.carbon_g, theirs.carbon_g)
    if theirs.by_kind is not None:
        for kind in sorted(set(ours.by_kind) | set(theirs.by_kind)):
            mine = ours.by_kind.get(kind, KindTotal(0, 0, 0))
            given = theirs.by_kind.get(kind, KindTotal(0, 0, 0))
            for part in ("count", "points", "carbon_g"):
                compare(f"by_kind.{kind}.{part}", getattr(mine, part), getattr(given, part))
    compare("digest", ours.digest, theirs.digest)
    missing: tuple[int, ...] = ()
    unknown: tuple[int, ...] = ()
    if theirs.posting_ids is not None:
        mine_ids = {e.posting_id for e in ours.entries}
        given_ids = set(theirs.posting_ids)
        missing = tuple(sorted(mine_ids - given_ids))
        unknown = tuple(sorted(given_ids - mine_ids))
    return Reconciliation(tuple(diffs), missing, unknown)
