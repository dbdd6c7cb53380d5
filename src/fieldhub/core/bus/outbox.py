"""The transactional outbox.

An event is a row written in the same transaction as the change it describes, so it exists if
and only if the change committed.  A publisher drains the rows in commit order per aggregate.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Index, String, Uuid
from sqlalchemy.orm import Mapped, Session, mapped_column

from fieldhub.core.db import Base, BigIntPK, JSONType, UTCDateTime, utcnow


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_unpublished", "published_at", "seq"),)

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    realm_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    aggregate_id: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    audience: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(BigInteger, default=0)


def record_event(
    session: Session,
    *,
    realm_id: uuid.UUID,
    aggregate_id: str,
    event_type: str,
    payload: dict[str, Any],
    audience: list[str],
    event_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Adds an event to the current transaction and returns its id."""
    event = OutboxEvent(
        id=event_id or uuid.uuid4(),
        realm_id=realm_id,
        aggregate_id=aggregate_id,
        type=event_type,
        payload=payload,
        audience=audience,
    )
    session.add(event)
    return event.id
