"""Reference data reads: regions, levels, methodologies."""

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from domain.levels import Level
from service.models import LevelThreshold


async def levels(session: AsyncSession) -> list[Level]:
    rows = (await session.execute(select(LevelThreshold).order_by(col(LevelThreshold.min_carbon_g)))).scalars()
    return [Level(level=r.level, name=r.name, min_carbon_g=r.min_carbon_g) for r in rows]
