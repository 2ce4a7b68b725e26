"""Idempotent writes: the same key with the same request is the same act."""

import hashlib
import json
from typing import Any


def request_hash(method: str, path: str, body: Any) -> str:
    """A digest of what was asked, insensitive to JSON key order and white space.

    Two requests under one key are "the same" exactly when this is equal;
    otherwise the second is an `idempotency_conflict`.
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()
