"""API users and the family's signed-request scheme (HTTP Basic with an HMAC as the password).

A client signs ``"name:" + username + ";timestamp:" + ts + ";"`` with HMAC-SHA256 keyed by its
API secret and sends ``Basic base64(username ":" base64(hmac))`` plus the timestamp in the
``HTTP-X-API-TIMESTAMP`` header.  The secret itself never travels; a captured password is good
only while its timestamp is within :data:`MAX_CLOCK_SKEW_SECONDS` of the server's clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fieldhub.attachments.models import ApiUser
from fieldhub.attachments.repository import AttachmentsRepository
from fieldhub.core.errors import Conflict, NotFound, PermissionDenied, Unauthenticated
from fieldhub.core.identity.models import Realm
from fieldhub.core.identity.sealing import SealingKeyMismatch, SecretSealer
from fieldhub.core.identity.service import IdentityService, Principal

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW_SECONDS = 300
#: 32 random bytes, URL-safe base64 (43 characters): easy to paste into a shell or a config file.
SECRET_BYTES = 32
REFUSED = "Invalid API credentials"
#: Checked against when the user is unknown, so that both cases cost the same work.
_UNKNOWN_USER_SECRET = secrets.token_urlsafe(SECRET_BYTES)


def signature(*, secret: str, username: str, timestamp: str) -> str:
    """The password a client sends: Base64(HMAC-SHA256(secret, "name:U;timestamp:TS;"))."""
    message = f"name:{username};timestamp:{timestamp};".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode("ascii")


@dataclass(frozen=True, slots=True)
class SignedCredentials:
    username: str
    password: str = field(repr=False)
    timestamp: str


@dataclass(frozen=True, slots=True)
class CreatedApiUser:
    username: str
    #: Shown once, to whoever created the API user; only its sealed form is stored.
    secret: str = field(repr=False)


class ApiUserService:
    def __init__(self, *, session: Session, sealer: SecretSealer) -> None:
        self._repo = AttachmentsRepository(session)
        self._identity = IdentityService(session=session)
        self._sealer = sealer

    # administration (the CLI) -------------------------------------------------------------
    def create(self, *, realm: Realm, username: str) -> CreatedApiUser:
        """Gives ``username`` of ``realm`` an API secret, creating a password-less user if needed.

        The API user acts as that realm user: its application roles are granted as any user's.
        """
        if self._repo.api_user_by_username(username) is not None:
            raise Conflict(
                f"API user {username!r} already exists (API user names are unique across realms: "
                "the signed login names no realm); delete it first to issue a new secret"
            )
        user = self._identity.repo.user_by_username(realm.id, username)
        if user is None:
            user = self._identity.create_user(realm=realm, username=username, password=None)
        secret = secrets.token_urlsafe(SECRET_BYTES)
        row = ApiUser(
            realm_id=realm.id, user_id=user.id, username=username, sealed_secret=self._sealer.seal(secret)
        )
        try:
            with self._repo.session.begin_nested():
                self._repo.add(row)
        except IntegrityError:
            raise Conflict(f"API user {username!r} was created at the same time; try again") from None
        return CreatedApiUser(username=username, secret=secret)

    def api_users(self, *, realm: Realm) -> Sequence[ApiUser]:
        return self._repo.api_users(realm.id)

    def delete(self, *, realm: Realm, username: str) -> None:
        """Revokes the secret; the realm user (and whatever it created) stays."""
        row = self._repo.api_user_by_username(username)
        if row is None or row.realm_id != realm.id:
            raise NotFound(f"unknown API user {username!r} in realm {realm.name!r}")
        self._repo.delete(row)

    # authentication ---------------------------------------------------------------------
    def authenticate(self, credentials: SignedCredentials, *, now: float) -> Principal:
        timestamp = _unix_seconds(credentials.timestamp)
        if abs(now - timestamp) > MAX_CLOCK_SKEW_SECONDS:
            raise PermissionDenied(
                "HTTP-X-API-TIMESTAMP: more than 5 minutes away from the server's time (see GET /api/v1/time)"
            )
        row = self._repo.api_login(credentials.username)
        secret = self._secret(row.sealed_secret) if row is not None else None
        expected = signature(
            secret=secret or _UNKNOWN_USER_SECRET,
            username=credentials.username,
            timestamp=credentials.timestamp,
        )
        matches = hmac.compare_digest(expected.encode(), credentials.password.encode("utf-8", "replace"))
        if row is None or secret is None or not matches:
            raise PermissionDenied(REFUSED)
        return Principal(
            user_id=row.id,
            username=row.username,
            realm_id=row.realm_id,
            realm_name=row.realm_name,
            is_admin=row.is_admin,
        )

    def _secret(self, sealed: str) -> str | None:
        try:
            return self._sealer.unseal(sealed)
        except SealingKeyMismatch:
            # The data directory's key changed (restored from elsewhere?): every secret is lost.
            log.error("an API secret cannot be unsealed with this data directory's key")
            return None


def _unix_seconds(value: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise Unauthenticated("HTTP-X-API-TIMESTAMP: must be the unix time in whole seconds")
    return int(text)
