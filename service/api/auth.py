"""Sign-in: one-time codes and the OAuth 2 token endpoint (RFC 6749, errors as RFC 9457 problems)."""

import base64
import binascii
from http import HTTPStatus
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from integrations.sms import SmsSender
from service.clock import utcnow
from service.deps import RedisDep, SessionDep, SettingsDep, client_ip
from service.problems import problem_response, problem_responses
from service.usecases import signin

router = APIRouter(tags=["auth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
GRANTS = ("otp", "password", "client_credentials", "refresh_token")
FormField = Annotated[str | None, Form(max_length=512)]


class OtpRequest(BaseModel):
    phone: str = Field(max_length=32, examples=["13812345678"])


class OtpSent(BaseModel):
    expires_in: int = Field(description="Seconds the code stays valid")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str | None = None
    scope: str


def _context(request: Request, session: SessionDep, redis: RedisDep, settings: SettingsDep) -> signin.SignInContext:
    return signin.SignInContext(session=session, redis=redis, settings=settings, now=utcnow(), ip=client_ip(request, settings))


@router.post(
    "/v1/auth/otp",
    operation_id="request_otp",
    status_code=202,
    response_model=OtpSent,
    responses=problem_responses(422, 429, 503),
)
async def request_otp(body: OtpRequest, request: Request, session: SessionDep, redis: RedisDep, settings: SettingsDep) -> OtpSent:
    """Send a one-time sign-in code by SMS. Throttled per phone and per address (429 with `Retry-After`)."""
    sms: SmsSender = request.app.state.sms
    expires_in = await signin.send_otp(_context(request, session, redis, settings), sms, raw_phone=body.phone)
    return OtpSent(expires_in=expires_in)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """client_id and secret from `Authorization: Basic` (form-urlencoded, then base64: RFC 6749 2.3.1)."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, _, secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)


@router.post(
    "/v1/oauth/token",
    operation_id="issue_token",
    response_model=TokenOut,
    responses=problem_responses(400, 401, 422, 429, 503),
)
async def issue_token(
    request: Request,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
    grant_type: FormField = None,
    phone: FormField = None,
    code: FormField = None,
    username: FormField = None,
    password: FormField = None,
    client_id: FormField = None,
    client_secret: FormField = None,
    refresh_token: FormField = None,
) -> JSONResponse:
    """Form-encoded token request with grant `otp` (citizens), `password` (administrators),
    `client_credentials` (partners, form fields or HTTP Basic) or `refresh_token` (rotation)."""
    ctx = _context(request, session, redis, settings)
    result: signin.TokenGrant | signin.Refusal
    if grant_type == "otp":
        result = await signin.otp_grant(ctx, raw_phone=phone, code=code)
    elif grant_type == "password":
        result = await signin.password_grant(ctx, username=username, password=password)
    elif grant_type == "client_credentials":
        basic = _basic_credentials(request.headers.get("authorization"))
        if basic is not None and (client_id or client_secret):
            result = signin.invalid_request("send client credentials either in the form or in Authorization, not both")
        else:
            cid, secret = basic or (client_id, client_secret)
            result = await signin.client_credentials_grant(ctx, client_id=cid, client_secret=secret)
    elif grant_type == "refresh_token":
        result = await signin.refresh_grant(ctx, refresh_token=refresh_token)
    elif not grant_type:
        result = signin.invalid_request("grant_type is required (form-encoded body)")
    else:
        result = signin.Refusal(
            400, "unsupported_grant_type", "grant_type must be otp, password, client_credentials or refresh_token"
        )
    if isinstance(result, signin.Refusal):
        # Returned, not raised: the session still commits what the refusal wrote (see usecases.signin).
        title = HTTPStatus(result.status).phrase
        return problem_response(result.status, result.code, title, result.detail, headers={**NO_STORE, **result.headers})
    return JSONResponse(result.body(), headers=NO_STORE)
