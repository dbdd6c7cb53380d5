"""The transactional outbox.

An event is a row written in the same transaction as the change it describes, so it exists if
and only if the change committed.  Each row carries the topics it goes to, computed by the family
that recorded it when the change was made (so a participant removed later does not hear of it).
Published rows are kept for a while as the event history, then deleted
(:func:`delete_published_before`); :func:`claim_unpublished` reads only the unpublished ones
through the ``(published_at, seq)`` index.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Index, String, Uuid, delete, func, select, update
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
    topics: Mapped[list[str]] = mapped_column(JSONType)
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
    topics: list[str],
    event_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Adds an event to the current transaction and returns its id."""
    event = OutboxEvent(
        id=event_id or uuid.uuid4(),
        realm_id=realm_id,
        aggregate_id=aggregate_id,
        type=event_type,
        payload=payload,
        topics=topics,
    )
    session.add(event)
    return event.id


@dataclass(frozen=True, slots=True)
class PendingEvent:
    seq: int
    aggregate_id: str
    topics: list[str]
    payload: dict[str, Any]


def claim_unpublished(session: Session, *, limit: int) -> list[PendingEvent]:
    """The oldest unpublished events, in ``seq`` order, that this transaction may publish now.

    On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED`` until the transaction ends, so
    concurrent publishers (one per API process) never take the same row.  Skipping locked rows
    alone would let a second publisher overtake the first within one aggregate, so an aggregate
    whose earlier events another publisher holds is left for a later round from that event on.
    """
    query = (
        select(OutboxEvent.seq, OutboxEvent.aggregate_id, OutboxEvent.topics, OutboxEvent.payload)
        .where(OutboxEvent.published_at.is_(None))
        .order_by(OutboxEvent.seq)
        .limit(limit)
    )
    locking = session.get_bind().dialect.name == "postgresql"
    if locking:
        query = query.with_for_update(skip_locked=True)
    events = [PendingEvent(*row) for row in session.execute(query)]
    if not locking or not events:
        return events
    held_elsewhere_from = select(OutboxEvent.aggregate_id, func.min(OutboxEvent.seq)).where(
        OutboxEvent.published_at.is_(None),
        OutboxEvent.aggregate_id.in_({event.aggregate_id for event in events}),
        OutboxEvent.seq < events[-1].seq,
        OutboxEvent.seq.not_in([event.seq for event in events]),
    )
    held_elsewhere = {
        aggregate_id: first_seq
        for aggregate_id, first_seq in session.execute(held_elsewhere_from.group_by(OutboxEvent.aggregate_id))
    }
    return [event for event in events if event.seq < held_elsewhere.get(event.aggregate_id, event.seq + 1)]


def mark_published(session: Session, *, seqs: Sequence[int], now: dt.datetime) -> None:
    session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.seq.in_(seqs))
        .values(published_at=now)
        .execution_options(synchronize_session=False)
    )


def delete_published_before(session: Session, *, cutoff: dt.datetime, limit: int) -> int:
    """Deletes up to ``limit`` events published before ``cutoff``; returns how many it deleted.

    An event to 1,000 users carries 1,000 topics (about 80 KB), so a busy realm adds gigabytes of
    history a day; the ``(published_at, seq)`` index finds the old rows without a scan.
    """
    old = select(OutboxEvent.seq).where(OutboxEvent.published_at < cutoff).limit(limit)
    result = session.execute(
        delete(OutboxEvent)
        .where(OutboxEvent.seq.in_(old.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
