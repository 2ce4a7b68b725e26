"""Opaque cursors: newest-first lists keyed by a bigint id, and oldest-first lists keyed by
(created_at, uuid) for tables whose ids carry no order."""

import base64
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Query

from service.problems import ProblemError

MAX_LIMIT = 500

LimitQuery = Annotated[int, Query(ge=1, description=f"Page size, capped at {MAX_LIMIT}")]
CursorQuery = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")]


def capped(limit: int) -> int:
    return min(limit, MAX_LIMIT)


def _encode(prefix: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{prefix}:{value}".encode()).decode().rstrip("=")


def _decode(cursor: str, prefix: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found, value = raw.split(":", 1)
    except (ValueError, UnicodeDecodeError):
        raise _invalid() from None
    if found != prefix:
        raise _invalid()
    return value


def _invalid() -> ProblemError:
    return ProblemError(422, "invalid_cursor", "the cursor is not one this API gave out")


def encode_cursor(last_id: int) -> str:
    return _encode("id", str(last_id))


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        value = int(_decode(cursor, "id"))
    except ValueError:
        raise _invalid() from None
    if not 0 <= value < 2**63:  # ids are bigint: a forged cursor past them would fail in the driver, not here
        raise _invalid()
    return value


def encode_key_cursor(created_at: datetime, key: uuid.UUID) -> str:
    return _encode("at", f"{created_at.isoformat()}|{key}")


def decode_key_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    at, _, key = _decode(cursor, "at").partition("|")
    try:
        created_at = datetime.fromisoformat(at)
        if created_at.tzinfo is None:
            raise ValueError(at)
        return created_at, uuid.UUID(key)
    except ValueError:
        raise _invalid() from None
