"""Session tables."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldhub.core.db import Base, BigIntPK, JSONType, UTCDateTime


class WorkSession(Base):
    """A Skylight session.  ``pk`` is the creation order and the tie-breaker of every sort."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_app_pk", "realm_id", "application_id", "pk"),
        Index("ix_sessions_app_name", "realm_id", "application_id", "name", "pk"),
        Index("ix_sessions_app_created", "realm_id", "application_id", "created_at", "pk"),
        Index("ix_sessions_app_modified", "realm_id", "application_id", "modified_at", "pk"),
        Index("ix_sessions_app_status", "realm_id", "application_id", "status", "pk"),
    )

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    realm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"))
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(1000), default="")
    status: Mapped[str] = mapped_column(String(8), default="open")
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    is_draft: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    modified_by: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    participants: Mapped[list[SessionParticipant]] = relationship(
        order_by="SessionParticipant.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class SessionParticipant(Base):
    __tablename__ = "session_participants"
    __table_args__ = (Index("ix_session_participants_participant", "participant_id", "session_pk"),)

    session_pk: Mapped[int] = mapped_column(ForeignKey("sessions.pk", ondelete="CASCADE"), primary_key=True)
    participant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    type: Mapped[str] = mapped_column(String(8))
    is_guest: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer)


class SessionProperty(Base):
    """One property of a session as text, so that ``prop.*`` filters use an index on every engine."""

    __tablename__ = "session_properties"
    __table_args__ = (Index("ix_session_properties_lookup", "key", "value", "session_pk"),)

    session_pk: Mapped[int] = mapped_column(ForeignKey("sessions.pk", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(1024))
