"""Consented bank links: the scopes a citizen can grant, link codes, and who may use a code.

A citizen asks for a link code for one bank and the scopes they consent to; the
bank presents it once, within ten minutes, with its own customer reference.
"""

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

LINK_SCOPES = ("account:read", "changes:read", "activities:write")
LINK_CODE_TTL = timedelta(minutes=10)
LINK_CODE_BYTES = 10
"""80 bits: 16 base32 characters, shown in groups of four."""


def canonical_scopes(scopes: list[str]) -> list[str]:
    """The consented scopes, each once, in a fixed order; unknown scopes are a ValueError."""
    unknown = sorted(set(scopes) - set(LINK_SCOPES))
    if unknown:
        raise ValueError(f"unknown scopes {unknown}: choose from {', '.join(LINK_SCOPES)}")
    if not scopes:
        raise ValueError("consent to at least one scope")
    return [s for s in LINK_SCOPES if s in scopes]


def format_link_code(raw: bytes) -> str:
    """Random bytes (from the caller) as a code a person can read out: XXXX-XXXX-XXXX-XXXX."""
    text = base64.b32encode(raw).decode().rstrip("=")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def normalize_link_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def link_code_digest(code: str) -> str:
    """Only this is stored: a leaked table does not hand out live codes."""
    return hashlib.sha256(normalize_link_code(code).encode()).hexdigest()


class CodeRefusal(StrEnum):
    UNKNOWN = "unknown_link_code"
    EXPIRED = "link_code_expired"
    USED = "link_code_used"


@dataclass(frozen=True, slots=True)
class StoredCode:
    bank_id: str
    expires_at: datetime
    used_at: datetime | None
    customer_ref: str | None


def judge_code(code: StoredCode | None, *, bank_id: str, customer_ref: str, now: datetime) -> CodeRefusal | None:
    """Why this bank cannot use the code, or None. A code for another bank looks unknown to this one
    (it learns nothing about it); a code this bank already used with the same customer_ref is a
    replay, which the caller answers with the link it made (`is_replay`)."""
    if code is None or code.bank_id != bank_id:
        return CodeRefusal.UNKNOWN
    if code.used_at is not None:
        return None if code.customer_ref == customer_ref else CodeRefusal.USED
    if now >= code.expires_at:
        return CodeRefusal.EXPIRED
    return None


def is_replay(code: StoredCode, *, customer_ref: str) -> bool:
    return code.used_at is not None and code.customer_ref == customer_ref
