"""Sign-in: sending one-time codes and the grants of the OAuth 2 token endpoint.

A refused grant is *returned* as a `Refusal`, never raised. Refusals can carry
state that must outlive the 4xx answer (a guess counted against a code, a
refresh-token family revoked on reuse), and the request's session commits only
when the route returns normally: an exception would roll that state back.
"""

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.sms import SmsSender
from service import ratelimit
from service.auth.deps import revoked_family_key
from service.auth.passwords import verify_secret_async
from service.auth.tokens import Audience, issue_access_token
from service.deps import after_commit
from service.problems import ProblemError
from service.repositories import auth as auth_repo
from service.repositories import users as users_repo
from service.settings import Settings

log = logging.getLogger(__name__)

HOUR = 3600
# Failed guesses per phone per hour, over all its codes: with 5 guesses per code
# this still lets a clumsy citizen through twice, and caps a guesser at 10 in 10^6.
GUESSES_PER_PHONE_PER_HOUR = 10
_MAINLAND_MOBILE = re.compile(r"(?:\+86|0086|86)?(1[3-9][0-9]{9})")
_CODE = re.compile(r"[0-9]{6}")


def normalise_phone(raw: str) -> str | None:
    """A mainland mobile number in its one canonical form `+86` + 11 digits, or None."""
    match = _MAINLAND_MOBILE.fullmatch(re.sub(r"[ \-()]", "", raw))
    return f"+86{match.group(1)}" if match else None


def code_hash(secret: str, phone: str, code: str) -> str:
    """Keyed, so a stolen table of hashes cannot be reversed by trying the 10^6 codes."""
    return hmac.new(secret.encode(), f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignInContext:
    session: AsyncSession
    redis: Redis
    settings: Settings
    now: datetime
    ip: str


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": self.access_token, "token_type": "Bearer", "expires_in": self.expires_in}
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        body["scope"] = self.scope
        return body


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    detail: str
    headers: dict[str, str] = field(default_factory=dict)


def invalid_request(detail: str) -> Refusal:
    return Refusal(400, "invalid_request", detail)


def invalid_grant(detail: str) -> Refusal:
    return Refusal(400, "invalid_grant", detail)


def invalid_client(detail: str) -> Refusal:
    return Refusal(401, "invalid_client", detail, {"WWW-Authenticate": 'Basic realm="tanpu"'})


def _send_limits(settings: Settings) -> tuple[ratelimit.Limit, ratelimit.Limit]:
    # Fail closed: see service.ratelimit (every SMS costs money; SMS pumping is real fraud).
    return (
        ratelimit.Limit("otp-send-ip", settings.otp_per_ip_per_hour, HOUR, fail_open=False),
        ratelimit.Limit("otp-send-phone", settings.otp_per_phone_per_hour, HOUR, fail_open=False),
    )


def _guess_limits(settings: Settings) -> tuple[ratelimit.Limit, ratelimit.Limit]:
    # Fail open: the per-code attempt counter in PostgreSQL is the hard bound.
    # Per address the budget matches sending: many phones share a carrier NAT address.
    return (
        ratelimit.Limit("otp-guess-ip", settings.otp_per_ip_per_hour, HOUR, fail_open=True),
        ratelimit.Limit("otp-guess-phone", GUESSES_PER_PHONE_PER_HOUR, HOUR, fail_open=True),
    )


async def send_otp(ctx: SignInContext, sms: SmsSender, *, raw_phone: str) -> int:
    """Store a fresh code for the phone and send it once the transaction commits; its lifetime in seconds."""
    phone = normalise_phone(raw_phone)
    if phone is None:
        raise ProblemError(422, "invalid_phone", "expected a mainland China mobile number, e.g. 13812345678")
    ip_limit, phone_limit = _send_limits(ctx.settings)
    # The address first, so a flood from one address does not also use up its victims' phone budgets.
    for limit, subject in ((ip_limit, ctx.ip), (phone_limit, phone)):
        decision = await ratelimit.hit(ctx.redis, limit, subject)
        if not decision.allowed:
            raise ratelimit.too_many_requests(decision, "too many codes requested; retry later")
    code = f"{secrets.randbelow(10**6):06d}"
    expires_at = ctx.now + timedelta(seconds=ctx.settings.otp_ttl_s)
    await auth_repo.invalidate_live_codes(ctx.session, phone=phone, now=ctx.now)
    await auth_repo.insert_code(
        ctx.session, phone=phone, code_hash=code_hash(ctx.settings.jwt_secret, phone, code), now=ctx.now, expires_at=expires_at
    )

    async def deliver() -> None:
        try:
            await sms.send(phone, code)
        except Exception:
            log.exception("SMS provider failed")
            raise ProblemError(
                503, "sms_unavailable", "the code could not be sent; retry shortly", headers={"Retry-After": "30"}
            ) from None

    # Only a committed code is worth sending: a code the database never kept could never be used.
    after_commit(ctx.session, deliver)
    return ctx.settings.otp_ttl_s


async def _start_or_continue_session(
    ctx: SignInContext, audience: Audience, subject: uuid.UUID, scopes: list[str], family: uuid.UUID | None = None
) -> TokenGrant:
    """An access token of the refresh family (it carries `fam`) and the family's next refresh token."""
    family = family or uuid.uuid4()
    refresh = secrets.token_urlsafe(32)
    scope = " ".join(scopes)
    await auth_repo.insert_refresh_token(
        ctx.session,
        token_hash=token_hash(refresh),
        family_id=family,
        subject_kind=str(audience),
        subject_id=subject,
        scope=scope,
        now=ctx.now,
        expires_at=ctx.now + timedelta(seconds=ctx.settings.refresh_token_ttl_s),
    )
    ttl = ctx.settings.access_token_ttl_s
    access = _access_token(ctx, audience, subject, scopes, ttl, family=str(family))
    return TokenGrant(access_token=access, expires_in=ttl, scope=scope, refresh_token=refresh)


def _access_token(
    ctx: SignInContext, audience: Audience, subject: uuid.UUID, scopes: list[str], ttl: int, family: str | None = None
) -> str:
    return issue_access_token(
        secret=ctx.settings.jwt_secret,
        issuer=ctx.settings.jwt_issuer,
        subject=str(subject),
        audience=audience,
        scopes=scopes,
        ttl=timedelta(seconds=ttl),
        now=ctx.now,
        family=family,
    )


async def otp_grant(ctx: SignInContext, *, raw_phone: str | None, code: str | None) -> TokenGrant | Refusal:
    """Citizen sign-in with the code sent by SMS; the citizen is created on first sign-in."""
    if not raw_phone or not code:
        return invalid_request("the otp grant needs phone and code")
    phone = normalise_phone(raw_phone)
    if phone is None:
        return invalid_request("phone is not a mainland China mobile number")
    limits = _guess_limits(ctx.settings)
    for limit, subject in zip(limits, (ctx.ip, phone), strict=True):
        decision = await ratelimit.peek(ctx.redis, limit, subject)
        if not decision.allowed:
            return Refusal(429, "rate_limited", "too many wrong codes; retry later", {"Retry-After": str(decision.retry_after_s)})
    check = None
    if _CODE.fullmatch(code):
        check = await auth_repo.guess_code(
            ctx.session,
            phone=phone,
            code_hash=code_hash(ctx.settings.jwt_secret, phone, code),
            now=ctx.now,
            max_attempts=ctx.settings.otp_max_attempts,
        )
    if check is None or not check.matched:
        for limit, subject in zip(limits, (ctx.ip, phone), strict=True):
            await ratelimit.hit(ctx.redis, limit, subject)
        return invalid_grant("the code is wrong, expired or already used; request a new one if needed")
    user_id = await users_repo.get_or_create_citizen(ctx.session, phone=phone, region=ctx.settings.default_region)
    return await _start_or_continue_session(ctx, Audience.CITIZEN, user_id, [])


async def password_grant(ctx: SignInContext, *, username: str | None, password: str | None) -> TokenGrant | Refusal:
    """Administrator sign-in; the role is the token's scope."""
    if not username or not password:
        return invalid_request("the password grant needs username and password")
    admin = await auth_repo.admin_by_username(ctx.session, username)
    # Unknown users are checked against a dummy hash, so timing does not tell who exists.
    if not await verify_secret_async(password, admin.password_hash if admin else None) or admin is None:
        return invalid_grant("wrong username or password")
    if admin.disabled_at is not None:
        return invalid_grant("this administrator is disabled")
    return await _start_or_continue_session(ctx, Audience.ADMIN, admin.id, [admin.role])


async def client_credentials_grant(
    ctx: SignInContext, *, client_id: str | None, client_secret: str | None
) -> TokenGrant | Refusal:
    """A partner's token with the partner's scopes; no refresh token (the partner can always sign in again)."""
    if not client_id or not client_secret:
        return invalid_client("client_id and client_secret are required (form fields or HTTP Basic)")
    partner = await auth_repo.partner_by_client_id(ctx.session, client_id)
    if not await verify_secret_async(client_secret, partner.client_secret_hash if partner else None) or partner is None:
        return invalid_client("unknown client or wrong secret")
    if partner.disabled_at is not None:
        return invalid_client("this partner is disabled")
    ttl = ctx.settings.partner_token_ttl_s
    scopes = list(partner.scopes)
    return TokenGrant(
        access_token=_access_token(ctx, Audience.PARTNER, partner.id, scopes, ttl), expires_in=ttl, scope=" ".join(scopes)
    )


async def refresh_grant(ctx: SignInContext, *, refresh_token: str | None) -> TokenGrant | Refusal:
    """Rotation: the token is used once and replaced by the family's next; a reused token revokes the family."""
    if not refresh_token:
        return invalid_request("the refresh_token grant needs refresh_token")
    hashed = token_hash(refresh_token)
    row = await auth_repo.use_refresh_token(ctx.session, token_hash=hashed, now=ctx.now)
    if row is None:
        known = await auth_repo.find_refresh_token(ctx.session, hashed)
        if known is not None and known.used_at is not None:
            # Someone holds a copy of a rotated token: end the whole sign-in for everyone holding it.
            await _revoke_family(ctx, known.family_id)
            return invalid_grant("this refresh token was already used; the sign-in is revoked")
        return invalid_grant("unknown, expired or revoked refresh token")
    scopes = await _current_scopes(ctx, row)
    if scopes is None:
        await _revoke_family(ctx, row.family_id)
        return invalid_grant("this account can no longer sign in")
    return await _start_or_continue_session(ctx, Audience(row.subject_kind), row.subject_id, scopes, family=row.family_id)


async def _current_scopes(ctx: SignInContext, row: auth_repo.RefreshRow) -> list[str] | None:
    """The subject's scopes now (an administrator's role may have changed), or None if it may not sign in."""
    if row.subject_kind == Audience.ADMIN:
        admin = await auth_repo.admin_by_id(ctx.session, row.subject_id)
        return None if admin is None or admin.disabled_at is not None else [admin.role]
    user = await users_repo.get_citizen(ctx.session, row.subject_id)
    return None if user is None or user.erased_at is not None else row.scope.split()


async def _revoke_family(ctx: SignInContext, family: uuid.UUID) -> None:
    await auth_repo.revoke_family(ctx.session, family_id=family, now=ctx.now)
    # Access tokens carry `fam` and are checked against this key, so they stop now, not at
    # expiry. The key outlives the longest access token (plus the decoder's leeway).
    try:
        await ctx.redis.set(revoked_family_key(str(family)), "1", ex=ctx.settings.access_token_ttl_s + 60)
    except (RedisError, OSError):
        log.warning("redis unavailable: family %s revoked in PostgreSQL only; its access tokens live out their TTL", family)
