"""The award pipeline (architecture.md): one path for every scenario and every batch size.

accept (the routers) → replay check and context → evaluate (domain, pure) →
write everything in one statement → after commit.

Concurrency: an attempt is first optimistic. It reads the context (with the
citizens' account versions) in one statement and writes in one statement that
only succeeds if every credited account is still at the version read; two
round trips, no lock held across them. A stale write, or a partner key or
fingerprint that a concurrent request took first, fails that one statement
(nothing half-written) and the batch is evaluated again. After
OPTIMISTIC_ATTEMPTS the pipeline stops hoping and locks the citizens first, so
even a citizen under heavy concurrent reporting gets exact caps and progress.
Batches over many citizens go in rounds instead (see `_in_rounds`): optimism
would fail whenever two batches share one citizen.

Campaign bonuses come out of budget shards (service/repositories/campaigns.py):
an optimistic write adds to a shard only if it still fits under the shard's
cap, or the statement fails and the batch is evaluated again; the locked path
holds the budgeted campaigns' shards too, so what it reads is what it may spend.

A single post is a batch of one: the same code, the same guarantees.
"""

import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from domain import ledger
from domain.activities import Activity, DailySteps
from domain.award import Award, AwardContext, Status, evaluate
from domain.calendar import local_day, lot_expiry
from domain.campaigns import Campaign, Occasion, Offer, matches
from domain.methodology import Methodology, in_force
from service import compact_json, leaderboards
from service.deps import after_commit
from service.observability import LEDGER_POSTINGS
from service.problems import ProblemError
from service.repositories import activities as repo
from service.repositories import campaigns as campaigns_repo
from service.repositories import raw

log = logging.getLogger(__name__)

OPTIMISTIC_ATTEMPTS = 2
MAX_ATTEMPTS = 4
_TWIN = -1  # an outcome to be copied from an earlier item of the same batch


@dataclass(frozen=True)
class Report:
    """One activity as reported, validated by the router and ready to evaluate."""

    activity: Activity
    region: str
    measurements: dict[str, Any]
    user_id: uuid.UUID | None = None
    member_ref: str | None = None
    partner_id: uuid.UUID | None = None
    external_id: str | None = None
    request_hash: str | None = None
    fingerprint: str | None = None
    station_id: uuid.UUID | None = None


@dataclass
class Outcome:
    """The answer for one report: a stored activity (201), a replay of one, or a problem."""

    status_code: int
    body: str | None = None
    replayed: bool = False
    problem: ProblemError | None = None
    activity_id: uuid.UUID | None = None
    postings: int = 0
    award_status: str | None = None
    """The activity's status, known without decoding `body` when this request evaluated it."""
    gain: leaderboards.Gain | None = None  # carbon for the leaderboards, once written

    @property
    def status(self) -> str:
        if self.award_status is not None:
            return self.award_status
        stored: str = json.loads(self.body or "{}")["status"]  # a replayed answer
        return stored


@dataclass
class _Pending:
    index: int
    report: Report
    user_id: uuid.UUID | None = None
    activity_id: uuid.UUID = field(default_factory=uuid.uuid4)


def activity_answer(activity_id: uuid.UUID, award: Award) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "activity_id": str(activity_id),
        "status": str(award.status),
        "scenario": award.scenario,
        "carbon_g": award.carbon_g,
        "points": award.points,
        "bonus_points": award.bonus_points,
        "breakdown": award.breakdown,
    }
    if award.reason is not None:
        answer["reason"] = award.reason
    return answer


def _conflict() -> ProblemError:
    return ProblemError(409, "idempotency_conflict", "this external_id was already used with a different request")


def _unknown_member(detail: str) -> ProblemError:
    return ProblemError(404, "unknown_member", detail)


async def award_reports(
    session: AsyncSession,
    reports: Sequence[Report],
    *,
    methodologies: Sequence[Methodology],
    now: datetime,
    reported_at: datetime | None = None,
) -> list[Outcome]:
    """Evaluate and record `reports` (all from one partner, or all from the app), one outcome each, in order.
    `reported_at` (default `now`): when they reached the platform, which the reporting window is
    judged by and the activities record; postings and lots are dated `now`."""
    conn = await raw.connection(session)
    outcomes: dict[int, Outcome] = {}
    pending = await _resolve(conn, reports, outcomes)
    run = functools.partial(_evaluate_and_write, conn, outcomes, methodologies, now, reported_at or now)
    if conn.is_in_transaction():
        # the caller's transaction holds what it wrote before: one locked attempt in a savepoint
        await _retrying(lambda: _locked(conn, pending, run))
    elif len({p.user_id for p in pending}) <= 1:
        await _optimistically(conn, pending, run)
    else:
        await _in_rounds(conn, pending, outcomes, run)
    for index, outcome in outcomes.items():  # in-batch twins answer exactly as the first of them
        if outcome.status_code == _TWIN:
            first = next(o for o in outcomes.values() if o.activity_id == outcome.activity_id and o.status_code == 201)
            outcomes[index] = Outcome(
                201, body=first.body, replayed=True, activity_id=outcome.activity_id, award_status=first.award_status
            )
    leaderboards.record_after_commit(session, [o.gain for o in outcomes.values() if o.gain is not None])
    postings = sum(o.postings for o in outcomes.values())
    if postings:
        after_commit(session, functools.partial(LEDGER_POSTINGS.labels("award").inc, postings))
    return [outcomes[i] for i in range(len(reports))]


T = TypeVar("T")
_RACES = (asyncpg.SerializationError, asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError)
Run = Callable[[list["_Pending"], bool], Awaitable[None]]


async def _retrying(attempt: Callable[[], Awaitable[T]], tries: int = MAX_ATTEMPTS) -> T:
    """Run `attempt` again when it lost a race to a concurrent award (it wrote nothing then)."""
    for n in range(1, tries + 1):
        try:
            return await attempt()
        except _RACES as exc:
            if n == tries:
                raise
            log.info("award attempt met a concurrent award; evaluating again", extra={"attempt": n, "why": type(exc).__name__})
    raise AssertionError("unreachable")


async def _locked(conn: asyncpg.Connection, pending: list["_Pending"], run: Run) -> None:
    """Pessimistic: hold the citizens' rows (in a fixed order, so no deadlock) while reading and writing.
    Inside a caller's transaction this is a savepoint: a lost race undoes only this attempt."""
    async with conn.transaction():
        await repo.lock_citizens(conn, [p.user_id for p in pending if p.user_id])
        await run(pending, False)


async def _optimistically(conn: asyncpg.Connection, pending: list["_Pending"], run: Run) -> None:
    """One citizen: read, evaluate, write-if-unchanged (two round trips, no lock held between);
    after OPTIMISTIC_ATTEMPTS stale tries, take the lock."""
    for _ in range(OPTIMISTIC_ATTEMPTS):
        try:
            return await run(pending, True)  # autocommit: the one write statement is the transaction
        except _RACES:
            continue
    await _retrying(lambda: _locked(conn, pending, run))


async def _in_rounds(conn: asyncpg.Connection, pending: list["_Pending"], outcomes: dict[int, "Outcome"], run: Run) -> None:
    """Many citizens (a batch, an import chunk): the first round locks the citizens no concurrent
    award holds (SKIP LOCKED, never waiting) and commits their items, so batches that share a few
    citizens run side by side; the next round waits for the few left, locking them in one order
    (as every waiting locker does), so two batches never deadlock and a batch takes two rounds,
    not one per contended citizen. Every item is idempotent on its own, so committing a batch in
    rounds changes no answer."""
    remaining = pending
    first = True
    while remaining:
        got = await _retrying(functools.partial(_round, conn, remaining, run, wait=not first))
        first = False
        remaining = [p for p in remaining if p.user_id not in got]
        if remaining:  # held by a concurrent award, or no such citizen (unknown, or erased): only ask then
            existing = await repo.existing_citizens(conn, [p.user_id for p in remaining if p.user_id])
            # nobody earns for an account that does not exist
            await _unknown_unless_answered(conn, [p for p in remaining if p.user_id not in existing], outcomes, "no such citizen")
            remaining = [p for p in remaining if p.user_id in existing]


async def _round(conn: asyncpg.Connection, remaining: list["_Pending"], run: Run, *, wait: bool) -> set[uuid.UUID]:
    async with conn.transaction():
        users = list({p.user_id for p in remaining if p.user_id})
        if wait:
            got = await repo.lock_citizens(conn, users)
        else:
            got = await repo.lock_available_citizens(conn, users) or await repo.lock_citizens(conn, [min(users)])
        await run([p for p in remaining if p.user_id in got], False)
    return got


async def _resolve(conn: asyncpg.Connection, reports: Sequence[Report], outcomes: dict[int, "Outcome"]) -> list["_Pending"]:
    """Who: member references → citizens; an unknown reference is 404 unknown_member."""
    partner_ids = {r.partner_id for r in reports}
    if len(partner_ids) > 1:
        raise ValueError("a batch comes from one reporter")
    partner_id = next(iter(partner_ids), None)
    pending = [_Pending(i, r) for i, r in enumerate(reports)]
    refs = [p.report.member_ref for p in pending if p.report.member_ref is not None]
    resolved = await repo.resolve_member_refs(conn, partner_id, refs) if refs and partner_id else {}
    for p in pending:
        p.user_id = resolved.get(p.report.member_ref) if p.report.member_ref is not None else p.report.user_id
    unknown = [p for p in pending if p.user_id is None]
    await _unknown_unless_answered(conn, unknown, outcomes, "no citizen has bound that member reference")
    return [p for p in pending if p.user_id is not None]


async def _unknown_unless_answered(
    conn: asyncpg.Connection, unknown: list["_Pending"], outcomes: dict[int, "Outcome"], why: str
) -> None:
    """404 unknown_member for reports whose citizen cannot be found now, except those the partner
    was already answered for: a retry gets its original answer (api.md), even after the member
    reference was unbound or the citizen erased meanwhile."""
    partner_id = unknown[0].report.partner_id if unknown else None
    ids = [p.report.external_id for p in unknown if p.report.external_id is not None]
    stored = await repo.stored_keys(conn, partner_id, ids) if partner_id is not None and ids else {}
    for p in unknown:
        key = stored.get(p.report.external_id or "")
        if key is None:
            outcomes[p.index] = Outcome(404, problem=_unknown_member(why))
        else:
            outcomes[p.index] = replay_or_conflict(key, p.report.request_hash)


def replay_or_conflict(stored: repo.StoredKey, request_hash: str | None) -> Outcome:
    """The stored answer to a partner id again, or 409 when the id now comes with another body."""
    if stored.request_hash != request_hash:
        return Outcome(409, problem=_conflict())
    return Outcome(stored.status_code, body=stored.response, replayed=True)


async def _evaluate_and_write(
    conn: asyncpg.Connection,
    outcomes: dict[int, Outcome],
    methodologies: Sequence[Methodology],
    now: datetime,
    reported_at: datetime,
    pending: list[_Pending],
    optimistic: bool,
) -> None:
    """Read the context, evaluate each report in order, write everything in one statement.
    Optimistic: the write checks that the credited accounts did not move since the read."""
    if not pending:
        return
    partner_id = pending[0].report.partner_id
    users = [p.user_id for p in pending if p.user_id]
    # the replay check and the context, in one snapshot: accounts, answered keys, usage, fingerprints, steps
    day_of = {p.index: _day(p.report.activity) for p in pending}
    ctx = await repo.award_context(
        conn,
        users=users,
        partner_id=partner_id,
        external_ids=[p.report.external_id for p in pending if p.report.external_id],
        usage_keys=list({(p.user_id, day_of[p.index], p.report.activity.family) for p in pending if p.user_id}),
        fingerprint_keys=list({(p.user_id, p.report.fingerprint) for p in pending if p.user_id and p.report.fingerprint}),
        step_keys=list(
            {(p.user_id, day_of[p.index]) for p in pending if p.user_id and isinstance(p.report.activity, DailySteps)}
        ),
        regions=[p.report.region for p in pending],
        occurred=(min(p.report.activity.occurred_at for p in pending), max(p.report.activity.occurred_at for p in pending)),
    )
    live = ctx.campaigns
    if live and not optimistic:
        # exact room for the campaigns that may pay this batch: the write below cannot be refused for budget
        await campaigns_repo.lock_budgets(conn, {cid: lc for cid, lc in live.items() if _may_pay(lc.campaign, pending)})
    still = []
    for p in pending:
        stored = ctx.keys.get(p.report.external_id or "")
        if stored is not None:  # answered before, whatever has become of the citizen since
            outcomes[p.index] = replay_or_conflict(stored, p.report.request_hash)
        elif p.user_id not in ctx.versions:
            outcomes[p.index] = Outcome(404, problem=_unknown_member(f"no citizen {p.user_id}"))
        else:
            still.append(p)
    pending = still
    used, seen_fps, steps, citizen_spent = ctx.usage, ctx.fingerprints, ctx.steps, ctx.campaign_spend

    # evaluate, in order, each seeing what the earlier ones of the batch used
    write = repo.AwardWrite(activities=[], keys=[], fingerprints=[], usage={}, steps={}, lots=[])
    postings: list[ledger.Posting] = []
    posting_owner: list[_Pending] = []
    batch_keys: dict[str, _Pending] = {}
    shard_spend: dict[tuple[str, int], int] = {}
    for p in pending:
        r = p.report
        assert p.user_id is not None
        if r.external_id is not None:
            twin = batch_keys.get(r.external_id)
            if twin is not None:  # the same external_id twice in one batch: the second replays the first
                outcomes[p.index] = (
                    Outcome(_TWIN) if twin.report.request_hash == r.request_hash else Outcome(409, problem=_conflict())
                )
                outcomes[p.index].activity_id = twin.activity_id
                continue
            batch_keys[r.external_id] = p
        activity = r.activity
        day = day_of[p.index]
        if isinstance(activity, DailySteps):
            activity = replace(activity, counted_before=steps.get((p.user_id, day), 0))
        usage_key = (p.user_id, day, activity.family)
        duplicate_of = seen_fps.get((p.user_id, r.fingerprint)) if r.fingerprint else None
        award = evaluate(
            activity,
            AwardContext(
                methodology=in_force(methodologies, r.region, activity.occurred_at),
                now=reported_at,
                used_today=used.get(usage_key, 0),
                duplicate_of=str(duplicate_of) if duplicate_of else None,
                region=r.region,
                offers=_offers(live, citizen_spent, p.user_id),
            ),
        )
        for campaign_id, bonus in award.bonus_by_campaign().items():
            citizen_spent[(p.user_id, campaign_id)] = citizen_spent.get((p.user_id, campaign_id), 0) + bonus
            write.citizen_spend[(p.user_id, campaign_id)] = write.citizen_spend.get((p.user_id, campaign_id), 0) + bonus
            for shard, points in campaigns_repo.take_from_shards(live[campaign_id], p.user_id, bonus):
                shard_spend[(campaign_id, shard)] = shard_spend.get((campaign_id, shard), 0) + points
        if award.points:
            used[usage_key] = used.get(usage_key, 0) + award.points
            write.usage[usage_key] = write.usage.get(usage_key, 0) + award.points
        if r.fingerprint and award.status in (Status.AWARDED, Status.CAPPED):
            seen_fps[(p.user_id, r.fingerprint)] = p.activity_id
            write.fingerprints.append((p.user_id, r.fingerprint, p.activity_id, r.partner_id))
        if isinstance(activity, DailySteps) and award.status is not Status.REJECTED:
            steps[(p.user_id, day)] = max(activity.steps, activity.counted_before)
            write.steps[(p.user_id, day)] = steps[(p.user_id, day)]
        carbon = 0
        for posting in award.postings(user_id=str(p.user_id), activity_id=str(p.activity_id), posted_at=now):
            postings.append(posting)
            posting_owner.append(p)
            carbon += posting.carbon_g
        answer = compact_json.dumps(activity_answer(p.activity_id, award))
        outcomes[p.index] = Outcome(201, body=answer, activity_id=p.activity_id, award_status=str(award.status))
        if carbon:
            outcomes[p.index].gain = leaderboards.Gain(str(p.user_id), r.region, activity.occurred_at, carbon)
        write.activities.append(
            repo.ActivityRow(
                user_id=p.user_id,
                id=p.activity_id,
                partner_id=r.partner_id,
                external_id=r.external_id,
                scenario=award.scenario,
                family=award.family,
                status=str(award.status),
                reason=award.reason,
                region=r.region,
                occurred_at=activity.occurred_at,
                reported_at=reported_at,
                carbon_g=award.carbon_g,
                points=award.points,
                bonus_points=award.bonus_points,
                methodology_id=award.methodology_id,
                fingerprint=r.fingerprint,
                station_id=r.station_id,
                measurements=r.measurements,
                breakdown=award.breakdown,
            )
        )
        if r.partner_id is not None and r.external_id is not None and r.request_hash is not None:
            write.keys.append(repo.KeyRow(r.partner_id, r.external_id, p.user_id, p.activity_id, r.request_hash, 201, answer))

    write.shard_spend = [(campaign_id, shard, points) for (campaign_id, shard), points in shard_spend.items()]
    # write: postings, balances, activities, keys, usage, campaign spend, lots, in one statement — or nothing
    expires_at = lot_expiry(now)
    for n, (posting, owner) in enumerate(zip(postings, posting_owner, strict=True), start=1):
        assert owner.user_id is not None
        write.lots.append(repo.LotRow(owner.user_id, n, now, expires_at, posting.citizen_points))
        outcomes[owner.index].postings += 1
    if write.activities:
        touched = {owner.user_id for owner in posting_owner if owner.user_id is not None}
        await repo.write(
            conn,
            write,
            postings,
            [ledger.account_delta(pg.kind, pg.citizen_points, pg.carbon_g) for pg in postings],
            created_by=f"partner:{partner_id}" if partner_id else "citizen",
            now=now,
            expected_versions={u: ctx.versions[u] for u in touched} if optimistic else None,
        )


def _may_pay(campaign: Campaign, pending: list[_Pending]) -> bool:
    """Could the campaign pay any of these reports? Its region, window, merchant and store filters
    exactly, its scenarios by family (a drop-off's lines are only known once it is measured)."""
    for p in pending:
        activity = p.report.activity
        occasion = Occasion(
            p.report.region,
            activity.occurred_at,
            getattr(activity, "merchant_id", None),
            getattr(activity, "store_id", None),
        )
        family = activity.scenario.split(".")[0]
        if matches(campaign, occasion) and any(s.split(".")[0] == family for s in campaign.scenarios):
            return True
    return False


def _offers(
    live: dict[str, campaigns_repo.LiveCampaign], citizen_spent: dict[tuple[uuid.UUID, str], int], user_id: uuid.UUID
) -> tuple[Offer, ...]:
    """The campaigns that may pay this citizen, with the room left as this batch has used it so far."""
    return tuple(
        Offer(
            lc.campaign,
            budget_left=lc.budget_left,
            citizen_left=None
            if lc.campaign.per_citizen_cap is None
            else lc.campaign.per_citizen_cap - citizen_spent.get((user_id, cid), 0),
        )
        for cid, lc in live.items()
    )


def _day(activity: Activity) -> date:
    if isinstance(activity, DailySteps):
        return activity.day
    return local_day(activity.occurred_at)
