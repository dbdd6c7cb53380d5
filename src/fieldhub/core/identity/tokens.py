"""Access tokens (RS256 JWTs) and opaque refresh tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from fieldhub.core.errors import Unauthenticated
from fieldhub.core.identity.keys import SigningKey

REQUIRED_CLAIMS = ["exp", "iat", "iss", "sub", "jti", "realm"]


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject: uuid.UUID
    realm: str
    roles: tuple[str, ...]
    expires_at: int
    token_id: str


class AccessTokenCodec:
    """Issues and verifies access tokens.

    ``subscription_templates`` are the MQTT topic filters a user may subscribe to, with ``{realm}``
    and ``{sub}`` placeholders.  Tokens carry them for brokers that authorise from the token alone
    (EMQX's JWT authentication, docs/emqx.md): ``mqtt_username`` for its ``verify_claims`` to
    compare with the CONNECT username, and ``acl`` in its rule format.
    """

    def __init__(
        self, *, key: SigningKey, issuer: str, ttl_seconds: int, subscription_templates: Sequence[str] = ()
    ) -> None:
        self._key = key
        self._issuer = issuer
        self.ttl_seconds = ttl_seconds
        self._subscription_templates = tuple(subscription_templates)

    def issue(self, *, user_id: uuid.UUID, realm: str, roles: list[str], now: dt.datetime) -> str:
        issued_at = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": str(user_id),
            "realm": realm,
            "roles": roles,
            "iat": issued_at,
            "exp": issued_at + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
            "typ": "Bearer",
            "mqtt_username": f"{realm}/{user_id}",
            "acl": [
                {
                    "permission": "allow",
                    "action": "subscribe",
                    "topic": topic_filter,
                }
                for topic_filter in self._subscription_filters(realm=realm, subject=user_id)
            ],
        }
        return jwt.encode(
            claims, self._key.private_key, algorithm=SigningKey.algorithm, headers={"kid": self._key.kid}
        )

    def _subscription_filters(self, *, realm: str, subject: uuid.UUID) -> list[str]:
        return [template.format(realm=realm, sub=subject) for template in self._subscription_templates]

    def verify(self, token: str) -> AccessClaims:
        """Checks signature, algorithm, issuer and expiry; any failure is :class:`Unauthenticated`."""
        try:
            claims = jwt.decode(
                token,
                self._key.public_key,
                algorithms=[SigningKey.algorithm],
                issuer=self._issuer,
                options={"require": REQUIRED_CLAIMS},
            )
            subject = uuid.UUID(claims["sub"])
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("Access token has expired") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise Unauthenticated("Invalid access token") from None
        roles = claims.get("roles", [])
        return AccessClaims(
            subject=subject,
            realm=str(claims["realm"]),
            roles=tuple(str(role) for role in roles) if isinstance(roles, list) else (),
            expires_at=int(claims["exp"]),
            token_id=str(claims["jti"]),
        )


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and the hash under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    # A plain SHA-256 suffices: the token carries 256 bits of entropy, so it cannot be guessed
    # from its hash, and the lookup by hash is itself the constant-time comparison.
    return hashlib.sha256(token.encode()).hexdigest()
