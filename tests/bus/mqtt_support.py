"""paho-mqtt clients connected exactly as the Skylight spec says, for the end-to-end event tests."""

from __future__ import annotations

import queue
import random
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import jwt
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

WAIT_SECONDS = 10.0
#: SUBACK return code of a refused subscription (MQTT 3.1.1).
SUBACK_FAILURE = 0x80


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def token_subject(access_token: str) -> str:
    """The ``sub`` of an access token, read the way a client's JWT library reads it."""
    subject: str = jwt.decode(access_token, options={"verify_signature": False})["sub"]
    return subject


def session_filter(realm: str, subject: str) -> str:
    return f"v1/realms/{realm}/users/{subject}/session/#"


class Subscriber:
    """One MQTT connection; messages land in :attr:`messages` as (topic, decoded JSON payload)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        realm: str | None = None,
        access_token: str | None = None,
        ca_file: Path | None = None,
        digits: str | None = None,
        clean_session: bool = True,
    ) -> None:
        self.messages: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._connected = threading.Event()
        self._subacks: queue.Queue[list[int]] = queue.Queue()
        self.connect_result: int | None = None
        self.session_present = False
        client_id = f"mqtt-test-{random.randrange(10**8):08d}"
        if realm is not None and access_token is not None:
            digits = digits or f"{random.randrange(10**8):08d}"
            client_id = f"{realm}-{token_subject(access_token)}-{digits}"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        if realm is not None and access_token is not None:
            self.client.username_pw_set(f"{realm}/{token_subject(access_token)}", access_token)
        if ca_file is not None:
            context = ssl.create_default_context(cafile=str(ca_file))
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            self.client.tls_set_context(context)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(WAIT_SECONDS):
            self.close()
            raise AssertionError(f"no CONNACK from {host}:{port}")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.connect_result = int(reason.value)
        self.session_present = bool(flags.session_present)
        self._connected.set()

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.messages.put((message.topic, orjson.loads(message.payload)))

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        self._subacks.put([int(reason.value) for reason in reasons])

    def subscribe(self, topic_filter: str) -> int:
        """Subscribes at QoS 1; returns the SUBACK return code (1, or 0x80 when refused)."""
        self.client.subscribe(topic_filter, qos=1)
        return self._subacks.get(timeout=WAIT_SECONDS)[0]

    def next(self, timeout: float = WAIT_SECONDS) -> tuple[str, dict[str, Any]]:
        return self.messages.get(timeout=timeout)

    def next_of(self, event_type: str, timeout: float = WAIT_SECONDS) -> tuple[str, dict[str, Any]]:
        """The next message of ``event_type``, skipping the others."""
        while True:
            topic, payload = self.next(timeout)
            if payload["eventType"] == event_type:
                return topic, payload

    def drain(self, seconds: float = 1.0) -> list[tuple[str, dict[str, Any]]]:
        """Whatever arrives within ``seconds``."""
        received = []
        try:
            while True:
                received.append(self.messages.get(timeout=seconds))
        except queue.Empty:
            return received

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
