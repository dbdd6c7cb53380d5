"""The Insight family's tables: user profiles and consents, gateways, provisioning, scanners, configs.

Insight customers are realms and Insight users are the realm's users (core tables); what Insight
adds to a user (language, consents, set-password links) lives in rows keyed by the user, deleted
with the user by the foreign keys.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fieldhub.core.db import Base, BigIntPK, UTCDateTime, utcnow


class UserProfile(Base):
    """What Insight knows of a user beyond the core's columns."""

    __tablename__ = "insight_user_profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    language: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Consent(Base):
    """One agreement of a user to one version of a document; never changed, only added."""

    __tablename__ = "insight_consents"
    __table_args__ = (Index("ix_insight_consents_user_type", "user_id", "type", "seq"),)

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(64))
    agreed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PasswordLink(Base):
    """A one-time set-password token (stored as its SHA-256) for a user created without a password."""

    __tablename__ = "insight_password_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Gateway(Base):
    """A connectivity device.

    ``registration`` is what provisioning has done (NOT_REGISTERED, REGISTERING, REGISTERED);
    ``last_seen_at`` is set by the gateway's messages (ingested by the events part), and the two
    together give the spec's ``connectivity_status``.  ``version`` is SQLAlchemy's optimistic lock.
    """

    __tablename__ = "insight_gateways"
    __table_args__ = (
        UniqueConstraint("realm_id", "name", name="uq_insight_gateways_realm_name"),
        UniqueConstraint("thing_name", name="uq_insight_gateways_thing_name"),
        Index("ix_insight_gateways_realm_seq", "realm_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    realm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    thing_name: Mapped[str] = mapped_column(String(64))
    usecase: Mapped[str] = mapped_column(String(128))
    station: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16), default="stationary")
    model: Mapped[str | None] = mapped_column(String(128))
    manufacturer: Mapped[str | None] = mapped_column(String(128))
    firmware: Mapped[str | None] = mapped_column(String(64))
    registration: Mapped[str] = mapped_column(String(16), default="NOT_REGISTERED")
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ProvisioningToken(Base):
    """The single-use token that lets one gateway fetch its certificate (stored as its SHA-256)."""

    __tablename__ = "insight_provisioning_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    gateway_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("insight_gateways.id", ondelete="CASCADE"), unique=True
    )
    realm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Scanner(Base):
    """A scanning device (the spec's ``/devices``), created and refreshed by scan events."""

    __tablename__ = "insight_scanners"
    __table_args__ = (
        UniqueConstraint("realm_id", "serial", name="uq_insight_scanners_realm_serial"),
        Index("ix_insight_scanners_realm_seq", "realm_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    realm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"))
    serial: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    battery: Mapped[int | None] = mapped_column(Integer)
    firmware: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(128))
    manufacturer: Mapped[str | None] = mapped_column(String(128))
    last_gateway_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    last_activity_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeviceConfig(Base):
    """A device configuration file: metadata here, the bytes in the blob store under ``blob_key``."""

    __tablename__ = "insight_device_configs"
    __table_args__ = (UniqueConstraint("realm_id", "config_id", name="uq_insight_device_configs_realm_id"),)

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    realm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"))
    config_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255))
    blob_key: Mapped[str] = mapped_column(String(512))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
