"""Every query of the attachments family; realm-scoped ones take the realm id explicitly."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from fieldhub.attachments.models import ApiUser
from fieldhub.core.identity.models import Application, Realm, User


class AttachmentsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    # API users
    def api_login(self, username: str) -> Row[str, uuid.UUID, str, bool, uuid.UUID, str] | None:
        """What authenticating a signed request needs: the sealed secret and the principal's columns."""
        return self.session.execute(
            select(
                ApiUser.sealed_secret,
                User.id,
                User.username,
                User.is_admin,
                Realm.id.label("realm_id"),
                Realm.name.label("realm_name"),
            )
            .join(User, User.id == ApiUser.user_id)
            .join(Realm, Realm.id == ApiUser.realm_id)
            .where(ApiUser.username == username)
        ).one_or_none()

    def api_user_by_username(self, username: str) -> ApiUser | None:
        """Across realms: the Basic login names no realm, so API user names are unique server-wide."""
        return self.session.scalars(select(ApiUser).where(ApiUser.username == username)).one_or_none()

    def api_users(self, realm_id: uuid.UUID) -> Sequence[ApiUser]:
        return self.session.scalars(
            select(ApiUser).where(ApiUser.realm_id == realm_id).order_by(ApiUser.username)
        ).all()

    def delete(self, row: object) -> None:
        self.session.delete(row)
        self.session.flush()

    # projects
    def application_by_number(self, realm_id: uuid.UUID, number: int) -> Application | None:
        return self.session.scalars(
            select(Application).where(Application.realm_id == realm_id, Application.number == number)
        ).one_or_none()
