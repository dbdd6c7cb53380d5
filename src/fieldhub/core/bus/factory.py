"""Chooses the event bus backend from the settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fieldhub.core.bus.external import ExternalBroker
from fieldhub.core.bus.protocol import EventBus
from fieldhub.core.config import Settings
from fieldhub.core.identity.tokens import AccessTokenCodec


@dataclass(frozen=True, slots=True)
class ConfiguredBus:
    bus: EventBus
    #: The certificate of the CA that signed the TLS listener's certificate (served at
    #: ``/ca.pem``); None when fieldhub runs no TLS listener of its own.
    ca_pem: bytes | None


def bus_from_settings(
    settings: Settings, *, tokens: AccessTokenCodec, subscription_templates: Sequence[str]
) -> ConfiguredBus:
    """The external broker when ``FIELDHUB_MQTT_URL`` is set, else the embedded one.

    Call it inside the running event loop: the embedded broker binds itself to that loop.
    """
    if settings.mqtt_url:
        return ConfiguredBus(bus=ExternalBroker(settings=settings), ca_pem=None)
    # Imported only here: loading the embedded broker patches amqtt process-wide, which a
    # process that publishes to an external broker (or a test on the in-memory bus) never needs.
    from fieldhub.core.bus.embedded import EmbeddedBroker
    from fieldhub.core.bus.mqtt_auth import TokenAuthenticator
    from fieldhub.core.pki import CertificateAuthority

    server_tls, ca_pem = None, None
    if settings.mqtts_port:
        authority = CertificateAuthority.load_or_create(
            settings.data_dir, name="fieldhub", common_name="fieldhub local CA"
        )
        server_tls, ca_pem = authority.server_tls(hostnames=settings.mqtt_hostnames), authority.ca_pem
    broker = EmbeddedBroker(
        settings=settings,
        authenticator=TokenAuthenticator(codec=tokens, subscription_templates=subscription_templates),
        server_tls=server_tls,
    )
    return ConfiguredBus(bus=broker, ca_pem=ca_pem)
