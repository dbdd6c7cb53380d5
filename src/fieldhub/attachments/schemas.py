"""The attachments API's objects and the parsing of its path and query values."""

from __future__ import annotations

import re
import uuid
from typing import Any

from pydantic import BaseModel

from fieldhub.core.errors import InvalidInput, NotFound
from fieldhub.skylight.media.schemas import safe_filename

#: Point names are session data keys (Skylight's rule for them), stored lower-cased.
POINT_NAME = re.compile(r"[a-z0-9_-]{1,64}")
MAX_FILENAME_LENGTH = 255
#: What a point holding an attachment stores: ``{"filename": ..., "mediaId": ...}``.
FILENAME_KEY, MEDIA_ID_KEY = "filename", "mediaId"


class UploadResult(BaseModel):
    length: int
    md5: str


class Envelope(BaseModel):
    """Every JSON answer: ``status`` mirrors the HTTP status ("success", "not found", ...)."""

    status: str
    result: Any = None


class ErrorEnvelope(BaseModel):
    status: str
    message: str


class UploadEnvelope(Envelope):
    result: UploadResult


class DeleteEnvelope(Envelope):
    result: bool


class TimeEnvelope(Envelope):
    #: Unix time in seconds, the value the ``HTTP-X-API-TIMESTAMP`` header takes.
    result: int


def project_number(value: str) -> int:
    """``project_id``: the application's number in the caller's realm (the spec: an Integer)."""
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise InvalidInput("project_id: must be an integer")
    return int(value)


def session_uuid(value: str) -> uuid.UUID:
    """The spec types ``session_id`` as any string; one that is no UUID names no session."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("Session not found") from None


def point_name(value: str) -> str:
    name = value.lower()
    if not POINT_NAME.fullmatch(name):
        raise InvalidInput("id: point names are 1-64 characters of letters, digits, '-' and '_'")
    return name


def checked_filename(value: str | None) -> str:
    """The name is only ever metadata (content is stored under keys the server makes), but it is
    shown to other clients and offered back in downloads, so names that climb directories or
    carry control characters are refused (400) rather than silently rewritten."""
    if value is None:
        raise InvalidInput("filename: is required")
    if len(value) > MAX_FILENAME_LENGTH:
        raise InvalidInput(f"filename: must be at most {MAX_FILENAME_LENGTH} characters")
    try:
        return safe_filename(value)
    except ValueError as exc:
        raise InvalidInput(f"filename: {exc}") from None


def attachment_reference(value: Any) -> tuple[str, str] | None:
    """``(filename, media id)`` when a point's value is shaped like an attachment, else None."""
    if not isinstance(value, dict) or set(value) != {FILENAME_KEY, MEDIA_ID_KEY}:
        return None
    filename, media_id = value[FILENAME_KEY], value[MEDIA_ID_KEY]
    if not isinstance(filename, str) or not isinstance(media_id, str) or not media_id:
        return None
    return filename, media_id


def attachment_value(filename: str, media_id: str) -> dict[str, str]:
    return {FILENAME_KEY: filename, MEDIA_ID_KEY: media_id}
