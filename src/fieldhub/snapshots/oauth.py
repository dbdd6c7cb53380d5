"""``POST /security/oauth/token``: the OAuth 2.0 client credentials grant (RFC 6749 section 4.4).

The client authenticates with HTTP Basic (section 2.3.1: id and secret form-urlencoded, then
base64) or with ``client_id``/``client_secret`` form fields, not both.  ``grant_type`` may be in
the query (as the spec's URL shows) or in the form body (as RFC 6749 has it).  Errors use RFC
6749's own body, ``{"error", "error_description"}`` (section 5.2).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import unquote_plus

from anyio import to_thread
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from fieldhub.core.db import utcnow
from fieldhub.core.errors import Unauthenticated
from fieldhub.core.identity.clients import ClientService, ClientToken
from fieldhub.core.runtime import Runtime
from fieldhub.core.web import json_response
from fieldhub.snapshots.schemas import OAuthError, OAuthToken

CLIENT_CREDENTIALS = "client_credentials"
_NO_CACHE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM = "application/x-www-form-urlencoded"


class OAuthProblem(Exception):
    def __init__(self, status_code: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.error = error
        self.description = description


def _invalid_client(description: str) -> OAuthProblem:
    return OAuthProblem(401, "invalid_client", description)


def _problem_response(problem: OAuthProblem) -> Response:
    headers = dict(_NO_CACHE)
    if problem.status_code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="fieldhub", charset="UTF-8"'
    return json_response(
        {"error": problem.error, "error_description": problem.description},
        status_code=problem.status_code,
        headers=headers,
    )


def _basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise _invalid_client("Authorization header must use the Basic scheme")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_client("Authorization header is not valid Basic credentials") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise _invalid_client("Authorization header is not valid Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


async def _form_fields(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != _FORM:
        return {}
    form = await request.form(max_files=0, max_fields=16)
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    header = request.headers.get("authorization")
    in_form = "client_id" in form or "client_secret" in form
    if header and in_form:
        raise OAuthProblem(400, "invalid_request", "Use one client authentication method, not two")
    if header:
        return _basic_credentials(header)
    if not in_form:
        raise _invalid_client("Client authentication is required (HTTP Basic or client_id/client_secret)")
    if not form.get("client_id") or not form.get("client_secret"):
        raise _invalid_client("client_id and client_secret are both required")
    return form["client_id"], form["client_secret"]


def build_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    def issue(client_id: str, secret: str) -> ClientToken:
        with runtime.db.unit_of_work(write=False) as uow:
            candidate = ClientService(session=uow.session).begin_token_request(client_id=client_id)
        # argon2 takes a deliberate ~0.1 s: outside any transaction.
        try:
            return ClientService.issue_token(candidate, secret=secret, tokens=runtime.tokens, now=utcnow())
        except Unauthenticated as exc:
            raise _invalid_client(exc.message) from None

    @router.post(
        "/security/oauth/token",
        summary="OAuth 2.0 token endpoint (client credentials grant)",
        response_model=OAuthToken,
        responses={400: {"model": OAuthError}, 401: {"model": OAuthError}},
    )
    async def token(request: Request, grant_type: Annotated[str | None, Query()] = None) -> Response:
        try:
            form = await _form_fields(request)
            grant = grant_type or form.get("grant_type")
            if not grant:
                raise OAuthProblem(400, "invalid_request", "grant_type is required")
            if grant != CLIENT_CREDENTIALS:
                raise OAuthProblem(400, "unsupported_grant_type", f"Only {CLIENT_CREDENTIALS} is supported")
            client_id, secret = _credentials(request, form)
            issued = await to_thread.run_sync(issue, client_id, secret)
        except OAuthProblem as problem:
            return _problem_response(problem)
        return json_response(
            {"access_token": issued.access_token, "token_type": "bearer", "expires_in": issued.expires_in},
            headers=_NO_CACHE,
        )

    return router
