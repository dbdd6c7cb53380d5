"""Snapshot tables: snapshots (requested or uploaded images) and camera requests."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fieldhub.core.db import Base, UTCDateTime, utcnow

#: Longest endpoint, interaction, session and application id accepted (they are opaque strings).
ID_LENGTH = 128


class Snapshot(Base):
    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_interaction", "realm_id", "interaction_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    realm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"))
    application_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    interaction_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    session_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    session_type: Mapped[str] = mapped_column(String(16))
    type: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    #: Who asked for (or uploaded) the snapshot: a user id, or a client id for a client's request.
    requester_user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    requester_endpoint_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    #: The party whose camera takes the picture (the spec's ``userId``/``userEndpointId``).
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    user_endpoint_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    related_snapshot_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    #: REQUESTED, UPLOADED, APPROVED or DISCARDED (service.py has the state machine).
    state: Mapped[str] = mapped_column(String(16))
    snapshot_acquired: Mapped[bool | None] = mapped_column(Boolean)
    approved: Mapped[bool | None] = mapped_column(Boolean)
    approval_succeeded: Mapped[bool | None] = mapped_column(Boolean)
    mime_type: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    suffix: Mapped[str | None] = mapped_column(String(16))
    blob_key: Mapped[str | None] = mapped_column(String(512))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=0)


class CameraRequest(Base):
    """A request to the remote party's camera (switch, flash on/off) and, once answered, its outcome."""

    __tablename__ = "snapshot_camera_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    realm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), index=True)
    request_type: Mapped[str] = mapped_column(String(16))
    session_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    session_type: Mapped[str] = mapped_column(String(16))
    requester_user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    requester_endpoint_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    target_user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    target_endpoint_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    succeeded: Mapped[bool | None] = mapped_column(Boolean)
    additional_information: Mapped[str | None] = mapped_column(String(1024))
