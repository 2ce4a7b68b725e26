"""Access tokens: HS256 JWTs by PyJWT, with the algorithm pinned and audience and issuer checked."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import jwt

ALGORITHM = "HS256"


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
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=str(audience),
            issuer=issuer,
            options={"require": ["exp", "iat", "jti", "sub", "aud", "iss"]},
            leeway=5,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    return Claims(
        sub=str(payload["sub"]),
        aud=audience,
        scopes=frozenset(str(payload.get("scope", "")).split()),
        jti=str(payload["jti"]),
        family=payload.get("fam"),
    )
