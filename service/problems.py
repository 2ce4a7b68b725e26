"""RFC 9457 problem responses: every error leaves with a `code`, never a stack trace."""

import asyncio
import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain import errors as domain_errors

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """The body of every error response."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str
    errors: list[dict[str, Any]] | None = None


class ProblemError(Exception):
    """Raised by the service layer to answer with a problem."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str | None = None,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or code)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or code.replace("_", " ").capitalize()
        self.headers = headers or {}


# One table from domain errors to HTTP: the domain never knows about statuses.
DOMAIN_STATUS: dict[type[domain_errors.DomainError], int] = {
    domain_errors.InvalidAdjustment: 422,
    domain_errors.InvalidReversal: 409,
    domain_errors.InsufficientPoints: 409,
    domain_errors.OutOfStock: 409,
    domain_errors.RewardUnavailable: 409,
    domain_errors.InvalidRedemptionState: 409,
    domain_errors.UnbalancedPosting: 500,
    domain_errors.InvalidPosting: 500,
    domain_errors.InvalidLotMove: 500,
}


def problem_response(status: int, code: str, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body = Problem(type=f"https://tanpu.example/problems/{code}", title=title, status=status, detail=detail, code=code)
    content = body.model_dump(exclude_none=True)
    headers = extra.pop("headers", None)
    content.update(extra)
    return JSONResponse(content, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _status_title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _problem_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.status, exc.code, exc.title, exc.detail, headers=exc.headers or None)


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, domain_errors.DomainError)
    status = next((s for cls, s in DOMAIN_STATUS.items() if isinstance(exc, cls)), 422)
    if status >= 500:
        log.error("domain invariant broken", exc_info=exc)
        return problem_response(500, "internal_error", "Internal Server Error")
    return problem_response(status, exc.code, _status_title(status), exc.detail)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")} for err in exc.errors()]
    names = ", ".join(
        ".".join(str(p) for p in f["loc"] if p not in ("body", "query", "path", "header")) or "body" for f in fields
    )
    return problem_response(422, "validation_error", "Unprocessable Content", f"invalid fields: {names}", errors=fields)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(exc.status_code, code, _status_title(exc.status_code), detail, headers=exc.headers)


def database_unavailable(exc: BaseException) -> JSONResponse:
    # A lost database is an outage, not a bug: say so quickly and let the client retry.
    log.warning("database unavailable: %s", type(exc).__name__)
    return problem_response(
        503,
        "service_unavailable",
        "Service Unavailable",
        "the database is unreachable; retry shortly",
        headers={"Retry-After": "5"},
    )


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps: SQLAlchemy keeps the driver's error as `orig`, its asyncpg
    adapter as `__cause__`."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 5:
        chain.append(seen)
        seen = getattr(seen, "orig", None) or seen.__cause__
    return chain


# asyncpg's own errors when the server goes away or is not taking work: a dropped connection
# (PostgresConnectionError, InternalClientError), a shutdown or a server still
# starting (57P01-57P03), too many connections (53300), a statement cancelled on timeout (57014).
_OUTAGES = (
    asyncpg.PostgresConnectionError,
    # a connection the server killed just as a statement started on it ("cannot switch to state
    # 12; another operation is in progress"): seen in R5's test when PostgreSQL shuts down
    asyncpg.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)


def is_database_outage(exc: BaseException) -> bool:
    """The database is unreachable or refusing work: the request may succeed later, unchanged."""
    for cause in _causes(exc):
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, (OSError, PoolTimeout, InterfaceError, OperationalError, asyncio.TimeoutError, *_OUTAGES)):
            return True
        # the driver's InterfaceError is also its word for misuse (our bug): only a closed connection is an outage
        if isinstance(cause, asyncpg.InterfaceError) and "closed" in str(cause):
            return True
    return False


def _unstorable_value(exc: BaseException) -> asyncpg.DataError | None:
    """PostgreSQL refused a value (text with NUL, a number or a time out of its range): the
    client's input that validation let through, not our bug."""
    return next((c for c in _causes(exc) if isinstance(c, asyncpg.DataError)), None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return unexpected_response(exc)


def unexpected_response(exc: BaseException) -> JSONResponse:
    """The answer to an exception no route handled: the client's refused value (422), an outage
    (503), or our bug (500, logged with its traceback)."""
    refused = _unstorable_value(exc)
    if refused is not None:
        # answered as the client's, but logged: validation should have said it first
        log.warning("the database refused a value: %s: %s", type(refused).__name__, refused)
        if isinstance(refused, (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError)):
            return problem_response(422, "invalid_characters", "Unprocessable Content", "text fields cannot hold NUL characters")
        return problem_response(422, "invalid_value", "Unprocessable Content", "a value is outside what can be stored")
    if is_database_outage(exc):
        return database_unavailable(exc)
    log.error("unhandled error", exc_info=exc)
    return problem_response(500, "internal_error", "Internal Server Error")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(domain_errors.DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Registered by class (not only as the catch-all) so they are answered by the
    # exception middleware and not re-raised after the response like a bare Exception.
    for outage in (SQLAlchemyError, OSError, asyncio.TimeoutError):
        app.add_exception_handler(outage, _unexpected)
    app.add_exception_handler(Exception, _unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the problems it can answer, so the OpenAPI shows them."""
    return {s: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": _status_title(s)} for s in statuses}
