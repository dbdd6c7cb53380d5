"""What every media operation shares: the caller's session lookup and access checks, pointing
a media item at new content, events, and blob clean-up tied to the unit of work's outcome."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from fieldhub.core.blobs.protocol import BlobStore, StoredBlob
from fieldhub.core.db import utcnow
from fieldhub.core.errors import Conflict, NotFound
from fieldhub.core.identity.service import IdentityService, Principal
from fieldhub.core.tasks import enqueue
from fieldhub.skylight import events
from fieldhub.skylight.events import DeviceContext
from fieldhub.skylight.media.models import (
    THUMBNAILS_NONE,
    THUMBNAILS_PENDING,
    Media,
    thumbnail_key,
)
from fieldhub.skylight.media.parts import Parts, part, total_size
from fieldhub.skylight.media.repository import MediaRepository
from fieldhub.skylight.media.schemas import media_json
from fieldhub.skylight.models import WorkSession
from fieldhub.skylight.service import SessionService

log = logging.getLogger(__name__)

THUMBNAIL_TASK = "media.thumbnails"
THUMBNAIL_KINDS = ("image", "preview")


def has_thumbnails(content_type: str) -> bool:
    kind = content_type.split("/", 1)[0].strip().lower()
    return kind in {"image", "video"} and not content_type.lower().startswith("image/svg")


class MediaServiceBase:
    """Works on session media on behalf of one caller, inside the caller's unit of work."""

    def __init__(
        self,
        *,
        session: Session,
        blobs: BlobStore,
        caller: Principal,
        device: DeviceContext | None = None,
    ) -> None:
        self._db = session
        self._blobs = blobs
        self._caller = caller
        self._device = device or DeviceContext()
        self._identity = IdentityService(session=session)
        self._repo = MediaRepository(session, realm_id=caller.realm_id)

    @property
    def caller(self) -> Principal:
        return self._caller

    # the session a request works in -------------------------------------------------------
    def _sessions(self, application_id: str) -> SessionService:
        return SessionService(
            db=self._db, identity=self._identity, caller=self._caller, application_id=application_id
        )

    def readable_session(self, *, application_id: str, session_id: uuid.UUID) -> WorkSession:
        return self._sessions(application_id).get(session_id=session_id)

    def writable_session(self, *, application_id: str, session_id: uuid.UUID) -> WorkSession:
        """The session, locked for the change; Conflict (409) when it is closed."""
        return self._sessions(application_id).open_for_change(session_id)

    def _media(self, work_session: WorkSession, media_id: uuid.UUID, *, for_update: bool = False) -> Media:
        media = self._repo.get(work_session.pk, media_id, for_update=for_update)
        if media is None:
            raise NotFound("Media not found")
        return media

    def _changeable(
        self, application_id: str, session_id: uuid.UUID, media_id: uuid.UUID
    ) -> tuple[WorkSession, Media]:
        work_session = self.writable_session(application_id=application_id, session_id=session_id)
        media = self._media(work_session, media_id, for_update=True)
        if media.archived:
            raise Conflict("Media is archived; unarchive it first")
        return work_session, media

    # shared with the upload steps ----------------------------------------------------------
    def complete_content(self, work_session: WorkSession, media: Media, stored: StoredBlob) -> None:
        """Points ``media`` at a freshly stored blob (its whole content); the replaced content
        goes after the commit.  Used by the attachments family too."""
        self.complete_parts(work_session, media, [part(stored.key, stored.size)], etag=stored.md5)

    def complete_parts(self, work_session: WorkSession, media: Media, parts: Parts, *, etag: str) -> None:
        """Points ``media`` at content stored as ``parts`` (in order); the replaced content goes
        after the commit."""
        kept = {str(p["key"]) for p in parts}
        replaced = [key for key in media.content_keys if key not in kept]
        # Old thumbnails stay until the new task overwrites them (deleting them here could race
        # with that task); while it runs the status is pending, so they are never served.
        media.store_parts(list(parts))
        media.etag = etag
        media.total_bytes = media.uploaded_bytes = total_size(parts)
        media.thumbnail_error = None
        if has_thumbnails(media.content_type):
            media.thumbnail_status = THUMBNAILS_PENDING
            enqueue(
                self._db,
                kind=THUMBNAIL_TASK,
                payload={"realmId": str(media.realm_id), "mediaPk": media.pk, "etag": etag},
            )
        else:
            media.thumbnail_status = THUMBNAILS_NONE
        now = self._touch(media)
        self._record(
            events.SESSION_MEDIA_UPLOADED,
            work_session,
            media,
            now,
            changes={"etag": etag, "size": media.total_bytes},
        )
        self.on_commit(lambda: self._delete_blobs(replaced))

    def on_commit(self, callback: Callable[[], None]) -> None:
        event.listen(self._db, "after_commit", lambda _session: _quietly(callback), once=True)

    def on_rollback(self, callback: Callable[[], None]) -> None:
        """Runs ``callback`` if the unit of work rolls back before it commits (never after: a
        later rollback on the same session must not undo what that commit made reachable)."""
        committed = False

        def mark_committed(_session: Session) -> None:
            nonlocal committed
            committed = True

        def rolled_back(_session: Session) -> None:
            if not committed:
                _quietly(callback)

        event.listen(self._db, "after_commit", mark_committed, once=True)
        event.listen(self._db, "after_rollback", rolled_back, once=True)

    def _delete_blobs(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._blobs.delete(key)

    def _touch(self, media: Media) -> dt.datetime:
        now = utcnow()
        media.modified_at, media.modified_by = now, self._caller.user_id
        self._db.flush()
        return now

    def _record(
        self,
        event_type: str,
        work_session: WorkSession,
        media: Media,
        now: dt.datetime,
        *,
        changes: dict[str, Any] | None = None,
    ) -> None:
        document = {"mediaId": str(media.id), "media": media_json(media, session_id=work_session.id)}
        if changes is not None:
            document["changes"] = changes
        events.record_session_event(
            self._db,
            event_type=event_type,
            work_session=work_session,
            actor=self._caller.user_id,
            device=self._device,
            changes=document,
            realm_name=self._caller.realm_name,
            audience=self._sessions(work_session.application_id).audience(work_session),
            now=now,
        )


def thumbnail_keys_of(media: Media) -> list[str]:
    return [thumbnail_key(media.realm_id, media.id, kind) for kind in THUMBNAIL_KINDS]


def _quietly(callback: Callable[[], None]) -> None:
    """Clean-up after the outcome is decided must not turn it into an error: a blob left behind
    costs space, an exception here would report a committed change as failed."""
    try:
        callback()
    except Exception:
        log.warning("media blob clean-up failed", exc_info=True)
