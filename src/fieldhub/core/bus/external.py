"""The event bus on an external MQTT broker (``FIELDHUB_MQTT_URL``), for clustered deployments.

fieldhub only publishes and subscribes there; the broker authenticates the users' clients itself
(for EMQX with the access tokens, see docs/emqx.md).  One connection, kept open by a supervisor
task that reconnects with backoff; while it is down ``publish`` fails fast, and the outbox
publisher retries later, so no request ever waits for the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

import aiomqtt

from fieldhub.core.bus.protocol import MessageHandler
from fieldhub.core.bus.topics import topic_matches
from fieldhub.core.config import Settings

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
#: How long ``start`` waits for the first connection before letting the app start without it.
_FIRST_CONNECT_SECONDS = 5.0
_PUBLISH_TIMEOUT_SECONDS = 10.0


class BrokerUnavailable(ConnectionError):
    """The external broker is not connected right now; the caller retries later."""


class ExternalBroker:
    def __init__(self, *, settings: Settings, max_backoff_seconds: float = 10.0) -> None:
        url = urlsplit(settings.mqtt_url)
        if url.scheme not in _DEFAULT_PORTS or not url.hostname:
            raise ValueError("FIELDHUB_MQTT_URL must look like mqtt://HOST:PORT or mqtts://HOST:PORT")
        self._hostname = url.hostname
        self._port = url.port or _DEFAULT_PORTS[url.scheme]
        self._username = unquote(url.username) if url.username else None
        self._password = unquote(url.password) if url.password else None
        self._tls = _client_tls(settings) if url.scheme == "mqtts" else None
        self._max_backoff = max_backoff_seconds
        # A fresh id per process: the publisher needs no persistent session, and two API
        # processes must never take each other's connection over.
        self._identifier = f"fieldhub-{uuid.uuid4().hex[:16]}"
        self._subscriptions: list[tuple[str, MessageHandler]] = []
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        return f"{self._hostname}:{self._port}"

    async def start(self) -> None:
        self._supervisor = asyncio.create_task(self._stay_connected(), name="external-mqtt-broker")
        try:
            await asyncio.wait_for(self._connected.wait(), _FIRST_CONNECT_SECONDS)
        except TimeoutError:
            log.warning("MQTT broker %s not reachable yet; events wait in the outbox", self.address)

    async def stop(self) -> None:
        if self._supervisor is None:
            return
        self._supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._supervisor
        self._supervisor = None

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        client = self._client
        if client is None:
            raise BrokerUnavailable(f"not connected to the MQTT broker {self.address}")
        await client.publish(topic, payload, qos=qos, timeout=_PUBLISH_TIMEOUT_SECONDS)

    async def publish_each(self, topics: Sequence[str], payload: bytes, *, qos: int = 1) -> None:
        # Side by side: each copy waits for its own PUBACK from the broker.
        await asyncio.gather(*(self.publish(topic, payload, qos=qos) for topic in topics))

    async def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        self._subscriptions.append((topic_filter, handler))
        if self._client is not None:
            await self._client.subscribe(topic_filter, qos=1)

    async def _stay_connected(self) -> None:
        backoff = 0.0
        while True:
            try:
                async with aiomqtt.Client(
                    self._hostname,
                    self._port,
                    username=self._username,
                    password=self._password,
                    identifier=self._identifier,
                    tls_context=self._tls,
                    clean_session=True,
                    keepalive=30,
                ) as client:
                    for topic_filter, _ in self._subscriptions:
                        await client.subscribe(topic_filter, qos=1)
                    self._client, backoff = client, 0.0
                    self._connected.set()
                    log.info("connected to MQTT broker %s", self.address)
                    async for message in client.messages:
                        await self._dispatch(str(message.topic), message.payload)
            except aiomqtt.MqttError as exc:
                log.warning("MQTT broker %s: %s", self.address, exc)
            finally:
                self._client = None
                self._connected.clear()
            backoff = min(max(backoff * 2, 0.2), self._max_backoff)
            await asyncio.sleep(backoff)

    async def _dispatch(self, topic: str, payload: object) -> None:
        data = payload if isinstance(payload, bytes) else str(payload).encode()
        for topic_filter, handler in list(self._subscriptions):
            if topic_matches(topic_filter, topic):
                try:
                    await handler(topic, data)
                except Exception:
                    # One failing handler must not cut the connection every other one relies on.
                    log.exception("handler for %s failed on %s", topic_filter, topic)


def _client_tls(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.mqtt_tls_ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.mqtt_tls_cert_file:
        context.load_cert_chain(settings.mqtt_tls_cert_file, settings.mqtt_tls_key_file or None)
    return context
