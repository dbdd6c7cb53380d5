"""OAuth 2.0 clients of a realm (RFC 6749 client credentials), for server-side integrations.

A client is a realm-scoped principal with an id and a secret; the secret is shown once, when the
client is created, and stored as an argon2id hash like a password.  Its access token is an
ordinary fieldhub access token whose ``sub`` is the client id and whose only role is
:data:`CLIENT_ROLE`: no user has that id, so every family that authenticates users (through
:meth:`AuthService.authenticate`) refuses it, and only the families that accept clients
(:meth:`ClientService.principal`) let it in.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import ForeignKey, String, Uuid, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from fieldhub.core.db import Base, UTCDateTime, utcnow
from fieldhub.core.errors import InvalidInput, NotFound, Unauthenticated
from fieldhub.core.identity.models import Realm
from fieldhub.core.identity.passwords import hash_password, verify_password
from fieldhub.core.identity.tokens import AccessClaims, AccessTokenCodec

#: The one role of a client's access token; user tokens carry ``user`` (and ``admin``).
CLIENT_ROLE = "client"
MAX_NAME_LENGTH = 128


class OAuthClient(Base):
    __tablename__ = "oauth_clients"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    realm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True, slots=True)
class CreatedClient:
    client: OAuthClient
    #: The plain secret: returned this once and never stored.
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ClientCandidate:
    """What the read phase of a token request found; ``realm_name`` is None for an unknown client."""

    client_id: uuid.UUID | None
    realm_name: str | None
    secret_hash: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class ClientToken:
    access_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class ClientPrincipal:
    client_id: uuid.UUID
    name: str
    realm_id: uuid.UUID
    realm_name: str


def is_client_token(claims: AccessClaims) -> bool:
    return CLIENT_ROLE in claims.roles


class ClientService:
    def __init__(self, *, session: Session) -> None:
        self._session = session

    # administration (CLI) ----------------------------------------------------------------
    def create(self, *, realm: Realm, name: str) -> CreatedClient:
        name = name.strip()
        if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
            raise InvalidInput(f"client name must be 1-{MAX_NAME_LENGTH} printable characters")
        secret = secrets.token_urlsafe(32)
        client = OAuthClient(realm_id=realm.id, name=name, secret_hash=hash_password(secret))
        self._session.add(client)
        self._session.flush()
        return CreatedClient(client=client, secret=secret)

    def clients(self, *, realm: Realm) -> Sequence[OAuthClient]:
        return self._session.scalars(
            select(OAuthClient)
            .where(OAuthClient.realm_id == realm.id)
            .order_by(OAuthClient.created_at, OAuthClient.id)
        ).all()

    def delete(self, *, realm: Realm, client_id: str) -> OAuthClient:
        client = self._in_realm(realm.id, _parse_client_id(client_id))
        if client is None:
            raise NotFound(f"unknown client {client_id!r} in realm {realm.name!r}")
        self._session.delete(client)
        self._session.flush()
        return client

    # token endpoint ----------------------------------------------------------------------
    def begin_token_request(self, *, client_id: str) -> ClientCandidate:
        """Read phase; the argon2 check happens outside any transaction (see AuthService.begin_login)."""
        try:
            parsed = uuid.UUID(client_id)
        except ValueError:
            return ClientCandidate(client_id=None, realm_name=None, secret_hash=None)
        row = self._session.execute(
            select(OAuthClient.id, OAuthClient.secret_hash, Realm.name)
            .join(Realm, Realm.id == OAuthClient.realm_id)
            .where(OAuthClient.id == parsed)
        ).one_or_none()
        if row is None:
            return ClientCandidate(client_id=None, realm_name=None, secret_hash=None)
        return ClientCandidate(client_id=row.id, realm_name=row.name, secret_hash=row.secret_hash)

    @staticmethod
    def issue_token(
        candidate: ClientCandidate, *, secret: str, tokens: AccessTokenCodec, now: dt.datetime
    ) -> ClientToken:
        """Verifies the secret (as slowly for an unknown client as for a known one) and issues."""
        secret_ok = verify_password(candidate.secret_hash, secret)
        if not secret_ok or candidate.client_id is None or candidate.realm_name is None:
            raise Unauthenticated("Invalid client credentials")
        access = tokens.issue(
            user_id=candidate.client_id, realm=candidate.realm_name, roles=[CLIENT_ROLE], now=now
        )
        return ClientToken(access_token=access, expires_in=tokens.ttl_seconds)

    # authentication ----------------------------------------------------------------------
    def principal(self, claims: AccessClaims) -> ClientPrincipal:
        """The client behind a verified client token, while it and its realm still exist."""
        row = self._session.execute(
            select(OAuthClient.id, OAuthClient.name, Realm.id.label("realm_id"), Realm.name.label("realm"))
            .join(Realm, Realm.id == OAuthClient.realm_id)
            .where(OAuthClient.id == claims.subject, Realm.name == claims.realm)
        ).one_or_none()
        if row is None:
            raise Unauthenticated("Invalid access token")
        return ClientPrincipal(client_id=row.id, name=row.name, realm_id=row.realm_id, realm_name=row.realm)

    def exists(self, *, realm_name: str, client_id: uuid.UUID) -> bool:
        """Whether the client still exists in its realm (the MQTT broker's check at CONNECT)."""
        found = self._session.scalar(
            select(OAuthClient.id)
            .join(Realm, Realm.id == OAuthClient.realm_id)
            .where(OAuthClient.id == client_id, Realm.name == realm_name)
        )
        return found is not None

    def _in_realm(self, realm_id: uuid.UUID, client_id: uuid.UUID) -> OAuthClient | None:
        return self._session.scalars(
            select(OAuthClient).where(OAuthClient.realm_id == realm_id, OAuthClient.id == client_id)
        ).one_or_none()


def _parse_client_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput("client id must be a UUID") from None
