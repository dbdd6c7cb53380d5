"""Snapshot notifications, written to the core outbox in the same transaction as the change.

Topic: ``user/{userId}/{userEndpointId}``, one per notified endpoint, as the platform's SDKs
receive them; ``userId`` is the ``sub`` of the recipient's access token (a client's id for a
client), so :data:`SUBSCRIPTION_TEMPLATE` lets each principal subscribe to its own endpoints only.

In every payload ``userId``/``userEndpointId`` name the party that caused the event (the
requester of a request, the target that acquired, the one who approved or discarded); the topic
names the recipient.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from fieldhub.core.bus.outbox import record_event
from fieldhub.snapshots.models import CameraRequest, Snapshot
from fieldhub.snapshots.schemas import rfc3339

SNAPSHOT_REQUESTED = "SnapshotRequestedEvent"
SNAPSHOT_ACQUIRED = "SnapshotAcquiredEvent"
SNAPSHOT_APPROVED = "SnapshotApprovedEvent"
SNAPSHOT_DISCARDED = "SnapshotDiscardedEvent"
CAMERA_REQUESTED = "SnapshotCameraRequestedEvent"
CAMERA_REQUEST_PROCESSED = "SnapshotCameraRequestProcessedEvent"

#: The topic filter each principal may subscribe to (the broker fills in the token's subject).
SUBSCRIPTION_TEMPLATE = "user/{sub}/#"
_TOPIC = "user/{user_id}/{endpoint_id}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint (a browser tab, an app) of a user or client."""

    user_id: uuid.UUID
    endpoint_id: str | None

    @property
    def topic(self) -> str | None:
        if self.endpoint_id is None:
            return None
        return _TOPIC.format(user_id=self.user_id, endpoint_id=self.endpoint_id)


def snapshot_location(snapshot: Snapshot) -> str | None:
    """Where the image is, relative to the family's storage (``None`` without an image)."""
    if snapshot.blob_key is None:
        return None
    suffix = f".{snapshot.suffix}" if snapshot.suffix else ""
    return f"interactions/{snapshot.interaction_id}/{snapshot.id}{suffix}"


def _record(
    db: Session,
    *,
    realm_id: uuid.UUID,
    aggregate_id: uuid.UUID,
    event_type: str,
    actor: Endpoint,
    body: dict[str, Any],
    recipients: list[Endpoint],
    now: dt.datetime,
) -> uuid.UUID:
    event_id = uuid.uuid4()
    payload: dict[str, Any] = {
        "id": str(event_id),
        "type": event_type,
        "userId": str(actor.user_id),
        "userEndpointId": actor.endpoint_id,
        "timestamp": rfc3339(now),
        **body,
    }
    topics = sorted({topic for recipient in recipients if (topic := recipient.topic) is not None})
    return record_event(
        db,
        realm_id=realm_id,
        aggregate_id=str(aggregate_id),
        event_type=event_type,
        payload=payload,
        topics=topics,
        event_id=event_id,
    )


def record_snapshot_event(
    db: Session,
    *,
    event_type: str,
    snapshot: Snapshot,
    actor: Endpoint,
    recipients: list[Endpoint],
    now: dt.datetime,
) -> uuid.UUID:
    return _record(
        db,
        realm_id=snapshot.realm_id,
        aggregate_id=snapshot.id,
        event_type=event_type,
        actor=actor,
        body={
            "snapshotId": str(snapshot.id),
            "snapshotType": snapshot.type,
            "snapshotLocation": snapshot_location(snapshot),
            "interactionId": snapshot.interaction_id,
        },
        recipients=recipients,
        now=now,
    )


def record_camera_event(
    db: Session,
    *,
    event_type: str,
    request: CameraRequest,
    actor: Endpoint,
    recipients: list[Endpoint],
    now: dt.datetime,
) -> uuid.UUID:
    body: dict[str, Any] = {
        "cameraRequestType": request.request_type,
        "snapshotCameraRequestId": str(request.id),
        "targetUserId": str(request.target_user_id),
        "targetUserEndpointId": request.target_endpoint_id,
    }
    if request.responded_at is not None:
        body |= {"succeeded": request.succeeded, "additionalInformation": request.additional_information}
    return _record(
        db,
        realm_id=request.realm_id,
        aggregate_id=request.id,
        event_type=event_type,
        actor=actor,
        body=body,
        recipients=recipients,
        now=now,
    )
