"""Gateways on the embedded broker: which certificates are theirs, and where their messages go.

The core broker knows devices only through three callables (``core/bus/device_ingest.DeviceAccess``);
this module provides them for Insight gateways:

- the trusted CAs are the realms' gateway CAs (``pki/insight-gateways-{realm_id}/ca.pem``, made
  by provisioning), re-listed at every TLS handshake with the files' contents cached;
- a certificate is a gateway's when the realm CA named by its issuer signed it, its common name is
  the thing name of a REGISTERED gateway of that realm, and the gateway may then publish on
  ``{mqtt_topic_prefix}/gateway/{gateway_id}`` only;
- messages are stored by :class:`~fieldhub.insight.scans.service.ScanIngest`, one unit of work per
  gateway of the batch, committed before the broker acknowledges them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from sqlalchemy import select

from fieldhub.core.bus.device_auth import ClientCertificate
from fieldhub.core.bus.device_ingest import DeviceAccess, DeviceMessage
from fieldhub.core.bus.mqtt_auth import DeviceIdentity
from fieldhub.core.db import Database
from fieldhub.insight.events import gateway_topic_prefix
from fieldhub.insight.models import Gateway
from fieldhub.insight.provisioning import GATEWAY_CA_PREFIX
from fieldhub.insight.scans.service import GatewayMessages, ScanIngest
from fieldhub.insight.service_gateways import REGISTERED

logger = logging.getLogger(__name__)


def gateway_topic(realm_id: uuid.UUID, gateway_id: uuid.UUID) -> str:
    return f"{gateway_topic_prefix(realm_id)}/gateway/{gateway_id}"


@dataclass(frozen=True, slots=True)
class _RealmCa:
    realm_id: uuid.UUID
    pem: bytes
    certificate: x509.Certificate
    modified_ns: int


class GatewayCertificates:
    """The realms' gateway CAs, read from the data directory and cached while their files stay put."""

    def __init__(self, data_dir: Path) -> None:
        self._pki = data_dir / "pki"
        self._cache: dict[Path, _RealmCa] = {}

    def trusted_cas(self) -> list[bytes]:
        return [ca.pem for ca in self._current().values()]

    def realm_of(self, issuer: x509.Certificate) -> _RealmCa | None:
        """The realm CA that signed ``issuer``, identified by name and proven by signature."""
        for ca in self._current().values():
            if ca.certificate.subject != issuer.issuer:
                continue
            try:
                issuer.verify_directly_issued_by(ca.certificate)
            except (ValueError, TypeError, InvalidSignature):
                return None
            return ca
        return None

    def _current(self) -> dict[Path, _RealmCa]:
        found: dict[Path, _RealmCa] = {}
        for path in self._pki.glob(f"{GATEWAY_CA_PREFIX}*/ca.pem"):
            try:
                realm_id = uuid.UUID(path.parent.name.removeprefix(GATEWAY_CA_PREFIX))
                modified_ns = path.stat().st_mtime_ns
            except (ValueError, OSError):
                continue
            cached = self._cache.get(path)
            if cached is None or cached.modified_ns != modified_ns:
                pem = path.read_bytes()
                cached = _RealmCa(realm_id, pem, x509.load_pem_x509_certificate(pem), modified_ns)
            found[path] = cached
        self._cache = found
        return found


class GatewayDevices:
    def __init__(self, *, db: Database, data_dir: Path) -> None:
        self._db = db
        self._certificates = GatewayCertificates(data_dir)
        self._ingest = ScanIngest(db=db)

    def access(self) -> DeviceAccess:
        return DeviceAccess(
            trusted_cas=self._certificates.trusted_cas, resolve=self.resolve, ingest=self.ingest
        )

    def resolve(self, presented: ClientCertificate) -> DeviceIdentity | None:
        certificate = x509.load_der_x509_certificate(presented.der)
        ca = self._certificates.realm_of(certificate)
        if ca is None:
            return None
        with self._db.unit_of_work(write=False) as uow:
            gateway = uow.session.scalars(
                select(Gateway).where(
                    Gateway.realm_id == ca.realm_id, Gateway.thing_name == presented.common_name
                )
            ).one_or_none()
            if gateway is None or gateway.registration != REGISTERED:
                return None
            return DeviceIdentity(
                realm=str(ca.realm_id),
                device_id=str(gateway.id),
                topic=gateway_topic(ca.realm_id, gateway.id),
            )

    def ingest(self, messages: Sequence[DeviceMessage]) -> None:
        """Stores a batch of all gateways' messages in one unit of work (each gateway's in arrival
        order): one commit per batch is what bounds the rate of small messages."""
        by_gateway: dict[DeviceIdentity, list[bytes]] = {}
        for message in messages:
            by_gateway.setdefault(message.device, []).append(message.payload)
        batches = [
            GatewayMessages(uuid.UUID(device.realm), uuid.UUID(device.device_id), payloads)
            for device, payloads in by_gateway.items()
        ]
        for batch, result in zip(batches, self._ingest.ingest_many(batches), strict=True):
            if result is None:
                # Deleted while connected: its messages have nowhere to go, and resending won't help.
                logger.warning("dropped messages of gateway %s, which no longer exists", batch.gateway_id)
