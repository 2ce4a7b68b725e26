"""`Idempotency-Key` for writes that move points (api.md "Idempotency").

The key is claimed with an INSERT in the write's own transaction. A concurrent
request with the same key waits on that row's unique index until the first
transaction ends, then sees its stored answer: a unique constraint, never
read-then-write, decides who does the work.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Header
from fastapi.responses import Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.problems import ProblemError

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADER = "Idempotent-Replayed"


def request_hash(method: str, path: str, body: Any) -> str:
    """A digest of what was asked, insensitive to JSON key order and white space.

    Two requests under one key are "the same" exactly when this is equal;
    otherwise the second is an `idempotency_conflict`.
    """
    return hashlib.sha256(f"{method.upper()} {path}\n".encode() + _canonical(body)).hexdigest()


def _canonical(body: Any) -> bytes:
    """Sorted keys, no white space, UTF-8 unescaped: the bytes of
    `json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`, which earlier
    releases hashed, for every body of strings, integers, booleans and nulls (orjson writes them
    the same way, ~10x faster; tests/service/test_request_hash.py holds it to that). Numbers orjson
    will not write (integers beyond 64 bits) take the old path."""
    try:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def idempotency_key_header(
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", description="Unique per write; replays return the first answer")
    ] = None,
) -> str:
    if idempotency_key is None:
        raise ProblemError(400, "idempotency_key_required", "this write needs an Idempotency-Key header")
    if not _KEY.match(idempotency_key):
        raise ProblemError(400, "invalid_idempotency_key", "Idempotency-Key is 1-255 visible ASCII characters")
    return idempotency_key


@dataclass(frozen=True)
class StoredAnswer:
    """An answer as sent: replays return these very bytes."""

    status_code: int
    body: str

    def response(self, *, replayed: bool) -> Response:
        headers = {REPLAYED_HEADER: "true"} if replayed else None
        return Response(self.body, status_code=self.status_code, media_type="application/json", headers=headers)


async def claim(session: AsyncSession, *, scope: str, key: str, request_hash: str) -> StoredAnswer | None:
    """None: this request owns the key and must do the work. Otherwise the first answer."""
    claimed = await session.execute(
        text(
            "INSERT INTO idempotency_records (scope, key, request_hash) VALUES (:scope, :key, :hash) "
            "ON CONFLICT DO NOTHING RETURNING 1"
        ),
        {"scope": scope, "key": key, "hash": request_hash},
    )
    if claimed.first() is not None:
        return None
    row = (
        await session.execute(
            text("SELECT request_hash, status_code, response FROM idempotency_records WHERE scope = :scope AND key = :key"),
            {"scope": scope, "key": key},
        )
    ).one()
    if row.request_hash != request_hash:
        raise ProblemError(409, "idempotency_conflict", "this Idempotency-Key was used with a different request")
    return StoredAnswer(status_code=row.status_code, body=row.response)


async def store_answer(session: AsyncSession, *, scope: str, key: str, status_code: int, body: dict[str, Any]) -> StoredAnswer:
    answer = StoredAnswer(status_code, json.dumps(body, separators=(",", ":"), ensure_ascii=False))
    await session.execute(
        text("UPDATE idempotency_records SET status_code = :status, response = :body WHERE scope = :scope AND key = :key"),
        {"status": status_code, "body": answer.body, "scope": scope, "key": key},
    )
    return answer
