"""Direct delivery of outgoing QoS 0 and 1 messages over TCP and TLS (defect 16 of ``amqtt_patches``).

amqtt sends every outgoing QoS 1 message through about five tasks, six ``wait_for`` and four
timers (a task per copy, a write lock, a ``drain``, a PUBACK waiter with a fixed 5 s timeout): about
240 us of CPU per delivery.  :class:`DirectDelivery` writes a message to the transport at once and
keeps it in the session's ``inflight_out`` until its PUBACK completes it, which is the flow MQTT
3.1.1 describes (4.4: resend unacknowledged messages when the session resumes, not on a timer).

Flow control per connection, instead of a wait per message:

- at most ``max_unacknowledged_messages`` are in flight; later messages wait, in order, on the
  session's queue (amqtt's ``retained_messages``, also its offline queue) and go out as PUBACKs
  free the window;
- a subscriber whose queue already holds ``max_queued_messages``, or which has
  :data:`MAX_UNSENT_BYTES` written but unread, is not keeping up: its connection is aborted (the
  unread bytes are freed at once) and a persistent session keeps the newest queued messages;
- while a session resumes, new messages queue behind the ones it missed: what was in flight is
  resent first (:meth:`DirectDelivery._retry_deliveries`), then the queue
  (:meth:`DirectDelivery.go_live`), and only then do messages go out directly; a message sent
  directly before the resend would have been sent twice.

WebSocket connections (whose writer sends only when awaited) and QoS 2 keep amqtt's own path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from amqtt.broker import RetainedApplicationMessage  # type: ignore[import-untyped]
from amqtt.mqtt.constants import QOS_0, QOS_1  # type: ignore[import-untyped]
from amqtt.mqtt.puback import PubackPacket  # type: ignore[import-untyped]
from amqtt.session import OutgoingApplicationMessage, Session  # type: ignore[import-untyped]

from fieldhub.core.bus.amqtt_streams import GuardedStreamWriter

logger = logging.getLogger(__name__)

#: A subscriber that has this much of our output still unread is not keeping up.
MAX_UNSENT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BrokerLimits:
    connect_timeout: float
    max_packet_bytes: int
    max_connections: int
    max_queued_messages: int
    max_unacknowledged_messages: int


class DirectDelivery:
    """Mixed into amqtt's protocol handler, before it in the bases: it needs the handler's
    ``session``, ``writer`` and ``_puback_waiters``, and the broker's limits and offline queue."""

    session: Session | None
    writer: Any
    _puback_waiters: dict[int, Any]
    #: Declared, not defined, so that the handler's own come first or later in the MRO:
    #: amqtt's delivery path; the broker's limits; queueing for the session, keeping the newest
    #: ``max_queued_messages``; closing the connection from a callback.
    mqtt_publish: Callable[..., Awaitable[Any]]
    _broker_limits: Callable[[], BrokerLimits | None]
    _keep_offline: Callable[[RetainedApplicationMessage], None]
    _close_soon: Callable[[], None]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Set once the resumed session's missed messages are out; from then on, direct sends.
        self._live = False
        self._handed_to_amqtt: set[asyncio.Task[Any]] = set()

    def _direct(self) -> GuardedStreamWriter | None:
        writer = self.writer
        return writer if self.session is not None and isinstance(writer, GuardedStreamWriter) else None

    def deliver_now(self, topic: str, data: bytes, qos: int, *, limits: BrokerLimits) -> bool:
        """Delivers (or queues, in order) one message without a task or a wait.

        Returns False, having done nothing, where amqtt's own path has to deliver.
        """
        session, writer = self.session, self._direct()
        if session is None or writer is None or qos not in (QOS_0, QOS_1):
            return False
        message = RetainedApplicationMessage(None, topic, data, qos)
        queue = session.retained_messages
        if self._live and queue.empty() and len(session.inflight_out) < limits.max_unacknowledged_messages:
            self._write(session, writer, message)
        elif queue.qsize() < limits.max_queued_messages:
            queue.put_nowait(message)
        else:
            self._keep_offline(message)
            if self._live:
                self._cut_off(writer, "its queue is full")
        return True

    def go_live(self, limits: BrokerLimits) -> bool:
        """Sends what the session queued while away (or while it resumed); then delivers directly.

        Returns False where amqtt's own path has to send the queue.
        """
        if self._direct() is None:
            return False
        self._live = True
        self._send_queued(limits)
        return True

    def _send_queued(self, limits: BrokerLimits) -> None:
        session, writer = self.session, self._direct()
        if session is None or writer is None:
            return
        queue = session.retained_messages
        while not queue.empty() and len(session.inflight_out) < limits.max_unacknowledged_messages:
            queued = queue.get_nowait()
            if queued.qos not in (QOS_0, QOS_1):
                self._hand_to_amqtt(queued)
            elif not self._write(session, writer, queued):
                return

    def _hand_to_amqtt(self, queued: RetainedApplicationMessage) -> None:
        """QoS 2 keeps amqtt's own four-step flow; it may overtake or be overtaken by QoS 0 and 1
        messages, which MQTT allows (its ordering holds within one QoS)."""
        delivery = self.mqtt_publish(queued.topic, queued.data, queued.qos, retain=False)
        task = asyncio.ensure_future(delivery)
        self._handed_to_amqtt.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._handed_to_amqtt.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("MQTT QoS 2 delivery failed: %r", task.exception())

    def _write(
        self, session: Session, writer: GuardedStreamWriter, queued: RetainedApplicationMessage
    ) -> bool:
        if writer.is_closed:
            self._keep_offline(queued)
            return False
        if writer.backlogged(max_unsent_bytes=MAX_UNSENT_BYTES):
            self._keep_offline(queued)
            self._cut_off(writer, f"{MAX_UNSENT_BYTES} bytes sent to it are unread")
            return False
        packet_id = session.next_packet_id if queued.qos == QOS_1 else None
        message = OutgoingApplicationMessage(packet_id, queued.topic, queued.qos, queued.data, False)
        message.publish_packet = message.build_publish_packet()
        writer.write(message.publish_packet.to_bytes())
        if queued.qos == QOS_1:
            session.inflight_out[packet_id] = message
        return True

    def _cut_off(self, writer: GuardedStreamWriter, why: str) -> None:
        if writer.is_closed:
            return
        client_id = self.session.client_id if self.session is not None else "?"
        logger.warning("MQTT client %s is not keeping up (%s): closing its connection", client_id, why)
        # Aborted, not closed: a close would first wait for the peer to read what is queued.
        writer.abort()
        self._close_soon()

    async def _retry_deliveries(self) -> None:
        session, writer = self.session, self._direct()
        outgoing = list(session.inflight_out.values()) if session is not None else []
        if session is None or writer is None or session.inflight_in or any(m.qos != QOS_1 for m in outgoing):
            await super()._retry_deliveries()  # type: ignore[misc]
            return
        # MQTT-4.4.0-1: resent with DUP, completed by its PUBACK like any direct delivery; amqtt
        # would wait here (up to 10 s) for every PUBACK before the connection handles anything else.
        for message in outgoing:
            message.publish_packet = message.build_publish_packet(dup=True)
            writer.write(message.publish_packet.to_bytes())

    async def handle_puback(self, puback: PubackPacket) -> None:
        packet_id = puback.variable_header.packet_id if puback.variable_header is not None else None
        session = self.session
        # A message delivered directly has no waiter: its PUBACK completes it and frees its slot.
        if (
            session is not None
            and packet_id not in self._puback_waiters
            and session.inflight_out.pop(packet_id, None) is not None
        ):
            limits = self._broker_limits()
            if limits is not None and self._live:
                self._send_queued(limits)
            return
        await super().handle_puback(puback)  # type: ignore[misc]
