"""Dependencies shared by the routers: the session (committed before the response) and Redis."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from service.settings import Settings

AfterCommit = Callable[[], Awaitable[None] | None]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed when the route returns and before the
    response is sent (the dependency has `scope="function"`), rolled back on any error.
    Work registered with `after_commit` runs only once the commit succeeded."""
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            session.info.pop("after_commit", None)
            await session.rollback()
            raise
        await commit(session)


async def commit(session: AsyncSession) -> None:
    """Commit, then run the work registered with `after_commit` (dropped if the commit fails)."""
    hooks = session.info.pop("after_commit", [])
    await session.commit()
    for hook in hooks:
        result = hook()
        if result is not None:
            await result


def after_commit(session: AsyncSession, hook: AfterCommit) -> None:
    """Run `hook` after this session's transaction commits (never if it rolls back)."""
    session.info.setdefault("after_commit", []).append(hook)


def get_redis(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
RedisDep = Annotated[Redis, Depends(get_redis)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def client_ip(request: Request, settings: Settings) -> str:
    """The caller's address; X-Forwarded-For only behind a trusted proxy."""
    if settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"
