"""Session media tables: metadata, its labels/properties/annotations, and multipart upload state.

Content lives in the blob store under keys made here, never under a client filename: one blob
for a singlepart upload, or the chunks of a multipart upload in order (so completing a chunked
upload copies nothing).  ``pk`` is the creation order and the tie-breaker of every sort.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldhub.core.db import Base, BigIntPK, JSONType, UTCDateTime

#: Thumbnail states: not applicable (not an image or video, or no content yet), queued, made, failed.
THUMBNAILS_NONE = "none"
THUMBNAILS_PENDING = "pending"
THUMBNAILS_READY = "ready"
THUMBNAILS_FAILED = "failed"


def new_content_key(realm_id: uuid.UUID, media_id: uuid.UUID) -> str:
    """Each upload stores its content under a fresh key and the row switches to it on commit, so
    a failed or refused upload never touches the content readers see."""
    return f"media/{realm_id}/{media_id}/{uuid.uuid4().hex}"


def thumbnail_key(realm_id: uuid.UUID, media_id: uuid.UUID, kind: str) -> str:
    return f"thumbs/{realm_id}/{media_id}/{'image.jpg' if kind == 'image' else 'preview.gif'}"


class Media(Base):
    __tablename__ = "media"
    __table_args__ = (
        # Media ids name blobs per realm, so a client-supplied id is unique within its realm.
        UniqueConstraint("realm_id", "id", name="uq_media_realm_id"),
        Index("ix_media_session_pk", "session_pk", "pk"),
        Index("ix_media_session_filename", "session_pk", "filename", "pk"),
        Index("ix_media_session_created", "session_pk", "created_at", "pk"),
        Index("ix_media_session_modified", "session_pk", "modified_at", "pk"),
    )

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    realm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"))
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    session_pk: Mapped[int] = mapped_column(ForeignKey("sessions.pk", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    content_type: Mapped[str] = mapped_column(String(255))
    labels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    uploaded_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Hex MD5 of the stored content once it is complete; None before.
    etag: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: The blob holding the complete content when it is one blob (singlepart, one chunk, the
    #: attachments API); None before, and for content made of several chunks.
    content_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    #: The chunks, in order, when the content is several: ``[{"key": ..., "size": ...}, ...]``.
    content_parts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    thumbnail_status: Mapped[str] = mapped_column(String(16), default=THUMBNAILS_NONE)
    thumbnail_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    modified_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    annotations: Mapped[list[MediaAnnotation]] = relationship(
        order_by="MediaAnnotation.position", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def media_id(self) -> str:
        return str(self.id)

    @property
    def size(self) -> int:
        return self.total_bytes

    @property
    def md5(self) -> str | None:
        return self.etag

    @property
    def complete(self) -> bool:
        return self.etag is not None

    @property
    def parts(self) -> list[dict[str, Any]] | None:
        """The complete content as ordered parts; None until it is uploaded."""
        if self.content_parts:
            return self.content_parts
        if self.content_key is not None:
            return [{"key": self.content_key, "size": self.total_bytes}]
        return None

    @property
    def content_keys(self) -> list[str]:
        return [str(part["key"]) for part in self.parts or []]

    def store_parts(self, parts: list[dict[str, Any]]) -> None:
        one = len(parts) == 1
        self.content_key = str(parts[0]["key"]) if one else None
        self.content_parts = None if one else parts


class MediaAnnotation(Base):
    __tablename__ = "media_annotations"

    media_pk: Mapped[int] = mapped_column(ForeignKey("media.pk", ondelete="CASCADE"), primary_key=True)
    annotation_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)


class MediaLabel(Base):
    """One label of one media, so that label filters and ``mediaLabels`` use an index."""

    __tablename__ = "media_labels"
    __table_args__ = (Index("ix_media_labels_label", "label", "media_pk"),)

    media_pk: Mapped[int] = mapped_column(ForeignKey("media.pk", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(128), primary_key=True)


class MediaProperty(Base):
    __tablename__ = "media_properties"
    __table_args__ = (Index("ix_media_properties_lookup", "key", "value", "media_pk"),)

    media_pk: Mapped[int] = mapped_column(ForeignKey("media.pk", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class MediaUpload(Base):
    """A multipart upload in progress.  Its rows go once it completes; its chunk blobs stay, as the
    media's content."""

    __tablename__ = "media_uploads"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    media_pk: Mapped[int] = mapped_column(ForeignKey("media.pk", ondelete="CASCADE"), index=True)
    chunk_total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class MediaUploadChunk(Base):
    """A received chunk.  Each write goes to a fresh blob key, so a resent or concurrent chunk
    replaces this row (and its old blob is deleted after the commit) without racing on a blob."""

    __tablename__ = "media_upload_chunks"

    upload_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("media_uploads.id", ondelete="CASCADE"), primary_key=True
    )
    chunk_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    blob_key: Mapped[str] = mapped_column(String(512))
    size: Mapped[int] = mapped_column(BigInteger)
    md5: Mapped[str] = mapped_column(String(32))
