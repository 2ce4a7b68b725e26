"""Sign-in and access (api.md "Auth", quality.md API1/API2/API4/API6) against the real app, PostgreSQL and Redis.

Requests that send or guess codes use a client with an address of their own: the
per-address OTP throttles count in Redis across runs, so a fixed address would run
out of its hourly budget after a few runs (and so would the shared `client` fixture's).
"""

import asyncio
import base64
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.app import create_app
from service.auth.passwords import hash_secret
from service.auth.tokens import Audience, decode_access_token
from service.clock import utcnow
from service.models import Partner
from service.settings import Settings
from service.usecases.signin import normalise_phone
from tests.factories import Factory, random_phone

TOKEN = "/v1/oauth/token"


def random_ip() -> str:
    # 64 random bits (documentation prefix): counters in Redis outlive a run, addresses must not repeat
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}:{secrets.token_hex(2)}:{secrets.token_hex(2)}"


@asynccontextmanager
async def client_at(app: FastAPI, ip: str | None = None) -> AsyncIterator[AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip or random_ip(), 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def fresh(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """A client at an address no other test uses."""
    async with client_at(app) as c:
        yield c


def sms_codes(settings: Settings, phone: str) -> list[str]:
    """The codes the console provider 'delivered' to a phone, oldest first: read them as the phone would."""
    assert settings.sms_console_file is not None
    if not settings.sms_console_file.exists():
        return []
    lines = [json.loads(line) for line in settings.sms_console_file.read_text().splitlines()]
    return [line["code"] for line in lines if line["phone"] == phone]


async def request_code(c: AsyncClient, settings: Settings, phone: str) -> str:
    r = await c.post("/v1/auth/otp", json={"phone": phone})
    assert r.status_code == 202, r.text
    return sms_codes(settings, normalise_phone(phone) or phone)[-1]


async def otp_sign_in(c: AsyncClient, settings: Settings, phone: str | None = None) -> dict[str, Any]:
    phone = phone or random_phone()
    code = await request_code(c, settings, phone)
    r = await c.post(TOKEN, data={"grant_type": "otp", "phone": phone, "code": code})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def family_of(settings: Settings, citizen_token: str) -> str | None:
    return decode_access_token(
        citizen_token, secret=settings.jwt_secret, issuer=settings.jwt_issuer, audience=Audience.CITIZEN
    ).family


def wrong_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


# --- phone numbers -----------------------------------------------------------------------


def test_mainland_mobile_numbers_have_one_canonical_form() -> None:
    for raw in ("13812345678", "+8613812345678", "8613812345678", "008613812345678", "+86 138-1234-5678"):
        assert normalise_phone(raw) == "+8613812345678", raw
    for raw in ("", "12345", "1381234567", "138123456789", "12812345678", "+12025550123", "abc", "+86２3812345678"):
        assert normalise_phone(raw) is None, raw


async def test_bad_phone_is_a_422_problem_with_a_code(fresh: AsyncClient) -> None:
    for phone in ("12345", "+12025550123", "not a phone"):
        r = await fresh.post("/v1/auth/otp", json={"phone": phone})
        assert r.status_code == 422, phone
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "invalid_phone"
    missing = await fresh.post("/v1/auth/otp", json={})
    assert (missing.status_code, missing.json()["code"]) == (422, "validation_error")


async def test_otp_is_sent_to_the_canonical_number_and_stored_only_hashed(
    fresh: AsyncClient, settings: Settings, session: AsyncSession
) -> None:
    local = random_phone()[3:]  # 138xxxxxxxx
    r = await fresh.post("/v1/auth/otp", json={"phone": local})
    assert r.status_code == 202 and r.json() == {"expires_in": 300}
    code = sms_codes(settings, "+86" + local)[-1]
    assert len(code) == 6 and code.isdigit()
    row = (
        await session.execute(
            text("SELECT code_hash, expires_at - created_at AS ttl FROM otp_codes WHERE phone = :p"), {"p": "+86" + local}
        )
    ).one()
    assert code not in row.code_hash and len(row.code_hash) == 64
    assert row.ttl == timedelta(minutes=5)


# --- the otp grant -----------------------------------------------------------------------


async def test_otp_grant_creates_the_citizen_and_signs_in(fresh: AsyncClient, settings: Settings) -> None:
    phone = random_phone()
    tokens = await otp_sign_in(fresh, settings, phone)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == settings.access_token_ttl_s
    assert tokens["refresh_token"] and tokens["scope"] == ""
    me = await fresh.get("/v1/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["region"] == settings.default_region and me.json()["phone_masked"] == phone[:-8] + "****" + phone[-4:]
    # the second sign-in finds the same citizen
    again = await otp_sign_in(fresh, settings, phone)
    me2 = await fresh.get("/v1/me", headers=bearer(again["access_token"]))
    assert me2.json()["id"] == me.json()["id"]


async def test_token_responses_are_not_cached(fresh: AsyncClient, settings: Settings) -> None:
    phone = random_phone()
    code = await request_code(fresh, settings, phone)
    ok = await fresh.post(TOKEN, data={"grant_type": "otp", "phone": phone, "code": code})
    refused = await fresh.post(TOKEN, data={"grant_type": "otp", "phone": phone, "code": code})
    for r in (ok, refused):
        assert r.headers["cache-control"] == "no-store"


async def test_a_code_is_single_use(fresh: AsyncClient, settings: Settings) -> None:
    phone = random_phone()
    code = await request_code(fresh, settings, phone)
    first = await fresh.post(TOKEN, data={"grant_type": "otp", "phone": phone, "code": code})
    second = await fresh.post(TOKEN, data={"grant_type": "otp", "phone": phone, "code": code})
    assert first.status_code == 200
    assert (second.status_code, second.json()["code"]) == (400, "invalid_grant")


async def test_an_expired_code_is_refused(fresh: AsyncClient, settings: Settings, session: AsyncSession) -> None:
    phone = random_phone()
    code = await request_code(fresh, settings, phone)
    # five minutes pass
    await session.execute(
        text("UPDATE otp_codes SET expires_at = now() - interval '1 second' WHERE phone = :p"),
        {"p": phone},
    )
    await session.commit()
    r = await fresh.post(TOKEN, data={"grant_type": "otp", "phone": phone, "code": code})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_grant")


async def test_a_new_code_replaces_the_old_one(fresh: AsyncClient, settings: Settings) -> None:
    phone = random_phone()
    old = await request_code(fresh, settings, phone)
    new = await request_code(fresh, settings, phone)
    if old != new:
        r = await fresh.post(TOKEN, data={"grant_type": "otp", "phone": phone, "code": old})
        assert (r.status_code, r.json()["code"]) == (400, "invalid_grant")
    r = await fresh.post(TOKEN, data={"grant_type": "otp", "phone": phone, "code": new})
    assert r.status_code == 200


async def test_wrong_guesses_exhaust_the_code(fresh: AsyncClient, settings: Settings, session: AsyncSession) -> None:
    phone = random_phone()
    code = await request_code(fresh, settings, phone)
    for _ in range(settings.otp_max_attempts):
        r = await fresh.post(TOKEN, data={"grant_type": "otp", "phone": phone, "code": wrong_code(code)})
        assert (r.status_code, r.json()["code"]) == (400, "invalid_grant")
    # the right code, too late: the refused guesses were committed with their 400s
    r = await fresh.post(TOKEN, data={"grant_type": "otp", "phone": phone, "code": code})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_grant")
    attempts = await session.scalar(text("SELECT attempts FROM otp_codes WHERE phone = :p"), {"p": phone})
    assert attempts == settings.otp_max_attempts


async def test_concurrent_uses_of_one_code_sign_in_once(fresh: AsyncClient, settings: Settings) -> None:
    phone = random_phone()
    code = await request_code(fresh, settings, phone)
    answers = await asyncio.gather(
        *(fresh.post(TOKEN, data={"grant_type": "otp", "phone": phone, "code": code}) for _ in range(10))
    )
    assert sorted(r.status_code for r in answers) == [200] + [400] * 9


async def test_otp_sending_is_throttled_per_phone(app: FastAPI, settings: Settings) -> None:
    phone = random_phone()
    for _ in range(settings.otp_per_phone_per_hour):
        async with client_at(app) as c:  # a new address each time: only the phone's budget runs out
            assert (await c.post("/v1/auth/otp", json={"phone": phone})).status_code == 202
    async with client_at(app) as c:
        r = await c.post("/v1/auth/otp", json={"phone": phone})
    assert (r.status_code, r.json()["code"]) == (429, "rate_limited")
    assert 0 < int(r.headers["Retry-After"]) <= 3600
    assert len(sms_codes(settings, phone)) == settings.otp_per_phone_per_hour


async def test_otp_sending_is_throttled_per_address(app: FastAPI, settings: Settings) -> None:
    async with client_at(app) as c, client_at(app) as elsewhere:
        for _ in range(settings.otp_per_ip_per_hour):
            assert (await c.post("/v1/auth/otp", json={"phone": random_phone()})).status_code == 202
        phone = random_phone()
        r = await c.post("/v1/auth/otp", json={"phone": phone})
        assert (r.status_code, r.json()["code"]) == (429, "rate_limited")
        assert 0 < int(r.headers["Retry-After"]) <= 3600
        assert sms_codes(settings, phone) == []
        # the same phone from another address is still served
        assert (await elsewhere.post("/v1/auth/otp", json={"phone": phone})).status_code == 202


async def test_failed_guesses_are_throttled_per_phone(app: FastAPI, settings: Settings) -> None:
    phone = random_phone()
    failures = 0
    while failures < 10:  # service.usecases.signin.GUESSES_PER_PHONE_PER_HOUR, over two codes
        async with client_at(app) as c:
            code = await request_code(c, settings, phone)
            for _ in range(settings.otp_max_attempts):
                r = await c.post(TOKEN, data={"grant_type": "otp", "phone": phone, "code": wrong_code(code)})
                assert r.status_code == 400
                failures += 1
    async with client_at(app) as c:
        code = await request_code(c, settings, phone)
        r = await c.post(TOKEN, data={"grant_type": "otp", "phone": phone, "code": code})
    assert (r.status_code, r.json()["code"]) == (429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0


async def test_failed_guesses_are_throttled_per_address(app: FastAPI, settings: Settings) -> None:
    async with client_at(app) as c:
        for _ in range(settings.otp_per_ip_per_hour):
            r = await c.post(TOKEN, data={"grant_type": "otp", "phone": random_phone(), "code": "000000"})
            assert r.status_code == 400
        r = await c.post(TOKEN, data={"grant_type": "otp", "phone": random_phone(), "code": "000000"})
    assert (r.status_code, r.json()["code"]) == (429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0


async def test_otp_sending_fails_closed_without_redis(settings: Settings) -> None:
    blind = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"}))
    async with blind.router.lifespan_context(blind), client_at(blind) as c:
        phone = random_phone()
        r = await c.post("/v1/auth/otp", json={"phone": phone})
    assert (r.status_code, r.json()["code"]) == (503, "rate_limiter_unavailable")
    assert r.headers["Retry-After"]
    assert sms_codes(settings, phone) == []


# --- the password grant ------------------------------------------------------------------


async def _admin_username(session: AsyncSession, admin_id: uuid.UUID) -> str:
    username = await session.scalar(text("SELECT username FROM admins WHERE id = :i"), {"i": admin_id})
    assert isinstance(username, str)
    return username


@pytest.mark.parametrize("role", ["admin", "operator", "auditor"])
async def test_password_grant_gives_the_role_as_scope(
    client: AsyncClient, factory: Factory, session: AsyncSession, settings: Settings, role: str
) -> None:
    admin = await factory.admin(role, password="correct horse battery")
    username = await _admin_username(session, admin.id)
    r = await client.post(TOKEN, data={"grant_type": "password", "username": username, "password": "correct horse battery"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == role and body["refresh_token"] and body["token_type"] == "Bearer"
    claims = decode_access_token(
        body["access_token"], secret=settings.jwt_secret, issuer=settings.jwt_issuer, audience=Audience.ADMIN
    )
    assert claims.sub == str(admin.id) and claims.scopes == {role} and claims.family
    citizen = await factory.citizen()
    adjust = await client.post(
        "/v1/admin/adjustments",
        json={"user_id": str(citizen.id), "points": 1, "reason": "role check"},
        headers={**bearer(body["access_token"]), "Idempotency-Key": f"role-{role}"},
    )
    assert adjust.status_code == (201 if role == "admin" else 403)


async def test_password_grant_refuses_wrong_unknown_and_disabled(
    client: AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    admin = await factory.admin("admin", password="right-password")
    username = await _admin_username(session, admin.id)
    cases = [(username, "wrong-password"), ("nobody-" + secrets.token_hex(4), "right-password")]
    for user, password in cases:
        r = await client.post(TOKEN, data={"grant_type": "password", "username": user, "password": password})
        assert (r.status_code, r.json()["code"]) == (400, "invalid_grant"), user
    await session.execute(text("UPDATE admins SET disabled_at = now() WHERE id = :i"), {"i": admin.id})
    await session.commit()
    r = await client.post(TOKEN, data={"grant_type": "password", "username": username, "password": "right-password"})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_grant")


# --- the client_credentials grant --------------------------------------------------------


async def _partner(session: AsyncSession, kind: str = "transit", scopes: list[str] | None = None) -> tuple[str, str, uuid.UUID]:
    partner_id, secret = uuid.uuid4(), secrets.token_urlsafe(24)
    client_id = f"cl_{partner_id.hex}"
    session.add(
        Partner(  # type: ignore[call-arg]  # created_at has a server default
            id=partner_id,
            kind=kind,
            name=f"test {kind}",
            region="huangpu",
            client_id=client_id,
            client_secret_hash=hash_secret(secret),
            scopes=scopes or ["travel:write"],
        )
    )
    await session.commit()
    return client_id, secret, partner_id


async def test_client_credentials_in_the_form_or_basic(client: AsyncClient, session: AsyncSession, settings: Settings) -> None:
    client_id, secret, partner_id = await _partner(session, "transit", ["travel:write"])
    by_form = await client.post(TOKEN, data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    by_basic = await client.post(TOKEN, data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"})
    for r in (by_form, by_basic):
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["scope"] == "travel:write" and "refresh_token" not in body
        assert body["expires_in"] == settings.partner_token_ttl_s
        claims = decode_access_token(
            body["access_token"], secret=settings.jwt_secret, issuer=settings.jwt_issuer, audience=Audience.PARTNER
        )
        assert claims.sub == str(partner_id) and claims.scopes == {"travel:write"} and claims.family is None


async def test_client_credentials_refused(client: AsyncClient, session: AsyncSession) -> None:
    client_id, secret, partner_id = await _partner(session)
    for cid, sec in ((client_id, secret + "x"), ("cl_unknown", secret), (client_id, "")):
        r = await client.post(TOKEN, data={"grant_type": "client_credentials", "client_id": cid, "client_secret": sec})
        assert (r.status_code, r.json()["code"]) == (401, "invalid_client")
        assert r.headers["WWW-Authenticate"].startswith("Basic")
    both = await client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        headers={"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()},
    )
    assert (both.status_code, both.json()["code"]) == (400, "invalid_request")
    garbled = await client.post(TOKEN, data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic !!!"})
    assert (garbled.status_code, garbled.json()["code"]) == (401, "invalid_client")
    await session.execute(text("UPDATE partners SET disabled_at = now() WHERE id = :i"), {"i": partner_id})
    await session.commit()
    r = await client.post(TOKEN, data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert (r.status_code, r.json()["code"]) == (401, "invalid_client")


# --- the token endpoint's own errors -----------------------------------------------------


async def test_malformed_token_requests(client: AsyncClient) -> None:
    cases: list[tuple[dict[str, str], int, str]] = [
        ({}, 400, "invalid_request"),
        ({"grant_type": "implicit"}, 400, "unsupported_grant_type"),
        ({"grant_type": "otp", "phone": random_phone()}, 400, "invalid_request"),
        ({"grant_type": "otp", "phone": "12345", "code": "123456"}, 400, "invalid_request"),
        ({"grant_type": "password", "username": "x"}, 400, "invalid_request"),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "never-issued"}, 400, "invalid_grant"),
        ({"grant_type": "password", "username": "x" * 600, "password": "y"}, 422, "validation_error"),
    ]
    for data, status, code in cases:
        r = await client.post(TOKEN, data=data)
        assert (r.status_code, r.json()["code"]) == (status, code), data
        assert r.headers["content-type"].startswith("application/problem+json")
    as_json = await client.post(TOKEN, json={"grant_type": "password", "username": "x", "password": "y"})
    assert (as_json.status_code, as_json.json()["code"]) == (400, "invalid_request")


# --- access tokens -----------------------------------------------------------------------


def _claims(settings: Settings, subject: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    now = int(utcnow().timestamp())
    claims = {
        "iss": settings.jwt_issuer,
        "sub": str(subject),
        "aud": "citizen",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "scope": "",
    }
    return {**claims, **overrides}


async def test_a_wellformed_token_opens_me(client: AsyncClient, factory: Factory, settings: Settings) -> None:
    # the control for the refusals below: the same claims, correctly signed, are accepted
    citizen = await factory.citizen()
    token = jwt.encode(_claims(settings, citizen.id), settings.jwt_secret, algorithm="HS256")
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 200


async def test_tokens_of_other_kinds_do_not_open_citizen_paths(client: AsyncClient, factory: Factory) -> None:
    citizen = await factory.citizen()
    partner = await factory.partner()
    admin = await factory.admin()
    for actor in (partner, admin):
        # even a token whose subject is the citizen's id, if its audience is not `citizen`
        for headers in (actor.headers, bearer(factory.token(citizen.id, Audience.PARTNER, ["travel:write"]))):
            r = await client.get("/v1/me", headers=headers)
            assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
            assert r.headers["WWW-Authenticate"] == "Bearer"


async def test_expired_token_is_401(client: AsyncClient, factory: Factory) -> None:
    citizen = await factory.citizen()
    expired = factory.token(citizen.id, Audience.CITIZEN, [], ttl=timedelta(minutes=-1))
    r = await client.get("/v1/me", headers=bearer(expired))
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")


async def test_alg_none_is_401(client: AsyncClient, factory: Factory, settings: Settings) -> None:
    citizen = await factory.citizen()
    unsigned = jwt.encode(_claims(settings, citizen.id), None, algorithm="none")
    r = await client.get("/v1/me", headers=bearer(unsigned))
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")


async def test_token_signed_with_another_key_is_401(client: AsyncClient, factory: Factory, settings: Settings) -> None:
    citizen = await factory.citizen()
    for key in ("another-secret-of-sufficient-length-000000", settings.jwt_secret + "x"):
        forged = jwt.encode(_claims(settings, citizen.id), key, algorithm="HS256")
        r = await client.get("/v1/me", headers=bearer(forged))
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")


async def test_token_from_another_issuer_or_without_claims_is_401(
    client: AsyncClient, factory: Factory, settings: Settings
) -> None:
    citizen = await factory.citizen()
    other_issuer = jwt.encode(_claims(settings, citizen.id, iss="someone-else"), settings.jwt_secret, algorithm="HS256")
    claims = _claims(settings, citizen.id)
    del claims["exp"]
    no_exp = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
    for token in (other_issuer, no_exp, "not-a-jwt"):
        assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401


# --- refresh tokens ----------------------------------------------------------------------


async def test_refresh_rotates_within_the_family(fresh: AsyncClient, settings: Settings, session: AsyncSession) -> None:
    first = await otp_sign_in(fresh, settings)
    r = await fresh.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert r.headers["cache-control"] == "no-store"
    assert (await fresh.get("/v1/me", headers=bearer(second["access_token"]))).status_code == 200
    family = family_of(settings, first["access_token"])
    assert family and family_of(settings, second["access_token"]) == family
    stored = (
        await session.execute(
            text("SELECT count(*) AS n, count(used_at) AS used FROM refresh_tokens WHERE family_id = :f"), {"f": family}
        )
    ).one()
    assert (stored.n, stored.used) == (2, 1)
    # the tokens themselves are never stored
    raw = await session.scalar(
        text("SELECT count(*) FROM refresh_tokens WHERE token_hash IN (:a, :b)"),
        {"a": first["refresh_token"], "b": second["refresh_token"]},
    )
    assert raw == 0


async def test_reused_refresh_token_revokes_the_family(fresh: AsyncClient, settings: Settings, session: AsyncSession) -> None:
    first = await otp_sign_in(fresh, settings)
    second = (await fresh.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})).json()
    assert (await fresh.get("/v1/me", headers=bearer(second["access_token"]))).status_code == 200

    reuse = await fresh.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert (reuse.status_code, reuse.json()["code"]) == (400, "invalid_grant")

    # the newest refresh token is dead too, and so are the family's access tokens, at once
    newest = await fresh.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]})
    assert (newest.status_code, newest.json()["code"]) == (400, "invalid_grant")
    for access in (first["access_token"], second["access_token"]):
        r = await fresh.get("/v1/me", headers=bearer(access))
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
    # the revocation was committed although the reuse was answered with a 400
    family = family_of(settings, first["access_token"])
    live = await session.scalar(
        text("SELECT count(*) FROM refresh_tokens WHERE family_id = :f AND revoked_at IS NULL"), {"f": family}
    )
    assert live == 0
    # a new sign-in of the same person is a new family and works
    assert (await fresh.get("/v1/me", headers=bearer((await otp_sign_in(fresh, settings))["access_token"]))).status_code == 200


async def test_concurrent_refreshes_of_one_token_rotate_once(fresh: AsyncClient, settings: Settings) -> None:
    tokens = await otp_sign_in(fresh, settings)
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    answers = await asyncio.gather(*(fresh.post(TOKEN, data=data) for _ in range(5)))
    assert sorted(r.status_code for r in answers) == [200, 400, 400, 400, 400]
    # the losers look like a stolen copy being replayed: the family is gone, winner included
    winner = next(r.json() for r in answers if r.status_code == 200)
    again = await fresh.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": winner["refresh_token"]})
    assert (again.status_code, again.json()["code"]) == (400, "invalid_grant")


async def test_admin_refresh_keeps_the_current_role(
    client: AsyncClient, factory: Factory, session: AsyncSession, settings: Settings
) -> None:
    admin = await factory.admin("operator", password="pw-operator")
    username = await _admin_username(session, admin.id)
    tokens = (await client.post(TOKEN, data={"grant_type": "password", "username": username, "password": "pw-operator"})).json()
    await session.execute(text("UPDATE admins SET role = 'auditor' WHERE id = :i"), {"i": admin.id})
    await session.commit()
    r = await client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200 and r.json()["scope"] == "auditor"
    await session.execute(text("UPDATE admins SET disabled_at = now() WHERE id = :i"), {"i": admin.id})
    await session.commit()
    r = await client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"]})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_grant")


async def test_expired_refresh_token_is_refused(fresh: AsyncClient, settings: Settings, session: AsyncSession) -> None:
    tokens = await otp_sign_in(fresh, settings)
    family = family_of(settings, tokens["access_token"])
    await session.execute(
        text("UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE family_id = :f"), {"f": family}
    )
    await session.commit()
    r = await fresh.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_grant")


# --- object-level authorization ----------------------------------------------------------


async def test_a_citizen_sees_only_their_own_ledger(fresh: AsyncClient, factory: Factory, settings: Settings) -> None:
    a = await otp_sign_in(fresh, settings)
    b = await otp_sign_in(fresh, settings)
    a_id = (await fresh.get("/v1/me", headers=bearer(a["access_token"]))).json()["id"]
    admin = await factory.admin()
    r = await fresh.post(
        "/v1/admin/adjustments",
        json={"user_id": a_id, "points": 42, "reason": "welcome"},
        headers={**admin.headers, "Idempotency-Key": f"welcome-{a_id}"},
    )
    assert r.status_code == 201, r.text
    a_ledger = (await fresh.get("/v1/me/ledger", headers=bearer(a["access_token"]))).json()
    assert [e["points"] for e in a_ledger["items"]] == [42]
    b_ledger = await fresh.get("/v1/me/ledger", headers=bearer(b["access_token"]))
    assert b_ledger.status_code == 200 and b_ledger.json()["items"] == []
    b_account = (await fresh.get("/v1/me/account", headers=bearer(b["access_token"]))).json()
    assert b_account["balance"] == 0
    # B cannot ask for A's data by naming A: the path takes no user id, and query noise is ignored
    b_again = await fresh.get(f"/v1/me/ledger?user_id={a_id}", headers=bearer(b["access_token"]))
    assert b_again.json()["items"] == []


async def test_a_failing_sms_provider_is_a_503_not_a_500(app: FastAPI, fresh: AsyncClient) -> None:
    class Broken:
        async def send(self, phone: str, code: str) -> None:
            raise ConnectionError("provider down")

    # not monkeypatch: its undo deletes the attribute from Starlette's State, and later sign-ins find no provider
    working, app.state.sms = app.state.sms, Broken()
    try:
        r = await fresh.post("/v1/auth/otp", json={"phone": random_phone()})
    finally:
        app.state.sms = working
    assert (r.status_code, r.json()["code"]) == (503, "sms_unavailable")
    assert "Traceback" not in r.text and r.headers["Retry-After"]
