"""Session media rules: metadata, annotations, and whole-content operations for other families.

A media item belongs to one session of one application in one realm.  Whoever may see the
session (see :class:`SessionService`) may read its media; changing media needs the session to
be open (409 otherwise), like every other change to a session.  Content is written to the blob
store before the row that points to it commits; blobs a change makes unreachable are deleted
after its commit, and blobs a rolled-back change wrote are deleted after the rollback.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from fieldhub.core.db import utcnow
from fieldhub.core.errors import Conflict, FieldhubError, InvalidInput, NotFound
from fieldhub.core.pagination import Cursor, Page, SortKey
from fieldhub.skylight import events
from fieldhub.skylight.media.base import MediaServiceBase, has_thumbnails, thumbnail_keys_of
from fieldhub.skylight.media.models import (
    THUMBNAILS_FAILED,
    THUMBNAILS_NONE,
    THUMBNAILS_READY,
    Media,
    MediaAnnotation,
    new_content_key,
    thumbnail_key,
)
from fieldhub.skylight.media.parts import read_parts
from fieldhub.skylight.media.repository import MediaFilter
from fieldhub.skylight.media.schemas import Annotation, MediaCreate, MediaPatch
from fieldhub.skylight.models import WorkSession


class ThumbnailFailed(FieldhubError):
    """The content could not be decoded as the image or video its type claims (422)."""

    status_code = 422


@dataclass(frozen=True, slots=True)
class MediaListing:
    page: Page
    total: int


@dataclass(frozen=True)
class MediaContent:
    """Complete content, ready to stream: ``chunks`` yields the bytes from ``start`` to ``end``."""

    media_id: str
    filename: str
    content_type: str
    #: The whole content's size (not only the requested range).
    size: int
    md5: str
    chunks: Iterator[bytes]
    start: int = 0
    end: int | None = None


class MediaService(MediaServiceBase):
    """Works on session media on behalf of one caller, inside the caller's unit of work."""

    # reading -------------------------------------------------------------------------------
    def find(
        self,
        *,
        application_id: str,
        session_id: uuid.UUID,
        filters: MediaFilter,
        sort: SortKey,
        limit: int,
        cursor: Cursor | None,
    ) -> tuple[WorkSession, MediaListing]:
        work_session = self.readable_session(application_id=application_id, session_id=session_id)
        scope = filters.fingerprint(work_session.pk)
        if cursor is not None and cursor.scope != scope:
            raise InvalidInput("cursor: made for other filters or another session; start again without one")
        total = (
            cursor.total
            if cursor is not None and cursor.total is not None
            else self._repo.count(work_session.pk, filters)
        )
        page = self._repo.page(
            work_session.pk, filters, sort=sort, limit=limit, cursor=cursor, total=total, scope=scope
        )
        return work_session, MediaListing(page=page, total=total)

    def get(self, *, application_id: str, session_id: uuid.UUID, media_id: uuid.UUID) -> Media:
        work_session = self.readable_session(application_id=application_id, session_id=session_id)
        return self._media(work_session, media_id)

    def labels(self, *, application_id: str, session_id: uuid.UUID) -> list[str]:
        work_session = self.readable_session(application_id=application_id, session_id=session_id)
        return self._repo.labels(work_session.pk)

    # changing metadata ---------------------------------------------------------------------
    def create(self, *, application_id: str, session_id: uuid.UUID, body: MediaCreate) -> Media:
        work_session = self.writable_session(application_id=application_id, session_id=session_id)
        return self._create(work_session, body)

    def _create(self, work_session: WorkSession, body: MediaCreate) -> Media:
        media_id = uuid.UUID(body.mediaId) if body.mediaId else uuid.uuid4()
        if self._repo.id_taken(media_id):
            raise Conflict(f"mediaId: {media_id} already exists")
        now = utcnow()
        media = Media(
            id=media_id,
            realm_id=work_session.realm_id,
            application_id=work_session.application_id,
            session_pk=work_session.pk,
            filename=body.filename,
            title=body.title,
            description=body.description,
            content_type=body.contentType,
            labels=list(body.labels or []),
            properties=dict(body.properties or {}),
            total_bytes=body.totalBytes,
            uploaded_bytes=0,
            archived=False,
            thumbnail_status=THUMBNAILS_NONE,
            created_by=self._caller.user_id,
            created_at=now,
            modified_by=self._caller.user_id,
            modified_at=now,
            annotations=_annotation_rows(body.annotations or []),
        )
        self._repo.add(media)
        self._repo.replace_labels(media, media.labels)
        self._repo.replace_properties(media, media.properties)
        self._db.flush()
        self._record(events.SESSION_MEDIA_CREATED, work_session, media, now)
        return media

    def patch(
        self, *, application_id: str, session_id: uuid.UUID, media_id: uuid.UUID, body: MediaPatch
    ) -> Media:
        work_session, media = self._changeable(application_id, session_id, media_id)
        given = body.model_fields_set
        changes: dict[str, Any] = {}
        for name, attribute in (("filename", "filename"), ("title", "title"), ("description", "description")):
            value = getattr(body, name)
            if name in given and value != getattr(media, attribute):
                setattr(media, attribute, value)
                changes[name] = value
        if "labels" in given and body.labels is not None and body.labels != media.labels:
            media.labels = list(body.labels)
            self._repo.replace_labels(media, media.labels)
            changes["labels"] = media.labels
        if "properties" in given and body.properties is not None and body.properties != media.properties:
            media.properties = dict(body.properties)
            self._repo.replace_properties(media, media.properties)
            changes["properties"] = media.properties
        self._patch_sizes(media, body, changes)
        if not changes:
            return media
        now = self._touch(media)
        self._record(events.SESSION_MEDIA_UPDATED, work_session, media, now, changes=changes)
        return media

    @staticmethod
    def _patch_sizes(media: Media, body: MediaPatch, changes: dict[str, Any]) -> None:
        total = body.totalBytes if body.totalBytes is not None else media.total_bytes
        if body.totalBytes is not None and body.totalBytes != media.total_bytes:
            if media.complete:
                raise Conflict("totalBytes: the content is already uploaded; its size cannot change")
            media.total_bytes = body.totalBytes
            changes["totalBytes"] = body.totalBytes
        # Progress is what the server has received; a client's figure is only checked.
        if body.uploadedBytes is not None and body.uploadedBytes > total:
            raise InvalidInput("uploadedBytes: must not exceed totalBytes")

    def archive(
        self, *, application_id: str, session_id: uuid.UUID, media_id: uuid.UUID
    ) -> tuple[WorkSession, Media]:
        work_session = self.writable_session(application_id=application_id, session_id=session_id)
        media = self._media(work_session, media_id, for_update=True)
        if media.archived:
            raise Conflict("Media already archived")
        media.archived = True
        now = self._touch(media)
        self._record(events.SESSION_MEDIA_ARCHIVED, work_session, media, now, changes={"archived": True})
        return work_session, media

    def unarchive(
        self, *, application_id: str, session_id: uuid.UUID, media_id: uuid.UUID
    ) -> tuple[WorkSession, Media]:
        work_session = self.writable_session(application_id=application_id, session_id=session_id)
        media = self._media(work_session, media_id, for_update=True)
        if not media.archived:
            raise Conflict("Media is not archived")
        media.archived = False
        now = self._touch(media)
        self._record(events.SESSION_MEDIA_UNARCHIVED, work_session, media, now, changes={"archived": False})
        return work_session, media

    def add_annotation(
        self, *, application_id: str, session_id: uuid.UUID, media_id: uuid.UUID, annotation: Annotation
    ) -> None:
        work_session, media = self._changeable(application_id, session_id, media_id)
        annotation_id = uuid.UUID(annotation.annotationId)
        if any(a.annotation_id == annotation_id for a in media.annotations):
            # The spec answers 404 for "annotation already exists" too.
            raise NotFound(f"Annotation {annotation_id} already exists on this media")
        position = max((a.position for a in media.annotations), default=-1) + 1
        media.annotations.append(
            MediaAnnotation(annotation_id=annotation_id, position=position, path=annotation.path)
        )
        now = self._touch(media)
        self._record(
            events.SESSION_MEDIA_ANNOTATION_CREATED,
            work_session,
            media,
            now,
            changes={"annotation": {"annotationId": str(annotation_id), "path": annotation.path}},
        )

    def delete_annotation(
        self, *, application_id: str, session_id: uuid.UUID, media_id: uuid.UUID, annotation_id: uuid.UUID
    ) -> None:
        work_session, media = self._changeable(application_id, session_id, media_id)
        found = next((a for a in media.annotations if a.annotation_id == annotation_id), None)
        if found is None:
            raise NotFound("Annotation not found on this media")
        media.annotations.remove(found)
        now = self._touch(media)
        self._record(
            events.SESSION_MEDIA_ANNOTATION_DELETED,
            work_session,
            media,
            now,
            changes={"annotation": {"annotationId": str(annotation_id)}},
        )

    # whole content (the attachments family's entry points) ---------------------------------
    def create_with_content(
        self,
        *,
        application_id: str,
        session_id: uuid.UUID,
        filename: str,
        content_type: str,
        chunks: Iterable[bytes],
        properties: dict[str, str] | None = None,
    ) -> Media:
        """Creates a complete media item holding the bytes of ``chunks`` and returns its row
        (``media_id``, ``size``, ``md5`` hex, ``content_type``, ``filename``).

        The caller must be allowed to change the session, which must be open (409 otherwise).
        The bytes are streamed into the blob store before the row is flushed; should the
        caller's unit of work roll back, the blob is deleted again.  ``filename`` must be a
        plain file name and ``content_type`` a MIME type (InvalidInput otherwise); an empty
        content is allowed here (``size`` 0), unlike through the Skylight API.
        """
        media_id = uuid.uuid4()
        document = {
            "filename": filename,
            "contentType": content_type,
            "totalBytes": 1,
            "properties": properties,
        }
        try:
            body = MediaCreate.model_validate({**document, "mediaId": str(media_id)}, strict=False)
        except ValidationError as exc:
            raise InvalidInput(_first_problem(exc)) from None
        work_session = self.writable_session(application_id=application_id, session_id=session_id)
        stored = self._blobs.put(new_content_key(work_session.realm_id, media_id), chunks)
        self.on_rollback(lambda: self._blobs.delete(stored.key))
        media = self._create(work_session, body.model_copy(update={"totalBytes": stored.size}))
        self.complete_content(work_session, media, stored)
        return media

    def delete(self, *, application_id: str, session_id: uuid.UUID, media_id: str) -> None:
        """Deletes the media row for good; its content, chunks and thumbnails go after the commit.

        NotFound (404) for an unknown media, Conflict (409) when the session is closed.
        """
        work_session = self.writable_session(application_id=application_id, session_id=session_id)
        media = self._media(work_session, _uuid(media_id), for_update=True)
        keys = self._repo.chunk_keys_of(media) + thumbnail_keys_of(media) + media.content_keys
        self._repo.delete(media)
        now = utcnow()
        self._record(events.SESSION_MEDIA_DELETED, work_session, media, now, changes={"deleted": True})
        self.on_commit(lambda: self._delete_blobs(keys))

    def open_content(
        self,
        *,
        application_id: str,
        session_id: uuid.UUID,
        media_id: str,
        start: int = 0,
        end: int | None = None,
    ) -> MediaContent:
        """The complete content of a media item the caller may see, streamed from the blob store.

        ``start``/``end`` (end excluded) select a byte range.  NotFound (404) for an unknown
        media, Conflict (409) while its content is not completely uploaded.
        """
        media = self.complete_media(
            application_id=application_id, session_id=session_id, media_id=_uuid(media_id)
        )
        assert media.etag is not None
        return MediaContent(
            media_id=str(media.id),
            filename=media.filename,
            content_type=media.content_type,
            size=media.total_bytes,
            md5=media.etag,
            chunks=self.read_content(media, start=start, end=end),
            start=start,
            end=end,
        )

    def complete_media(self, *, application_id: str, session_id: uuid.UUID, media_id: uuid.UUID) -> Media:
        """A media item whose content is completely uploaded; Conflict (409) before that."""
        media = self.get(application_id=application_id, session_id=session_id, media_id=media_id)
        if media.parts is None or media.etag is None:
            raise Conflict("Media content is not uploaded yet")
        return media

    def read_content(self, media: Media, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        parts = media.parts
        if parts is None:
            raise Conflict("Media content is not uploaded yet")
        return read_parts(self._blobs, parts, start=start, end=end)

    def open_thumbnail(
        self, *, application_id: str, session_id: uuid.UUID, media_id: uuid.UUID, kind: str
    ) -> tuple[Media, Iterator[bytes]]:
        """The ``image`` (JPEG) or ``preview`` (GIF) thumbnail, once made (see docs/skylight.md)."""
        media = self.complete_media(application_id=application_id, session_id=session_id, media_id=media_id)
        if not has_thumbnails(media.content_type):
            raise NotFound(f"No thumbnails are made for content type {media.content_type}")
        if media.thumbnail_status == THUMBNAILS_FAILED:
            raise ThumbnailFailed(f"No thumbnail could be made: {media.thumbnail_error}")
        if media.thumbnail_status != THUMBNAILS_READY:
            raise Conflict("The thumbnail is being made; try again shortly")
        return media, self._blobs.read(thumbnail_key(media.realm_id, media.id, kind))


def _annotation_rows(annotations: Sequence[Annotation]) -> list[MediaAnnotation]:
    return [
        MediaAnnotation(annotation_id=uuid.UUID(a.annotationId), position=index, path=a.path)
        for index, a in enumerate(annotations)
    ]


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("Media not found") from None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
