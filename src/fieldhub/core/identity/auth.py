"""Logins, token refresh and the authentication of access tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from fieldhub.core.errors import Unauthenticated
from fieldhub.core.identity.models import Realm, RefreshToken, User
from fieldhub.core.identity.passwords import hash_password, needs_rehash, verify_password
from fieldhub.core.identity.repository import IdentityRepository
from fieldhub.core.identity.service import Principal
from fieldhub.core.identity.throttle import LoginThrottle
from fieldhub.core.identity.tokens import AccessTokenCodec, hash_refresh_token, new_refresh_token


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


@dataclass(frozen=True, slots=True)
class LoginCandidate:
    """What the read phase of a login found; ``user_id`` is None for an unknown realm or user."""

    realm_name: str
    username: str
    user_id: uuid.UUID | None
    password_hash: str | None = field(repr=False)


def check_password(candidate: LoginCandidate, password: str) -> bool:
    """Verifies without any database work; an unknown user costs as much as a known one."""
    return verify_password(candidate.password_hash, password) and candidate.user_id is not None


LOGIN_REFUSED = "Invalid username or password"


@dataclass(frozen=True, slots=True)
class LoginRejected:
    """A refused login or refresh: the caller commits (to keep the failure count) then reports it."""

    reason: str


class AuthService:
    def __init__(
        self,
        *,
        session: Session,
        tokens: AccessTokenCodec,
        refresh_ttl_seconds: int,
        throttle: LoginThrottle,
    ) -> None:
        self.repo = IdentityRepository(session)
        self._tokens = tokens
        self._refresh_ttl = refresh_ttl_seconds
        self._throttle = throttle

    def begin_login(
        self, *, realm_name: str, username: str, client_address: str, now: dt.datetime
    ) -> LoginCandidate:
        """Read phase: refuses a throttled caller and looks the user up.

        Verifying a password takes argon2's deliberate ~0.1 s, so the HTTP edge runs it between a
        read-only unit of work (this) and a short write unit of work (:meth:`finish_login`):
        holding a transaction open across it would serialise every login on SQLite's write lock.
        """
        self._throttle.check(realm=realm_name, username=username, client_address=client_address, now=now)
        realm = self.repo.realm_by_name(realm_name)
        user = self.repo.user_by_username(realm.id, username) if realm else None
        return LoginCandidate(
            realm_name=realm_name,
            username=username,
            user_id=user.id if user else None,
            password_hash=user.password_hash if user else None,
        )

    def finish_login(
        self,
        candidate: LoginCandidate,
        *,
        password: str,
        password_ok: bool,
        client_address: str,
        now: dt.datetime,
    ) -> TokenPair | LoginRejected:
        """Write phase: counts a failure, or clears the user's count and issues the tokens."""
        found = self.repo.user_with_realm(candidate.user_id) if candidate.user_id else None
        if found is None or found[1].name != candidate.realm_name or not password_ok:
            self._throttle.record_failure(
                realm=candidate.realm_name,
                username=candidate.username,
                client_address=client_address,
                now=now,
            )
            return LoginRejected(LOGIN_REFUSED)
        user, realm = found
        if user.password_hash != candidate.password_hash:
            # The password changed while this one was being checked; the old one no longer counts.
            return LoginRejected(LOGIN_REFUSED)
        if user.password_hash and needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        self._throttle.record_success(realm=candidate.realm_name, username=candidate.username)
        return self._issue(user=user, realm=realm, family_id=uuid.uuid4(), now=now)

    def refresh(self, *, refresh_token: str, now: dt.datetime) -> TokenPair | LoginRejected:
        stored = self.repo.refresh_token_by_hash(hash_refresh_token(refresh_token))
        if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
            return LoginRejected("Invalid or expired refresh token")
        if stored.rotated_at is not None or not self.repo.mark_rotated(stored.id, now):
            # A rotated token came back: it was stolen or replayed, so the whole family goes.
            self.repo.revoke_family(stored.family_id, now)
            return LoginRejected("Refresh token was already used; its session has been revoked")
        found = self.repo.user_with_realm(stored.user_id)
        if found is None:
            return LoginRejected("Invalid or expired refresh token")
        user, realm = found
        return self._issue(user=user, realm=realm, family_id=stored.family_id, now=now)

    def _issue(self, *, user: User, realm: Realm, family_id: uuid.UUID, now: dt.datetime) -> TokenPair:
        access = self._tokens.issue(user_id=user.id, realm=realm.name, roles=user.roles, now=now)
        refresh, refresh_hash = new_refresh_token()
        self.repo.add(
            RefreshToken(
                family_id=family_id,
                user_id=user.id,
                token_hash=refresh_hash,
                issued_at=now,
                expires_at=now + dt.timedelta(seconds=self._refresh_ttl),
            )
        )
        return TokenPair(
            access_token=access,
            expires_in=self._tokens.ttl_seconds,
            refresh_token=refresh,
            refresh_expires_in=self._refresh_ttl,
        )

    def authenticate(self, *, access_token: str) -> Principal:
        """The principal behind a valid access token whose user and realm still exist."""
        claims = self._tokens.verify(access_token)
        row = self.repo.principal_columns(claims.subject, claims.realm)
        if row is None:
            raise Unauthenticated("Invalid access token")
        return Principal(
            user_id=row.id,
            username=row.username,
            realm_id=row.realm_id,
            realm_name=row.realm_name,
            is_admin=row.is_admin,
        )
