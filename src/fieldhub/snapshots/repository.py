"""Every snapshot query, always scoped to one realm."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fieldhub.snapshots.models import CameraRequest, Snapshot


class SnapshotRepository:
    def __init__(self, session: Session, *, realm_id: uuid.UUID) -> None:
        self.session = session
        self.realm_id = realm_id

    def add(self, row: Snapshot | CameraRequest) -> None:
        self.session.add(row)
        self.session.flush()

    def snapshot(self, snapshot_id: uuid.UUID, *, for_update: bool = False) -> Snapshot | None:
        query = select(Snapshot).where(Snapshot.id == snapshot_id, Snapshot.realm_id == self.realm_id)
        if for_update:
            # Two concurrent transitions of one snapshot (approve and discard) serialise here.
            query = query.with_for_update()
        return self.session.scalars(query).one_or_none()

    def interaction_snapshots(
        self, interaction_id: str, *, visible_to: uuid.UUID | None
    ) -> Sequence[Snapshot]:
        """The interaction's snapshots, oldest first; only those ``visible_to`` takes part in, if given."""
        query = select(Snapshot).where(
            Snapshot.realm_id == self.realm_id, Snapshot.interaction_id == interaction_id
        )
        if visible_to is not None:
            query = query.where(or_(Snapshot.requester_user_id == visible_to, Snapshot.user_id == visible_to))
        return self.session.scalars(query.order_by(Snapshot.created_at, Snapshot.id)).all()

    def camera_request(self, request_id: uuid.UUID, *, for_update: bool = False) -> CameraRequest | None:
        query = select(CameraRequest).where(
            CameraRequest.id == request_id, CameraRequest.realm_id == self.realm_id
        )
        if for_update:
            query = query.with_for_update()
        return self.session.scalars(query).one_or_none()


def signed_snapshot(session: Session, snapshot_id: uuid.UUID) -> Snapshot | None:
    """The one lookup outside a realm: a signed URL is the authority, and names no realm."""
    return session.get(Snapshot, snapshot_id)
