"""Every identity query; realm-scoped ones take the realm id explicitly."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import Row, func, or_, select, update
from sqlalchemy.orm import Session

from fieldhub.core.identity.models import (
    Application,
    ApplicationRoleGrant,
    Group,
    GroupMember,
    Realm,
    RefreshToken,
    User,
)


class IdentityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    # realms
    def realm_by_name(self, name: str) -> Realm | None:
        return self.session.scalars(select(Realm).where(Realm.name == name)).one_or_none()

    def realms(self) -> Sequence[Realm]:
        return self.session.scalars(select(Realm).order_by(Realm.name)).all()

    def any_realm_exists(self) -> bool:
        return self.session.scalars(select(Realm.id).limit(1)).first() is not None

    # users
    def principal_columns(
        self, user_id: uuid.UUID, realm_name: str
    ) -> Row[uuid.UUID, str, bool, uuid.UUID, str] | None:
        """What a request needs to know of its caller, in one lean query (the hottest query there is)."""
        return self.session.execute(
            select(
                User.id,
                User.username,
                User.is_admin,
                Realm.id.label("realm_id"),
                Realm.name.label("realm_name"),
            )
            .join(Realm, Realm.id == User.realm_id)
            .where(User.id == user_id, Realm.name == realm_name)
        ).one_or_none()

    def user_with_realm(self, user_id: uuid.UUID) -> tuple[User, Realm] | None:
        row = self.session.execute(
            select(User, Realm).join(Realm, Realm.id == User.realm_id).where(User.id == user_id)
        ).one_or_none()
        return (row[0], row[1]) if row else None

    def user_by_username(self, realm_id: uuid.UUID, username: str) -> User | None:
        return self.session.scalars(
            select(User).where(User.realm_id == realm_id, User.username == username)
        ).one_or_none()

    def users(self, realm_id: uuid.UUID) -> Sequence[User]:
        return self.session.scalars(
            select(User).where(User.realm_id == realm_id).order_by(User.username)
        ).all()

    def existing_user_ids(self, realm_id: uuid.UUID, ids: set[uuid.UUID]) -> set[uuid.UUID]:
        rows = self.session.scalars(select(User.id).where(User.realm_id == realm_id, User.id.in_(ids)))
        return set(rows)

    # groups
    def group_by_name(self, realm_id: uuid.UUID, name: str) -> Group | None:
        return self.session.scalars(
            select(Group).where(Group.realm_id == realm_id, Group.name == name)
        ).one_or_none()

    def groups(self, realm_id: uuid.UUID) -> Sequence[Group]:
        return self.session.scalars(
            select(Group).where(Group.realm_id == realm_id).order_by(Group.name)
        ).all()

    def existing_group_ids(self, realm_id: uuid.UUID, ids: set[uuid.UUID]) -> set[uuid.UUID]:
        rows = self.session.scalars(select(Group.id).where(Group.realm_id == realm_id, Group.id.in_(ids)))
        return set(rows)

    def is_member(self, group_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        row = self.session.get(GroupMember, (group_id, user_id))
        return row is not None

    # applications
    def application(self, realm_id: uuid.UUID, application_id: str) -> Application | None:
        return self.session.scalars(
            select(Application).where(Application.realm_id == realm_id, Application.id == application_id)
        ).one_or_none()

    def applications(self, realm_id: uuid.UUID) -> Sequence[Application]:
        return self.session.scalars(
            select(Application).where(Application.realm_id == realm_id).order_by(Application.number)
        ).all()

    def next_application_number(self, realm_id: uuid.UUID) -> int:
        highest = self.session.scalar(
            select(func.max(Application.number)).where(Application.realm_id == realm_id)
        )
        return (highest or 0) + 1

    def grant_exists(
        self, application_id: str, user_id: uuid.UUID | None, group_id: uuid.UUID | None, role: str
    ) -> bool:
        query = select(ApplicationRoleGrant.id).where(
            ApplicationRoleGrant.application_id == application_id,
            ApplicationRoleGrant.role == role,
            ApplicationRoleGrant.user_id.is_(None)
            if user_id is None
            else ApplicationRoleGrant.user_id == user_id,
            ApplicationRoleGrant.group_id.is_(None)
            if group_id is None
            else ApplicationRoleGrant.group_id == group_id,
        )
        return self.session.scalars(query).first() is not None

    def application_roles(self, application_id: str, user_id: uuid.UUID) -> set[str]:
        via_groups = select(GroupMember.group_id).where(GroupMember.user_id == user_id)
        rows = self.session.scalars(
            select(ApplicationRoleGrant.role).where(
                ApplicationRoleGrant.application_id == application_id,
                or_(ApplicationRoleGrant.user_id == user_id, ApplicationRoleGrant.group_id.in_(via_groups)),
            )
        )
        return set(rows)

    # refresh tokens
    def refresh_token_by_hash(self, token_hash: str) -> RefreshToken | None:
        return self.session.scalars(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        ).one_or_none()

    def mark_rotated(self, token_id: uuid.UUID, now: dt.datetime) -> bool:
        """Marks a refresh token used; False when another request rotated it first."""
        result = self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token_id, RefreshToken.rotated_at.is_(None))
            .values(rotated_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def revoke_family(self, family_id: uuid.UUID, now: dt.datetime) -> None:
        self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    # login throttling
