"""Every media query, always scoped to one realm and one session."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, delete, func, select
from sqlalchemy.orm import Session

from fieldhub.core.pagination import Cursor, Page, SortKey, keyset_page
from fieldhub.skylight.media.models import (
    Media,
    MediaLabel,
    MediaProperty,
    MediaUpload,
    MediaUploadChunk,
)
from fieldhub.skylight.repository import AuditedFilter

SORTABLE: dict[str, tuple[Any, Literal["str", "datetime", "int"], str]] = {
    # The spec's default, "_id (internal id)", is the creation order.
    "_id": (Media.pk, "int", "pk"),
    "filename": (Media.filename, "str", "filename"),
    "createdAt": (Media.created_at, "datetime", "created_at"),
    "modifiedAt": (Media.modified_at, "datetime", "modified_at"),
}
Archived = Literal["include", "exclude", "only"]


@dataclass(frozen=True)
class MediaFilter(AuditedFilter):
    archived: Archived = "exclude"
    content_types: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    exclude_labels: list[str] = field(default_factory=list)

    def fingerprint(self, session_pk: int) -> str:
        return self.digest({"session": session_pk})


def sort_key(sort: str | None) -> SortKey:
    name = (sort or "_id").removeprefix("-")
    column, kind, _ = SORTABLE[name]
    return SortKey(
        name=sort or "_id", column=column, kind=kind, descending=bool(sort and sort.startswith("-"))
    )


class MediaRepository:
    def __init__(self, session: Session, *, realm_id: uuid.UUID) -> None:
        self.db = session
        self.realm_id = realm_id

    def _scoped(self, session_pk: int) -> Select[Media]:
        return select(Media).where(Media.realm_id == self.realm_id, Media.session_pk == session_pk)

    def add(self, media: Media) -> None:
        self.db.add(media)
        self.db.flush()

    def id_taken(self, media_id: uuid.UUID) -> bool:
        query = select(Media.pk).where(Media.realm_id == self.realm_id, Media.id == media_id)
        return self.db.scalar(query) is not None

    def get(self, session_pk: int, media_id: uuid.UUID, *, for_update: bool = False) -> Media | None:
        query = self._scoped(session_pk).where(Media.id == media_id)
        if for_update:
            query = query.with_for_update()
        return self.db.scalars(query).one_or_none()

    def by_pk(self, media_pk: int, *, for_update: bool = False) -> Media | None:
        query = select(Media).where(Media.realm_id == self.realm_id, Media.pk == media_pk)
        if for_update:
            query = query.with_for_update()
        return self.db.scalars(query).one_or_none()

    def delete(self, media: Media) -> None:
        self.db.delete(media)
        self.db.flush()

    # listing -------------------------------------------------------------------------------
    def _filtered(self, session_pk: int, filters: MediaFilter) -> Select[Media]:
        query = self._scoped(session_pk)
        if filters.archived != "include":
            query = query.where(Media.archived.is_(filters.archived == "only"))
        for key, values in filters.properties.items():
            query = query.where(
                select(MediaProperty.media_pk)
                .where(
                    MediaProperty.media_pk == Media.pk,
                    MediaProperty.key == key,
                    MediaProperty.value.in_(values),
                )
                .exists()
            )
        if filters.content_types:
            query = query.where(Media.content_type.in_(filters.content_types))
        if filters.labels:
            query = query.where(_has_label(filters.labels))
        if filters.exclude_labels:
            query = query.where(~_has_label(filters.exclude_labels))
        return filters.where_audited(query, Media)

    def page(
        self,
        session_pk: int,
        filters: MediaFilter,
        *,
        sort: SortKey,
        limit: int,
        cursor: Cursor | None,
        total: int,
        scope: str,
    ) -> Page:
        attribute = SORTABLE[sort.name.removeprefix("-")][2]
        return keyset_page(
            self.db,
            self._filtered(session_pk, filters),
            sort=sort,
            tiebreak=Media.pk,
            limit=limit,
            cursor=cursor,
            row_value=lambda row: getattr(row, attribute),
            row_key=lambda row: row.pk,
            total=total,
            scope=scope,
        )

    def count(self, session_pk: int, filters: MediaFilter) -> int:
        subquery = self._filtered(session_pk, filters).with_only_columns(Media.pk).subquery()
        return int(self.db.scalar(select(func.count()).select_from(subquery)) or 0)

    def labels(self, session_pk: int) -> list[str]:
        query = (
            select(MediaLabel.label)
            .join(Media, Media.pk == MediaLabel.media_pk)
            .where(Media.realm_id == self.realm_id, Media.session_pk == session_pk)
            .distinct()
            .order_by(MediaLabel.label)
        )
        return list(self.db.scalars(query))

    def replace_labels(self, media: Media, labels: list[str]) -> None:
        self.db.execute(delete(MediaLabel).where(MediaLabel.media_pk == media.pk))
        self.db.add_all(MediaLabel(media_pk=media.pk, label=label) for label in labels)

    def replace_properties(self, media: Media, properties: dict[str, str]) -> None:
        self.db.execute(delete(MediaProperty).where(MediaProperty.media_pk == media.pk))
        self.db.add_all(
            MediaProperty(media_pk=media.pk, key=key, value=value) for key, value in properties.items()
        )

    # uploads -------------------------------------------------------------------------------
    def upload(self, media: Media, upload_id: uuid.UUID) -> MediaUpload | None:
        query = select(MediaUpload).where(MediaUpload.id == upload_id, MediaUpload.media_pk == media.pk)
        return self.db.scalars(query).one_or_none()

    def chunks(self, upload_id: uuid.UUID) -> list[MediaUploadChunk]:
        query = select(MediaUploadChunk).where(MediaUploadChunk.upload_id == upload_id)
        return list(self.db.scalars(query.order_by(MediaUploadChunk.chunk_index)))

    def chunk_keys_of(self, media: Media) -> list[str]:
        query = (
            select(MediaUploadChunk.blob_key)
            .join(MediaUpload, MediaUpload.id == MediaUploadChunk.upload_id)
            .where(MediaUpload.media_pk == media.pk)
        )
        return list(self.db.scalars(query))

    def delete_uploads(self, media: Media) -> None:
        self.db.execute(delete(MediaUpload).where(MediaUpload.media_pk == media.pk))
        self.db.flush()


def _has_label(labels: list[str]) -> ColumnElement[bool]:
    return (
        select(MediaLabel.media_pk)
        .where(MediaLabel.media_pk == Media.pk, MediaLabel.label.in_(labels))
        .exists()
    )
