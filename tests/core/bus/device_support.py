"""Devices that connect to the embedded broker with a client certificate alone (a plain module).

Used by tests/core/bus/ (devices of a fake family) and tests/bus/ (Insight gateways).
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.x509.oid import NameOID
from paho.mqtt.reasoncodes import ReasonCode

from fieldhub.core.pki import CertificateAuthority

WAIT = 10.0
#: MQTT 3.1.1 return codes as paho reports them.
NOT_AUTHORISED = 135
SUBACK_FAILURE = 0x80


@dataclass(frozen=True)
class Device:
    """A device's certificate and key on disk, and the topic it publishes to."""

    device_id: str
    common_name: str
    topic: str
    cert_file: Path
    key_file: Path

    @classmethod
    def write(
        cls,
        directory: Path,
        *,
        device_id: str,
        common_name: str,
        topic: str,
        certificate_pem: bytes,
        key_pem: bytes,
    ) -> Device:
        directory.mkdir(parents=True)
        cert_file, key_file = directory / "cert.pem", directory / "key.pem"
        cert_file.write_bytes(certificate_pem)
        key_file.write_bytes(key_pem)
        subject = x509.load_pem_x509_certificate(certificate_pem).subject
        assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == common_name
        return cls(device_id, common_name, topic, cert_file, key_file)

    @classmethod
    def issued(
        cls, authority: CertificateAuthority, directory: Path, *, device_id: str, common_name: str, topic: str
    ) -> Device:
        certificate_pem, key_pem = authority.issue_client_certificate(common_name=common_name, days=1)
        return cls.write(
            directory,
            device_id=device_id,
            common_name=common_name,
            topic=topic,
            certificate_pem=certificate_pem,
            key_pem=key_pem,
        )

    def tls_context(self, ca_file: Path) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


class DeviceClient:
    """paho-mqtt 3.1.1 over TLS with the device's client certificate, no username or password."""

    def __init__(self, *, port: int, ca_file: Path, device: Device, client_id: str | None = None) -> None:
        self.port, self.device = port, device
        self.paho = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id if client_id is not None else device.common_name,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        self.paho.tls_set_context(device.tls_context(ca_file))
        self.connack: ReasonCode | None = None
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self._subacks: dict[int, list[int]] = {}
        self._subscribed = threading.Condition()
        self.paho.on_connect = self._on_connect
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_subscribe = self._on_subscribe

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connack = reason
        self.connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        self.disconnected.set()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reasons: list[ReasonCode], _p: Any) -> None:
        with self._subscribed:
            self._subacks[mid] = [reason.value for reason in reasons]
            self._subscribed.notify_all()

    def connect(self) -> ReasonCode | None:
        """The CONNACK's reason, or None when the broker closed the connection (TLS refused)."""
        try:
            self.paho.connect("127.0.0.1", self.port, keepalive=30)
        except (ssl.SSLError, ConnectionError):
            return None
        self.paho.loop_start()
        deadline = time.monotonic() + WAIT
        while not self.connected.wait(0.02) and not self.disconnected.is_set():
            assert time.monotonic() < deadline, "no CONNACK and no disconnect"
        return self.connack

    def connect_ok(self) -> DeviceClient:
        reason = self.connect()
        assert reason is not None
        assert not reason.is_failure, reason
        return self

    def publish(self, payload: bytes, *, topic: str | None = None, qos: int = 1) -> mqtt.MQTTMessageInfo:
        return self.paho.publish(topic or self.device.topic, payload, qos=qos)

    def acknowledged(self, info: mqtt.MQTTMessageInfo) -> bool:
        """Waits for the PUBACK of ``info``; False when the connection closed first."""
        deadline = time.monotonic() + WAIT
        try:
            while not info.is_published():
                if self.disconnected.wait(0.02):
                    return info.is_published()
                assert time.monotonic() < deadline, "neither a PUBACK nor a disconnect"
        except RuntimeError:  # paho marks what was in flight when the connection dropped as failed
            return False
        return True

    def subscribe(self, topic_filter: str) -> list[int]:
        _, mid = self.paho.subscribe(topic_filter, qos=1)
        with self._subscribed:
            assert self._subscribed.wait_for(lambda: mid in self._subacks, WAIT), "no SUBACK"
            return self._subacks[mid]

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()
