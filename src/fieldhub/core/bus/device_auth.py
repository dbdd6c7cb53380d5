"""Devices authenticated by client certificate on the embedded broker's TLS listener.

A device (an Insight gateway, say) connects with its client certificate alone: no username, no
password, client id = the certificate's common name.  The core knows no device family, so two
callables are injected: one returns the CA certificates devices' certificates may chain to (they
are trusted by the TLS listener, re-read at every handshake so that a CA created after start-up
works at once), the other maps a verified certificate to a :class:`DeviceIdentity` (or refuses it).
A device may publish on exactly its identity's topic and subscribe to nothing.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from fieldhub.core.bus.mqtt_auth import DeviceIdentity, MqttAuthenticator, MqttIdentity

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A peer certificate that the TLS handshake verified against a trusted CA."""

    common_name: str
    #: The issuer's distinguished name (RFC 4514).
    issuer: str
    der: bytes
    #: Unix time at which the certificate expires (and the connection is closed).
    not_valid_after: int


#: The device a verified certificate proves, or None; blocking (a database query), so the broker
#: calls it in a worker thread, once per CONNECT.
DeviceResolver = Callable[[ClientCertificate], DeviceIdentity | None]
#: The PEM certificates of the CAs that issue device certificates.  Called at every TLS handshake,
#: so it must be cheap (e.g. a directory listing with the files' contents cached).
TrustedDeviceCas = Callable[[], Iterable[bytes]]

#: The verified client certificate of the connection being served.  amqtt's auth plugins see only
#: the CONNECT packet, so the broker sets this in the connection's own task (each asyncio task
#: has its own context, so connections never see each other's certificate).
PEER_CERTIFICATE: ContextVar[ClientCertificate | None] = ContextVar("fieldhub_peer_certificate", default=None)


def client_certificate(der: bytes) -> ClientCertificate | None:
    """The certificate's fields, or None when it does not name exactly one common name."""
    certificate = x509.load_der_x509_certificate(der)
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        return None
    return ClientCertificate(
        common_name=str(names[0].value),
        issuer=certificate.issuer.rfc4514_string(),
        der=der,
        not_valid_after=int(certificate.not_valid_after_utc.timestamp()),
    )


class DeviceTrust:
    """Keeps TLS contexts trusting every CA that ``certificates`` returns, including new ones."""

    def __init__(self, certificates: TrustedDeviceCas) -> None:
        self._certificates = certificates
        self._loaded: dict[int, set[bytes]] = {}

    def install(self, context: ssl.SSLContext) -> None:
        self._refresh(context)
        # OpenSSL calls this for every ClientHello, with or without SNI, before the client sends
        # its certificate: a CA created a moment ago is trusted in the very handshake that needs it.
        context.sni_callback = self._on_client_hello

    def _on_client_hello(self, _: Any, __: str | None, context: ssl.SSLContext) -> None:
        try:
            self._refresh(context)
        except Exception:
            # Keeps the CAs already loaded: a broken file must not refuse every client.
            logger.exception("could not reload the device CA certificates")

    def _refresh(self, context: ssl.SSLContext) -> None:
        loaded = self._loaded.setdefault(id(context), set())
        for pem in self._certificates():
            if pem not in loaded:
                context.load_verify_locations(cadata=pem.decode("ascii"))
                loaded.add(pem)


class CertificateAuthenticator:
    """Devices by client certificate; everyone else (token users) by the wrapped authenticator."""

    def __init__(self, *, users: MqttAuthenticator, resolve: DeviceResolver) -> None:
        self._users = users
        self._resolve = resolve

    async def authenticate(
        self, *, client_id: str, username: str | None, password: str | None
    ) -> MqttIdentity | None:
        certificate = PEER_CERTIFICATE.get()
        if username or password or certificate is None:
            return await self._users.authenticate(client_id=client_id, username=username, password=password)
        if client_id != certificate.common_name:
            return None
        device = await asyncio.to_thread(self._resolve, certificate)
        if device is None:
            return None
        return MqttIdentity(
            realm=device.realm,
            subject=device.device_id,
            client_id=client_id,
            expires_at=certificate.not_valid_after,
            device=device,
        )

    def may_subscribe(self, identity: MqttIdentity, topic_filter: str) -> bool:
        # Devices only report; nothing on the broker is meant for them.
        return identity.device is None and self._users.may_subscribe(identity, topic_filter)

    def may_publish(self, identity: MqttIdentity, topic: str) -> bool:
        if identity.device is not None:
            return topic == identity.device.topic
        return self._users.may_publish(identity, topic)
