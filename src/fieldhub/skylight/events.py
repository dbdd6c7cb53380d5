"""Session event types and payloads, written to the core outbox in the same transaction as the change.

Type names follow the ones Skylight's own SDK dispatches on.  Topics and delivery belong to the
event bus; this module only decides what happened and who is concerned.
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
        audience=sorted(str(user_id) for user_id in audience),
        event_id=event_id,
    )
