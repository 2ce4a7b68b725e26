"""Compact JSON text for the hot paths: the award pipeline's answers and the documents its
one write statement carries (a 1,000-trip batch encodes ~1 MB of them).

orjson, not the standard library: ~5× faster, and it writes UUIDs and datetimes itself
(RFC 3339, as `isoformat()` does), so the rows need no `str()` / `isoformat()` per value.
The text is what `json.dumps(value, ensure_ascii=False, separators=(",", ":"))` gives for
the values we send (no floats, no non-string keys).
"""

import uuid
from typing import Any

import orjson


def _default(value: Any) -> Any:
    # asyncpg hands back its own UUID subclass, which orjson does not take as a UUID
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=_default).decode()
