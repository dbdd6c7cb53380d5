"""Helpers for the embedded-broker tests (a plain module, imported by name; see sessions_support.py).

The broker runs in its own event loop on a background thread, exactly as it runs in the server,
and the tests talk to it over loopback sockets with paho-mqtt (MQTT 3.1.1) or raw bytes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import socket
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from fieldhub.core.bus.device_ingest import DeviceAccess
from fieldhub.core.bus.embedded import EmbeddedBroker
from fieldhub.core.bus.mqtt_auth import MqttAuthenticator, TokenAuthenticator
from fieldhub.core.config import Settings
from fieldhub.core.identity.keys import SigningKey
from fieldhub.core.identity.tokens import AccessTokenCodec
from fieldhub.core.pki import CertificateAuthority
from free_ports import free_port

T = TypeVar("T")
ISSUER = "http://fieldhub.test"
TEMPLATES = ["v1/realms/{realm}/users/{sub}/session/#"]
WAIT = 5.0


def user_topic(realm: str, sub: str, rest: str = "s1/SessionUpdated") -> str:
    return f"v1/realms/{realm}/users/{sub}/session/{rest}"


@dataclass
class User:
    realm: str
    sub: str
    token: str
    digits: str = field(default_factory=lambda: f"{random.randrange(10**8):08d}")

    @property
    def client_id(self) -> str:
        return f"{self.realm}-{self.sub}-{self.digits}"

    @property
    def username(self) -> str:
        return f"{self.realm}/{self.sub}"

    def topic(self, rest: str = "s1/SessionUpdated") -> str:
        return user_topic(self.realm, self.sub, rest)


@dataclass
class Harness:
    broker: EmbeddedBroker
    loop: asyncio.AbstractEventLoop
    settings: Settings
    codec: AccessTokenCodec
    ca_file: Path | None
    #: Subjects whose user no longer exists, as the token authenticator's database check sees it.
    removed_users: set[str] = field(default_factory=set)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = WAIT) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self.run(self.broker.publish(topic, payload, qos=qos))

    def user(
        self, realm: str = "demo", *, sub: uuid.UUID | None = None, codec: AccessTokenCodec | None = None
    ) -> User:
        subject = sub or uuid.uuid4()
        token = (codec or self.codec).issue(
            user_id=subject, realm=realm, roles=["user"], now=dt.datetime.now(dt.UTC)
        )
        return User(realm=realm, sub=str(subject), token=token)

    def client(self, user: User | None = None, **options: Any) -> Client:
        port = {"tls": self.settings.mqtts_port, "ws": self.settings.mqtt_ws_port}.get(
            options.get("transport", "tcp"), self.settings.mqtt_port
        )
        if user is not None:
            options.setdefault("client_id", user.client_id)
            options.setdefault("username", user.username)
            options.setdefault("password", user.token)
        return Client(port=port, ca_file=self.ca_file, **options)

    def wait_until_idle(self) -> None:
        """Waits until every message handed to the broker has been delivered or queued."""
        deadline = time.monotonic() + WAIT
        while not self.broker.broker.idle():
            assert time.monotonic() < deadline, "the broker is still delivering"
            time.sleep(0.01)

    def wait_until_offline(self, client_id: str) -> None:
        """Waits until the broker has processed the disconnect of ``client_id``."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            session, _ = self.broker.broker.sessions.get(client_id, (None, None))
            if session is None or session.transitions.state != "connected":
                return
            time.sleep(0.01)
        raise AssertionError(f"{client_id} still connected")

    def sessions(self) -> int:
        return len(self.broker.broker.sessions)


def signing_key(directory: Path) -> SigningKey:
    return SigningKey.load_or_create(directory)


@contextmanager
def running_broker(
    tmp_path: Path,
    key: SigningKey,
    *,
    ttl_seconds: int = 600,
    authenticator: Callable[[AccessTokenCodec], MqttAuthenticator] | None = None,
    devices: DeviceAccess | None = None,
    **overrides: Any,
) -> Iterator[Harness]:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "mqtt_port": free_port(),
        "mqtts_port": free_port(),
        "mqtt_ws_port": free_port(),
        "mqtt_tls_bind_host": "127.0.0.1",
        "mqtt_connect_timeout_seconds": 1.0,
        "mqtt_max_queued_messages": 5,
    }
    values.update(overrides)
    settings = Settings(**values)
    codec = AccessTokenCodec(key=key, issuer=ISSUER, ttl_seconds=ttl_seconds)
    tls = None
    if settings.mqtts_port:
        ca = CertificateAuthority.load_or_create(
            settings.data_dir, name="mqtt", common_name="fieldhub test CA"
        )
        tls = ca.server_tls(hostnames=["localhost", "127.0.0.1"])
    removed_users: set[str] = set()
    chosen = (
        authenticator(codec)
        if authenticator
        else TokenAuthenticator(
            codec=codec,
            subscription_templates=TEMPLATES,
            principal_exists=lambda _realm, subject: str(subject) not in removed_users,
        )
    )
    broker = EmbeddedBroker(settings=settings, authenticator=chosen, server_tls=tls, devices=devices)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="broker-loop", daemon=True)
    thread.start()
    harness = Harness(
        broker=broker,
        loop=loop,
        settings=settings,
        codec=codec,
        ca_file=tls.ca_file if tls else None,
        removed_users=removed_users,
    )
    try:
        harness.run(broker.start())
        yield harness
    finally:
        harness.run(broker.stop(), timeout=15)
        harness.run(_cancel_leftovers())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


async def _cancel_leftovers() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Client:
    """A paho-mqtt 3.1.1 client whose callbacks feed events the test can wait on."""

    def __init__(
        self,
        *,
        port: int,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        clean_session: bool = True,
        transport: str = "tcp",
        ca_file: Path | None = None,
        keepalive: int = 60,
        manual_ack: bool = False,
    ) -> None:
        """``manual_ack``: QoS 1 messages are never acknowledged (paho waits for ``ack()``)."""
        self.port, self.keepalive = port, keepalive
        self.paho = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=clean_session,
            transport="websockets" if transport == "ws" else "tcp",
            reconnect_on_failure=False,
            manual_ack=manual_ack,
        )
        if username is not None:
            self.paho.username_pw_set(username, password)
        if transport == "tls":
            self.paho.tls_set(ca_certs=str(ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.connack: ReasonCode | None = None
        self.session_present = False
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.disconnected_at = 0.0
        self.messages: list[mqtt.MQTTMessage] = []
        self._received = threading.Condition()
        self._subacks: dict[int, list[int]] = {}
        self._subscribed = threading.Condition()
        self.paho.on_connect = self._on_connect
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_message = self._on_message

    def _on_connect(self, _c: Any, _u: Any, flags: Any, reason: ReasonCode, _p: Any) -> None:
        self.connack, self.session_present = reason, bool(flags.session_present)
        self.connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        self.disconnected_at = time.monotonic()
        self.disconnected.set()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reasons: list[ReasonCode], _p: Any) -> None:
        with self._subscribed:
            self._subacks[mid] = [reason.value for reason in reasons]
            self._subscribed.notify_all()

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._received:
            self.messages.append(message)
            self._received.notify_all()

    def connect(self) -> ReasonCode:
        self.paho.connect("127.0.0.1", self.port, keepalive=self.keepalive)
        self.paho.loop_start()
        assert self.connected.wait(WAIT) or self.disconnected.wait(0.1), "no CONNACK and no disconnect"
        if self.connack is None:
            raise ConnectionError("the broker closed the connection without a CONNACK")
        return self.connack

    def subscribe(self, *filters: str, qos: int = 1) -> list[int]:
        _, mid = self.paho.subscribe([(topic_filter, qos) for topic_filter in filters])
        with self._subscribed:
            assert self._subscribed.wait_for(lambda: mid in self._subacks, WAIT), "no SUBACK"
            return self._subacks[mid]

    def wait_for_messages(self, count: int, timeout: float = WAIT) -> list[mqtt.MQTTMessage]:
        with self._received:
            self._received.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def payloads(self) -> list[bytes]:
        with self._received:
            return [message.payload for message in self.messages]

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


@contextmanager
def connected(client: Client) -> Iterator[Client]:
    reason = client.connect()
    assert not reason.is_failure, f"CONNACK {reason}"
    try:
        yield client
    finally:
        client.close()


def connect_packet(
    client_id: str, username: str | None = None, password: str | None = None, *, keepalive: int = 60
) -> bytes:
    def string(value: str) -> bytes:
        encoded = value.encode()
        return struct.pack("!H", len(encoded)) + encoded

    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + string(client_id)
    body += (string(username) if username is not None else b"") + (
        string(password) if password is not None else b""
    )
    return bytes([0x10]) + remaining_length(len(body)) + body


def remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def raw_socket(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT)


def closed_by_peer(sock: socket.socket, within: float) -> bool:
    """Whether the broker closes ``sock`` within ``within`` seconds (reading and discarding any data)."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except OSError:
            return True
    return False
