"""Request and response models named after the Skylight spec's objects."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

DATA_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_PROPERTIES = 50
MAX_PROPERTY_VALUE_LENGTH = 1024


def _uuid_text(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a UUID") from None


UUIDText = Annotated[str, AfterValidator(_uuid_text)]
PropertyValue = Annotated[str, Field(max_length=MAX_PROPERTY_VALUE_LENGTH)] | StrictInt | float | StrictBool


def _property_keys(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    for key in value:
        if not 1 <= len(key) <= 255:
            raise ValueError("property names must be 1-255 characters")
    return value


Properties = Annotated[
    dict[str, PropertyValue] | None,
    Field(max_length=MAX_PROPERTIES),
    AfterValidator(_property_keys),
]


def _data_keys(value: dict[str, Any]) -> dict[str, Any]:
    for key in value:
        if not DATA_KEY.match(key):
            raise ValueError(f"key {key[:80]!r} must be 1-64 characters of letters, digits, '-' and '_'")
    return value


class _Request(BaseModel):
    # Unknown fields are ignored so that clients written for a newer vendor version keep working.
    model_config = ConfigDict(extra="ignore", strict=True)


class Participant(_Request):
    type: Literal["user", "group"]
    id: UUIDText
    isGuest: StrictBool = False


class SessionCreate(_Request):
    version: Annotated[StrictInt, Field(ge=1)]
    name: Annotated[str, Field(max_length=255)] = ""
    description: Annotated[str, Field(max_length=1000)] = ""
    participants: list[Participant]
    status: Literal["open", "closed"] = "open"
    properties: Properties = None


class SessionPatch(_Request):
    version: Annotated[StrictInt, Field(ge=1)] | None = None
    name: Annotated[str, Field(max_length=255)] | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None
    participants: list[Participant] | None = None
    status: Literal["open", "closed"] | None = None
    properties: Properties = None


class SessionDataPatch(_Request):
    data: Annotated[dict[str, Any], AfterValidator(_data_keys)]
    version: Annotated[StrictInt, Field(ge=1)]


class LoginRequest(_Request):
    username: Annotated[str, Field(min_length=1, max_length=256)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    realm: Annotated[str, Field(min_length=1, max_length=64)]


class RefreshRequest(_Request):
    refreshToken: Annotated[str, Field(min_length=1, max_length=512)]


class TokenResponse(BaseModel):
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class Session(BaseModel):
    sessionId: str
    applicationId: str
    version: int
    name: str
    description: str
    participants: list[Participant]
    status: Literal["open", "closed"]
    properties: dict[str, Any]
    createdBy: str
    createdAt: str
    modifiedBy: str
    modifiedAt: str
    isDraft: bool


class PageInfo(BaseModel):
    count: int
    limit: int
    total: int
    prevCursor: str | None
    nextCursor: str | None


class SessionPage(BaseModel):
    data: list[Session]
    page: PageInfo


class EventIdResponse(BaseModel):
    eventId: str


class ErrorBody(BaseModel):
    error: str


def rfc3339(value: dt.datetime) -> str:
    """The spec's timestamp format: UTC with milliseconds and a ``Z``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_rfc3339(value: str, *, field: str) -> dt.datetime:
    """Parses an RFC 3339 date-time that carries an offset; raises ValueError naming ``field``."""
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", value):
        raise ValueError(
            f"{field}: must be an RFC 3339 date-time with an offset, such as 2020-12-11T16:53:14.081Z"
        )
    try:
        return dt.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"{field}: {value[:40]!r} is not a valid date-time") from None
