"""A Cognito-compatible ``InitiateAuth`` at ``POST /cognito``, so that Insight clients log in as
they do against AWS: the AWS SDK's ``cognito-idp`` client with ``endpoint_url=<server>/cognito``.

AWS JSON 1.1 protocol: the operation is named by ``X-Amz-Target``, the body is JSON, errors are
``{"__type": ..., "message": ...}`` with status 400.  The ``ClientId`` (``user_pool_client_id`` in
``/auth-information``) names the realm; the IdToken, AccessToken and RefreshToken are fieldhub's
own access and refresh tokens.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fieldhub.core.db import utcnow
from fieldhub.core.errors import RateLimited
from fieldhub.core.identity.auth import LoginRejected, TokenPair, check_password
from fieldhub.core.identity.models import Realm
from fieldhub.core.runtime import Runtime
from fieldhub.core.web import client_address
from fieldhub.insight.repository import UnscopedInsightRepository
from fieldhub.insight.web import Cors

COGNITO_PATH = "/cognito"
CONTENT_TYPE = "application/x-amz-json-1.1"
INITIATE_AUTH = "AWSCognitoIdentityProviderService.InitiateAuth"
MAX_BODY_BYTES = 64 * 1024


class CognitoError(Exception):
    def __init__(self, kind: str, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status_code = status_code


def _answer(content: dict[str, Any], cors: Cors, request: Request, status_code: int = 200) -> Response:
    headers = cors.headers(request.headers.get("origin"))
    if "__type" in content:
        headers["x-amzn-ErrorType"] = content["__type"]
    headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return Response(json.dumps(content), status_code=status_code, media_type=CONTENT_TYPE, headers=headers)


async def _read_json(request: Request) -> dict[str, Any]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise CognitoError("InvalidParameterException", "Request body is too large")
    try:
        parsed = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise CognitoError("SerializationException", "Request body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise CognitoError("SerializationException", "Request body must be a JSON object")
    return parsed


def _text(container: Any, key: str) -> str:
    value = container.get(key) if isinstance(container, dict) else None
    if not isinstance(value, str) or not value or len(value) > 4096 or "\x00" in value:
        raise CognitoError("InvalidParameterException", f"Missing required parameter {key}")
    return value


def _result(pair: TokenPair, *, with_refresh: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "AccessToken": pair.access_token,
        "ExpiresIn": pair.expires_in,
        "TokenType": "Bearer",
        "IdToken": pair.access_token,
    }
    if with_refresh:
        result["RefreshToken"] = pair.refresh_token
    return {"AuthenticationResult": result, "ChallengeParameters": {}}


class CognitoLogin:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def realm(self, client_id: str) -> Realm:
        try:
            realm_id = uuid.UUID(hex=client_id)
        except ValueError:
            realm_id = None
        with self.runtime.db.unit_of_work(write=False) as uow:
            realm = UnscopedInsightRepository(uow.session).realm(realm_id) if realm_id else None
        if realm is None or client_id != realm.id.hex:
            raise CognitoError("ResourceNotFoundException", "User pool client does not exist.")
        return realm

    def password(self, realm: Realm, username: str, password: str, address: str) -> dict[str, Any]:
        now = utcnow()
        with self.runtime.db.unit_of_work(write=False) as uow:
            candidate = self.runtime.auth(uow.session).begin_login(
                realm_name=realm.name, username=username, client_address=address, now=now
            )
        # The slow password check runs outside any transaction (see AuthService.begin_login).
        password_ok = check_password(candidate, password)
        with self.runtime.db.unit_of_work() as uow:
            outcome = self.runtime.auth(uow.session).finish_login(
                candidate, password=password, password_ok=password_ok, client_address=address, now=now
            )
        if isinstance(outcome, LoginRejected):
            raise CognitoError("NotAuthorizedException", "Incorrect username or password.")
        return _result(outcome, with_refresh=True)

    def refresh(self, realm: Realm, refresh_token: str) -> dict[str, Any]:
        with self.runtime.db.unit_of_work() as uow:
            outcome = self.runtime.auth(uow.session).refresh(refresh_token=refresh_token, now=utcnow())
            if (
                isinstance(outcome, TokenPair)
                and self.runtime.tokens.verify(outcome.access_token).realm != realm.name
            ):
                # Another realm's token: undo the rotation (the exception rolls it back).
                raise CognitoError("NotAuthorizedException", "Invalid Refresh Token")
        if isinstance(outcome, LoginRejected):
            raise CognitoError("NotAuthorizedException", "Invalid Refresh Token")
        # fieldhub rotates refresh tokens, so the new one is returned (as Cognito does with rotation).
        return _result(outcome, with_refresh=True)

    def initiate_auth(self, body: dict[str, Any], address: str) -> dict[str, Any]:
        realm = self.realm(_text(body, "ClientId"))
        flow = _text(body, "AuthFlow")
        parameters = body.get("AuthParameters")
        if flow == "USER_PASSWORD_AUTH":
            return self.password(realm, _text(parameters, "USERNAME"), _text(parameters, "PASSWORD"), address)
        if flow in {"REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"}:
            return self.refresh(realm, _text(parameters, "REFRESH_TOKEN"))
        raise CognitoError("InvalidParameterException", f"Unsupported AuthFlow {flow[:64]}")


def build_cognito_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()
    login = CognitoLogin(runtime)
    cors = Cors(runtime.settings.insight_cors_origins)

    @router.options(COGNITO_PATH, include_in_schema=False)
    def preflight(request: Request) -> Response:
        return Response(status_code=200, headers=cors.headers(request.headers.get("origin")))

    @router.post(COGNITO_PATH, include_in_schema=False)
    async def cognito(request: Request) -> Response:
        try:
            target = request.headers.get("x-amz-target", "")
            if target != INITIATE_AUTH:
                raise CognitoError("UnknownOperationException", "Only InitiateAuth is supported")
            body = await _read_json(request)
            result = await run_in_threadpool(login.initiate_auth, body, client_address(request))
        except CognitoError as exc:
            return _answer({"__type": exc.kind, "message": exc.message}, cors, request, exc.status_code)
        except RateLimited:
            return _answer(
                {"__type": "TooManyRequestsException", "message": "Too many failed attempts"}, cors, request
            )
        return _answer(result, cors, request)

    return router
