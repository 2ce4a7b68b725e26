"""The citizen's own profile, account and ledger: a citizen token only ever sees its own data."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from domain import lots as lot_rules
from domain.levels import Level, level_for, next_level
from service.auth.deps import CurrentCitizen
from service.clock import utcnow
from service.deps import SessionDep
from service.pagination import CursorQuery, LimitQuery, capped, decode_cursor, encode_cursor
from service.problems import ProblemError, problem_responses
from service.repositories import ledger as ledger_repo
from service.repositories import reference as reference_repo
from service.repositories import users as users_repo

router = APIRouter(prefix="/v1/me", tags=["citizen"])


class NextLevelOut(BaseModel):
    level: int
    name: str
    min_carbon_g: int
    carbon_g_to_go: int


class LevelOut(BaseModel):
    level: int
    name: str
    min_carbon_g: int
    next: NextLevelOut | None


class ProfileOut(BaseModel):
    id: uuid.UUID
    phone_masked: str | None
    region: str
    level: LevelOut | None


class ExpiringOut(BaseModel):
    points: int
    expires_at: datetime


class AccountOut(BaseModel):
    balance: int
    lifetime_earned: int
    lifetime_spent: int
    carbon_g_total: int
    carbon_g_by_scenario: dict[str, int]
    expiring: list[ExpiringOut]
    level: LevelOut | None


class LedgerEntryOut(BaseModel):
    id: int
    posted_at: datetime
    kind: str
    points: int
    carbon_g: int
    scenario: str | None
    activity_id: uuid.UUID | None
    campaign_id: uuid.UUID | None
    memo: str | None


class LedgerPage(BaseModel):
    items: list[LedgerEntryOut]
    next_cursor: str | None


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return None
    return phone[:-8] + "****" + phone[-4:] if len(phone) >= 8 else "****"


async def level_out(session: AsyncSession, carbon_g: int) -> LevelOut | None:
    """The level reached by lifetime carbon (thresholds are seed data), and how far the next one is."""
    return level_view(carbon_g, await reference_repo.levels(session))


def level_view(carbon_g: int, levels: Sequence[Level]) -> LevelOut | None:
    level, ahead = level_for(carbon_g, levels), next_level(carbon_g, levels)
    if level is None:
        return None
    upcoming = (
        NextLevelOut(
            level=ahead.level, name=ahead.name, min_carbon_g=ahead.min_carbon_g, carbon_g_to_go=ahead.min_carbon_g - carbon_g
        )
        if ahead
        else None
    )
    return LevelOut(level=level.level, name=level.name, min_carbon_g=level.min_carbon_g, next=upcoming)


@router.get("", operation_id="get_me", response_model=ProfileOut, responses=problem_responses(401))
async def get_me(citizen: CurrentCitizen, session: SessionDep) -> ProfileOut:
    """The caller's profile; `id` is the user id partners may use."""
    user = await users_repo.get_citizen(session, citizen.user_id)
    account = await users_repo.get_account(session, citizen.user_id)
    if user is None or account is None or user.erased_at is not None:
        raise ProblemError(401, "unauthorized", "this account no longer exists")
    return ProfileOut(
        id=user.id,
        phone_masked=mask_phone(user.phone),
        region=user.region,
        level=await level_out(session, account.carbon_g_total),
    )


@router.get("/account", operation_id="get_my_account", response_model=AccountOut, responses=problem_responses(401))
async def get_my_account(citizen: CurrentCitizen, session: SessionDep) -> AccountOut:
    """Balance, lifetime totals, carbon saved (in total and by scenario) and the points that expire
    within 30 days (or are overdue and go at the next expiry run), by expiry instant."""
    now = utcnow()
    account = await ledger_repo.account_view(session, citizen.user_id, horizon=now + lot_rules.EXPIRING_WINDOW)
    if account is None:
        raise ProblemError(401, "unauthorized", "this account no longer exists")
    return AccountOut(
        balance=account.balance,
        lifetime_earned=account.lifetime_earned,
        lifetime_spent=account.lifetime_spent,
        carbon_g_total=account.carbon_g_total,
        carbon_g_by_scenario=account.carbon_g_by_scenario,
        expiring=[ExpiringOut(points=e.points, expires_at=e.expires_at) for e in lot_rules.expiring(account.lots_due, now)],
        level=level_view(account.carbon_g_total, account.levels),
    )


_entries = TypeAdapter(list[LedgerEntryOut])


@router.get("/ledger", operation_id="list_my_ledger", response_model=LedgerPage, responses=problem_responses(401, 422))
async def list_my_ledger(
    citizen: CurrentCitizen, session: SessionDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> LedgerPage:
    """The caller's entries, newest first, cursor-paginated (limit capped at 500)."""
    page_size = capped(limit)
    rows = await ledger_repo.citizen_statement(session, citizen.user_id, before_id=decode_cursor(cursor), limit=page_size + 1)
    more = len(rows) > page_size
    rows = rows[:page_size]
    # the records validated in one call (in pydantic-core), not one model at a time
    return LedgerPage(
        items=_entries.validate_python([dict(row) for row in rows]),
        next_cursor=encode_cursor(rows[-1]["id"]) if more and rows else None,
    )
