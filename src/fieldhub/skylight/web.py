"""The Skylight family's ASGI app: its error envelope, its token scheme and its routers."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fieldhub.core.errors import FieldhubError, InvalidInput, RateLimited, Unauthenticated
from fieldhub.core.http.body_limit import BodyLimitMiddleware, Renderer
from fieldhub.core.runtime import Runtime
from fieldhub.core.web import RequestContext, bearer_token, json_response, validation_message

_ERROR_CONTENT: dict[str, Any] = {
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
}


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _as_served(schema: dict[str, Any]) -> dict[str, Any]:
    """The generated document, corrected to what the app does: bad input is a 400 (never a 422)
    and every route outside ``/authentication`` needs the bearer token."""
    components = schema.setdefault("components", {})
    schemas = components.get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    components["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Authorization: Bearer <access_token>; the spec's 'Bearer: <token>' works too",
        }
    }
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if responses.get("422", {}).get("description") == "Validation Error":
                responses.pop("422")  # FastAPI's own; a route's declared 422 stays
            responses.setdefault("400", {"description": "Bad Request", **_ERROR_CONTENT})
            if not path.startswith("/authentication/"):
                operation["security"] = [{"bearerAuth": []}]
                responses.setdefault("401", {"description": "Unauthorized", **_ERROR_CONTENT})
    return schema


def error_response(status_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status_code=status_code, headers=headers)


def _render_error(status_code: int, message: str) -> tuple[bytes, str]:
    response = error_response(status_code, message)
    return bytes(response.body), "application/json"


def create_skylight_app(runtime: Runtime) -> FastAPI:
    from fieldhub.skylight import auth_endpoints, endpoints
    from fieldhub.skylight.media import endpoints as media_endpoints
    from fieldhub.skylight.media import thumbnails
    from fieldhub.skylight.media import transfer_endpoints as media_transfers

    app = FastAPI(
        title="fieldhub: Skylight-compatible integration API",
        version="1",
        description="Sessions, participants and session data, wire-compatible with Skylight's API.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    context = RequestContext(runtime, token_from=bearer_token)

    def unauthenticated_first(request: Request) -> Response | None:
        """The 401 a request without a valid token gets, even when its input is also bad.

        Input is checked before the endpoint authenticates, so without this an anonymous caller
        would learn how a route validates.  Only the 400 paths pay for the extra token check.
        """
        path = request.url.path.removeprefix(request.scope.get("root_path", "").rstrip("/"))
        if path.startswith("/authentication/"):
            return None
        try:
            runtime.tokens.verify(bearer_token(request))
        except Unauthenticated as exc:
            return error_response(401, exc.message, {"WWW-Authenticate": 'Bearer realm="fieldhub"'})
        return None

    app.include_router(auth_endpoints.build_router(runtime))
    app.include_router(endpoints.build_router(context))
    app.include_router(media_endpoints.build_router(context))
    app.include_router(media_transfers.build_router(context))
    thumbnails.register(runtime)
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
        if isinstance(exc, Unauthenticated):
            headers = {"WWW-Authenticate": 'Bearer realm="fieldhub"'}
        return error_response(exc.status_code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if refused := unauthenticated_first(request):
            return refused
        body_problem = any(error.get("loc", ())[:1] == ("body",) for error in exc.errors())
        if body_problem and not _is_json(request.headers.get("content-type")):
            return error_response(400, "content-type: must be application/json")
        return error_response(400, validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and (refused := unauthenticated_first(request)):
            return refused
        return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    app.add_middleware(
        _BodyLimitExceptUploads, max_bytes=runtime.settings.max_json_body_bytes, render=_render_error
    )
    return app


#: Upload bodies are streamed to the blob store and limited by the media's ``totalBytes``.
_UPLOAD_PATH = re.compile(r"/media/[^/]+/uploads(/[^/]+)?/?$")


class _BodyLimitExceptUploads:
    """The JSON body limit on every route but the media uploads."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, render: Renderer) -> None:
        self.app = app
        self.limited = BodyLimitMiddleware(app, max_bytes=max_bytes, render=render)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _UPLOAD_PATH.search(scope.get("path", "")):
            await self.app(scope, receive, send)
        else:
            await self.limited(scope, receive, send)
