"""Changes to amqtt 0.12.1 for devices authenticated by client certificate (patches 13 to 15).

The numbering continues the list of ``amqtt_patches.py`` (same pin, same re-verification:
tests/core/bus/ and tests/bus/).  Token users are not affected: every change below applies only to
connections that presented a client certificate, and within those only to device sessions.

13. Client certificates.  amqtt's TLS context already asks for an optional client certificate,
    but trusts only the CA files of its configuration, fixed at start.  :class:`DeviceBroker`
    adds the device CAs (:class:`~fieldhub.core.bus.device_auth.DeviceTrust`, reloaded at every
    handshake) and hands the verified certificate to authentication through a context variable,
    as amqtt's auth plugins see only the CONNECT packet.
14. PUBACK after commit.  amqtt acknowledges an inbound QoS 1 PUBLISH as soon as it has put it on
    the session's delivery queue (``ProtocolHandler._handle_qos1_message_flow``, INCOMING branch:
    ``delivered_message_queue.put`` then ``PubackPacket.build``), before anything is done with it.
    :meth:`DeviceHandler.handle_publish` sends a device's message to the
    :class:`~fieldhub.core.bus.device_ingest.IngestQueue` instead (never to subscribers) and sends
    the PUBACK only once the batch holding it is committed.  A message that could not be committed
    is not acknowledged and the connection is closed, so the device sends it again.  A PUBLISH on
    any other topic than the device's own, or at QoS 2, also closes the connection (MQTT 3.1.1
    has no negative acknowledgement, and silently dropping it would lose data unseen).
15. Back-pressure.  amqtt's reader loop starts a task per PUBLISH without waiting for it, so a
    fast publisher fills memory however slow the consumer.  A device connection's reader
    (:class:`GatedReader`) waits before each read while the ingest queue is full or while the
    connection has ``MAX_UNCOMMITTED`` messages awaiting commit: TCP then pushes back on the device.

Installing is process-wide, like ``amqtt_patches.install``: :class:`DeviceBroker` points amqtt's
``BrokerProtocolHandler`` at :class:`DeviceHandler`, which behaves exactly as ``GuardedHandler``
for every session that is not a device's.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import amqtt.broker  # type: ignore[import-untyped]
from amqtt.adapters import ReaderAdapter, StreamReaderAdapter  # type: ignore[import-untyped]
from amqtt.mqtt.constants import QOS_0, QOS_1  # type: ignore[import-untyped]
from amqtt.mqtt.puback import PubackPacket  # type: ignore[import-untyped]
from amqtt.mqtt.publish import PublishPacket  # type: ignore[import-untyped]

from fieldhub.core.bus.amqtt_delivery import BrokerLimits
from fieldhub.core.bus.amqtt_patches import GuardedBroker, GuardedHandler
from fieldhub.core.bus.amqtt_plugins import identity_of
from fieldhub.core.bus.amqtt_streams import FramedReader, GuardedStreamWriter
from fieldhub.core.bus.device_auth import PEER_CERTIFICATE, DeviceTrust, TrustedDeviceCas, client_certificate
from fieldhub.core.bus.device_ingest import DeviceMessage, IngestQueue
from fieldhub.core.bus.mqtt_auth import DeviceIdentity

logger = logging.getLogger(__name__)

#: A device connection with this many messages awaiting commit stops being read (patch 15).
MAX_UNCOMMITTED = 1_000


class GatedReader(ReaderAdapter):  # type: ignore[misc]
    """Waits on ``gate`` (when set) before every read (patch 15)."""

    def __init__(self, inner: ReaderAdapter) -> None:
        self._inner = inner
        self.gate: Callable[[], Awaitable[None]] | None = None

    async def read(self, n: int = -1) -> bytes:
        if self.gate is not None:
            await self.gate()
        data: bytes = await self._inner.read(n)
        return data

    def feed_eof(self) -> None:
        self._inner.feed_eof()


def _device_broker(plugins_manager: Any) -> DeviceBroker | None:
    broker = getattr(plugins_manager.context, "_broker_instance", None)
    return broker if isinstance(broker, DeviceBroker) else None


class DeviceHandler(GuardedHandler):
    """``GuardedHandler`` that ingests a device session's messages and acknowledges them after commit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._uncommitted = 0
        self._below_limit = asyncio.Event()
        self._below_limit.set()
        self._closing_tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        # Set before the reader loop starts, so that not even its first read escapes the gate.
        if self._device() is not None and isinstance(self.reader, GatedReader):
            self.reader.gate = self._wait_for_room
        await super().start()

    def _device(self) -> DeviceIdentity | None:
        identity = identity_of(self.session)
        return identity.device if identity is not None else None

    async def _wait_for_room(self) -> None:
        # The reader may have parsed several buffered packets without yielding; their tasks count
        # themselves in as soon as they run, which this pass lets them do.
        await asyncio.sleep(0)
        await self._below_limit.wait()
        broker = _device_broker(self.plugins_manager)
        if broker is not None and broker.ingest_queue is not None:
            await broker.ingest_queue.wait_for_room()

    async def handle_publish(self, publish_packet: PublishPacket) -> None:
        device = self._device()
        broker = _device_broker(self.plugins_manager)
        if device is None or broker is None or broker.ingest_queue is None:
            await super().handle_publish(publish_packet)
            return
        topic, qos = publish_packet.topic_name, publish_packet.qos
        if topic != device.topic or qos not in (QOS_0, QOS_1) or publish_packet.data is None:
            logger.warning(
                "device %s of realm %s sent a PUBLISH it may not send (not its topic, or QoS %s): "
                "closing its connection",
                device.device_id,
                device.realm,
                qos,
            )
            self._close(broker)
            return
        if not await self._ingest(broker.ingest_queue, DeviceMessage(device, bytes(publish_packet.data))):
            self._close(broker)
            return
        if qos == QOS_1 and publish_packet.variable_header is not None:
            await self._send_packet(PubackPacket.build(publish_packet.variable_header.packet_id))

    async def _ingest(self, queue: IngestQueue, message: DeviceMessage) -> bool:
        self._uncommitted += 1
        if self._uncommitted >= MAX_UNCOMMITTED:
            self._below_limit.clear()
        try:
            return await queue.submit(message)
        finally:
            self._uncommitted -= 1
            if self._uncommitted < MAX_UNCOMMITTED:
                self._below_limit.set()

    def _close(self, broker: DeviceBroker) -> None:
        if self.session is None or self.session.client_id is None:
            return
        # A task of its own: closing stops the reader loop, which cancels this publish's task.
        task = asyncio.ensure_future(broker.disconnect(self.session.client_id, self))
        self._closing_tasks.add(task)
        task.add_done_callback(self._closing_tasks.discard)


class DeviceBroker(GuardedBroker):
    """``GuardedBroker`` with patches 13 to 15; without ``ingest_queue`` it serves no devices."""

    def __init__(
        self,
        config: dict[str, Any],
        *,
        limits: BrokerLimits,
        on_broadcast: Callable[[str, bytes], Awaitable[None]],
        trusted_cas: TrustedDeviceCas | None = None,
        ingest_queue: IngestQueue | None = None,
    ) -> None:
        # Read by _create_ssl_context, which amqtt calls only in start().
        self._trust = DeviceTrust(trusted_cas) if trusted_cas is not None else None
        super().__init__(config, limits=limits, on_broadcast=on_broadcast)
        amqtt.broker.BrokerProtocolHandler = DeviceHandler
        self.ingest_queue = ingest_queue

    def _create_ssl_context(self, listener: Any) -> ssl.SSLContext:  # type: ignore[override]
        context = GuardedBroker._create_ssl_context(listener)
        if self._trust is not None:
            self._trust.install(context)
        return context

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der is None or self.ingest_queue is None:
            await super().stream_connected(reader, writer, listener_name)
            return
        try:
            certificate = client_certificate(der)
        except ValueError:  # OpenSSL accepted it, but it is not a certificate we can read
            writer.close()
            return
        # This connection's own task: the certificate is visible to its authentication only.
        PEER_CERTIFICATE.set(certificate)
        framed = FramedReader(StreamReaderAdapter(reader), max_packet_bytes=self.limits.max_packet_bytes)
        await self._client_connected(listener_name, GatedReader(framed), GuardedStreamWriter(writer))
