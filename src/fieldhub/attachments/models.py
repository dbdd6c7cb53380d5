"""Attachment API users: a realm user's HMAC secret, sealed at rest."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fieldhub.core.db import Base, UTCDateTime, utcnow


class ApiUser(Base):
    """Lets one realm user sign attachment requests with an HMAC instead of a bearer token.

    ``username`` repeats the user's name and is unique across realms: the Basic login names no
    realm, so the name alone must find it.  The secret is sealed (core.identity.sealing), not
    hashed, because checking an HMAC needs the secret itself.
    """

    __tablename__ = "attachment_api_users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    realm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    sealed_secret: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
