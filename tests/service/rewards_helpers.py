"""Arranging rewards and points for the redemption, expiry and privacy tests, through the real API and use cases."""

import secrets
import uuid
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient

from service.usecases.adjustments import post_adjustment
from tests.factories import Actor


async def reward(client: AsyncClient, operator: Actor, **fields: Any) -> dict[str, Any]:
    body = {"name": f"reward {secrets.token_hex(3)}", "points": 100, "stock": 10} | fields
    r = await client.post("/v1/admin/rewards", json=body, headers=operator.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def give(client: AsyncClient, admin: Actor, citizen: Actor, points: int) -> None:
    """Points by an administrator's adjustment (a positive one is an earned lot)."""
    r = await client.post(
        "/v1/admin/adjustments",
        json={"user_id": str(citizen.id), "points": points, "reason": "test points"},
        headers={**admin.headers, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert r.status_code == 201, r.text


async def give_at(app: FastAPI, admin: Actor, citizen: Actor, points: int, at: datetime) -> None:
    """Points earned at another time (the use case is handed its clock), so lots of past years exist."""
    async with app.state.sessionmaker() as session, session.begin():
        await post_adjustment(
            session,
            admin_id=admin.id,
            idempotency_key=secrets.token_hex(8),
            body={"at": at.isoformat(), "points": points},
            user_id=citizen.id,
            points=points,
            reason=f"earned {at.date()}",
            now=at,
        )


async def redeem(client: AsyncClient, citizen: Actor, reward_id: str | uuid.UUID, key: str | None = None) -> Any:
    return await client.post(
        "/v1/me/redemptions",
        json={"reward_id": str(reward_id)},
        headers={**citizen.headers, "Idempotency-Key": key or secrets.token_hex(8)},
    )


async def lots(app: FastAPI, citizen: Actor) -> list[tuple[datetime, int, int]]:
    """(expires_at, points, remaining) of each of the citizen's lots, soonest to expire first."""
    from sqlalchemy import text

    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            text("SELECT expires_at, points, remaining FROM expiry_lots WHERE user_id = :u ORDER BY expires_at, id"),
            {"u": citizen.id},
        )
        return [(r[0], int(r[1]), int(r[2])) for r in rows]
