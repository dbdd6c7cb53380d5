"""Request and response models named after the Skylight spec's objects."""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    WithJsonSchema,
    field_validator,
)

DATA_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_PROPERTIES = 50
MAX_PROPERTY_KEY_LENGTH = 255
MAX_PROPERTY_VALUE_LENGTH = 1024
#: The ``version`` columns are 32-bit integers on every engine.
MAX_VERSION = 2**31 - 1
#: Numbers must survive a round trip through every engine and encoder: orjson writes 64-bit
#: integers only, and PostgreSQL's jsonb gives 1e300 back as a 301-digit integer.
MIN_JSON_NUMBER, MAX_JSON_NUMBER = -(2**63), 2**63 - 1
#: Nesting limit for session data; orjson cannot encode deeper than 255 levels.
MAX_DATA_DEPTH = 64


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text on every engine (NUL, lone surrogates), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None


def _storable_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _uuid_text(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a UUID") from None


UUIDText = Annotated[str, AfterValidator(_uuid_text), Field(json_schema_extra={"format": "uuid"})]
#: Response-only annotations, for the OpenAPI document.
UUIDOut = Annotated[str, Field(json_schema_extra={"format": "uuid"})]
TimestampOut = Annotated[
    str, Field(json_schema_extra={"format": "date-time", "example": "2020-12-11T16:53:14.081Z"})
]
Version = Annotated[StrictInt, Field(ge=1, le=MAX_VERSION)]
Name = Annotated[str, Field(max_length=255), AfterValidator(_storable_text)]
Description = Annotated[str, Field(max_length=1000), AfterValidator(_storable_text)]


def _scalar_problem(value: Any) -> str | None:
    """Why a JSON scalar cannot be stored and returned faithfully, or None."""
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return "numbers must be finite"
        if not MIN_JSON_NUMBER <= value <= MAX_JSON_NUMBER:
            return "numbers must lie between -2^63 and 2^63-1"
        return None
    return "must be JSON"


def _properties(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if len(value) > MAX_PROPERTIES:
        raise ValueError(f"at most {MAX_PROPERTIES} properties are allowed, not {len(value)}")
    for key, item in value.items():
        if not 1 <= len(key) <= MAX_PROPERTY_KEY_LENGTH:
            raise ValueError(f"property names must be 1-{MAX_PROPERTY_KEY_LENGTH} characters")
        problem = text_problem(key)
        if problem:
            raise ValueError(f"property name {key[:80]!r} {problem}")
        if not isinstance(item, str | int | float):  # bool is an int
            kind = (
                "null"
                if item is None
                else type(item).__name__.replace("dict", "object").replace("list", "array")
            )
            raise ValueError(f"property {key[:80]!r} must be a string, number or boolean, not {kind}")
        if isinstance(item, str) and len(item) > MAX_PROPERTY_VALUE_LENGTH:
            raise ValueError(f"property {key[:80]!r} must be at most {MAX_PROPERTY_VALUE_LENGTH} characters")
        problem = _scalar_problem(item)
        if problem:
            raise ValueError(f"property {key[:80]!r}: {problem}")
    return value


Properties = Annotated[
    dict[str, Any] | None,
    AfterValidator(_properties),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "object",
                    "maxProperties": MAX_PROPERTIES,
                    "propertyNames": {"minLength": 1, "maxLength": MAX_PROPERTY_KEY_LENGTH},
                    "additionalProperties": {
                        "anyOf": [
                            {"type": "string", "maxLength": MAX_PROPERTY_VALUE_LENGTH},
                            {"type": "number"},
                            {"type": "boolean"},
                        ]
                    },
                },
                {"type": "null"},
            ],
            "example": {"productId": "ABC-123", "orderId": 123456},
        }
    ),
]


def _data(value: dict[str, Any]) -> dict[str, Any]:
    for key in value:
        if not DATA_KEY.fullmatch(key):
            raise ValueError(f"key {key[:80]!r} must be 1-64 characters of letters, digits, '-' and '_'")
    # Iterative, so that deep nesting is a 400 and never a RecursionError.
    pending: list[tuple[str, Any, int]] = [(key, item, 1) for key, item in value.items()]
    while pending:
        where, item, depth = pending.pop()
        if depth > MAX_DATA_DEPTH:
            raise ValueError(f"{where[:80]}: data may be nested at most {MAX_DATA_DEPTH} levels deep")
        if isinstance(item, dict):
            for key, child in item.items():
                problem = text_problem(key)
                if problem:
                    raise ValueError(f"{where[:80]}: object keys {problem}")
                pending.append((f"{where}.{key}", child, depth + 1))
        elif isinstance(item, list):
            pending.extend((f"{where}[{index}]", child, depth + 1) for index, child in enumerate(item))
        else:
            problem = _scalar_problem(item)
            if problem:
                raise ValueError(f"{where[:80]}: {problem}")
    return value


class _Request(BaseModel):
    # Unknown fields are ignored so that clients written for a newer vendor version keep working.
    model_config = ConfigDict(extra="ignore", strict=True)


class Participant(_Request):
    type: Literal["user", "group"]
    id: UUIDText
    isGuest: StrictBool = False


class SessionCreate(_Request):
    version: Version
    name: Name = ""
    description: Description = ""
    participants: list[Participant]
    status: Literal["open", "closed"] = "open"
    properties: Properties = None


class SessionPatch(_Request):
    """Fields left out stay as they are; only ``properties`` is nullable (null clears them)."""

    version: Version | None = None
    name: Name | None = None
    description: Description | None = None
    participants: list[Participant] | None = None
    status: Literal["open", "closed"] | None = None
    properties: Properties = None

    @field_validator("version", "name", "description", "participants", "status", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # ``None`` is only the "left out" marker; an explicit null is not a value for these fields.
        if value is None:
            raise ValueError("must not be null; leave the field out to keep it")
        return value


class SessionDataPatch(_Request):
    data: Annotated[
        dict[str, Any],
        AfterValidator(_data),
        Field(
            description="Merged into the session's data: given keys replace, null removes a key, "
            "other keys are kept",
            json_schema_extra={"propertyNames": {"pattern": "^[A-Za-z0-9_-]{1,64}$"}},
        ),
    ]
    version: Version


class LoginRequest(_Request):
    # Username and realm reach the database (lookups, the failed-login counts), so they must be
    # storable text; the password is only ever hashed.
    username: Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_storable_text)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    realm: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_storable_text)]


class RefreshRequest(_Request):
    refreshToken: Annotated[str, Field(min_length=1, max_length=512)]


class TokenResponse(BaseModel):
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class Session(BaseModel):
    sessionId: UUIDOut
    applicationId: str
    version: int
    name: str
    description: str
    participants: list[Participant]
    status: Literal["open", "closed"]
    properties: dict[str, str | float | bool]
    createdBy: UUIDOut
    createdAt: TimestampOut
    modifiedBy: UUIDOut
    modifiedAt: TimestampOut
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
    eventId: UUIDOut


class ErrorBody(BaseModel):
    error: str


def rfc3339(value: dt.datetime) -> str:
    """The spec's timestamp format: UTC with milliseconds and a ``Z``."""
    utc = value.astimezone(dt.UTC)
    # Not strftime: its %Y does not zero-pad years before 1000 on every platform.
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
# "...:14 01:00": a '+' sent unencoded in a query string arrives as a space.
_UNENCODED_PLUS = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)? \d{2}:\d{2}")


def parse_rfc3339(value: str, *, field: str) -> dt.datetime:
    """Parses an RFC 3339 date-time that carries an offset, as UTC; raises ValueError naming ``field``."""
    if not _RFC3339.fullmatch(value):
        hint = " (a '+' in a URL must be encoded as %2B)" if _UNENCODED_PLUS.fullmatch(value) else ""
        raise ValueError(
            f"{field}: must be an RFC 3339 date-time with an offset, such as 2020-12-11T16:53:14.081Z{hint}"
        )
    try:
        return dt.datetime.fromisoformat(value.upper()).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"{field}: {value[:40]!r} is not a valid date-time") from None
