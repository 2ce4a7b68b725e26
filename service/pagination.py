"""Opaque cursors for newest-first lists keyed by a bigint id."""

import base64
from typing import Annotated

from fastapi import Query

from service.problems import ProblemError

MAX_LIMIT = 500

LimitQuery = Annotated[int, Query(ge=1, description=f"Page size, capped at {MAX_LIMIT}")]
CursorQuery = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")]


def capped(limit: int) -> int:
    return min(limit, MAX_LIMIT)


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = raw.split(":", 1)
        if prefix != "id":
            raise ValueError(prefix)
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise ProblemError(422, "invalid_cursor", "the cursor is not one this API gave out") from None
