"""Insight users (the realm's users), their consents and their one-time set-password links."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from fieldhub.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from fieldhub.core.identity.models import Realm, User
from fieldhub.core.identity.service import IdentityService
from fieldhub.insight.models import Consent, PasswordLink, UserProfile
from fieldhub.insight.repository import InsightRepository, UnscopedInsightRepository

#: Consent types and the key each has in a request (``*_version``) and in a response.
CONSENT_KEYS = {
    "PRIVACY_POLICY": ("privacy_policy_version", "privacy_policy"),
    "TERMS_AND_CONDITIONS_AGREEMENT": ("terms_and_conditions_version", "terms_and_conditions_agreement"),
    "CONNECTED_POLICY": ("connected_policy_version", "connected_policy"),
}


@dataclass(frozen=True, slots=True)
class UserView:
    """A user with what Insight adds to it; ``consents`` holds the newest consent of each type."""

    user: User
    profile: UserProfile | None
    consents: dict[str, Consent]


@dataclass(frozen=True, slots=True)
class UserChanges:
    first_name: str | None = None
    last_name: str | None = None
    is_admin: bool | None = None
    language: str | None = None


def hash_token(token: str) -> str:
    # The token carries 256 bits of entropy: its plain SHA-256 cannot be reversed, and looking a
    # row up by that hash leaks nothing usable through timing.
    return hashlib.sha256(token.encode()).hexdigest()


def new_password_link(session: Session, *, user: User, now: dt.datetime, ttl_seconds: int) -> str:
    """A fresh one-time token for ``user``; earlier links of the user stop working."""
    repo = InsightRepository(session, realm_id=user.realm_id)
    repo.forget_password_links(user.id)
    token = secrets.token_urlsafe(32)
    repo.add(
        PasswordLink(
            token_hash=hash_token(token), user_id=user.id, expires_at=now + dt.timedelta(seconds=ttl_seconds)
        )
    )
    return token


def set_password_with_link(session: Session, *, token: str, password: str, now: dt.datetime) -> User:
    """Spends a set-password token; an unknown, spent or expired one is a 401."""
    unscoped = UnscopedInsightRepository(session)
    link = unscoped.password_link(hash_token(token))
    user = unscoped.user(link.user_id) if link is not None and link.expires_at > now else None
    realm = unscoped.realm(user.realm_id) if user is not None else None
    if user is None or realm is None:
        raise Unauthenticated("The set-password link is invalid or has expired")
    IdentityService(session=session).set_password(realm=realm, username=user.username, password=password)
    InsightRepository(session, realm_id=realm.id).forget_password_links(user.id)
    return user


class UserService:
    def __init__(self, *, session: Session, realm_id: uuid.UUID) -> None:
        self.repo = InsightRepository(session, realm_id=realm_id)
        self.identity = IdentityService(session=session)
        self.realm_id = realm_id

    def _views(self, users: Sequence[User]) -> list[UserView]:
        ids = [user.id for user in users]
        profiles = self.repo.profiles(ids)
        latest = self.repo.latest_consents(ids)
        return [
            UserView(
                user=user,
                profile=profiles.get(user.id),
                consents={kind: row for (owner, kind), row in latest.items() if owner == user.id},
            )
            for user in users
        ]

    def page(self, *, after: str | None, limit: int) -> tuple[list[UserView], str | None]:
        """One page of users by username, and the username the next page starts after."""
        users = self.repo.users_after(after, limit + 1)
        more = len(users) > limit
        users = users[:limit]
        return self._views(users), users[-1].username if more else None

    def _user(self, user_id: uuid.UUID) -> User:
        user = self.repo.user(user_id)
        if user is None:
            raise NotFound("User not found")
        return user

    def get(self, *, user_id: uuid.UUID) -> UserView:
        return self._views([self._user(user_id)])[0]

    def create(
        self, *, first_name: str, last_name: str, email: str, is_admin: bool, now: dt.datetime
    ) -> UserView:
        """Creates a user without a password; the email (lower-cased) is also the username."""
        if self.repo.email_taken(email):
            raise Conflict("A user with this email already exists")
        realm = self.repo.session.get(Realm, self.realm_id)
        if realm is None:
            raise NotFound("Customer not found")
        try:
            user = self.identity.create_user(
                realm=realm,
                username=email,
                password=None,
                email=email,
                first_name=first_name,
                last_name=last_name,
                is_admin=is_admin,
            )
        except Conflict:
            raise Conflict("A user with this email already exists") from None
        self.repo.add(UserProfile(user_id=user.id, updated_at=now))
        return self.get(user_id=user.id)

    def change(
        self, *, user_id: uuid.UUID, changes: UserChanges, caller_id: uuid.UUID, now: dt.datetime
    ) -> None:
        user = self._user(user_id)
        if changes.is_admin is False and user.id == caller_id and user.is_admin:
            raise Conflict("An admin cannot take the ADMIN_ROLE from themselves")
        for field in ("first_name", "last_name", "is_admin"):
            value = getattr(changes, field)
            if value is not None:
                setattr(user, field, value)
        profile = self.repo.profiles([user.id]).get(user.id)
        if profile is None:
            profile = UserProfile(user_id=user.id)
            self.repo.session.add(profile)
        if changes.language is not None:
            profile.language = changes.language
        profile.updated_at = now
        self.repo.session.flush()

    def delete(self, *, user_id: uuid.UUID, caller_id: uuid.UUID) -> None:
        """Hard delete: the user's access tokens fail at once, since every request looks the user up."""
        user = self._user(user_id)
        if user.id == caller_id:
            raise Conflict("A user cannot delete themselves")
        self.repo.delete_user(user)

    # consents -----------------------------------------------------------------------------
    def consents(self, *, user_id: uuid.UUID, types: Sequence[str]) -> dict[str, list[Consent]]:
        rows = self.repo.consents(user_id, types)
        return {kind: [row for row in rows if row.type == kind] for kind in types}

    def give_consents(self, *, user_id: uuid.UUID, versions: dict[str, str], now: dt.datetime) -> None:
        if not versions:
            raise InvalidInput(
                "body: give at least one of "
                + ", ".join(request_key for request_key, _ in CONSENT_KEYS.values())
            )
        self._user(user_id)
        for kind, version in versions.items():
            self.repo.session.add(Consent(user_id=user_id, type=kind, version=version, agreed_at=now))
        self.repo.session.flush()
