"""The Insight family's ASGI app: the ``{title, details}`` envelope, CORS, the token scheme, routers."""

from __future__ import annotations

import http
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldhub.core.db import UnitOfWork
from fieldhub.core.errors import FieldhubError, InvalidInput, PermissionDenied, RateLimited, Unauthenticated
from fieldhub.core.http.body_limit import BodyLimitMiddleware
from fieldhub.core.identity.service import Principal
from fieldhub.core.pagination import Cursor, SortKey, decode_cursor
from fieldhub.core.runtime import Runtime
from fieldhub.core.web import RequestContext, json_response, validation_message
from fieldhub.insight.permissions import require

# The spec's IdToken goes in the header as it is; "Bearer <token>" is accepted as well.
_AUTHORIZATION = re.compile(r"^\s*(?:Bearer:?\s+)?(?P<token>[A-Za-z0-9_.=-]+)\s*$", re.IGNORECASE)
#: Routes that need no user token (the gateway's own call, login discovery, signed downloads).
PUBLIC_PATHS = re.compile(
    r"^/(auth-information|provisioning|provisioning-packages/.*|set-password|openapi\.json"
    r"|event-exports/.*|gateway-ingest/.*)$"
)
#: The spec's default and largest page.
MAX_PAGE = 500
CORS_METHODS = "GET,POST,PUT,PATCH,DELETE,OPTIONS"
CORS_HEADERS = (
    "Authorization,Content-Type,File-Name,If-Match,X-Amz-Date,X-Amz-Target,X-Amz-User-Agent,X-Api-Key"
)


def id_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated("No Authorization header was provided")
    match = _AUTHORIZATION.match(header)
    if match is None:
        raise Unauthenticated("The Authorization header must hold the IdToken (optionally after 'Bearer ')")
    return match.group("token")


def error_response(status_code: int, details: str, headers: dict[str, str] | None = None) -> Response:
    try:
        title = http.HTTPStatus(status_code).phrase
    except ValueError:
        title = "Error"
    return json_response({"title": title, "details": details}, status_code=status_code, headers=headers)


def render_error(status_code: int, details: str) -> tuple[bytes, str]:
    return bytes(error_response(status_code, details).body), "application/json"


def parse_uuid(value: str, *, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(f"{field}: must be a UUID") from None


def page_limit(value: str | None) -> int:
    """The spec types ``limit`` as a string; it must still be a whole number from 1 to 500."""
    if value is None:
        return MAX_PAGE
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise InvalidInput(f"limit: must be a whole number from 1 to {MAX_PAGE}")
    return int(value)


def parse_next_token(value: str | None, *, sort: SortKey, realm_id: uuid.UUID) -> Cursor | None:
    """A ``next_token`` made for this listing and this customer; anything else is a 400."""
    if value is None:
        return None
    cursor = decode_cursor(value, field="next_token", sort=sort, backwards=False)
    if cursor.scope != str(realm_id):
        raise InvalidInput("next_token: not a valid cursor")
    return cursor


class Cors:
    """The three ``Access-Control-Allow-*`` headers the spec puts on every response."""

    def __init__(self, origins: list[str]) -> None:
        self._origins = origins

    def headers(self, origin: str | None) -> dict[str, str]:
        if "*" in self._origins:
            allowed = "*"
        else:
            # An origin not on the list gets the first allowed one, which a browser refuses.
            allowed = origin if origin in self._origins else (self._origins[0] if self._origins else "null")
        return {
            "Access-Control-Allow-Origin": allowed,
            "Access-Control-Allow-Methods": CORS_METHODS,
            "Access-Control-Allow-Headers": CORS_HEADERS,
            "Vary": "Origin",
        }


class CorsMiddleware:
    """Answers every ``OPTIONS`` (any path, as the spec's CORS operations do) and adds the headers
    to every response."""

    def __init__(self, app: ASGIApp, *, cors: Cors) -> None:
        self.app = app
        self.cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"), None)
        extra = [(k.lower().encode(), v.encode("latin-1")) for k, v in self.cors.headers(origin).items()]
        if scope["method"] == "OPTIONS":
            headers = [*extra, (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_cors)


class PathBodyLimit:
    """JSON bodies get the general limit; device-config uploads their own (they are files)."""

    def __init__(self, app: ASGIApp, *, json_bytes: int, upload_bytes: int) -> None:
        self.json = BodyLimitMiddleware(app, max_bytes=json_bytes, render=render_error)
        self.upload = BodyLimitMiddleware(app, max_bytes=upload_bytes, render=render_error)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_upload = scope["type"] == "http" and "/device-configs/" in scope.get("path", "")
        await (self.upload if is_upload else self.json)(scope, receive, send)


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    realm_id: uuid.UUID


class InsightContext:
    """One unit of work per request, authenticated, for the customer in the path."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._core = RequestContext(runtime, token_from=id_token)

    @contextmanager
    def work(
        self, request: Request, customer_id: str, *, write: bool, permission: str | None = None
    ) -> Iterator[tuple[UnitOfWork, Caller]]:
        """Authenticates (401), parses the customer id (400), refuses another realm's (403), then
        checks ``permission`` (403)."""
        with self._core.work(request, write=write) as (uow, principal):
            realm_id = parse_uuid(customer_id, field="customer_id")
            if realm_id != principal.realm_id:
                raise PermissionDenied("The token does not belong to this customer")
            if permission is not None:
                require(principal, permission)
            yield uow, Caller(principal=principal, realm_id=realm_id)


def _as_served(schema: dict[str, Any]) -> dict[str, Any]:
    """Bad input is a 400 (never a 422) and every non-public route needs the IdToken."""
    components = schema.setdefault("components", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(name, None)
    components["securitySchemes"] = {
        "EndpointAuthorizer": {"type": "apiKey", "name": "Authorization", "in": "header"}
    }
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses.setdefault("400", {"description": "Bad Request", **error})
            if not PUBLIC_PATHS.match(path):
                operation["security"] = [{"EndpointAuthorizer": []}]
                responses.setdefault("401", {"description": "Unauthorized", **error})
                responses.setdefault("403", {"description": "Forbidden", **error})
    return schema


def create_insight_app(runtime: Runtime) -> FastAPI:
    from fieldhub.insight import endpoints_auth, endpoints_devices, endpoints_gateways, endpoints_users
    from fieldhub.insight.scans import endpoints as scan_endpoints

    app = FastAPI(
        title="fieldhub: Insight-compatible API",
        version="1.0.1",
        description="Customers, users, gateways with X.509 provisioning, scanners and device configs.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    context = InsightContext(runtime)

    def unauthenticated_first(request: Request) -> Response | None:
        """A caller without a valid token learns nothing about how a route validates its input."""
        path = request.url.path.removeprefix(request.scope.get("root_path", "").rstrip("/"))
        if PUBLIC_PATHS.match(path):
            return None
        try:
            runtime.tokens.verify(id_token(request))
        except Unauthenticated as exc:
            return error_response(401, exc.message)
        return None

    for module in (endpoints_auth, endpoints_users, endpoints_gateways, endpoints_devices):
        app.include_router(module.build_router(context))
    # Part 2: scan events, exports and jobs (fieldhub.insight.scans).
    app.include_router(scan_endpoints.build_router(context))
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _as_served(generate_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(FieldhubError)
    async def _fieldhub_error(request: Request, exc: FieldhubError) -> Response:
        if isinstance(exc, InvalidInput) and (refused := unauthenticated_first(request)):
            return refused
        headers = {"Retry-After": str(exc.retry_after_seconds)} if isinstance(exc, RateLimited) else None
        return error_response(exc.status_code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if refused := unauthenticated_first(request):
            return refused
        return error_response(400, validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    settings = runtime.settings
    app.add_middleware(
        PathBodyLimit,
        json_bytes=settings.max_json_body_bytes,
        upload_bytes=settings.insight_device_config_max_bytes,
    )
    app.add_middleware(CorsMiddleware, cors=Cors(settings.insight_cors_origins))
    return app
