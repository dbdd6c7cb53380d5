"""Attachment rules: a session data point that holds a file stored as a media item of the session.

The data change goes through Skylight's :class:`SessionService`, so an attachment saves the
session (modifiedAt/modifiedBy), respects its closed state and role rules, and publishes the same
``SessionDataUpdated`` event as a data PATCH.  The file goes through Skylight's media service.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from fieldhub.attachments.repository import AttachmentsRepository
from fieldhub.attachments.schemas import attachment_reference, attachment_value
from fieldhub.core.blobs.protocol import StoredBlob
from fieldhub.core.errors import Conflict, InvalidInput, NotFound
from fieldhub.core.identity.service import IdentityService, Principal
from fieldhub.skylight.events import DeviceContext
from fieldhub.skylight.media.models import new_content_key
from fieldhub.skylight.media.schemas import MediaCreate
from fieldhub.skylight.media.service import MediaContent, MediaService
from fieldhub.skylight.models import WorkSession
from fieldhub.skylight.schemas import SessionDataPatch
from fieldhub.skylight.service import SessionService

#: The media property that names the point a media item is attached to (for the media API's readers).
POINT_PROPERTY = "attachmentPoint"


@dataclass(frozen=True, slots=True)
class StagedContent:
    """An upload already in the blob store, under the content key of the media item to be."""

    media_id: uuid.UUID
    filename: str
    content_type: str
    blob: StoredBlob


def new_content_location(realm_id: uuid.UUID) -> tuple[uuid.UUID, str]:
    """A new media id and the key its content is streamed to before any row refers to it."""
    media_id = uuid.uuid4()
    return media_id, new_content_key(realm_id, media_id)


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    length: int
    md5: str


class AttachmentService:
    """Works on the attachments of one project (application), on behalf of one caller."""

    def __init__(
        self, *, db: Session, identity: IdentityService, media: MediaService, caller: Principal, project: int
    ) -> None:
        application = AttachmentsRepository(db).application_by_number(caller.realm_id, project)
        if application is None:
            raise NotFound("Project not found")
        self.application_id = application.id
        self._sessions = SessionService(
            db=db, identity=identity, caller=caller, application_id=application.id
        )
        self._media = media

    def writable_session(self, *, session_id: uuid.UUID) -> WorkSession:
        """The session, if the caller may change it and it is open: checked before a body is read."""
        work_session = self._sessions.get(session_id=session_id)
        if work_session.status == "closed":
            raise Conflict("Session is closed")
        return work_session

    def attach(self, *, session_id: uuid.UUID, point: str, content: StagedContent) -> StoredAttachment:
        """Makes the staged content a media item, points ``point`` at it, deletes what it replaces.

        The content is adopted where it was streamed to, so a large file is written only once.
        """
        work_session = self._sessions.open_for_change(session_id)
        replaced = attachment_reference(work_session.data.get(point))
        try:
            body = MediaCreate.model_validate(
                {
                    "mediaId": str(content.media_id),
                    "filename": content.filename,
                    "contentType": content.content_type,
                    # Empty attachments are allowed; the media API's own minimum is 1.
                    "totalBytes": max(content.blob.size, 1),
                    "properties": {POINT_PROPERTY: point},
                },
                strict=False,
            ).model_copy(update={"totalBytes": content.blob.size})
        except ValidationError as exc:
            raise InvalidInput(f"attachment: {exc.errors()[0].get('msg', 'is invalid')}") from None
        media = self._media.create(application_id=self.application_id, session_id=session_id, body=body)
        self._media.complete_content(work_session, media, content.blob)
        self._set_point(work_session, point, attachment_value(content.filename, media.media_id))
        if replaced is not None:
            self._delete_media(session_id, replaced[1])
        return StoredAttachment(length=content.blob.size, md5=content.blob.md5)

    def content(self, *, session_id: uuid.UUID, point: str) -> MediaContent:
        work_session = self._sessions.get(session_id=session_id)
        reference = attachment_reference(work_session.data.get(point))
        if reference is None:
            raise NotFound(f"No attachment in point {point!r}")
        try:
            return self._media.open_content(
                application_id=self.application_id, session_id=session_id, media_id=reference[1]
            )
        except NotFound:
            raise NotFound(f"The file attached in point {point!r} no longer exists") from None

    def detach(self, *, session_id: uuid.UUID, point: str) -> None:
        """Removes the point's value and its file."""
        work_session = self._sessions.open_for_change(session_id)
        reference = attachment_reference(work_session.data.get(point))
        if reference is None:
            raise NotFound(f"No attachment in point {point!r}")
        self._set_point(work_session, point, None)
        self._delete_media(session_id, reference[1])

    def _set_point(self, work_session: WorkSession, point: str, value: Any) -> None:
        body = SessionDataPatch.model_validate({"data": {point: value}, "version": work_session.version})
        self._sessions.patch_data(session_id=work_session.id, body=body, device=DeviceContext())

    def _delete_media(self, session_id: uuid.UUID, media_id: str) -> None:
        # Already gone (deleted through the media API): only the reference was left to remove.
        with contextlib.suppress(NotFound):
            self._media.delete(application_id=self.application_id, session_id=session_id, media_id=media_id)
