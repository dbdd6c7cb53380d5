"""The default event bus: an MQTT broker (amqtt) running inside the fieldhub process.

Clients connect over plain MQTT, MQTT over TLS and MQTT over WebSockets and are authenticated and
authorised by an :class:`MqttAuthenticator` through fieldhub's own amqtt plugins.  The server side
publishes through the broker's internal broadcast, which no ACL applies to, and subscribes to what
clients publish without a network round trip.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from fieldhub.core.bus.amqtt_delivery import BrokerLimits
from fieldhub.core.bus.amqtt_device_patches import DeviceBroker
from fieldhub.core.bus.amqtt_plugins import (
    AuthenticatorPlugin,
    Binding,
    TopicAuthorisationPlugin,
    bind,
    unbind,
)
from fieldhub.core.bus.device_ingest import DeviceAccess, IngestQueue
from fieldhub.core.bus.mqtt_auth import MqttAuthenticator
from fieldhub.core.bus.protocol import MessageHandler
from fieldhub.core.bus.topics import topic_matches, well_formed_filter
from fieldhub.core.config import Settings
from fieldhub.core.pki import ServerTls

logger = logging.getLogger(__name__)

#: Messages handed to in-process subscribers but not yet handled; beyond it publishers wait.
_INBOX_SIZE = 10_000
#: How long ``stop()`` waits for handed-over messages to be delivered before closing everything.
_STOP_DRAIN_SECONDS = 5.0
_STOP_POLL_SECONDS = 0.02


def _plugin_path(plugin: type) -> str:
    return f"{plugin.__module__}.{plugin.__qualname__}"


def _bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class EmbeddedBroker:
    def __init__(
        self,
        *,
        settings: Settings,
        authenticator: MqttAuthenticator,
        server_tls: ServerTls | None,
        devices: DeviceAccess | None = None,
    ) -> None:
        """``devices``: who may connect with a client certificate to the TLS listener, and where
        their messages go (see ``device_auth``); ``authenticator`` must then accept them too."""
        if settings.mqtts_port and server_tls is None:
            raise ValueError("the MQTT TLS listener (FIELDHUB_MQTTS_PORT) needs a server certificate")
        self._settings = settings
        self._authenticator = authenticator
        self._server_tls = server_tls
        self._devices = devices
        self._ingest: IngestQueue | None = None
        self._broker: DeviceBroker | None = None
        self._binding_id: str | None = None
        self._subscriptions: list[tuple[str, MessageHandler]] = []
        self._inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(_INBOX_SIZE)
        self._dispatcher: asyncio.Task[None] | None = None

    def config(self, binding_id: str) -> dict[str, Any]:
        """amqtt's configuration for these settings."""
        settings = self._settings
        # amqtt requires a listener named "default" and copies its fields into every other
        # listener that leaves them at amqtt's defaults; an unbound one copies nothing harmful.
        listeners: dict[str, dict[str, Any]] = {"default": {"type": "tcp", "bind": None}}
        if settings.mqtt_port:
            listeners["mqtt"] = {
                "type": "tcp",
                "bind": _bind_address(settings.mqtt_bind_host, settings.mqtt_port),
            }
        if settings.mqtts_port and self._server_tls is not None:
            listeners["mqtts"] = {
                "type": "tcp",
                "bind": _bind_address(settings.mqtt_tls_bind_host, settings.mqtts_port),
                "ssl": True,
                "certfile": str(self._server_tls.cert_file),
                "keyfile": str(self._server_tls.key_file),
                # Verifies client certificates when one is presented (gateways); tokens need none.
                "cafile": str(self._server_tls.ca_file),
            }
        if settings.mqtt_ws_port:
            listeners["ws"] = {
                "type": "ws",
                "bind": _bind_address(settings.mqtt_bind_host, settings.mqtt_ws_port),
            }
        plugin_config = {"binding": binding_id}
        return {
            "listeners": listeners,
            "session_expiry_interval": settings.mqtt_session_expiry_seconds,
            "timeout_disconnect_delay": 0,
            # Listing the plugins explicitly also keeps amqtt's anonymous-login default out.
            "plugins": {
                _plugin_path(AuthenticatorPlugin): plugin_config,
                _plugin_path(TopicAuthorisationPlugin): plugin_config,
            },
        }

    @property
    def broker(self) -> DeviceBroker:
        if self._broker is None:
            raise RuntimeError("the embedded MQTT broker is not running")
        return self._broker

    async def start(self) -> None:
        if self._broker is not None:
            return
        settings = self._settings
        binding = Binding(authenticator=self._authenticator)
        binding_id = bind(binding)
        limits = BrokerLimits(
            connect_timeout=settings.mqtt_connect_timeout_seconds,
            max_packet_bytes=settings.mqtt_max_packet_bytes,
            max_connections=settings.mqtt_max_connections,
            max_queued_messages=settings.mqtt_max_queued_messages,
            max_unacknowledged_messages=settings.mqtt_max_unacknowledged_messages,
        )
        devices = self._devices
        ingest = (
            IngestQueue(
                devices.ingest,
                capacity=devices.queue_capacity,
                batch_size=devices.batch_size,
                batch_delay=devices.batch_delay,
            )
            if devices is not None
            else None
        )
        try:
            # amqtt binds itself to the running loop when constructed, so it is built here.
            broker = DeviceBroker(
                self.config(binding_id),
                limits=limits,
                on_broadcast=self._hand_over,
                trusted_cas=devices.trusted_cas if devices is not None else None,
                ingest_queue=ingest,
            )
            binding.broker = broker
            if ingest is not None:
                await ingest.start()
            await broker.start()
        except BaseException:
            unbind(binding_id)
            if ingest is not None:
                await ingest.stop()
            raise
        self._broker, self._binding_id, self._ingest = broker, binding_id, ingest
        self._dispatcher = asyncio.create_task(self._dispatch(), name="mqtt-inbox")

    async def stop(self) -> None:
        broker, self._broker = self._broker, None
        if broker is None:
            return
        # amqtt discards what is still queued at shutdown, so deliveries get a moment to finish.
        for _ in range(int(_STOP_DRAIN_SECONDS / _STOP_POLL_SECONDS)):
            if broker.idle() and not self._inbox.qsize():
                break
            await asyncio.sleep(_STOP_POLL_SECONDS)
        # Devices' messages already received are committed, and acknowledged, while they are connected.
        if self._ingest is not None:
            await self._ingest.stop()
            self._ingest = None
        try:
            await broker.shutdown()
        finally:
            if self._binding_id is not None:
                unbind(self._binding_id)
            if self._dispatcher is not None:
                self._dispatcher.cancel()
                await asyncio.gather(self._dispatcher, return_exceptions=True)
                self._dispatcher = None

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        await self.broker.deliver(topic, payload, qos)

    async def publish_each(self, topics: Sequence[str], payload: bytes, *, qos: int = 1) -> None:
        broker = self.broker
        for topic in topics:
            await broker.deliver(topic, payload, qos)

    async def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        if not well_formed_filter(topic_filter):
            raise ValueError(f"invalid MQTT topic filter {topic_filter!r}")
        self._subscriptions.append((topic_filter, handler))

    async def _hand_over(self, topic: str, payload: bytes) -> None:
        if any(topic_matches(topic_filter, topic) for topic_filter, _ in self._subscriptions):
            # A full inbox makes the publishing client wait: backpressure rather than unbounded memory.
            await self._inbox.put((topic, payload))

    async def _dispatch(self) -> None:
        while True:
            topic, payload = await self._inbox.get()
            try:
                for topic_filter, handler in list(self._subscriptions):
                    if topic_matches(topic_filter, topic):
                        await self._call(handler, topic, payload)
            finally:
                self._inbox.task_done()

    @staticmethod
    async def _call(handler: MessageHandler, topic: str, payload: bytes) -> None:
        try:
            await handler(topic, payload)
        except Exception:
            # One failing subscriber must not stop deliveries to the others.
            logger.exception("event bus subscriber failed on topic %s", topic)
