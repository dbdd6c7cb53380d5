"""Request and response models of the spec's Session Media objects."""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, field_validator

from fieldhub.skylight.media.models import Media
from fieldhub.skylight.media.svg import check_annotation_svg
from fieldhub.skylight.schemas import TimestampOut, UUIDOut, rfc3339, text_problem

MAX_LABELS = 50
MAX_LABEL_LENGTH = 128
MAX_PROPERTIES = 50
MAX_PROPERTY_VALUE_LENGTH = 256
MAX_ANNOTATION_LENGTH = 100_000
#: The spec's annotation id pattern (a lower-case RFC 4122 UUID of versions 1-5).
ANNOTATION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
#: The largest object the columns (64-bit) and the blob stores take.
MAX_TOTAL_BYTES = 2**53


def _storable(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def safe_filename(value: str) -> str:
    """A filename is a name, never a path: no separators, no ``.``/``..``, no control characters."""
    _storable(value)
    if any(unicodedata.category(char) in {"Cc", "Cf"} for char in value):
        raise ValueError("must not contain control characters")
    if "/" in value or "\\" in value:
        raise ValueError("must be a file name, not a path (no '/' or '\\')")
    if value.strip() in {".", ".."} or not value.strip():
        raise ValueError("must be a file name")
    return value


def _content_type(value: str) -> str:
    _storable(value)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;.*)?", value):
        raise ValueError("must be a MIME type such as image/jpeg")
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError("must not contain control characters")
    return value


def _labels(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    for label in value:
        _storable(label)
    # Duplicates carry no meaning; keep the first occurrence's order.
    return list(dict.fromkeys(value))


def _properties(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    for key, item in value.items():
        if not 1 <= len(key) <= 255:
            raise ValueError("property names must be 1-255 characters")
        _storable(key)
        _storable(item)
    return value


def _annotation_id(value: str) -> str:
    if not ANNOTATION_ID.fullmatch(value):
        raise ValueError(
            "must match ^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
        )
    return value


def _media_id(value: str | None) -> str | None:
    # The spec: a UUID, or an empty string (or null) for "generate one".
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a UUID (or empty to have one generated)") from None


Filename = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(safe_filename)]
ContentType = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_content_type)]
Text255 = Annotated[str, Field(max_length=255), AfterValidator(_storable)]
Labels = Annotated[
    list[Annotated[str, Field(max_length=MAX_LABEL_LENGTH)]] | None,
    Field(max_length=MAX_LABELS),
    AfterValidator(_labels),
]
MediaProperties = Annotated[
    dict[str, Annotated[str, Field(max_length=MAX_PROPERTY_VALUE_LENGTH)]] | None,
    Field(max_length=MAX_PROPERTIES),
    AfterValidator(_properties),
]
TotalBytes = Annotated[StrictInt, Field(ge=1, le=MAX_TOTAL_BYTES)]
AnnotationPath = Annotated[
    str, Field(min_length=1, max_length=MAX_ANNOTATION_LENGTH), AfterValidator(check_annotation_svg)
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class Annotation(_Request):
    annotationId: Annotated[str, AfterValidator(_annotation_id), Field(json_schema_extra={"format": "uuid"})]
    path: AnnotationPath


class MediaCreate(_Request):
    filename: Filename
    title: Text255 | None = None
    description: Text255 | None = None
    labels: Labels = None
    properties: MediaProperties = None
    mediaId: Annotated[str | None, AfterValidator(_media_id)] = None
    contentType: ContentType
    totalBytes: TotalBytes
    annotations: list[Annotation] | None = None

    @field_validator("annotations")
    @classmethod
    def _distinct_annotations(cls, value: list[Annotation] | None) -> list[Annotation] | None:
        if value is not None and len({a.annotationId for a in value}) != len(value):
            raise ValueError("annotationId values must be distinct")
        return value


class MediaPatch(_Request):
    """Fields left out stay as they are.  ``uploadedBytes`` is accepted for compatibility and
    checked, but progress is the server's to track (see docs/skylight.md)."""

    filename: Filename | None = None
    title: Text255 | None = None
    description: Text255 | None = None
    labels: Labels = None
    properties: MediaProperties = None
    uploadedBytes: Annotated[StrictInt, Field(ge=0, le=MAX_TOTAL_BYTES)] | None = None
    totalBytes: TotalBytes | None = None

    @field_validator("filename", "labels", "properties", "totalBytes", "uploadedBytes", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null; leave the field out to keep it")
        return value


class AnnotationOut(BaseModel):
    annotationId: UUIDOut
    path: str


class MediaOut(BaseModel):
    filename: str
    title: str | None
    description: str | None
    etag: str | None
    labels: list[str]
    properties: dict[str, str]
    applicationId: str
    mediaId: UUIDOut
    contentType: str
    totalBytes: int
    uploadedBytes: int
    createdBy: UUIDOut
    createdAt: TimestampOut
    modifiedBy: UUIDOut
    modifiedAt: TimestampOut
    sessionId: UUIDOut
    annotations: list[AnnotationOut]
    archived: bool
    thumbnailStatus: str
    thumbnailError: str | None


class MediaPageInfo(BaseModel):
    count: int
    limit: int
    total: int
    prevCursor: str | None
    nextCursor: str | None


class MediaPage(BaseModel):
    data: list[MediaOut]
    page: MediaPageInfo


class MediaRef(BaseModel):
    applicationId: str
    mediaId: UUIDOut
    etag: str | None
    sessionId: UUIDOut


class AnnotationRef(BaseModel):
    annotationId: UUIDOut


class UploadStarted(BaseModel):
    uploadId: str


class UploadProgress(BaseModel):
    uploadedBytes: int
    totalBytes: int
    done: list[bool] | None = None


def media_json(media: Media, *, session_id: uuid.UUID) -> dict[str, Any]:
    return {
        "filename": media.filename,
        "title": media.title,
        "description": media.description,
        "etag": media.etag,
        "labels": media.labels,
        "properties": media.properties,
        "applicationId": media.application_id,
        "mediaId": str(media.id),
        "contentType": media.content_type,
        "totalBytes": media.total_bytes,
        "uploadedBytes": media.uploaded_bytes,
        "createdBy": str(media.created_by),
        "createdAt": rfc3339(media.created_at),
        "modifiedBy": str(media.modified_by),
        "modifiedAt": rfc3339(media.modified_at),
        "sessionId": str(session_id),
        "annotations": [{"annotationId": str(a.annotation_id), "path": a.path} for a in media.annotations],
        "archived": media.archived,
        "thumbnailStatus": media.thumbnail_status,
        "thumbnailError": media.thumbnail_error,
    }
