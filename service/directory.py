"""Small, slowly changing facts the hot paths need on every request: a partner's
region and state, a station's or a store's owner, region and state. Kept per process for a
few seconds so an award does not pay a round trip for them."""

import time
import uuid
from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from service.repositories import raw


@dataclass(frozen=True)
class PartnerFacts:
    id: uuid.UUID
    kind: str
    region: str
    active: bool


@dataclass(frozen=True)
class StationFacts:
    id: uuid.UUID
    partner_id: uuid.UUID
    region: str
    active: bool


@dataclass(frozen=True)
class StoreFacts:
    id: uuid.UUID
    merchant_id: uuid.UUID
    region: str
    active: bool


async def _fetchrow(session: AsyncSession, sql: str, key: uuid.UUID) -> asyncpg.Record | None:
    # On the driver, without opening the request's transaction (a route that has only read
    # lets its award take the optimistic path).
    row: asyncpg.Record | None = await (await raw.connection(session)).fetchrow(sql, key)
    return row


class Directory:
    def __init__(self, ttl_s: float = 10.0) -> None:
        self.ttl_s = ttl_s
        self._partners: dict[uuid.UUID, tuple[float, PartnerFacts | None]] = {}
        self._stations: dict[uuid.UUID, tuple[float, StationFacts | None]] = {}
        self._stores: dict[uuid.UUID, tuple[float, StoreFacts | None]] = {}

    def _fresh(self, at: float) -> bool:
        return time.monotonic() - at < self.ttl_s

    async def partner(self, session: AsyncSession, partner_id: uuid.UUID) -> PartnerFacts | None:
        hit = self._partners.get(partner_id)
        if hit and self._fresh(hit[0]):
            return hit[1]
        row = await _fetchrow(
            session, "SELECT id, kind, region, disabled_at IS NULL AS active FROM partners WHERE id = $1", partner_id
        )
        facts = PartnerFacts(row["id"], row["kind"], row["region"], row["active"]) if row else None
        self._partners[partner_id] = (time.monotonic(), facts)
        return facts

    async def station(self, session: AsyncSession, station_id: uuid.UUID) -> StationFacts | None:
        hit = self._stations.get(station_id)
        if hit and self._fresh(hit[0]):
            return hit[1]
        row = await _fetchrow(session, "SELECT id, partner_id, region, active FROM stations WHERE id = $1", station_id)
        facts = StationFacts(row["id"], row["partner_id"], row["region"], row["active"]) if row else None
        self._stations[station_id] = (time.monotonic(), facts)
        return facts

    async def store(self, session: AsyncSession, store_id: uuid.UUID) -> StoreFacts | None:
        hit = self._stores.get(store_id)
        if hit and self._fresh(hit[0]):
            return hit[1]
        row = await _fetchrow(session, "SELECT id, merchant_id, region, active FROM stores WHERE id = $1", store_id)
        facts = StoreFacts(row["id"], row["merchant_id"], row["region"], row["active"]) if row else None
        self._stores[store_id] = (time.monotonic(), facts)
        return facts

    def forget(self) -> None:
        self._partners.clear()
        self._stations.clear()
        self._stores.clear()
