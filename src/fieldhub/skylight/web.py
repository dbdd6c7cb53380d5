"""The Skylight family's ASGI app: its error envelope, its token scheme and its routers."""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from fieldhub.core.errors import FieldhubError, RateLimited, Unauthenticated
from fieldhub.core.http.body_limit import BodyLimitMiddleware
from fieldhub.core.runtime import Runtime
from fieldhub.core.web import RequestContext, json_response, validation_message

# The spec shows the literal form "Bearer: <token>"; clients also send the standard "Bearer <token>".
_AUTHORIZATION = re.compile(r"^\s*Bearer:?\s+(?P<token>\S+)\s*$", re.IGNORECASE)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated("No authorization token found")
    match = _AUTHORIZATION.match(header)
    if match is None:
        raise Unauthenticated("Authorization header must be 'Bearer <access token>'")
    return match.group("token")


def error_response(status_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status_code=status_code, headers=headers)


def _render_error(status_code: int, message: str) -> tuple[bytes, str]:
    response = error_response(status_code, message)
    return bytes(response.body), "application/json"


def create_skylight_app(runtime: Runtime) -> FastAPI:
    from fieldhub.skylight import auth_endpoints, endpoints

    app = FastAPI(
        title="fieldhub: Skylight-compatible integration API",
        version="1",
        description="Sessions, participants and session data, wire-compatible with Skylight's API.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    context = RequestContext(runtime, token_from=bearer_token)
    app.include_router(auth_endpoints.build_router(runtime))
    app.include_router(endpoints.build_router(context))

    @app.exception_handler(FieldhubError)
    async def _fieldhub_error(_: Request, exc: FieldhubError) -> Response:
        headers = {"Retry-After": str(exc.retry_after_seconds)} if isinstance(exc, RateLimited) else None
        if isinstance(exc, Unauthenticated):
            headers = {"WWW-Authenticate": 'Bearer realm="fieldhub"'}
        return error_response(exc.status_code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> Response:
        return error_response(400, validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    app.add_middleware(
        BodyLimitMiddleware, max_bytes=runtime.settings.max_json_body_bytes, render=_render_error
    )
    return app
