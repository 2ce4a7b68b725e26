"""GET /v1/leaderboards/{weekly|monthly}: carbon saved this week or month, top N and the caller's rank."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy import text

from domain.leaderboards import Period, pseudonym
from service import leaderboards
from service.auth.deps import CurrentCitizen
from service.clock import utcnow
from service.deps import RedisDep, SessionDep
from service.problems import ProblemError, problem_responses

router = APIRouter(prefix="/v1/leaderboards", tags=["citizen"])


class StandingOut(BaseModel):
    rank: int
    name: str
    carbon_g: int
    me: bool


class BoardOut(BaseModel):
    period: Period
    key: str
    region: str | None
    starts_at: datetime
    ends_at: datetime
    items: list[StandingOut]
    me: StandingOut | None


@router.get("/{period}", operation_id="get_leaderboard", response_model=BoardOut, responses=problem_responses(401, 422, 503))
async def get_leaderboard(
    request: Request,
    period: Period,
    citizen: CurrentCitizen,
    session: SessionDep,
    redis: RedisDep,
    region: Annotated[str | None, Query(max_length=64, description="A region's board; none: everyone's")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="How many from the top")] = 10,
) -> BoardOut:
    """Carbon saved (grams CO2e, not points) in this ISO week or calendar month (Asia/Shanghai, by when the
    activities happened), in a region (where the activities happened) or everywhere. Citizens appear under a
    pseudonym; ties share a rank; `me` is the caller's own standing (null before their first saving)."""
    if region is not None and await session.scalar(text("SELECT 1 FROM regions WHERE code = :r"), {"r": region}) is None:
        raise ProblemError(422, "unknown_region", f"unknown region {region!r}")
    me = str(citizen.user_id)
    await request.app.state.leaderboards.flush()  # this process's own recent awards first
    try:
        board = await leaderboards.read(redis, period, region=region, now=utcnow(), limit=limit, user_id=me)
    except Exception:
        raise ProblemError(
            503, "leaderboard_unavailable", "the leaderboards are unavailable; retry shortly", headers={"Retry-After": "30"}
        ) from None

    def out(s: leaderboards.Standing) -> StandingOut:
        return StandingOut(rank=s.rank, name=pseudonym(s.user_id), carbon_g=s.carbon_g, me=s.user_id == me)

    return BoardOut(
        period=period,
        key=board.key,
        region=region,
        starts_at=board.starts_at,
        ends_at=board.ends_at,
        items=[out(s) for s in board.top],
        me=out(board.me) if board.me else None,
    )
