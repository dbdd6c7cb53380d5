"""Pydantic models named after the Snapshot v1.0 spec's objects (requests in, responses out).

The spec marks every body field optional (it is generated from Java annotations); the fields
without which an operation cannot mean anything are required here, and docs/snapshots.md lists
them.  Unknown fields are ignored, as the original service's JSON binding does.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

#: Endpoint, interaction, session and application ids: opaque, but safe in an MQTT topic level
#: (no ``/``, ``+``, ``#``) and in logs (no control characters or spaces).
OpaqueId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._~:@-]{0,127}$")]
#: A snapshot type such as ``id-card`` or ``damage``; free text without control characters.
SnapshotTypeText = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
]


def rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SessionType(StrEnum):
    CALL = "CALL"
    CONFERENCE = "CONFERENCE"
    UNKNOWN = "UNKNOWN"


class CameraRequestType(StrEnum):
    CAMERA_SWITCH = "CAMERA_SWITCH"
    FLASH_ON = "FLASH_ON"
    FLASH_OFF = "FLASH_OFF"


class SnapshotState(StrEnum):
    #: Not in the spec's enum: a requested snapshot has no image yet (shown as ``state: null``).
    REQUESTED = "REQUESTED"
    UPLOADED = "UPLOADED"
    APPROVED = "APPROVED"
    DISCARDED = "DISCARDED"


class _Command(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ApplicationId(BaseModel):
    id: OpaqueId | None = None


class SnapshotRequestWebCommand(_Command):
    applicationId: ApplicationId | None = None
    interactionId: OpaqueId
    sessionId: OpaqueId | None = None
    sessionType: SessionType = SessionType.UNKNOWN
    snapshotType: SnapshotTypeText | None = None
    targetUserEndpointId: OpaqueId
    targetUserId: uuid.UUID
    userEndpointId: OpaqueId


class SnapshotApproveWebCommand(_Command):
    snapshotId: uuid.UUID
    snapshotType: SnapshotTypeText | None = Field(
        default=None, description="the snapshot type (override request snapshot type)"
    )
    userEndpointId: OpaqueId | None = Field(default=None, description="the requester's userEndpointId")


class SnapshotDiscardWebCommand(_Command):
    snapshotId: uuid.UUID
    userEndpointId: OpaqueId | None = Field(default=None, description="the discarder's userEndpointId")


class SnapshotCameraRequestWebCommand(_Command):
    cameraRequestType: CameraRequestType
    sessionId: OpaqueId | None = None
    sessionType: SessionType = SessionType.UNKNOWN
    targetUserEndpointId: OpaqueId
    targetUserId: uuid.UUID
    userEndpointId: OpaqueId


class SnapshotCameraRequestRespondWebCommand(_Command):
    additionalInformation: Annotated[str, StringConstraints(max_length=1024)] | None = None
    snapshotCameraRequestId: uuid.UUID
    succeeded: bool = False
    userEndpointId: OpaqueId


class CreateSnapshotSignedURLWebCommand(_Command):
    createInternalSignedUrl: bool = False
    snapshotId: uuid.UUID


class _ImageForm(_Command):
    """The text fields sent with an image (multipart): what the image is."""

    snapshotMimeType: Annotated[str, StringConstraints(max_length=128, to_lower=True)]
    snapshotSuffix: Annotated[str, StringConstraints(pattern=r"^\.?[A-Za-z0-9]{1,10}$")]
    snapshotType: SnapshotTypeText
    userEndpointId: OpaqueId

    @property
    def mime_type(self) -> str:
        return self.snapshotMimeType.split(";", 1)[0].strip()

    @property
    def suffix(self) -> str:
        return self.snapshotSuffix.removeprefix(".").lower()


class SnapshotAcquireForm(_ImageForm):
    snapshotId: uuid.UUID


class SnapshotUploadForm(_ImageForm):
    applicationId: OpaqueId
    interactionId: OpaqueId
    #: Forms send an optional field as an empty string.
    relatedSnapshotId: Annotated[uuid.UUID | None, BeforeValidator(lambda value: value or None)] = None
    targetUserEndpointId: OpaqueId
    targetUserId: uuid.UUID


class SnapshotRequestResult0(BaseModel):
    snapshotId: str


class SnapshotUploadResult(BaseModel):
    snapshotId: str


class SignedUrl(BaseModel):
    url: str
    validUntil: str


class SnapshotRequestResult(BaseModel):
    error: str | None = None
    snapshotAcquired: bool | None = None


class SnapshotApprovalProcessingResult(BaseModel):
    additionalInformation: str | None = None
    succeeded: bool | None = None


class Snapshot(BaseModel):
    """Documentation of the response; endpoints.py renders it directly from the row."""

    applicationId: ApplicationId | None = None
    approvalProcessingResult: SnapshotApprovalProcessingResult | None = None
    approved: bool | None = None
    createdAt: str
    id: str
    interactionId: str
    mimeType: str | None = None
    organizationId: str
    path: str | None = None
    relatedSnapshotId: str | None = None
    requestProcessingResult: SnapshotRequestResult | None = None
    requesterUserEndpointId: str
    requesterUserId: str
    sessionId: str | None = None
    sessionType: SessionType
    state: SnapshotState | None = None
    suffix: str | None = None
    timestamp: str
    type: str | None = None
    userEndpointId: str
    userId: str
    version: int


class ErrorBody(BaseModel):
    """Spring Boot's error attributes: the shape the spec's service answers errors with."""

    timestamp: str
    status: int
    error: str
    message: str
    path: str


class OAuthToken(BaseModel):
    access_token: str
    token_type: str
    expires_in: int


class OAuthError(BaseModel):
    error: str
    error_description: str
