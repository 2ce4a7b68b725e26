"""PIPL: GET /v1/me/export (everything held about the caller) and DELETE /v1/me (erasure)."""

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from service.auth.deps import CurrentCitizen
from service.clock import utcnow
from service.deps import SessionDep, SettingsDep
from service.problems import ProblemError, problem_responses
from service.repositories import users as users_repo
from service.usecases import privacy

router = APIRouter(prefix="/v1/me", tags=["citizen"])


@router.get(
    "/export",
    operation_id="export_my_data",
    response_model=dict[str, Any],
    responses=problem_responses(401),
)
async def export_my_data(citizen: CurrentCitizen, session: SessionDep) -> JSONResponse:
    """Every piece of personal data held about the caller, as one JSON document: profile (with the phone),
    account and level, member references, sign-ins, activities with their breakdowns, daily steps, the
    ledger, expiry lots and redemptions."""
    user = await users_repo.get_citizen(session, citizen.user_id)
    if user is None or user.erased_at is not None:
        raise ProblemError(401, "unauthorized", "this account no longer exists")
    document = await privacy.export(session, citizen.user_id, now=utcnow())
    headers = {"Content-Disposition": 'attachment; filename="tanpu-export.json"', "Cache-Control": "no-store"}
    return JSONResponse(document, headers=headers)


@router.delete("", operation_id="erase_me", status_code=204, responses=problem_responses(401))
async def erase_me(citizen: CurrentCitizen, session: SessionDep, settings: SettingsDep) -> Response:
    """Erase the caller: the phone number, member references and sign-ins go (every token is revoked and
    the account can never be signed into again; the same phone later starts a new, empty account); held
    redemptions are cancelled. The ledger keeps its entries under the pseudonymous id, so totals stay true."""
    if not await privacy.erase(session, citizen.user_id, now=utcnow(), access_token_ttl_s=settings.access_token_ttl_s):
        raise ProblemError(401, "unauthorized", "this account no longer exists")
    return Response(status_code=204)
