"""Typed errors raised by the core and the family services.

Each API family renders them in its own spec's error envelope; none of them carries HTTP details
beyond the status code that every family agrees on.
"""

from __future__ import annotations


class FieldhubError(Exception):
    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(FieldhubError):
    """The request is malformed or breaks a documented rule; the message names the field."""

    status_code = 400


class Unauthenticated(FieldhubError):
    status_code = 401


class PermissionDenied(FieldhubError):
    status_code = 403


class NotFound(FieldhubError):
    status_code = 404


class Conflict(FieldhubError):
    status_code = 409


class RateLimited(FieldhubError):
    status_code = 429

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(FieldhubError):
    """A dependency could not serve the request in time (e.g. the database's write lock); retrying
    later is the remedy, so this is a 503, not a 500."""

    status_code = 503
