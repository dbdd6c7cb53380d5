"""Session event types and payloads, written to the core outbox in the same transaction as the change.

Type names follow the ones Skylight's own SDK dispatches on.  This module decides what happened,
who is concerned and so which MQTT topics the event goes to; delivery belongs to the event bus.

Topic: ``v1/realms/{realm}/users/{sub}/session/{sessionId}/{eventType}``, one per concerned user,
under the filter :data:`SUBSCRIPTION_TEMPLATE` that the spec tells clients to subscribe to.  The
session id and the type in the topic let a client narrow its subscription (one session, or one
kind of event) without reading payloads.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from fieldhub.core.bus.outbox import record_event
from fieldhub.skylight.models import WorkSession
from fieldhub.skylight.schemas import rfc3339

SESSION_CREATED = "SessionCreated"
SESSION_UPDATED = "SessionUpdated"
SESSION_PROPERTIES_UPDATED = "SessionPropertiesUpdated"
SESSION_CLOSED = "SessionClosed"
SESSION_DATA_UPDATED = "SessionDataUpdated"
SESSION_PARTICIPANT_ADDED = "SessionParticipantAdded"
SESSION_PARTICIPANT_REMOVED = "SessionParticipantRemoved"
# Session media: same topics and audience as the session's own events; ``changes`` names the media.
SESSION_MEDIA_CREATED = "SessionMediaCreated"
SESSION_MEDIA_UPDATED = "SessionMediaUpdated"
SESSION_MEDIA_ARCHIVED = "SessionMediaArchived"
SESSION_MEDIA_UNARCHIVED = "SessionMediaUnarchived"
SESSION_MEDIA_UPLOADED = "SessionMediaUploaded"
SESSION_MEDIA_DELETED = "SessionMediaDeleted"
SESSION_MEDIA_ANNOTATION_CREATED = "SessionMediaAnnotationCreated"
SESSION_MEDIA_ANNOTATION_DELETED = "SessionMediaAnnotationDeleted"

#: The topic filter each user may subscribe to (the broker fills in the token's realm and subject).
SUBSCRIPTION_TEMPLATE = "v1/realms/{realm}/users/{sub}/session/#"
_TOPIC = "v1/realms/{realm}/users/{sub}/session/{session_id}/{event_type}"


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """The ``deviceid``/``devicetimestamp`` headers of the request that made a change."""

    device_id: str | None = None
    device_timestamp: dt.datetime | None = None


def record_session_event(
    db: Session,
    *,
    event_type: str,
    work_session: WorkSession,
    actor: uuid.UUID,
    device: DeviceContext,
    changes: dict[str, Any],
    realm_name: str,
    audience: set[uuid.UUID],
    now: dt.datetime,
) -> uuid.UUID:
    event_id = uuid.uuid4()
    payload: dict[str, Any] = {
        "eventId": str(event_id),
        "eventType": event_type,
        "applicationId": work_session.application_id,
        "sessionId": str(work_session.id),
        "actor": str(actor),
        "timestamp": rfc3339(now),
        "properties": work_session.properties,
        "data": work_session.data,
        "changes": changes,
    }
    if device.device_id is not None:
        payload["deviceId"] = device.device_id
    if device.device_timestamp is not None:
        payload["deviceTimestamp"] = rfc3339(device.device_timestamp)
    return record_event(
        db,
        realm_id=work_session.realm_id,
        aggregate_id=str(work_session.id),
        event_type=event_type,
        payload=payload,
        topics=[
            _TOPIC.format(realm=realm_name, sub=user_id, session_id=work_session.id, event_type=event_type)
            for user_id in sorted(audience)
        ],
        event_id=event_id,
    )
