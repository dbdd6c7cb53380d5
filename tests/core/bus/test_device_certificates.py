"""The embedded broker's devices: client-certificate authentication, ingest, PUBACK after commit,
back-pressure.  The family side (which certificates are whose, where messages go) is a fake here;
tests/bus/test_gateway_ingest_mqtt.py runs the same through Insight.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from broker_support import Harness, connect_packet, remaining_length, running_broker, signing_key
from device_support import NOT_AUTHORISED, SUBACK_FAILURE, WAIT, Device, DeviceClient

from fieldhub.core.bus.device_auth import CertificateAuthenticator, ClientCertificate
from fieldhub.core.bus.device_ingest import DeviceAccess, DeviceMessage
from fieldhub.core.bus.mqtt_auth import DeviceIdentity, TokenAuthenticator
from fieldhub.core.identity.tokens import AccessTokenCodec
from fieldhub.core.pki import CertificateAuthority

TEMPLATES = ["v1/realms/{realm}/users/{sub}/session/#"]
POISON = b"poison"


@dataclass
class Family:
    """A stand-in for a device family: its CA, its devices, and a sink that can be held or broken."""

    authority: CertificateAuthority
    known: set[str] = field(default_factory=set)
    stored: list[bytes] = field(default_factory=list)
    open: threading.Event = field(default_factory=threading.Event)
    entered: threading.Event = field(default_factory=threading.Event)
    failing: bool = False

    def __post_init__(self) -> None:
        self.open.set()

    def trusted_cas(self) -> list[bytes]:
        return [self.authority.ca_pem]

    def resolve(self, certificate: ClientCertificate) -> DeviceIdentity | None:
        if certificate.common_name not in self.known:
            return None
        return DeviceIdentity(
            realm="r1", device_id=certificate.common_name, topic=topic_of(certificate.common_name)
        )

    def ingest(self, messages: Sequence[DeviceMessage]) -> None:
        self.entered.set()
        assert self.open.wait(WAIT * 3), "the test never released the sink"
        if self.failing or any(message.payload == POISON for message in messages):
            raise RuntimeError("the database is down")
        self.stored.extend(message.payload for message in messages)


def topic_of(device_id: str) -> str:
    return f"devices/{device_id}"


@dataclass
class Setup:
    harness: Harness
    family: Family
    work_dir: Path

    def device(self, name: str) -> Device:
        self.family.known.add(name)
        return Device.issued(
            self.family.authority,
            self.work_dir / name,
            device_id=name,
            common_name=name,
            topic=topic_of(name),
        )

    def client(self, device: Device, *, client_id: str | None = None) -> DeviceClient:
        assert self.harness.ca_file is not None
        port = self.harness.settings.mqtts_port
        return DeviceClient(port=port, ca_file=self.harness.ca_file, device=device, client_id=client_id)


@contextmanager
def device_broker(tmp_path: Path, **queue: Any) -> Iterator[Setup]:
    family = Family(
        CertificateAuthority.load_or_create(tmp_path / "family", name="devices", common_name="devices CA")
    )

    def authenticator(codec: AccessTokenCodec) -> CertificateAuthenticator:
        users = TokenAuthenticator(
            codec=codec, subscription_templates=TEMPLATES, principal_exists=lambda *_: True
        )
        return CertificateAuthenticator(users=users, resolve=family.resolve)

    access = DeviceAccess(
        trusted_cas=family.trusted_cas,
        resolve=family.resolve,
        ingest=family.ingest,
        **queue,
    )
    with running_broker(
        tmp_path, signing_key(tmp_path / "keys"), authenticator=authenticator, devices=access
    ) as harness:
        try:
            yield Setup(harness, family, tmp_path / "devices")
        finally:
            family.open.set()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with device_broker(tmp_path) as running:
        yield running


def test_a_device_publishes_on_its_topic_and_is_acknowledged_after_the_commit(setup: Setup) -> None:
    client = setup.client(setup.device("d1")).connect_ok()
    setup.family.open.clear()
    held = client.publish(b"one")
    assert setup.family.entered.wait(WAIT)
    # A round trip behind the PUBLISH: had the broker acknowledged on receipt, the PUBACK would be here.
    assert client.subscribe("devices/d1") == [SUBACK_FAILURE]
    assert not held.is_published()
    assert setup.family.stored == []
    setup.family.open.set()
    assert client.acknowledged(held)
    assert setup.family.stored == [b"one"]
    client.close()


def test_a_failed_commit_is_not_acknowledged_and_the_device_is_disconnected(setup: Setup) -> None:
    device = setup.device("d1")
    client = setup.client(device).connect_ok()
    setup.family.failing = True
    assert not client.acknowledged(client.publish(b"lost"))
    assert client.disconnected.is_set()
    client.close()
    # The device reconnects and sends it again once the database is back.
    setup.family.failing = False
    again = setup.client(device).connect_ok()
    assert again.acknowledged(again.publish(b"lost"))
    assert setup.family.stored == [b"lost"]
    again.close()


def test_a_message_that_breaks_the_sink_fails_alone(tmp_path: Path) -> None:
    # A long batch delay puts both devices' messages into one batch.
    with device_broker(tmp_path, batch_delay=0.3) as setup:
        breaking = setup.client(setup.device("d1")).connect_ok()
        healthy = setup.client(setup.device("d2")).connect_ok()
        poisoned = breaking.publish(POISON)
        fine = healthy.publish(b"fine")
        assert healthy.acknowledged(fine)
        assert not breaking.acknowledged(poisoned)
        assert setup.family.stored == [b"fine"]
        healthy.close()
        breaking.close()


def test_a_device_may_publish_only_on_its_own_topic(setup: Setup) -> None:
    setup.device("d2")
    client = setup.client(setup.device("d1")).connect_ok()
    assert not client.acknowledged(client.publish(b"x", topic=topic_of("d2")))
    assert client.disconnected.is_set()
    assert setup.family.stored == []
    client.close()


def test_qos2_is_refused(setup: Setup) -> None:
    client = setup.client(setup.device("d1")).connect_ok()
    client.publish(b"x", qos=2)
    assert client.disconnected.wait(WAIT)
    assert setup.family.stored == []
    client.close()


def test_a_device_may_subscribe_to_nothing(setup: Setup) -> None:
    client = setup.client(setup.device("d1")).connect_ok()
    assert client.subscribe("devices/d1") == [SUBACK_FAILURE]
    assert client.subscribe("#") == [SUBACK_FAILURE]
    client.close()


def test_unknown_device_and_wrong_client_id_are_not_authorised(setup: Setup) -> None:
    stranger = setup.device("d9")
    setup.family.known.discard("d9")
    refused = setup.client(stranger)
    assert (reason := refused.connect()) is not None
    assert reason.value == NOT_AUTHORISED
    refused.close()
    impostor = setup.client(setup.device("d1"), client_id="d2")
    assert (reason := impostor.connect()) is not None
    assert reason.value == NOT_AUTHORISED
    impostor.close()


def test_token_users_on_the_tls_listener_are_unaffected(setup: Setup) -> None:
    user = setup.harness.user()
    client = setup.harness.client(user, transport="tls")
    reason = client.connect()
    assert not reason.is_failure
    assert client.subscribe(user.topic("#")) == [1]
    setup.harness.publish(user.topic(), b"event")
    assert [message.payload for message in client.wait_for_messages(1)] == [b"event"]
    client.close()


def test_a_full_queue_stops_reading_from_devices(tmp_path: Path) -> None:
    with device_broker(tmp_path, queue_capacity=4, batch_size=2, batch_delay=0) as setup:
        device = setup.device("d1")
        setup.family.open.clear()
        sock = _raw_device_socket(setup, device)
        packet = _publish_qos0(device.topic, b"x" * 4096)
        # The broker takes a few messages, then stops reading: the socket's buffers fill up and a
        # send blocks.  Had it gone on reading into memory, all 100 MB would go through.
        assert _sends_until_blocked(sock, packet, limit=25_000) < 25_000
        assert setup.family.entered.is_set()
        setup.family.open.set()
        sock.close()
        # Still serving: another device's message is stored and acknowledged.
        other = setup.client(setup.device("d2")).connect_ok()
        assert other.acknowledged(other.publish(b"after"))
        assert b"after" in setup.family.stored
        other.close()


def _raw_device_socket(setup: Setup, device: Device) -> ssl.SSLSocket:
    assert setup.harness.ca_file is not None
    context = device.tls_context(setup.harness.ca_file)
    raw = socket.create_connection(("127.0.0.1", setup.harness.settings.mqtts_port), timeout=WAIT)
    sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
    sock.sendall(connect_packet(device.common_name))
    assert sock.recv(4) == bytes([0x20, 2, 0, 0])  # CONNACK accepted
    sock.settimeout(2.0)
    return sock


def _sends_until_blocked(sock: ssl.SSLSocket, packet: bytes, *, limit: int) -> int:
    for sent in range(limit):
        try:
            sock.sendall(packet)
        except TimeoutError:
            return sent
    return limit


def _publish_qos0(topic: str, payload: bytes) -> bytes:
    encoded = topic.encode()
    body = struct.pack("!H", len(encoded)) + encoded + payload
    return bytes([0x30]) + remaining_length(len(body)) + body
