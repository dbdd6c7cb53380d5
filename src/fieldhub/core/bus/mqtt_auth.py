"""Who may connect to the embedded MQTT broker, and which topics each connection may use.

Skylight clients connect with client id ``{realm}-{sub}-{8 digits}``, username ``{realm}/{sub}`` and
their raw access token as password.  The token is verified once, at CONNECT, and refused when its
user no longer exists (as the HTTP API refuses it); the resulting :class:`MqttIdentity` stays with
the connection and every later check is a pure function of it.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from fieldhub.core.bus.topics import filter_within
from fieldhub.core.errors import Unauthenticated
from fieldhub.core.identity.tokens import AccessTokenCodec

#: ``{realm}-{sub}-{8 digits}``; realm and sub are checked against the username separately.
_CLIENT_ID_SUFFIX = re.compile(r"-[0-9]{8}")
#: Realm names as the identity service accepts them; anything else cannot be in a valid token.
_REALM = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """A device proven by its client certificate (core/bus/device_auth.py): its realm, its id and
    the one topic it may publish to."""

    realm: str
    device_id: str
    topic: str


@dataclass(frozen=True, slots=True)
class MqttIdentity:
    realm: str
    subject: str
    client_id: str
    #: Unix time at which the credentials stop being valid and the connection is closed.
    expires_at: int
    #: Set for a device authenticated by its client certificate; None for a token user.
    device: DeviceIdentity | None = None


#: Whether user ``subject`` of realm ``realm`` still exists.  It blocks (a database query), so the
#: broker calls it in a worker thread.
PrincipalExists = Callable[[str, uuid.UUID], bool]


class MqttAuthenticator(Protocol):
    async def authenticate(
        self, *, client_id: str, username: str | None, password: str | None
    ) -> MqttIdentity | None:
        """The identity these CONNECT credentials prove, or ``None`` to refuse the connection."""

    def may_subscribe(self, identity: MqttIdentity, topic_filter: str) -> bool: ...

    def may_publish(self, identity: MqttIdentity, topic: str) -> bool: ...


class TokenAuthenticator:
    """Access-token authentication as Skylight's spec describes; token users may publish nothing."""

    def __init__(
        self,
        *,
        codec: AccessTokenCodec,
        subscription_templates: Sequence[str],
        principal_exists: PrincipalExists,
    ) -> None:
        self._codec = codec
        self._templates = tuple(subscription_templates)
        self._principal_exists = principal_exists

    async def authenticate(
        self, *, client_id: str, username: str | None, password: str | None
    ) -> MqttIdentity | None:
        if not username or not password:
            return None
        realm, slash, subject = username.partition("/")
        if not slash or not _REALM.fullmatch(realm) or not subject or "/" in subject:
            return None
        prefix = f"{realm}-{subject}"
        if not client_id.startswith(prefix) or not _CLIENT_ID_SUFFIX.fullmatch(client_id[len(prefix) :]):
            return None
        try:
            claims = self._codec.verify(password)
        except Unauthenticated:
            return None
        if claims.realm != realm or str(claims.subject) != subject:
            return None
        # Asked only once the token is proven, so forged CONNECTs cost no database work.
        if not await asyncio.to_thread(self._principal_exists, claims.realm, claims.subject):
            return None
        return MqttIdentity(realm=realm, subject=subject, client_id=client_id, expires_at=claims.expires_at)

    def subscription_filters(self, identity: MqttIdentity) -> list[str]:
        """The broadest filters ``identity`` may subscribe to."""
        return [template.format(realm=identity.realm, sub=identity.subject) for template in self._templates]

    def may_subscribe(self, identity: MqttIdentity, topic_filter: str) -> bool:
        return any(filter_within(topic_filter, allowed) for allowed in self.subscription_filters(identity))

    def may_publish(self, identity: MqttIdentity, topic: str) -> bool:
        # Skylight's broker only pushes events to users; anything a user published would reach
        # no-one entitled to it, or worse, other users' topics.
        return False
