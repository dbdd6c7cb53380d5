"""Snapshot rules: the state machine, who may do what, and which notifications each change sends.

State machine (anything else is a 409 Conflict, and changes nothing)::

    POST /request  ─▶ REQUESTED ──acquire (target endpoint)──▶ UPLOADED
    POST /upload   ─────────────────────────────────────────▶ UPLOADED
    UPLOADED ──approve (requester or admin)──▶ APPROVED   (final)
    UPLOADED ──discard (requester or admin)──▶ DISCARDED  (final; the image is deleted)

Who: a snapshot belongs to its interaction's two parties, the requester (``requesterUserId``) and
the target (``userId``).  Either may read it; only the requester approves or discards it, only
the target's endpoint acquires it.  Realm admins and OAuth clients may do everything the
requester may, in their realm.  Another realm's snapshot does not exist (404).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from fieldhub.core.blobs.protocol import BlobStore
from fieldhub.core.db import UnitOfWork, utcnow
from fieldhub.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from fieldhub.core.identity.repository import IdentityRepository
from fieldhub.snapshots import events
from fieldhub.snapshots.events import Endpoint
from fieldhub.snapshots.images import StagedImage
from fieldhub.snapshots.models import CameraRequest, Snapshot
from fieldhub.snapshots.repository import SnapshotRepository
from fieldhub.snapshots.schemas import (
    SnapshotApproveWebCommand,
    SnapshotCameraRequestRespondWebCommand,
    SnapshotCameraRequestWebCommand,
    SnapshotDiscardWebCommand,
    SnapshotRequestWebCommand,
    SnapshotState,
)

log = logging.getLogger(__name__)
SNAPSHOT_NOT_FOUND = "Snapshot not found"
NO_PART = "You take no part in this snapshot's interaction"


@dataclass(frozen=True, slots=True)
class Caller:
    """A user, or an OAuth client (whose id plays the user's part and who acts as a realm admin)."""

    subject: uuid.UUID
    realm_id: uuid.UUID
    realm_name: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class ImageFields:
    """What describes an image sent with /acquire or /upload (checked by the endpoint's form model)."""

    mime_type: str
    suffix: str
    snapshot_type: str


@dataclass(frozen=True, slots=True)
class UploadFields:
    """The /upload form beyond the image's own fields."""

    application_id: str
    interaction_id: str
    related_snapshot_id: uuid.UUID | None
    target_user_id: uuid.UUID
    target_endpoint_id: str
    endpoint_id: str


def requester(snapshot: Snapshot) -> Endpoint:
    return Endpoint(snapshot.requester_user_id, snapshot.requester_endpoint_id)


def target(snapshot: Snapshot) -> Endpoint:
    return Endpoint(snapshot.user_id, snapshot.user_endpoint_id)


class SnapshotService:
    """Works on the snapshots of the caller's realm, on behalf of the caller."""

    def __init__(
        self, *, uow: UnitOfWork, caller: Caller, blobs: BlobStore, allowed_mime_types: Sequence[str]
    ) -> None:
        self._uow = uow
        self._db = uow.session
        self._caller = caller
        self._blobs = blobs
        self._allowed_mime_types = tuple(allowed_mime_types)
        self._repo = SnapshotRepository(uow.session, realm_id=caller.realm_id)
        self._identity = IdentityRepository(uow.session)

    # reading -----------------------------------------------------------------------------
    def get(self, *, snapshot_id: uuid.UUID, for_update: bool = False) -> Snapshot:
        snapshot = self._repo.snapshot(snapshot_id, for_update=for_update)
        if snapshot is None:
            raise NotFound(SNAPSHOT_NOT_FOUND)
        if not self._may_see(snapshot):
            raise PermissionDenied(NO_PART)
        return snapshot

    def _may_see(self, snapshot: Snapshot) -> bool:
        return self._caller.is_admin or self._caller.subject in (snapshot.requester_user_id, snapshot.user_id)

    def interaction(self, *, interaction_id: str) -> Sequence[Snapshot]:
        visible_to = None if self._caller.is_admin else self._caller.subject
        return self._repo.interaction_snapshots(interaction_id, visible_to=visible_to)

    def with_image(self, *, snapshot_id: uuid.UUID) -> Snapshot:
        """A snapshot the caller may see that has an image to serve."""
        snapshot = self.get(snapshot_id=snapshot_id)
        if snapshot.blob_key is None:
            raise Conflict(f"Snapshot has no image (state {snapshot.state})")
        return snapshot

    # the workflow ------------------------------------------------------------------------
    def request(self, command: SnapshotRequestWebCommand) -> Snapshot:
        application_id = command.applicationId.id if command.applicationId else None
        self._check_references(target_user_id=command.targetUserId, application_id=application_id)
        now = utcnow()
        snapshot = Snapshot(
            realm_id=self._caller.realm_id,
            application_id=application_id,
            interaction_id=command.interactionId,
            session_id=command.sessionId,
            session_type=command.sessionType.value,
            type=command.snapshotType,
            requester_user_id=self._caller.subject,
            requester_endpoint_id=command.userEndpointId,
            user_id=command.targetUserId,
            user_endpoint_id=command.targetUserEndpointId,
            state=SnapshotState.REQUESTED.value,
            snapshot_acquired=False,
            created_at=now,
            updated_at=now,
            version=0,
        )
        self._repo.add(snapshot)
        self._notify(events.SNAPSHOT_REQUESTED, snapshot, actor=requester(snapshot), to=[target(snapshot)])
        return snapshot

    def acquire(
        self, *, snapshot_id: uuid.UUID, endpoint_id: str, fields: ImageFields, image: StagedImage
    ) -> Snapshot:
        snapshot = self._repo.snapshot(snapshot_id, for_update=True)
        if snapshot is None:
            raise NotFound(SNAPSHOT_NOT_FOUND)
        is_target = self._caller.subject == snapshot.user_id
        if not is_target or endpoint_id != snapshot.user_endpoint_id:
            if not is_target and not self._may_see(snapshot):
                raise PermissionDenied(NO_PART)
            raise PermissionDenied(
                "Only the snapshot's target endpoint (targetUserEndpointId) may acquire it"
            )
        if snapshot.state != SnapshotState.REQUESTED:
            raise Conflict(f"Snapshot was already acquired (state {snapshot.state})")
        self._store_image(snapshot, fields=fields, image=image)
        # The type asked for stands; the target's own label only fills a request that named none.
        snapshot.type = snapshot.type or fields.snapshot_type
        snapshot.snapshot_acquired = True
        self._changed(snapshot, SnapshotState.UPLOADED)
        self._notify(events.SNAPSHOT_ACQUIRED, snapshot, actor=target(snapshot), to=[requester(snapshot)])
        return snapshot

    def upload(self, *, upload: UploadFields, fields: ImageFields, image: StagedImage) -> Snapshot:
        self._check_references(target_user_id=upload.target_user_id, application_id=upload.application_id)
        if upload.related_snapshot_id is not None:
            # A copy (an annotated one, say) of a snapshot the caller may see, in the same interaction.
            related = self.get(snapshot_id=upload.related_snapshot_id)
            if related.interaction_id != upload.interaction_id:
                raise InvalidInput("relatedSnapshotId: belongs to another interaction")
        now = utcnow()
        snapshot = Snapshot(
            realm_id=self._caller.realm_id,
            application_id=upload.application_id,
            interaction_id=upload.interaction_id,
            session_type="UNKNOWN",
            requester_user_id=self._caller.subject,
            requester_endpoint_id=upload.endpoint_id,
            user_id=upload.target_user_id,
            user_endpoint_id=upload.target_endpoint_id,
            related_snapshot_id=upload.related_snapshot_id,
            state=SnapshotState.UPLOADED.value,
            created_at=now,
            updated_at=now,
            version=0,
        )
        self._store_image(snapshot, fields=fields, image=image)
        snapshot.type = fields.snapshot_type
        self._repo.add(snapshot)
        return snapshot

    def approve(self, command: SnapshotApproveWebCommand) -> Snapshot:
        snapshot = self._decidable(command.snapshotId, verb="approve")
        if command.snapshotType is not None:
            snapshot.type = command.snapshotType
        snapshot.approved = True
        snapshot.approval_succeeded = True
        self._changed(snapshot, SnapshotState.APPROVED)
        actor = Endpoint(self._caller.subject, command.userEndpointId)
        self._notify(
            events.SNAPSHOT_APPROVED, snapshot, actor=actor, to=[target(snapshot), requester(snapshot)]
        )
        return snapshot

    def discard(self, command: SnapshotDiscardWebCommand) -> Snapshot:
        snapshot = self._decidable(command.snapshotId, verb="discard")
        snapshot.approved = False
        key, snapshot.blob_key, snapshot.size_bytes = snapshot.blob_key, None, None
        self._changed(snapshot, SnapshotState.DISCARDED)
        actor = Endpoint(self._caller.subject, command.userEndpointId)
        self._notify(
            events.SNAPSHOT_DISCARDED, snapshot, actor=actor, to=[target(snapshot), requester(snapshot)]
        )
        if key is not None:
            # Only once the discard is committed: a rolled-back discard keeps its image.
            self._uow.after_commit(lambda: self._delete_blob(key))
        return snapshot

    # camera requests ---------------------------------------------------------------------
    def camera_request(self, command: SnapshotCameraRequestWebCommand) -> CameraRequest:
        self._check_references(target_user_id=command.targetUserId, application_id=None)
        request = CameraRequest(
            realm_id=self._caller.realm_id,
            request_type=command.cameraRequestType.value,
            session_id=command.sessionId,
            session_type=command.sessionType.value,
            requester_user_id=self._caller.subject,
            requester_endpoint_id=command.userEndpointId,
            target_user_id=command.targetUserId,
            target_endpoint_id=command.targetUserEndpointId,
            created_at=utcnow(),
        )
        self._repo.add(request)
        events.record_camera_event(
            self._db,
            event_type=events.CAMERA_REQUESTED,
            request=request,
            actor=Endpoint(request.requester_user_id, request.requester_endpoint_id),
            recipients=[Endpoint(request.target_user_id, request.target_endpoint_id)],
            now=request.created_at,
        )
        return request

    def camera_request_respond(self, command: SnapshotCameraRequestRespondWebCommand) -> CameraRequest:
        request = self._repo.camera_request(command.snapshotCameraRequestId, for_update=True)
        if request is None:
            raise NotFound("Camera request not found")
        is_target = self._caller.subject == request.target_user_id
        if not is_target or command.userEndpointId != request.target_endpoint_id:
            if (
                not is_target
                and self._caller.subject != request.requester_user_id
                and not self._caller.is_admin
            ):
                raise PermissionDenied("You take no part in this camera request")
            raise PermissionDenied("Only the camera request's target endpoint may respond to it")
        if request.responded_at is not None:
            raise Conflict("Camera request was already responded to")
        request.responded_at = utcnow()
        request.succeeded = command.succeeded
        request.additional_information = command.additionalInformation
        self._db.flush()
        events.record_camera_event(
            self._db,
            event_type=events.CAMERA_REQUEST_PROCESSED,
            request=request,
            actor=Endpoint(request.target_user_id, request.target_endpoint_id),
            recipients=[Endpoint(request.requester_user_id, request.requester_endpoint_id)],
            now=request.responded_at,
        )
        return request

    # helpers -----------------------------------------------------------------------------
    def _check_references(self, *, target_user_id: uuid.UUID, application_id: str | None) -> None:
        if not self._identity.existing_user_ids(self._caller.realm_id, {target_user_id}):
            raise InvalidInput("targetUserId: no such user in this organization")
        if (
            application_id is not None
            and self._identity.application(self._caller.realm_id, application_id) is None
        ):
            raise InvalidInput("applicationId: no such application in this organization")

    def _decidable(self, snapshot_id: uuid.UUID, *, verb: str) -> Snapshot:
        snapshot = self.get(snapshot_id=snapshot_id, for_update=True)
        if not self._caller.is_admin and self._caller.subject != snapshot.requester_user_id:
            raise PermissionDenied(f"Only the snapshot's requester may {verb} it")
        if snapshot.state == SnapshotState.REQUESTED:
            raise Conflict(f"Cannot {verb} a snapshot that has not been acquired yet")
        if snapshot.state != SnapshotState.UPLOADED:
            raise Conflict(f"Cannot {verb} a snapshot in state {snapshot.state}")
        return snapshot

    def _store_image(self, snapshot: Snapshot, *, fields: ImageFields, image: StagedImage) -> None:
        if fields.mime_type not in self._allowed_mime_types:
            allowed = ", ".join(self._allowed_mime_types)
            raise InvalidInput(f"snapshotMimeType: {fields.mime_type} is not accepted (one of {allowed})")
        image.check(mime_type=fields.mime_type)
        image.store()
        snapshot.mime_type = fields.mime_type
        snapshot.suffix = fields.suffix
        snapshot.blob_key = image.key
        snapshot.size_bytes = image.size

    def _changed(self, snapshot: Snapshot, state: SnapshotState) -> None:
        snapshot.state = state.value
        snapshot.updated_at = utcnow()
        snapshot.version += 1
        self._db.flush()

    def _notify(self, event_type: str, snapshot: Snapshot, *, actor: Endpoint, to: list[Endpoint]) -> None:
        events.record_snapshot_event(
            self._db,
            event_type=event_type,
            snapshot=snapshot,
            actor=actor,
            recipients=to,
            now=snapshot.updated_at,
        )

    def _delete_blob(self, key: str) -> None:
        try:
            self._blobs.delete(key)
        except Exception:  # the discard stands; a leftover blob is unreachable
            log.warning("could not delete the image %s of a discarded snapshot", key)
