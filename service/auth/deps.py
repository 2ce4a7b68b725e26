"""Who is calling: typed principals from bearer tokens, per actor kind, role and scope."""

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.auth.tokens import Audience, Claims, InvalidToken, VerifiedTokens
from service.problems import ProblemError

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

ROLES = ("admin", "operator", "auditor")


def revoked_family_key(family: str) -> str:
    return f"auth:revoked-family:{family}"


def revoked_subject_key(subject: str) -> str:
    """Set when a citizen is erased: every access token of that subject stops at once."""
    return f"auth:revoked-subject:{subject}"


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "unauthorized", detail, title="Unauthorized", headers={"WWW-Authenticate": "Bearer"})


async def _claims(request: Request, credentials: HTTPAuthorizationCredentials | None, audience: Audience) -> Claims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("a bearer token is required")
    settings = request.app.state.settings
    verified: VerifiedTokens = request.app.state.verified_tokens
    try:
        claims = verified.decode(
            credentials.credentials, secret=settings.jwt_secret, issuer=settings.jwt_issuer, audience=audience
        )
    except InvalidToken as exc:
        raise _unauthorized(f"invalid token: {exc}") from None
    keys = [revoked_family_key(claims.family)] if claims.family is not None else []
    if audience is Audience.CITIZEN:
        keys.append(revoked_subject_key(claims.sub))
    if keys and await _revoked(request, keys):
        raise _unauthorized("this sign-in was revoked")
    return claims


async def _revoked(request: Request, keys: list[str]) -> bool:
    # Fail open: access tokens are short-lived and the refresh family is revoked in
    # PostgreSQL, so a Redis outage only lets an already-issued token live out its minutes.
    try:
        return bool(await request.app.state.redis.exists(*keys))
    except Exception:
        log.warning("redis unavailable for the revocation check; allowing the token")
        return False


@dataclass(frozen=True)
class CitizenPrincipal:
    user_id: uuid.UUID
    jti: str


@dataclass(frozen=True)
class AdminPrincipal:
    admin_id: uuid.UUID
    role: str


@dataclass(frozen=True)
class PartnerPrincipal:
    partner_id: uuid.UUID
    scopes: frozenset[str]


async def current_citizen(request: Request, credentials: BearerDep) -> CitizenPrincipal:
    claims = await _claims(request, credentials, Audience.CITIZEN)
    return CitizenPrincipal(user_id=uuid.UUID(claims.sub), jti=claims.jti)


async def current_admin(request: Request, credentials: BearerDep) -> AdminPrincipal:
    claims = await _claims(request, credentials, Audience.ADMIN)
    role = next((r for r in ROLES if r in claims.scopes), None)
    if role is None:
        raise ProblemError(403, "forbidden", "no administrator role", title="Forbidden")
    return AdminPrincipal(admin_id=uuid.UUID(claims.sub), role=role)


async def current_partner(request: Request, credentials: BearerDep) -> PartnerPrincipal:
    claims = await _claims(request, credentials, Audience.PARTNER)
    return PartnerPrincipal(partner_id=uuid.UUID(claims.sub), scopes=claims.scopes)


def admin_with_role(*roles: str) -> Callable[..., Awaitable[AdminPrincipal]]:
    """An administrator whose role is one of `roles` (`admin` may do everything)."""
    allowed = {"admin", *roles}

    async def dependency(admin: Annotated[AdminPrincipal, Depends(current_admin)]) -> AdminPrincipal:
        if admin.role not in allowed:
            raise ProblemError(403, "forbidden", f"the {admin.role} role cannot do this", title="Forbidden")
        return admin

    return dependency


def partner_with_scope(scope: str) -> Callable[..., Awaitable[PartnerPrincipal]]:
    async def dependency(partner: Annotated[PartnerPrincipal, Depends(current_partner)]) -> PartnerPrincipal:
        if scope not in partner.scopes:
            raise ProblemError(403, "insufficient_scope", f"this needs the {scope} scope", title="Forbidden")
        return partner

    return dependency


CurrentCitizen = Annotated[CitizenPrincipal, Depends(current_citizen)]
AnyAdmin = Annotated[AdminPrincipal, Depends(current_admin)]
AdminOnly = Annotated[AdminPrincipal, Depends(admin_with_role("admin"))]
OperatorOrAdmin = Annotated[AdminPrincipal, Depends(admin_with_role("operator"))]
AuditorOrAdmin = Annotated[AdminPrincipal, Depends(admin_with_role("auditor"))]
AnyPartner = Annotated[PartnerPrincipal, Depends(current_partner)]
