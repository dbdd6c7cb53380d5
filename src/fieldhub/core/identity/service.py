"""Identity rules: realms, users, groups, applications and their roles."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fieldhub.core.errors import Conflict, InvalidInput, NotFound
from fieldhub.core.identity.models import (
    Application,
    ApplicationRoleGrant,
    Group,
    GroupMember,
    Realm,
    User,
)
from fieldhub.core.identity.passwords import hash_password
from fieldhub.core.identity.repository import IdentityRepository

REALM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
USERNAME = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")
APPLICATION_ROLES = ("manager", "user")
MIN_PASSWORD_LENGTH = 8
AppRole = Literal["admin", "manager", "user"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    user_id: uuid.UUID
    username: str
    realm_id: uuid.UUID
    realm_name: str
    is_admin: bool


class IdentityService:
    def __init__(self, *, session: Session) -> None:
        self.repo = IdentityRepository(session)

    def _add_unique(self, row: object, conflict: str) -> None:
        """Adds ``row``; a unique violation (a concurrent creation of the same name) is a Conflict."""
        try:
            with self.repo.session.begin_nested():
                self.repo.add(row)
        except IntegrityError:
            raise Conflict(conflict) from None

    # realms -------------------------------------------------------------------------------
    def create_realm(self, *, name: str) -> Realm:
        if not REALM_NAME.match(name):
            raise InvalidInput(
                "realm name must be 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
            )
        if self.repo.realm_by_name(name):
            raise Conflict(f"realm {name!r} already exists")
        realm = Realm(name=name)
        self._add_unique(realm, f"realm {name!r} already exists")
        return realm

    def realm(self, *, name: str) -> Realm:
        realm = self.repo.realm_by_name(name)
        if realm is None:
            raise NotFound(f"unknown realm {name!r}")
        return realm

    def realms(self) -> Sequence[Realm]:
        return self.repo.realms()

    # users --------------------------------------------------------------------------------
    def create_user(
        self,
        *,
        realm: Realm,
        username: str,
        password: str | None,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        is_admin: bool = False,
    ) -> User:
        if not USERNAME.match(username):
            raise InvalidInput("username must be 1-128 characters of letters, digits and . _ @ + -")
        if password is not None and len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
        if self.repo.user_by_username(realm.id, username):
            raise Conflict(f"user {username!r} already exists in realm {realm.name!r}")
        user = User(
            realm_id=realm.id,
            username=username,
            email=email,
            first_name=first_name,
            last_name=last_name,
            password_hash=hash_password(password) if password is not None else None,
            is_admin=is_admin,
        )
        self._add_unique(user, f"user {username!r} already exists in realm {realm.name!r}")
        return user

    def user_by_username(self, *, realm: Realm, username: str) -> User:
        user = self.repo.user_by_username(realm.id, username)
        if user is None:
            raise NotFound(f"unknown user {username!r} in realm {realm.name!r}")
        return user

    def set_password(self, *, realm: Realm, username: str, password: str) -> User:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
        user = self.user_by_username(realm=realm, username=username)
        user.password_hash = hash_password(password)
        return user

    def users(self, *, realm: Realm) -> Sequence[User]:
        return self.repo.users(realm.id)

    # groups -------------------------------------------------------------------------------
    def create_group(self, *, realm: Realm, name: str) -> Group:
        if not 1 <= len(name) <= 128:
            raise InvalidInput("group name must be 1-128 characters")
        if self.repo.group_by_name(realm.id, name):
            raise Conflict(f"group {name!r} already exists in realm {realm.name!r}")
        group = Group(realm_id=realm.id, name=name)
        self._add_unique(group, f"group {name!r} already exists in realm {realm.name!r}")
        return group

    def group_by_name(self, *, realm: Realm, name: str) -> Group:
        group = self.repo.group_by_name(realm.id, name)
        if group is None:
            raise NotFound(f"unknown group {name!r} in realm {realm.name!r}")
        return group

    def add_member(self, *, realm: Realm, group_name: str, username: str) -> Group:
        group = self.group_by_name(realm=realm, name=group_name)
        user = self.user_by_username(realm=realm, username=username)
        if self.repo.is_member(group.id, user.id):
            raise Conflict(f"user {username!r} is already a member of group {group_name!r}")
        self.repo.add(GroupMember(group_id=group.id, user_id=user.id))
        return group

    def groups(self, *, realm: Realm) -> Sequence[Group]:
        return self.repo.groups(realm.id)

    # applications -------------------------------------------------------------------------
    def create_application(self, *, realm: Realm, name: str) -> Application:
        if not 1 <= len(name) <= 255:
            raise InvalidInput("application name must be 1-255 characters")
        application = Application(
            id=secrets.token_hex(12),
            realm_id=realm.id,
            number=self.repo.next_application_number(realm.id),
            name=name,
            current_version=1,
        )
        try:
            with self.repo.session.begin_nested():
                self.repo.add(application)
        except IntegrityError:
            raise Conflict("another application was created at the same time; try again") from None
        return application

    def applications(self, *, realm: Realm) -> Sequence[Application]:
        return self.repo.applications(realm.id)

    def application(self, *, realm_id: uuid.UUID, application_id: str) -> Application:
        application = self.repo.application(realm_id, application_id)
        if application is None:
            raise NotFound("Application not found")
        return application

    def grant(
        self,
        *,
        realm: Realm,
        application_id: str,
        role: str,
        username: str | None = None,
        group_name: str | None = None,
    ) -> ApplicationRoleGrant:
        if role not in APPLICATION_ROLES:
            raise InvalidInput(f"role must be one of {', '.join(APPLICATION_ROLES)}")
        if (username is None) == (group_name is None):
            raise InvalidInput("give exactly one of a username or a group")
        application = self.repo.application(realm.id, application_id)
        if application is None:
            raise NotFound(f"unknown application {application_id!r} in realm {realm.name!r}")
        user_id = self.user_by_username(realm=realm, username=username).id if username else None
        group_id = self.group_by_name(realm=realm, name=group_name).id if group_name else None
        if self.repo.grant_exists(application.id, user_id, group_id, role):
            raise Conflict(f"that role {role!r} is already granted")
        grant = ApplicationRoleGrant(
            application_id=application.id, user_id=user_id, group_id=group_id, role=role
        )
        self.repo.add(grant)
        return grant

    def application_role(self, *, principal: Principal, application: Application) -> AppRole | None:
        """The strongest role the caller holds in ``application``; realm admins hold ``admin``."""
        if principal.is_admin:
            return "admin"
        roles = self.repo.application_roles(application.id, principal.user_id)
        if "manager" in roles:
            return "manager"
        return "user" if "user" in roles else None
