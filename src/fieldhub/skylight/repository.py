"""Every session query, always scoped to one realm and application."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, delete, func, or_, select
from sqlalchemy.orm import Session, joinedload, lazyload

from fieldhub.core.identity.models import GroupMember
from fieldhub.core.pagination import Cursor, Page, SortKey, keyset_page
from fieldhub.skylight.models import SessionParticipant, SessionProperty, WorkSession

SORTABLE = {
    # The spec's example URL sorts by "_id", its name for the default creation order.
    "_id": (WorkSession.pk, "int"),
    "name": (WorkSession.name, "str"),
    "createdAt": (WorkSession.created_at, "datetime"),
    "modifiedAt": (WorkSession.modified_at, "datetime"),
}
CREATION_ORDER = SortKey(name="_id", column=WorkSession.pk, kind="int", descending=False)


@dataclass(frozen=True)
class AuditedFilter:
    """What the session and media lists share: property filters, and who created or changed an
    item and when (each list adds its own filters)."""

    properties: dict[str, list[str]] = field(default_factory=dict)
    created_by: list[uuid.UUID] = field(default_factory=list)
    modified_by: list[uuid.UUID] = field(default_factory=list)
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    modified_from: dt.datetime | None = None
    modified_to: dt.datetime | None = None

    def digest(self, scope: dict[str, Any]) -> str:
        """A short digest of this query in ``scope``; a walk's cursors carry it (see core.pagination)."""
        document = orjson.dumps(
            {**scope, **dataclasses.asdict(self)}, default=str, option=orjson.OPT_SORT_KEYS
        )
        return hashlib.sha256(document).hexdigest()[:16]

    def where_audited(self, query: Select[Any], entity: Any) -> Select[Any]:
        """``query`` narrowed by the creator, modifier and time bounds on ``entity``'s audit columns."""
        if self.created_by:
            query = query.where(entity.created_by.in_(self.created_by))
        if self.modified_by:
            query = query.where(entity.modified_by.in_(self.modified_by))
        bounds: list[tuple[Any, dt.datetime | None, bool]] = [
            (entity.created_at, self.created_from, True),
            (entity.created_at, self.created_to, False),
            (entity.modified_at, self.modified_from, True),
            (entity.modified_at, self.modified_to, False),
        ]
        for column, bound, lower in bounds:
            if bound is not None:
                query = query.where(column >= bound if lower else column <= bound)
        return query


@dataclass(frozen=True)
class SessionFilter(AuditedFilter):
    status: str | None = None
    participants: list[uuid.UUID] = field(default_factory=list)
    name: str | None = None
    #: When set, only sessions this user takes part in (directly or through a group) or created.
    visible_to: uuid.UUID | None = None

    def fingerprint(self, application_id: str) -> str:
        return self.digest({"application": application_id})


def sort_key(sort: str | None) -> SortKey:
    if not sort:
        return CREATION_ORDER
    name = sort.removeprefix("-")
    column, kind = SORTABLE[name]
    return SortKey(name=sort, column=column, kind=kind, descending=sort.startswith("-"))  # type: ignore[arg-type]


class SessionRepository:
    def __init__(self, session: Session, *, realm_id: uuid.UUID, application_id: str) -> None:
        self.db = session
        self.realm_id = realm_id
        self.application_id = application_id

    def _scoped(self) -> Select[WorkSession]:
        return select(WorkSession).where(
            WorkSession.realm_id == self.realm_id, WorkSession.application_id == self.application_id
        )

    def add(self, work_session: WorkSession) -> None:
        self.db.add(work_session)
        self.db.flush()

    def get(self, session_id: uuid.UUID, *, for_update: bool = False) -> WorkSession | None:
        query = self._scoped().where(WorkSession.id == session_id)
        if for_update:
            # FOR UPDATE cannot lock the nullable side of an outer join, so no joined load here;
            # and a change loads the participants only if it needs them (a data PATCH does not).
            query = query.options(lazyload(WorkSession.participants)).with_for_update()
            return self.db.scalars(query).one_or_none()
        # One round trip for the session and its participants (reads are the hot path).
        return self.db.scalars(query.options(joinedload(WorkSession.participants))).unique().one_or_none()

    def is_visible_to(self, work_session: WorkSession, user_id: uuid.UUID) -> bool:
        query = select(WorkSession.pk).where(WorkSession.pk == work_session.pk, self._visibility(user_id))
        return self.db.scalar(query) is not None

    @staticmethod
    def _visibility(user_id: uuid.UUID) -> ColumnElement[bool]:
        my_groups = select(GroupMember.group_id).where(GroupMember.user_id == user_id)
        taking_part = select(SessionParticipant.session_pk).where(
            or_(
                SessionParticipant.participant_id == user_id, SessionParticipant.participant_id.in_(my_groups)
            )
        )
        return or_(WorkSession.created_by == user_id, WorkSession.pk.in_(taking_part))

    def _filtered(self, filters: SessionFilter, *, counting: bool = False) -> Select[WorkSession]:
        query = self._scoped()
        for key, values in filters.properties.items():
            query = query.where(_has_property(key, values, counting=counting))
        if filters.status:
            query = query.where(WorkSession.status == filters.status)
        if filters.participants:
            with_them = select(SessionParticipant.session_pk).where(
                SessionParticipant.participant_id.in_(filters.participants)
            )
            query = query.where(WorkSession.pk.in_(with_them))
        if filters.name is not None:
            query = query.where(WorkSession.name == filters.name)
        query = filters.where_audited(query, WorkSession)
        if filters.visible_to is not None:
            query = query.where(self._visibility(filters.visible_to))
        return query

    def page(
        self,
        filters: SessionFilter,
        *,
        sort: SortKey,
        limit: int,
        cursor: Cursor | None,
        total: int,
        scope: str,
    ) -> Page:
        return keyset_page(
            self.db,
            self._filtered(filters),
            sort=sort,
            tiebreak=WorkSession.pk,
            limit=limit,
            cursor=cursor,
            row_value=lambda row: getattr(row, _attribute(sort)),
            row_key=lambda row: row.pk,
            total=total,
            scope=scope,
        )

    def count(self, filters: SessionFilter) -> int:
        subquery = self._filtered(filters, counting=True).with_only_columns(WorkSession.pk).subquery()
        return int(self.db.scalar(select(func.count()).select_from(subquery)) or 0)

    def replace_properties(self, work_session: WorkSession, properties: dict[str, Any]) -> None:
        self.db.execute(delete(SessionProperty).where(SessionProperty.session_pk == work_session.pk))
        self.db.add_all(
            SessionProperty(session_pk=work_session.pk, key=key, value=property_text(value))
            for key, value in properties.items()
        )

    def audience_ids(self, work_session: WorkSession) -> set[uuid.UUID]:
        """The session's user participants and the members of its group participants, in one
        query of ids: a session with 1,000 participants need not load 1,000 objects per event."""
        participant = SessionParticipant
        ids = select(participant.participant_id).where(participant.session_pk == work_session.pk)
        users = ids.where(participant.type == "user")
        groups = ids.where(participant.type == "group")
        members = select(GroupMember.user_id).where(GroupMember.group_id.in_(groups))
        return set(self.db.scalars(users.union(members)))


def _has_property(key: str, values: list[str], *, counting: bool) -> ColumnElement[bool]:
    """``prop.KEY=A,B``.

    A page walks the sort index and probes each session's property by primary key (EXISTS),
    stopping after ``limit`` matches; a count must visit every match, which the
    (key, value) index yields fastest (IN).  Measured on 100,000 sessions in SQLite: 0.4 ms
    against 64 ms for the page, 34 ms against 125 ms for the count.
    """
    if counting:
        return WorkSession.pk.in_(
            select(SessionProperty.session_pk).where(
                SessionProperty.key == key, SessionProperty.value.in_(values)
            )
        )
    return (
        select(SessionProperty.session_pk)
        .where(
            SessionProperty.session_pk == WorkSession.pk,
            SessionProperty.key == key,
            SessionProperty.value.in_(values),
        )
        .exists()
    )


def _attribute(sort: SortKey) -> str:
    return {"_id": "pk", "name": "name", "createdAt": "created_at", "modifiedAt": "modified_at"}[
        sort.name.removeprefix("-")
    ]


def property_text(value: Any) -> str:
    """How a property value is indexed: ``prop.orderId=123456`` matches the number 123456."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
