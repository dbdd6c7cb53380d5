"""Chooses the event bus backend from the settings."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from fieldhub.core.bus.device_ingest import DeviceAccess
from fieldhub.core.bus.external import ExternalBroker
from fieldhub.core.bus.protocol import EventBus
from fieldhub.core.config import Settings
from fieldhub.core.db import Database
from fieldhub.core.identity.clients import ClientService
from fieldhub.core.identity.repository import IdentityRepository
from fieldhub.core.identity.tokens import AccessTokenCodec


@dataclass(frozen=True, slots=True)
class ConfiguredBus:
    bus: EventBus
    #: The certificate of the CA that signed the TLS listener's certificate (served at
    #: ``/ca.pem``); None when fieldhub runs no TLS listener of its own.
    ca_pem: bytes | None


def bus_from_settings(
    settings: Settings,
    *,
    tokens: AccessTokenCodec,
    subscription_templates: Sequence[str],
    db: Database,
    devices: DeviceAccess | None = None,
) -> ConfiguredBus:
    """The external broker when ``FIELDHUB_MQTT_URL`` is set, else the embedded one.

    Call it inside the running event loop: the embedded broker binds itself to that loop.  ``db``
    tells the embedded broker whether a token's user still exists; ``devices`` lets devices
    connect to its TLS listener with a client certificate (the external broker ignores it).
    """
    if settings.mqtt_url:
        return ConfiguredBus(bus=ExternalBroker(settings=settings), ca_pem=None)
    # Imported only here: loading the embedded broker patches amqtt process-wide, which a
    # process that publishes to an external broker (or a test on the in-memory bus) never needs.
    from fieldhub.core.bus.device_auth import CertificateAuthenticator
    from fieldhub.core.bus.embedded import EmbeddedBroker
    from fieldhub.core.bus.mqtt_auth import MqttAuthenticator, TokenAuthenticator
    from fieldhub.core.pki import CertificateAuthority

    server_tls, ca_pem = None, None
    if settings.mqtts_port:
        authority = CertificateAuthority.load_or_create(
            settings.data_dir, name="fieldhub", common_name="fieldhub local CA"
        )
        server_tls, ca_pem = authority.server_tls(hostnames=settings.mqtt_hostnames), authority.ca_pem
    authenticator: MqttAuthenticator = TokenAuthenticator(
        codec=tokens,
        subscription_templates=subscription_templates,
        principal_exists=partial(principal_exists, db),
    )
    if devices is not None and server_tls is not None:
        authenticator = CertificateAuthenticator(users=authenticator, resolve=devices.resolve)
    broker = EmbeddedBroker(
        settings=settings,
        authenticator=authenticator,
        server_tls=server_tls,
        devices=devices if server_tls is not None else None,
    )
    return ConfiguredBus(bus=broker, ca_pem=ca_pem)


def principal_exists(db: Database, realm: str, subject: uuid.UUID) -> bool:
    """Whether the user (or OAuth client) ``subject`` of ``realm`` still exists: the check HTTP
    makes on every request."""
    with db.unit_of_work(write=False) as uow:
        if IdentityRepository(uow.session).principal_columns(subject, realm) is not None:
            return True
        return ClientService(session=uow.session).exists(realm_name=realm, client_id=subject)
