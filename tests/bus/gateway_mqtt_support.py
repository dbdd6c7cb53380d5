"""Insight gateways over MQTT with mutual TLS: the app with its real embedded broker, gateways
provisioned through the Insight HTTP API, and paho-mqtt clients holding nothing but the PKCS#12.
"""

from __future__ import annotations

import base64
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from fastapi.testclient import TestClient

# Helpers of tests/insight/ and tests/core/bus/, which pytest puts on the path only for their own tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "insight"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core" / "bus"))

from device_support import NOT_AUTHORISED, SUBACK_FAILURE, Device, DeviceClient
from insight_support import Customer

from conftest import Api
from fieldhub.app import SUBSCRIPTION_TEMPLATES, create_app
from fieldhub.core.bus.memory import MemoryBus
from fieldhub.core.config import Settings
from fieldhub.core.pki import CertificateAuthority
from fieldhub.core.runtime import Runtime
from fieldhub.insight.provisioning import gateway_authority
from free_ports import free_port

__all__ = ["NOT_AUTHORISED", "SUBACK_FAILURE", "Customer", "Device", "DeviceClient", "Hub", "running_hub"]


@dataclass
class Hub:
    """The app with its embedded broker: HTTP through ``api.client``, MQTT over TLS on ``port``."""

    api: Api
    port: int
    ca_file: Path
    work_dir: Path

    @property
    def data_dir(self) -> Path:
        return self.api.runtime.settings.data_dir

    def provision(self, customer: Customer) -> Device:
        """A new gateway of ``customer``, provisioned as the gateway itself does it (HTTP only)."""
        gateway = customer.gateway()
        token = customer.prepare(gateway["id"])
        response = self.api.client.post("/insight/provisioning", json={"token": token})
        assert response.status_code == 200, response.text
        body = response.json()
        bundle = pkcs12.load_pkcs12(base64.b64decode(body["pkcs12"]), password=None)
        assert bundle.key is not None
        assert bundle.cert is not None
        key_pem = bundle.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return Device.write(
            self.work_dir / gateway["id"],
            device_id=gateway["id"],
            common_name=body["certificate_common_name"],
            topic=f"{body['mqtt_topic_prefix']}/gateway/{gateway['id']}",
            certificate_pem=bundle.cert.certificate.public_bytes(serialization.Encoding.PEM),
            key_pem=key_pem,
        )

    def forged(self, authority: CertificateAuthority, *, like: Device) -> Device:
        """A certificate for ``like``'s common name and topic, issued by ``authority``."""
        return Device.issued(
            authority,
            self.work_dir / f"forged-{uuid.uuid4().hex}",
            device_id=like.device_id,
            common_name=like.common_name,
            topic=like.topic,
        )

    def realm_authority(self, customer: Customer) -> CertificateAuthority:
        return gateway_authority(self.data_dir, realm_id=customer.realm.id)

    def client(self, gateway: Device, *, client_id: str | None = None) -> DeviceClient:
        return DeviceClient(port=self.port, ca_file=self.ca_file, device=gateway, client_id=client_id)


@contextmanager
def running_hub(settings: Settings, work_dir: Path) -> Iterator[Hub]:
    """The app as ``fieldhub serve`` composes it, with only the MQTT TLS listener open."""
    port = free_port()
    changed = settings.model_copy(
        update={
            "mqtts_port": port,
            "mqtt_port": 0,
            "mqtt_ws_port": 0,
            "mqtt_tls_bind_host": "127.0.0.1",
            "mqtt_hostnames": ["127.0.0.1"],
        }
    )
    runtime = Runtime.build(changed, subscription_templates=SUBSCRIPTION_TEMPLATES)
    # No bus given: the app starts its configured one, the embedded broker.
    with TestClient(create_app(changed, runtime=runtime)) as client:
        ca = client.get("/ca.pem")
        assert ca.status_code == 200, ca.text
        ca_file = work_dir / "server-ca.pem"
        ca_file.write_bytes(ca.content)
        # The Api helpers want a bus only to inspect events; this app publishes to its broker.
        api = Api(client=client, runtime=runtime, bus=MemoryBus())
        yield Hub(api=api, port=port, ca_file=ca_file, work_dir=work_dir)
