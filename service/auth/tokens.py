"""Access tokens: HS256 JWTs by PyJWT, with the algorithm pinned and audience and issuer checked."""

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import jwt

ALGORITHM = "HS256"
LEEWAY_S = 5


class Audience(StrEnum):
    CITIZEN = "citizen"
    ADMIN = "admin"
    PARTNER = "partner"


@dataclass(frozen=True)
class Claims:
    sub: str
    aud: Audience
    scopes: frozenset[str]
    jti: str
    family: str | None = None


class InvalidToken(Exception):
    pass


def issue_access_token(
    *,
    secret: str,
    issuer: str,
    subject: str,
    audience: Audience,
    scopes: list[str],
    ttl: timedelta,
    now: datetime,
    family: str | None = None,
) -> str:
    payload: dict[str, object] = {
        "iss": issuer,
        "sub": subject,
        "aud": str(audience),
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
        "scope": " ".join(scopes),
    }
    if family is not None:
        payload["fam"] = family
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, *, secret: str, issuer: str, audience: Audience) -> Claims:
    return _verify(token, secret=secret, issuer=issuer, audience=audience)[0]


def _verify(token: str, *, secret: str, issuer: str, audience: Audience) -> tuple[Claims, float]:
    """The token's claims and the last instant PyJWT would still accept it (exp + leeway)."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=str(audience),
            issuer=issuer,
            options={"require": ["exp", "iat", "jti", "sub", "aud", "iss"]},
            leeway=LEEWAY_S,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    claims = Claims(
        sub=str(payload["sub"]),
        aud=audience,
        scopes=frozenset(str(payload.get("scope", "")).split()),
        jti=str(payload["jti"]),
        family=payload.get("fam"),
    )
    return claims, float(payload["exp"]) + LEEWAY_S


class VerifiedTokens:
    """Tokens already decoded and verified, kept until they expire (bounded, least recently used
    dropped first). A partner sends the same token on every request, and verifying it again
    (base64, JSON, HMAC, claim checks) was the biggest CPU cost of the request's auth.

    Only successes are kept, so a stream of bad tokens cannot evict good ones; an entry is used
    exactly as long as `decode_access_token` would accept the token (PyJWT: until exp + leeway),
    and the key holds everything the verification depends on (secret, issuer, audience).
    Revocation is not decided here: callers check it on every request as before."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str, str, Audience], tuple[Claims, float]] = OrderedDict()

    def decode(self, token: str, *, secret: str, issuer: str, audience: Audience) -> Claims:
        key = (token, secret, issuer, audience)
        hit = self._entries.get(key)
        if hit is not None:
            if time.time() < hit[1]:
                self._entries.move_to_end(key)
                return hit[0]
            del self._entries[key]
        claims, valid_until = _verify(token, secret=secret, issuer=issuer, audience=audience)
        self._entries[key] = (claims, valid_until)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return claims
