"""Session rules: who may do what, what a change does, and which event it records."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from fieldhub.core.db import utcnow
from fieldhub.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from fieldhub.core.identity.service import AppRole, IdentityService, Principal
from fieldhub.core.pagination import Cursor, Page, SortKey
from fieldhub.skylight import events
from fieldhub.skylight.events import DeviceContext
from fieldhub.skylight.models import SessionParticipant, WorkSession
from fieldhub.skylight.repository import SessionFilter, SessionRepository
from fieldhub.skylight.schemas import Participant, SessionCreate, SessionDataPatch, SessionPatch


@dataclass(frozen=True, slots=True)
class SessionListing:
    page: Page
    total: int


class SessionService:
    """Works on the sessions of one application, on behalf of one caller."""

    def __init__(
        self, *, db: Session, identity: IdentityService, caller: Principal, application_id: str
    ) -> None:
        self._db = db
        self._caller = caller
        self._identity_repo = identity.repo
        self.application = identity.application(realm_id=caller.realm_id, application_id=application_id)
        role = identity.application_role(principal=caller, application=self.application)
        if role is None:
            raise PermissionDenied("You have no role in this application")
        self._role: AppRole = role
        self._repo = SessionRepository(db, realm_id=caller.realm_id, application_id=application_id)

    @property
    def _sees_everything(self) -> bool:
        return self._role in ("admin", "manager")

    # reading -----------------------------------------------------------------------------
    def find(
        self, *, filters: SessionFilter, sort: SortKey, limit: int, cursor: Cursor | None
    ) -> SessionListing:
        if not self._sees_everything:
            filters = dataclasses.replace(filters, visible_to=self._caller.user_id)
        scope = filters.fingerprint(self.application.id)
        if cursor is not None and cursor.scope != scope:
            raise InvalidInput("cursor: made for other filters or another caller; start again without one")
        # A walk counts once, on its first page; its cursors carry the total on.
        total = cursor.total if cursor is not None and cursor.total is not None else self._repo.count(filters)
        return SessionListing(
            page=self._repo.page(filters, sort=sort, limit=limit, cursor=cursor, total=total, scope=scope),
            total=total,
        )

    def get(self, *, session_id: uuid.UUID, for_update: bool = False) -> WorkSession:
        work_session = self._repo.get(session_id, for_update=for_update)
        if work_session is None:
            raise NotFound("Session not found")
        if not self._sees_everything and not self._repo.is_visible_to(work_session, self._caller.user_id):
            raise PermissionDenied("You do not take part in this session")
        return work_session

    def open_for_change(self, session_id: uuid.UUID) -> WorkSession:
        work_session = self.get(session_id=session_id, for_update=True)
        if work_session.status == "closed":
            raise Conflict("Session is closed")
        return work_session

    # changing ----------------------------------------------------------------------------
    def create(self, *, body: SessionCreate, device: DeviceContext) -> WorkSession:
        self._check_participants(body.participants, field="participants")
        now = utcnow()
        work_session = WorkSession(
            id=uuid.uuid4(),
            realm_id=self._caller.realm_id,
            application_id=self.application.id,
            version=body.version,
            name=body.name,
            description=body.description,
            status=body.status,
            properties=dict(body.properties or {}),
            data={},
            is_draft=False,
            created_by=self._caller.user_id,
            created_at=now,
            modified_by=self._caller.user_id,
            modified_at=now,
            participants=_participant_rows(body.participants),
        )
        self._repo.add(work_session)
        self._repo.replace_properties(work_session, work_session.properties)
        self._record(events.SESSION_CREATED, work_session, device, {"session": "created"}, now)
        return work_session

    def patch(self, *, session_id: uuid.UUID, body: SessionPatch, device: DeviceContext) -> WorkSession:
        work_session = self.open_for_change(session_id)
        given = body.model_fields_set
        changes: dict[str, Any] = {}
        for name in ("version", "name", "description"):
            value = getattr(body, name)
            if name in given and value is not None and value != getattr(work_session, name):
                setattr(work_session, name, value)
                changes[name] = value
        audience = self.audience(work_session)
        if "participants" in given and body.participants is not None:
            self._check_participants(body.participants, field="participants")
            wanted = [p.model_dump() for p in body.participants]
            if wanted != [_participant_json(p) for p in work_session.participants]:
                work_session.participants = _participant_rows(body.participants)
                changes["participants"] = wanted
        if "properties" in given:
            properties = dict(body.properties or {})
            if properties != work_session.properties:
                work_session.properties = properties
                self._repo.replace_properties(work_session, properties)
                changes["properties"] = properties
        closing = body.status == "closed"
        if closing:
            work_session.status = "closed"
            changes["status"] = "closed"
        if not changes:
            # Nothing differs: no new modifiedAt/modifiedBy and no event for subscribers to process.
            return work_session
        now = self._touch(work_session)
        # Participants dropped by this PATCH still hear of it, as a removal by DELETE does.
        audience |= self.audience(work_session)
        if "properties" in changes:
            self._record(
                events.SESSION_PROPERTIES_UPDATED,
                work_session,
                device,
                {"properties": changes["properties"]},
                now,
                audience=audience,
            )
        self._record(
            events.SESSION_CLOSED if closing else events.SESSION_UPDATED,
            work_session,
            device,
            changes,
            now,
            audience=audience,
        )
        return work_session

    def participants(self, *, session_id: uuid.UUID) -> list[SessionParticipant]:
        return list(self.get(session_id=session_id).participants)

    def add_participant(
        self, *, session_id: uuid.UUID, participant: Participant, device: DeviceContext
    ) -> None:
        work_session = self.open_for_change(session_id)
        self._check_participants([participant], field="body")
        participant_id = uuid.UUID(participant.id)
        existing = next((p for p in work_session.participants if p.participant_id == participant_id), None)
        if existing is not None:
            existing.type, existing.is_guest = participant.type, participant.isGuest
        else:
            position = max((p.position for p in work_session.participants), default=-1) + 1
            work_session.participants.append(_participant_row(participant, position))
        now = self._touch(work_session)
        self._record(
            events.SESSION_PARTICIPANT_ADDED,
            work_session,
            device,
            {"participant": participant.model_dump()},
            now,
        )

    def remove_participant(
        self, *, session_id: uuid.UUID, participant_id: uuid.UUID, device: DeviceContext
    ) -> None:
        work_session = self.open_for_change(session_id)
        removed = next((p for p in work_session.participants if p.participant_id == participant_id), None)
        if removed is None:
            raise NotFound("Participant not found in this session")
        # The removed participant still hears of its own removal, and of nothing after it.
        audience = self.audience(work_session)
        work_session.participants.remove(removed)
        now = self._touch(work_session)
        self._record(
            events.SESSION_PARTICIPANT_REMOVED,
            work_session,
            device,
            {"participant": {"id": str(participant_id), "type": removed.type}},
            now,
            audience=audience,
        )

    def data(self, *, session_id: uuid.UUID) -> dict[str, Any]:
        return dict(self.get(session_id=session_id).data)

    def patch_data(
        self, *, session_id: uuid.UUID, body: SessionDataPatch, device: DeviceContext
    ) -> uuid.UUID:
        """Merges ``body.data`` into the session's data: given keys replace, ``null`` removes a key."""
        work_session = self.open_for_change(session_id)
        merged = dict(work_session.data)
        for key, value in body.data.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        work_session.data = merged
        now = self._touch(work_session)
        return self._record(
            events.SESSION_DATA_UPDATED,
            work_session,
            device,
            {"data": body.data, "version": body.version},
            now,
        )

    # helpers -----------------------------------------------------------------------------
    def _touch(self, work_session: WorkSession) -> dt.datetime:
        now = utcnow()
        work_session.modified_at, work_session.modified_by = now, self._caller.user_id
        self._db.flush()
        return now

    def _check_participants(self, participants: Sequence[Participant], *, field: str) -> None:
        seen: set[str] = set()
        users = {uuid.UUID(p.id) for p in participants if p.type == "user"}
        groups = {uuid.UUID(p.id) for p in participants if p.type == "group"}
        known_users = self._identity_repo.existing_user_ids(self._caller.realm_id, users) if users else set()
        known_groups = (
            self._identity_repo.existing_group_ids(self._caller.realm_id, groups) if groups else set()
        )
        for index, participant in enumerate(participants):
            where = f"body.{field}[{index}].id" if field == "participants" else f"{field}.id"
            if participant.id in seen:
                raise InvalidInput(f"{where}: {participant.id} is listed twice")
            seen.add(participant.id)
            known = known_users if participant.type == "user" else known_groups
            if uuid.UUID(participant.id) not in known:
                raise InvalidInput(f"{where}: no {participant.type} with id {participant.id} in this realm")

    def audience(self, work_session: WorkSession) -> set[uuid.UUID]:
        self._db.flush()  # a new session's key and this unit of work's participant changes
        return self._repo.audience_ids(work_session) | {work_session.created_by}

    def _record(
        self,
        event_type: str,
        work_session: WorkSession,
        device: DeviceContext,
        changes: dict[str, Any],
        now: dt.datetime,
        *,
        audience: set[uuid.UUID] | None = None,
    ) -> uuid.UUID:
        return events.record_session_event(
            self._db,
            event_type=event_type,
            work_session=work_session,
            actor=self._caller.user_id,
            device=device,
            changes=changes,
            realm_name=self._caller.realm_name,
            audience=audience if audience is not None else self.audience(work_session),
            now=now,
        )


def _participant_row(participant: Participant, position: int) -> SessionParticipant:
    return SessionParticipant(
        participant_id=uuid.UUID(participant.id),
        type=participant.type,
        is_guest=participant.isGuest,
        position=position,
    )


def _participant_json(row: SessionParticipant) -> dict[str, Any]:
    return {"type": row.type, "id": str(row.participant_id), "isGuest": row.is_guest}


def _participant_rows(participants: Sequence[Participant]) -> list[SessionParticipant]:
    return [_participant_row(p, index) for index, p in enumerate(participants)]
