"""The Snapshots family's ASGI app: its error body, its authentication (user JWTs and OAuth
clients) and its routers.

Errors use Spring Boot's error attributes, the body the spec's (Spring) service answers with:
``{"timestamp", "status", "error", "message", "path"}``.  The OAuth token endpoint answers
RFC 6749's own error bodies instead (oauth.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import Scope

from fieldhub.core.db import UnitOfWork, utcnow
from fieldhub.core.errors import FieldhubError, InvalidInput, Unauthenticated
from fieldhub.core.http.body_limit import BodyLimitMiddleware
from fieldhub.core.http.streaming_multipart import BodyTooLarge
from fieldhub.core.identity.clients import ClientService, is_client_token
from fieldhub.core.runtime import Runtime
from fieldhub.core.web import bearer_token, json_response, validation_message
from fieldhub.snapshots.schemas import rfc3339
from fieldhub.snapshots.service import Caller

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="fieldhub"'}
#: Routes that take no bearer token: the token endpoint and the signed image URLs.
_PUBLIC_PATHS = ("/security/", "/signed/")


def error_response(
    request: Request, status_code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    return json_response(
        {
            "timestamp": rfc3339(utcnow()),
            "status": status_code,
            "error": HTTPStatus(status_code).phrase,
            "message": message,
            "path": request.url.path,
        },
        status_code=status_code,
        headers=headers,
    )


class SnapshotContext:
    """Opens a request's unit of work and authenticates its caller (a user or a client) inside it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def authenticate(self, uow: UnitOfWork, token: str) -> Caller:
        claims = self.runtime.tokens.verify(token)
        if is_client_token(claims):
            client = ClientService(session=uow.session).principal(claims)
            return Caller(
                subject=client.client_id,
                realm_id=client.realm_id,
                realm_name=client.realm_name,
                is_admin=True,
            )
        user = self.runtime.auth(uow.session).authenticate(access_token=token)
        return Caller(
            subject=user.user_id, realm_id=user.realm_id, realm_name=user.realm_name, is_admin=user.is_admin
        )

    @contextmanager
    def work(self, request: Request, *, write: bool) -> Iterator[tuple[UnitOfWork, Caller]]:
        token = bearer_token(request)
        with self.runtime.db.unit_of_work(write=write) as uow:
            if write:
                uow.after_commit(self.runtime.publisher.wake)
            yield uow, self.authenticate(uow, token)

    def caller(self, request: Request) -> Caller:
        """Authenticates without keeping a transaction open (before a long upload)."""
        with self.work(request, write=False) as (_, caller):
            return caller


class ExactPrefixMount(Mount):
    """A mount that also serves its bare prefix: ``GET /rtc-api/snapshots?interactionId=`` is the
    spec's list operation, which a plain mount would only reach through a redirect to ``.../``."""

    def matches(self, scope: Scope) -> tuple[Any, Scope]:
        root_path: str = scope.get("root_path", "")
        if scope["type"] == "http" and scope["path"].removeprefix(root_path) == self.path:
            match, child = super().matches({**scope, "path": scope["path"] + "/"})
            return match, {**child, "path": scope["path"] + "/"}
        return super().matches(scope)


def _as_served(schema: dict[str, Any]) -> dict[str, Any]:
    """Bad input is a 400 in the error body (never a 422); the security schemes as served."""
    components = schema.setdefault("components", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(name, None)
    components["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "clientCredentials": {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "security/oauth/token", "scopes": {}}},
        },
    }
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
            if not path.startswith(_PUBLIC_PATHS):
                operation["security"] = [{"bearerAuth": []}, {"clientCredentials": []}]
    return schema


def create_snapshots_app(runtime: Runtime) -> FastAPI:
    from fieldhub.snapshots import endpoints, oauth

    app = FastAPI(
        title="fieldhub: Snapshot API",
        version="1.0",
        description="Snapshots from the remote party's camera in a call, wire-compatible with Snapshot v1.0.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    context = SnapshotContext(runtime)
    app.include_router(oauth.build_router(runtime))
    app.include_router(endpoints.build_router(context))
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _as_served(generate_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    def unauthenticated_first(request: Request) -> Response | None:
        """The 401 a request without a valid token gets even when its input is also bad (input is
        checked before the endpoint authenticates; an anonymous caller learns nothing of it)."""
        path = request.url.path.removeprefix(request.scope.get("root_path", "").rstrip("/"))
        if path.startswith(_PUBLIC_PATHS):
            return None
        try:
            runtime.tokens.verify(bearer_token(request))
        except Unauthenticated as exc:
            return error_response(request, 401, exc.message, _CHALLENGE)
        return None

    @app.exception_handler(FieldhubError)
    async def _fieldhub_error(request: Request, exc: FieldhubError) -> Response:
        if isinstance(exc, InvalidInput) and (refused := unauthenticated_first(request)):
            return refused
        if isinstance(exc, BodyTooLarge):
            return error_response(request, 413, exc.message)
        headers = _CHALLENGE if isinstance(exc, Unauthenticated) else None
        return error_response(request, exc.status_code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if refused := unauthenticated_first(request):
            return refused
        return error_response(request, 400, validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))

    def render(status_code: int, message: str) -> tuple[bytes, str]:
        body = {
            "timestamp": rfc3339(utcnow()),
            "status": status_code,
            "error": HTTPStatus(status_code).phrase,
        }
        return bytes(json_response({**body, "message": message, "path": ""}).body), "application/json"

    # Images are streamed and limited by snapshot_max_bytes in the endpoint; this only stops
    # bodies no operation could accept.
    limit = runtime.settings.snapshot_max_bytes + runtime.settings.max_json_body_bytes
    app.add_middleware(BodyLimitMiddleware, max_bytes=limit, render=render)
    return app
