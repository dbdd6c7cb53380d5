"""Tables of scan events, event exports and job configurations (docs/insight-events.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fieldhub.core.db import Base, BigIntPK, JSONType, UTCDateTime, utcnow


class ScanEvent(Base):
    """One scan as a gateway reported it, plus what the server knew of the gateway at ingest.

    ``event_id`` is the gateway's id of the event (the spec's ``id``): unique per realm, so a
    redelivered message inserts nothing.  ``seq`` is the insertion key that breaks ties between
    events of the same millisecond in every ordering (listing, export, job analysis).
    """

    __tablename__ = "insight_scan_events"
    __table_args__ = (
        UniqueConstraint("realm_id", "event_id", name="uq_insight_scan_events_realm_event"),
        Index("ix_insight_scan_events_realm_created", "realm_id", "created", "seq"),
        Index("ix_insight_scan_events_realm_gateway_created", "realm_id", "gateway_id", "created", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    realm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    #: Milliseconds since the epoch, as the gateway stamped the scan.
    created: Mapped[int] = mapped_column(BigInteger)
    scan_code: Mapped[str] = mapped_column(Text)
    scan_duration: Mapped[float | None] = mapped_column(Float)
    scan_decode_symbology: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    device_battery: Mapped[int | None] = mapped_column(Integer)
    device_firmware: Mapped[str | None] = mapped_column(String(64))
    device_temperature: Mapped[float | None] = mapped_column(Float)
    metrics_worker_steps: Mapped[int | None] = mapped_column(BigInteger)
    gateway_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    gateway_usecase: Mapped[str] = mapped_column(String(128))
    gateway_station: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventExport(Base):
    """An asynchronous export task: PENDING until its background task wrote the file."""

    __tablename__ = "insight_event_exports"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    realm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    format: Mapped[str] = mapped_column(String(16))
    start_millis: Mapped[int] = mapped_column(BigInteger)
    end_millis: Mapped[int] = mapped_column(BigInteger)
    blob_key: Mapped[str | None] = mapped_column(String(512))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(1000))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class JobConfig(Base):
    """Which barcodes start and end a job on which gateways; ``version`` counts changes."""

    __tablename__ = "insight_job_configs"
    __table_args__ = (
        UniqueConstraint("realm_id", "job_name", name="uq_insight_job_configs_realm_name"),
        Index("ix_insight_job_configs_realm_seq", "realm_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    realm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"))
    job_name: Mapped[str] = mapped_column(String(128))
    start_barcode: Mapped[str] = mapped_column(String(256))
    end_barcode: Mapped[str] = mapped_column(String(256))
    #: The gateway ids as strings, in the order the client gave them.
    gateway_ids: Mapped[list[Any]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
