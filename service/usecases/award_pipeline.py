"""The award pipeline (architecture.md): one path for every scenario and every batch size.

accept (the routers) → replay check → load context under the citizens' locks →
evaluate (domain, pure) → commit everything in one transaction → after commit.

A single post is a batch of one: the same code, the same guarantees.
"""

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain import ledger
from domain.activities import Activity, DailySteps
from domain.award import Award, AwardContext, Status, evaluate
from domain.calendar import local_day, lot_expiry
from domain.methodology import Methodology, in_force
from service.deps import after_commit
from service.observability import LEDGER_POSTINGS
from service.problems import ProblemError
from service.repositories import activities as repo
from service.repositories import ledger as ledger_repo

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


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

    def json(self) -> dict[str, Any]:
        return json.loads(self.body) if self.body else {}


@dataclass
class _Pending:
    index: int
    report: Report
    user_id: uuid.UUID | None = None
    award: Award | None = None
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


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _conflict() -> ProblemError:
    return ProblemError(409, "idempotency_conflict", "this external_id was already used with a different request")


def _unknown_member(detail: str) -> ProblemError:
    return ProblemError(404, "unknown_member", detail)


async def award_reports(
    session: AsyncSession, reports: Sequence[Report], *, methodologies: Sequence[Methodology], now: datetime
) -> list[Outcome]:
    """Evaluate and record `reports` (all from one partner, or all from the app), one outcome each, in order.

    A concurrent request that wins a partner key first makes this transaction
    fail on the key's unique index; it is then rolled back and run again, and
    the second run finds the winner's answer.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return await _award_once(session, reports, methodologies, now)
        except IntegrityError:
            await session.rollback()
            if attempt == MAX_ATTEMPTS:
                raise
            log.info("award batch lost a race on a partner key; retrying", extra={"attempt": attempt})
    raise AssertionError("unreachable")


def _replay_or_conflict(stored: repo.StoredKey, request_hash: str | None) -> Outcome:
    if stored.request_hash != request_hash:
        return Outcome(409, problem=_conflict())
    return Outcome(stored.status_code, body=stored.response, replayed=True)


async def _award_once(
    session: AsyncSession, reports: Sequence[Report], methodologies: Sequence[Methodology], now: datetime
) -> list[Outcome]:
    outcomes: dict[int, Outcome] = {}
    partner_ids = {r.partner_id for r in reports}
    if len(partner_ids) > 1:
        raise ValueError("a batch comes from one reporter")
    partner_id = next(iter(partner_ids), None)

    # 1. who: member references → citizens
    pending = [_Pending(i, r) for i, r in enumerate(reports)]
    refs = [p.report.member_ref for p in pending if p.report.member_ref is not None]
    resolved = await repo.resolve_member_refs(session, partner_id, refs) if refs and partner_id else {}
    for p in pending:
        p.user_id = resolved.get(p.report.member_ref) if p.report.member_ref is not None else p.report.user_id
        if p.user_id is None:
            outcomes[p.index] = Outcome(404, problem=_unknown_member("no citizen has bound that member reference"))
    pending = [p for p in pending if p.user_id is not None]

    # 2. lock the citizens: from here on, nobody else awards them until this commits
    found = await repo.lock_citizens(session, [p.user_id for p in pending if p.user_id])
    for p in pending:
        if p.user_id not in found:
            outcomes[p.index] = Outcome(404, problem=_unknown_member(f"no citizen {p.user_id}"))
    pending = [p for p in pending if p.user_id in found]

    # 3. replay check and context, read under the locks: answered keys, usage, fingerprints, steps
    day_of = {p.index: _day(p.report.activity) for p in pending}
    ctx = await repo.award_context(
        session,
        partner_id=partner_id,
        external_ids=[p.report.external_id for p in pending if p.report.external_id],
        usage_keys=sorted({(p.user_id, day_of[p.index], p.report.activity.family) for p in pending if p.user_id}),
        fingerprint_keys=sorted({(p.user_id, p.report.fingerprint) for p in pending if p.user_id and p.report.fingerprint}),
        step_keys=sorted(
            {(p.user_id, day_of[p.index]) for p in pending if p.user_id and isinstance(p.report.activity, DailySteps)}
        ),
    )
    still = []
    for p in pending:
        stored = ctx.keys.get(p.report.external_id or "")
        if stored is None:
            still.append(p)
        else:
            outcomes[p.index] = _replay_or_conflict(stored, p.report.request_hash)
    pending = still
    used, seen_fps, steps = ctx.usage, ctx.fingerprints, ctx.steps

    # 5. evaluate, in order, each seeing what the earlier ones of the batch used
    write = repo.AwardWrite(activities=[], keys=[], fingerprints=[], usage={}, steps={}, lots=[])
    postings: list[ledger.Posting] = []
    posting_owner: list[_Pending] = []
    batch_keys: dict[str, _Pending] = {}
    for p in pending:
        r = p.report
        assert p.user_id is not None
        if r.external_id is not None:
            twin = batch_keys.get(r.external_id)
            if twin is not None:  # the same external_id twice in one batch: the second replays the first
                outcomes[p.index] = (
                    Outcome(-1) if twin.report.request_hash == r.request_hash else Outcome(409, problem=_conflict())
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
                now=now,
                used_today=used.get(usage_key, 0),
                duplicate_of=str(duplicate_of) if duplicate_of else None,
            ),
        )
        p.award = award
        if award.points:
            used[usage_key] = used.get(usage_key, 0) + award.points
            write.usage[usage_key] = write.usage.get(usage_key, 0) + award.points
        if r.fingerprint and award.status in (Status.AWARDED, Status.CAPPED):
            seen_fps[(p.user_id, r.fingerprint)] = p.activity_id
            write.fingerprints.append((p.user_id, r.fingerprint, p.activity_id, r.partner_id))
        if isinstance(activity, DailySteps) and award.status is not Status.REJECTED:
            steps[(p.user_id, day)] = max(activity.steps, activity.counted_before)
            write.steps[(p.user_id, day)] = steps[(p.user_id, day)]
        for posting in award.postings(user_id=str(p.user_id), activity_id=str(p.activity_id), posted_at=now):
            postings.append(posting)
            posting_owner.append(p)
        answer = _dumps(activity_answer(p.activity_id, award))
        outcomes[p.index] = Outcome(201, body=answer, activity_id=p.activity_id)
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
                reported_at=now,
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

    # 6. commit (by the caller's session): postings, balances, activities, keys, usage, lots — or nothing
    ids = await ledger_repo.insert_postings(
        session,
        postings,
        [ledger.account_delta(pg.kind, pg.citizen_points, pg.carbon_g) for pg in postings],
        created_by=f"partner:{partner_id}" if partner_id else "citizen",
        now=now,
    )
    for posting, posted, owner in zip(postings, ids, posting_owner, strict=True):
        assert owner.user_id is not None
        write.lots.append(repo.LotRow(owner.user_id, posted.posting_id, now, lot_expiry(now), posting.citizen_points))
    if write.activities:
        await repo.write(session, write)
    if postings:
        count = len(postings)
        after_commit(session, lambda: LEDGER_POSTINGS.labels("award").inc(count))

    # in-batch twins answer exactly as the first of them
    for index, outcome in outcomes.items():
        if outcome.status_code == -1:
            first = next(o for o in outcomes.values() if o.activity_id == outcome.activity_id and o.status_code == 201)
            outcomes[index] = Outcome(201, body=first.body, replayed=True, activity_id=outcome.activity_id)
    return [outcomes[i] for i in range(len(reports))]


def _day(activity: Activity) -> date:
    if isinstance(activity, DailySteps):
        return activity.day
    return local_day(activity.occurred_at)
