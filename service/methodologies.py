"""The methodology versions, parsed once and kept in memory.

Versions never change once stored, and new ones are rare administrative acts,
so each process keeps them for a short while; the process that adds one drops
its copy at once, the others within `ttl_s` seconds.
"""

import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain import methodology
from domain.methodology import Methodology


class MethodologyCache:
    def __init__(self, ttl_s: float = 30.0) -> None:
        self.ttl_s = ttl_s
        self._versions: list[Methodology] | None = None
        self._loaded_at = 0.0

    async def versions(self, session: AsyncSession) -> list[Methodology]:
        if self._versions is None or time.monotonic() - self._loaded_at > self.ttl_s:
            self._versions = await load_all(session)
            self._loaded_at = time.monotonic()
        return self._versions

    def invalidate(self) -> None:
        self._versions = None


async def load_all(session: AsyncSession) -> list[Methodology]:
    rows = await session.execute(
        text("SELECT id, region, effective_from, rate_points_per_g, document FROM methodologies ORDER BY effective_from, id")
    )
    return [methodology.parse(r.id, r.region, r.effective_from, r.rate_points_per_g, r.document) for r in rows]
