"""`Tanpu-Signature: t=<unix>,v1=<hex hmac-sha256(secret, t + "." + body)>` (api.md, Webhooks)."""

import hashlib
import hmac

SIGNATURE_HEADER = "Tanpu-Signature"
EVENT_ID_HEADER = "Tanpu-Event-Id"


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance_s: int = 300) -> bool:
    """What a bank does on receipt: the MAC matches and the timestamp is recent (no replays of old bodies)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(parts.get("v1", ""), _mac(secret, timestamp, body))
