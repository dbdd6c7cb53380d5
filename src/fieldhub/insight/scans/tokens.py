"""Signed tokens of this part: export download links and gateway ingest tokens.

Both are JWTs signed with the server's key, each with an audience of its own, so that neither is
accepted where the other (or a user's access token) is expected.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from fieldhub.core.errors import PermissionDenied, Unauthenticated
from fieldhub.core.identity.keys import SigningKey

DOWNLOAD_AUDIENCE = "insight-event-export"
INGEST_AUDIENCE = "insight-gateway-ingest"
#: The spec's "short lived (currently 5 minutes)" download link.
DOWNLOAD_LINK_SECONDS = 300


def _sign(key: SigningKey, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key.private_key, algorithm=SigningKey.algorithm, headers={"kid": key.kid})


def _verify(
    key: SigningKey, token: str, *, issuer: str, audience: str, required: list[str]
) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token,
        key.public_key,
        algorithms=[SigningKey.algorithm],
        audience=audience,
        issuer=issuer,
        options={"require": required},
    )
    return claims


@dataclass(frozen=True, slots=True)
class ExportFile:
    realm_id: uuid.UUID
    export_id: uuid.UUID
    format: str


def sign_download(key: SigningKey, *, issuer: str, file: ExportFile, now: dt.datetime) -> str:
    issued = int(now.timestamp())
    return _sign(
        key,
        {
            "iss": issuer,
            "aud": DOWNLOAD_AUDIENCE,
            "sub": str(file.export_id),
            "realm": str(file.realm_id),
            "fmt": file.format,
            "iat": issued,
            "exp": issued + DOWNLOAD_LINK_SECONDS,
        },
    )


def verify_download(key: SigningKey, *, issuer: str, export_id: str, signature: str) -> ExportFile:
    """The file a valid signature grants; an expired, altered or another file's one is a 403."""
    try:
        claims = _verify(
            key, signature, issuer=issuer, audience=DOWNLOAD_AUDIENCE, required=["exp", "sub", "realm", "fmt"]
        )
        granted = uuid.UUID(str(claims["sub"]))
        if granted != uuid.UUID(export_id):
            raise jwt.InvalidTokenError
        return ExportFile(
            realm_id=uuid.UUID(str(claims["realm"])), export_id=granted, format=str(claims["fmt"])
        )
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise PermissionDenied("The download link is invalid or has expired") from None


@dataclass(frozen=True, slots=True)
class GatewayIdentity:
    realm_id: uuid.UUID
    gateway_id: uuid.UUID


def sign_ingest_token(key: SigningKey, *, issuer: str, gateway: GatewayIdentity, now: dt.datetime) -> str:
    """A credential for one gateway's HTTPS ingest; it stops working when the gateway is deleted."""
    return _sign(
        key,
        {
            "iss": issuer,
            "aud": INGEST_AUDIENCE,
            "sub": str(gateway.gateway_id),
            "realm": str(gateway.realm_id),
            "iat": int(now.timestamp()),
        },
    )


def verify_ingest_token(key: SigningKey, *, issuer: str, gateway_id: str, token: str) -> GatewayIdentity:
    """The gateway the token was issued to, which must be the one in the path (401 otherwise)."""
    try:
        claims = _verify(key, token, issuer=issuer, audience=INGEST_AUDIENCE, required=["sub", "realm"])
        granted = uuid.UUID(str(claims["sub"]))
        if granted != uuid.UUID(gateway_id):
            raise jwt.InvalidTokenError
        return GatewayIdentity(realm_id=uuid.UUID(str(claims["realm"])), gateway_id=granted)
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthenticated("The gateway token is invalid or not this gateway's") from None
