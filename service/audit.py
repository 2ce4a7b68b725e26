"""Writing audit records for administrative changes (who, when, what, before, after)."""

import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.observability import request_id_var


async def record(
    session: AsyncSession,
    *,
    actor_kind: str,
    actor_id: uuid.UUID | None,
    action: str,
    target_kind: str,
    target_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    await session.execute(
        text(
            """
            INSERT INTO audit_log (actor_kind, actor_id, action, target_kind, target_id, before, after, request_id)
            VALUES (:actor_kind, :actor_id, :action, :target_kind, :target_id,
                    CAST(:before AS jsonb), CAST(:after AS jsonb), :request_id)
            """
        ),
        {
            "actor_kind": actor_kind,
            "actor_id": actor_id,
            "action": action,
            "target_kind": target_kind,
            "target_id": target_id,
            "before": None if before is None else json.dumps(before, default=str),
            "after": None if after is None else json.dumps(after, default=str),
            "request_id": request_id_var.get(),
        },
    )
