"""The attachments family's ASGI app: its JSON envelope and its two authentication schemes.

Every JSON answer is ``{"status": ..., "result": ...}`` on success and
``{"status": ..., "message": ...}`` on failure, ``status`` being the HTTP status in words
("success", "bad request", "unauthorized", "forbidden", "not found", "conflict", ...).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from fieldhub.attachments.credentials import ApiUserService, SignedCredentials
from fieldhub.core.db import UnitOfWork
from fieldhub.core.errors import FieldhubError, RateLimited, Unauthenticated
from fieldhub.core.http.streaming_multipart import BodyTooLarge
from fieldhub.core.identity.sealing import SecretSealer
from fieldhub.core.identity.service import Principal
from fieldhub.core.runtime import Runtime
from fieldhub.core.web import bearer_token_in, json_response, validation_message

#: Where the family's sub-app is mounted; its routes live under ``/v1``.
PREFIX = "/api"
#: The header the spec names; ``X-API-TIMESTAMP`` (what Rails exposes as HTTP_X_API_TIMESTAMP) too.
TIMESTAMP_HEADERS = ("http-x-api-timestamp", "x-api-timestamp")
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="fieldhub attachments"'}
_BASIC = re.compile(r"^\s*Basic\s+(?P<credentials>[A-Za-z0-9+/=]+)\s*$", re.IGNORECASE)


def status_text(status_code: int) -> str:
    if 200 <= status_code < 300:
        return "success"
    try:
        return HTTPStatus(status_code).phrase.lower()
    except ValueError:
        return "error"


def success(result: Any, *, status_code: int = 200) -> Response:
    return json_response({"status": status_text(status_code), "result": result}, status_code=status_code)


def error_response(status_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(
        {"status": status_text(status_code), "message": message}, status_code=status_code, headers=headers
    )


@dataclass(frozen=True, slots=True)
class BearerCredentials:
    token: str


def credentials_from(request: Request) -> BearerCredentials | SignedCredentials:
    """The caller's credentials as sent; checking them needs the database (:class:`AttachmentsContext`)."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated(
            "No credentials: send HTTP Basic signed with your API secret (and HTTP-X-API-TIMESTAMP), "
            "or a Bearer token"
        )
    if token := bearer_token_in(header):
        return BearerCredentials(token=token)
    basic = _BASIC.match(header)
    if basic is None:
        raise Unauthenticated("Authorization: must be 'Basic <credentials>' or 'Bearer <token>'")
    try:
        decoded = base64.b64decode(basic.group("credentials"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("Authorization: the Basic credentials are not base64 of UTF-8 text") from None
    username, separator, password = decoded.partition(":")
    if not separator or not username or not password:
        raise Unauthenticated("Authorization: the Basic credentials must be 'username:password'")
    timestamp = next((request.headers[name] for name in TIMESTAMP_HEADERS if name in request.headers), None)
    if timestamp is None:
        raise Unauthenticated("HTTP-X-API-TIMESTAMP: header is required with Basic credentials")
    return SignedCredentials(username=username, password=password, timestamp=timestamp)


class AttachmentsContext:
    """Opens a request's unit of work and authenticates its caller inside it, by either scheme."""

    def __init__(self, runtime: Runtime, *, sealer: SecretSealer) -> None:
        self.runtime = runtime
        self.sealer = sealer

    @contextmanager
    def work(self, request: Request, *, write: bool) -> Iterator[tuple[UnitOfWork, Principal]]:
        credentials = credentials_from(request)
        with self.runtime.db.unit_of_work(write=write) as uow:
            if write:
                uow.after_commit(self.runtime.publisher.wake)
            yield uow, self._authenticate(uow, credentials)

    def _authenticate(self, uow: UnitOfWork, credentials: BearerCredentials | SignedCredentials) -> Principal:
        if isinstance(credentials, BearerCredentials):
            return self.runtime.auth(uow.session).authenticate(access_token=credentials.token)
        api_users = ApiUserService(session=uow.session, sealer=self.sealer)
        return api_users.authenticate(credentials, now=time.time())


def _render(exc: FieldhubError) -> Response:
    if isinstance(exc, BodyTooLarge):
        return error_response(413, exc.message, {"Connection": "close"})
    headers = {"Retry-After": str(exc.retry_after_seconds)} if isinstance(exc, RateLimited) else None
    if isinstance(exc, Unauthenticated):
        headers = _CHALLENGE
    return error_response(exc.status_code, exc.message, headers)


def create_attachments_app(runtime: Runtime) -> FastAPI:
    from fieldhub.attachments import endpoints

    app = FastAPI(
        title="fieldhub: session attachments API",
        version="1",
        description="Files attached to session data points, Mobile Data Anywhere style.",
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
    )
    context = AttachmentsContext(runtime, sealer=SecretSealer.load_or_create(runtime.settings.data_dir))
    app.include_router(endpoints.build_router(context))

    @app.exception_handler(FieldhubError)
    async def _fieldhub_error(request: Request, exc: FieldhubError) -> Response:
        return _render(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return error_response(400, validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return error_response(500, "Internal server error")

    return app
