"""``POST /authentication/login/realms/{realm}`` and ``POST /authentication/token/refresh``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from fieldhub.core.db import utcnow
from fieldhub.core.errors import InvalidInput, Unauthenticated
from fieldhub.core.identity.auth import LoginRejected, TokenPair, check_password
from fieldhub.core.runtime import Runtime
from fieldhub.core.web import client_address, json_response
from fieldhub.skylight.schemas import ErrorBody, LoginRequest, RefreshRequest, TokenResponse

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody},
    401: {"model": ErrorBody},
    429: {"model": ErrorBody},
}


def _tokens(outcome: TokenPair | LoginRejected) -> Response:
    if isinstance(outcome, LoginRejected):
        raise Unauthenticated(outcome.reason)
    return json_response(
        TokenResponse(
            access_token=outcome.access_token,
            expires_in=outcome.expires_in,
            refresh_token=outcome.refresh_token,
            refresh_expires_in=outcome.refresh_expires_in,
        ).model_dump()
    )


def build_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/authentication", tags=["authentication"])

    @router.post("/login/realms/{realm}", response_model=TokenResponse, responses=_ERRORS)
    def login(realm: str, body: LoginRequest, request: Request) -> Response:
        if body.realm != realm:
            raise InvalidInput("realm: must match the realm in the URL")
        now, address = utcnow(), client_address(request)
        with runtime.db.unit_of_work(write=False) as uow:
            candidate = runtime.auth(uow.session).begin_login(
                realm_name=realm, username=body.username, client_address=address, now=now
            )
        # The slow password check runs outside any transaction (see AuthService.begin_login).
        password_ok = check_password(candidate, body.password)
        # This unit of work commits even for a refused login: the failure count must be kept.
        with runtime.db.unit_of_work() as uow:
            outcome = runtime.auth(uow.session).finish_login(
                candidate, password=body.password, password_ok=password_ok, client_address=address, now=now
            )
        return _tokens(outcome)

    @router.post("/token/refresh", response_model=TokenResponse, responses=_ERRORS)
    def refresh(body: RefreshRequest) -> Response:
        # Committed even when refused, so that reuse of a rotated token revokes its family for good.
        with runtime.db.unit_of_work() as uow:
            outcome = runtime.auth(uow.session).refresh(refresh_token=body.refreshToken, now=utcnow())
        return _tokens(outcome)

    return router
