"""Web helpers every API family shares; each family still renders errors in its own envelope."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from fieldhub.core.db import UnitOfWork
from fieldhub.core.errors import Unauthenticated
from fieldhub.core.identity.service import Principal
from fieldhub.core.runtime import Runtime


def json_response(content: Any, *, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content), status_code=status_code, media_type="application/json", headers=headers
    )


def validation_message(exc: RequestValidationError) -> str:
    """One line naming the first offending field, e.g. ``body.participants[0].id: must be a UUID``."""
    errors = exc.errors()
    if not errors:
        return "Invalid request"
    error = errors[0]
    location = ""
    for part in error.get("loc", ()):
        if isinstance(part, int):
            location += f"[{part}]"
        else:
            location += f".{part}" if location else str(part)
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    if error.get("type") == "json_invalid":
        return "Request body is not valid JSON"
    if error.get("type") == "missing":
        message = "is required"
    suffix = (
        f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    )
    return f"{location}: {message}{suffix}" if location else f"{message}{suffix}"


# The Skylight spec shows the literal form "Bearer: <token>"; clients also send the standard one.
_BEARER = re.compile(r"^\s*Bearer:?\s+(?P<token>\S+)\s*$", re.IGNORECASE)


def bearer_token_in(header: str) -> str | None:
    """The token of an ``Authorization`` header value, or ``None`` when it carries no bearer token."""
    match = _BEARER.match(header)
    return match.group("token") if match else None


def bearer_token(request: Request) -> str:
    """The request's bearer token; :class:`Unauthenticated` when there is none."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated("No authorization token found")
    token = bearer_token_in(header)
    if token is None:
        raise Unauthenticated("Authorization header must be 'Bearer <access token>'")
    return token


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class RequestContext:
    """Opens the request's single unit of work and authenticates its caller inside it."""

    def __init__(self, runtime: Runtime, *, token_from: Callable[[Request], str]) -> None:
        self.runtime = runtime
        self._token_from = token_from

    @contextmanager
    def work(self, request: Request, *, write: bool) -> Iterator[tuple[UnitOfWork, Principal]]:
        token = self._token_from(request)
        with self.runtime.db.unit_of_work(write=write) as uow:
            if write:
                # Whatever events the request recorded go out as soon as they are committed.
                uow.after_commit(self.runtime.publisher.wake)
                uow.after_commit(partial(self.runtime.tasks.wake_if_enqueued, uow.session))
            caller = self.runtime.auth(uow.session).authenticate(access_token=token)
            yield uow, caller
