"""Workarounds for defects of amqtt 0.12.1, the broker library the embedded broker is built on.

amqtt is pinned to exactly 0.12.1 because this module overrides its private methods; re-verify every
item below (tests/core/bus/test_embedded_broker_*.py) before moving the pin.  Each defect, and why
it matters when untrusted clients connect:

1. Authentication runs *after* the broker has deleted (clean session) or taken over (persistent
   session) the existing session of the same client id, so bad credentials suffice to wipe or kick
   anyone's session; a rejected CONNECT also leaves a "connected" zombie session behind forever, and
   its CONNACK claims session-present.  :class:`GuardedHandler` authenticates right after parsing
   CONNECT, before the broker touches any session, and refuses with a plain CONNACK 0x05.
2. There is no CONNECT timeout: a socket that never sends CONNECT holds a connection forever.
   :class:`GuardedHandler` bounds the wait (``connect_timeout``); the TLS handshake and the
   WebSocket opening handshake get the same bound.
3. Keep-alive is not enforced (the broker handler ignores its read timeout), so half-open
   connections live forever.  :class:`GuardedHandler` closes a connection that was silent for 1.5
   times its keep-alive, as MQTT-3.1.2-24 asks.
4. There is no maximum packet size: any remaining length up to 256 MB is read into memory.
   :class:`FramedReader` follows the MQTT framing and refuses a packet above ``max_packet_bytes``
   before its body is read.
5. Retained messages leak across the ACL: on every connect, the broker sends the retained messages
   matching *any* filter *any* client subscribed to, unchecked.  :class:`GuardedBroker` sends only
   those matching the session's own subscriptions, checked with the topic plugins.
6. The offline queue of a persistent session is unbounded, so a client that never returns
   exhausts memory.  :class:`GuardedBroker` keeps the newest ``max_queued_messages``.
7. Queued messages are replayed with retain=1 (MQTT says 0), and an outgoing QoS 1 message that is
   unacknowledged when the connection drops (or after amqtt's fixed 5 s) is lost.  Replays are sent
   with retain=0 and such a message goes back on the persistent session's offline queue.
8. ``max_connections`` makes excess clients wait (a semaphore) instead of refusing them, so a flood
   of idle sockets stalls every newcomer.  :class:`GuardedBroker` closes connections beyond the limit
   at once.
9. A will message is published without the publish ACL.  Not fixed here but in the auth plugin,
   which refuses a CONNECT whose will topic the client may not publish to.
10. An exception other than amqtt's own while parsing CONNECT escapes the connection callback
    without closing the socket; a peer that stops reading blocks ``drain()`` (and so ``close()``)
    forever.  Both are bounded: the socket is closed, stalled writes time out and abort.
11. A broadcast walks the subscription table while awaiting the topic plugins for each subscriber,
    so a client subscribing or leaving meanwhile ends it with "dictionary changed size during
    iteration" and the message is lost for everyone after that point (found by the soak
    benchmark: 40,060 lost broadcasts in 10 minutes of churn).  :meth:`GuardedBroker._run_broadcast`
    copies the matching subscribers before its first ``await``.
12. A broadcast matches its topic against every filter in the table (splitting both strings each
    time), so one message costs O(subscriptions) and an event to N users O(N²): 2 ms per message
    at 1,000 clients, which capped delivery at about 650 messages/s.  The table is a
    :class:`~fieldhub.core.bus.subscription_table.SubscriptionTable`, which indexes the filters by
    level, and :meth:`GuardedBroker._run_broadcast` looks up only the filters that match.  Its
    receive check also calls the topic plugins directly instead of through amqtt's plugin manager,
    which wraps every call of every delivery in a task of its own.  (The table's ``repr`` is short
    too: amqtt formats the whole table for a debug log on every SUBSCRIBE, even with debug off.)
16. Each outgoing QoS 1 delivery costs about five tasks, six ``wait_for`` and four timers (the
    broadcast queue and loop, a task per copy, a write lock, a ``drain``, a PUBACK waiter with a
    fixed 5 s timeout), about 240 us of CPU per delivery: the embedded broker could not deliver
    5,000 messages a second.  A resumed session also handled nothing else (not even its
    DISCONNECT) until every message it had missed was acknowledged.  The server's own messages
    now skip the broadcast queue (:meth:`GuardedBroker.deliver`), and deliveries over TCP and TLS
    are written at once, with a window of unacknowledged messages per connection instead of a
    wait per message (:mod:`fieldhub.core.bus.amqtt_delivery`).
17. Ending a session (a clean session leaving, or one taken over) walks every filter of every
    client to find its subscriptions: O(subscriptions) per disconnect, 8 % of the server's time
    with 1,000 clients churning.  :class:`GuardedBroker` remembers the filters of each client id.

Installing is process-wide for one name only: amqtt's broker module looks up
``BrokerProtocolHandler`` when a client connects, so :func:`install` points it at
:class:`GuardedHandler`.  All other changes live in the :class:`GuardedBroker` subclass.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import amqtt.broker  # type: ignore[import-untyped]
import websockets
from amqtt.adapters import (  # type: ignore[import-untyped]
    StreamReaderAdapter,
    WebSocketsReader,
    WebSocketsWriter,
)
from amqtt.broker import Broker, RetainedApplicationMessage
from amqtt.contexts import Action, ListenerType  # type: ignore[import-untyped]
from amqtt.errors import MQTTError  # type: ignore[import-untyped]
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket  # type: ignore[import-untyped]
from amqtt.mqtt.constants import QOS_1, QOS_2  # type: ignore[import-untyped]
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler  # type: ignore[import-untyped]
from amqtt.session import Session  # type: ignore[import-untyped]

from fieldhub.core.bus.amqtt_delivery import BrokerLimits, DirectDelivery
from fieldhub.core.bus.amqtt_streams import (
    MAX_FIXED_HEADER,
    WRITE_STALL_SECONDS,
    FramedReader,
    GuardedStreamWriter,
)
from fieldhub.core.bus.subscription_table import SubscriptionTable

logger = logging.getLogger(__name__)

#: amqtt's SUBACK return code for a refused subscription.
_REFUSED = 0x80
#: Session attribute naming the handler whose CONNECT passed authentication (defect 1).
_AUTHENTICATED_BY = "fieldhub.authenticated_by"

_ACCEPT_BACKLOG = 4096


def _limits_of(plugins_manager: Any) -> GuardedBroker | None:
    broker = getattr(plugins_manager.context, "_broker_instance", None)
    return broker if isinstance(broker, GuardedBroker) else None


class GuardedHandler(DirectDelivery, BrokerProtocolHandler):  # type: ignore[misc]
    """amqtt's broker protocol handler with defects 1, 2, 3, 7 (lost QoS 1 messages) and 16 fixed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._closing: set[asyncio.Task[None]] = set()

    @classmethod
    async def init_from_connect(
        cls, reader: Any, writer: Any, plugins_manager: Any, loop: Any = None
    ) -> tuple[GuardedHandler, Session]:
        broker = _limits_of(plugins_manager)
        timeout = broker.limits.connect_timeout if broker else WRITE_STALL_SECONDS
        try:
            handler, session = await asyncio.wait_for(
                super().init_from_connect(reader, writer, plugins_manager, loop), timeout
            )
        except MQTTError:
            raise  # amqtt answered (or closes) this one itself
        except Exception as exc:  # any malformed or slow CONNECT just closes the socket
            await writer.close()
            raise MQTTError(f"bad or missing CONNECT: {exc!r}") from None
        if session.keep_alive > 0:
            session.keep_alive = math.ceil(session.keep_alive * 1.5)
        verdicts = await plugins_manager.map_plugin_auth(session=session)
        results = [verdict for verdict in verdicts.values() if verdict is not None]
        if not results or not all(results):
            await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
            await writer.close()
            raise MQTTError(f"refused CONNECT of client id {session.client_id!r}")
        handler.authenticated_attributes = dict(session.attributes)
        if broker is not None:
            await broker.take_over(session.client_id)
        return handler, session

    def handle_read_timeout(self) -> None:
        # Nothing arrived for 1.5 x keep-alive: the peer is gone (MQTT-3.1.2-24).
        self._close_soon()

    def _close_soon(self) -> None:
        task = asyncio.ensure_future(self.handle_connection_closed())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def mqtt_publish(
        self, topic: str, data: bytes, qos: int | None, retain: bool, ack_timeout: int | None = None
    ) -> Any:
        try:
            return await super().mqtt_publish(topic, data, qos, retain, ack_timeout)
        except (asyncio.CancelledError, TimeoutError):
            session, broker = self.session, _limits_of(self.plugins_manager)
            # Once a newer connection serves the session, amqtt itself redelivers what was in flight.
            if (
                session is not None
                and broker is not None
                and qos
                and not session.clean_session
                and broker.serves(session, self)
            ):
                broker.enqueue_offline(session, RetainedApplicationMessage(None, topic, data, qos))
            raise

    def _broker_limits(self) -> BrokerLimits | None:
        broker = _limits_of(self.plugins_manager)
        return broker.limits if broker is not None else None

    def _keep_offline(self, message: RetainedApplicationMessage) -> None:
        broker = _limits_of(self.plugins_manager)
        if broker is not None and self.session is not None:
            broker.enqueue_offline(self.session, message)


def install() -> None:
    """Makes amqtt's broker use :class:`GuardedHandler`; idempotent."""
    amqtt.broker.BrokerProtocolHandler = GuardedHandler


class GuardedBroker(Broker):  # type: ignore[misc]
    """amqtt's broker with defects 1, 2, 4-12, 16 and 17 fixed; see the module docstring."""

    def __init__(
        self,
        config: dict[str, Any],
        *,
        limits: BrokerLimits,
        on_broadcast: Callable[[str, bytes], Awaitable[None]],
    ) -> None:
        install()
        super().__init__(config)
        self._subscriptions = SubscriptionTable(self.__dict__["_subscriptions"])
        #: Whether a broadcast has been taken off the queue but not yet handed to every subscriber.
        self._broadcasting = False
        self.limits = limits
        self._on_broadcast = on_broadcast
        self._open_connections = 0
        self._closing: dict[Any, asyncio.Future[None]] = {}
        #: The filters each client id subscribed to, so that ending a session visits only those.
        self._filters_of: dict[str, set[str]] = {}

    @staticmethod
    def _create_ssl_context(listener: Any) -> ssl.SSLContext:
        context: ssl.SSLContext = Broker._create_ssl_context(listener)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    async def _create_server_instance(
        self, listener_name: str, listener_type: Any, address: str | None, port: int, ssl_context: Any
    ) -> Any:
        host = address.strip("[]") if address else None
        timeout = self.limits.connect_timeout
        if listener_type == ListenerType.WS:
            return await websockets.serve(
                partial(self.ws_connected, listener_name=listener_name),
                host,
                port,
                ssl=ssl_context,
                subprotocols=[websockets.Subprotocol("mqtt")],
                max_size=self.limits.max_packet_bytes + MAX_FIXED_HEADER,
                max_queue=4,
                open_timeout=timeout,
                backlog=_ACCEPT_BACKLOG,
            )
        return await asyncio.start_server(
            partial(self.stream_connected, listener_name=listener_name),
            host,
            port,
            reuse_address=True,
            # asyncio's default backlog of 100 lets a burst of connects overflow the kernel's
            # accept queue, after which every new client (legitimate ones too) waits on SYN retries.
            backlog=_ACCEPT_BACKLOG,
            ssl=ssl_context,
            ssl_handshake_timeout=timeout if ssl_context else None,
        )

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        framed = FramedReader(StreamReaderAdapter(reader), max_packet_bytes=self.limits.max_packet_bytes)
        await self._client_connected(listener_name, framed, GuardedStreamWriter(writer))

    async def ws_connected(self, websocket: Any, listener_name: str) -> None:
        framed = FramedReader(WebSocketsReader(websocket), max_packet_bytes=self.limits.max_packet_bytes)
        await self._client_connected(listener_name, framed, WebSocketsWriter(websocket))

    async def _client_connected(self, listener_name: str, reader: Any, writer: Any) -> None:
        if self._open_connections >= self.limits.max_connections:
            logger.warning("MQTT connection refused: %d connections open", self._open_connections)
            await writer.close()
            return
        self._open_connections += 1
        try:
            await super()._client_connected(listener_name, reader, writer)
        except Exception:
            logger.exception("MQTT connection failed")
            await writer.close()
        finally:
            self._open_connections -= 1

    async def _initialize_client_session(self, *args: Any) -> tuple[GuardedHandler, Session]:
        handler, session = await super()._initialize_client_session(*args)
        # The broker may have swapped in the stored persistent session: it gets the identity that
        # was just authenticated, not the one of an earlier connection.
        session.attributes.update(handler.authenticated_attributes)
        session.attributes[_AUTHENTICATED_BY] = handler
        return handler, session

    async def _authenticate(self, session: Session, listener: Any) -> bool:
        # GuardedHandler already ran the auth plugins for this very CONNECT; running them again
        # would verify the token twice.  A session that did not come through it is refused.
        return session.attributes.pop(_AUTHENTICATED_BY, None) is not None

    async def add_subscription(self, subscription: tuple[str, int], session: Session) -> int:
        granted: int = await super().add_subscription(subscription, session)
        if granted != _REFUSED:
            self._filters_of.setdefault(session.client_id, set()).add(subscription[0])
        return granted

    async def _del_all_subscriptions(self, session: Session) -> None:
        # amqtt walks every filter of every client to end one session: under churn with 1,000
        # clients that was 8 % of the server's time.  An unsubscribed filter left in the set is
        # harmless: deleting a subscription that is not there does nothing.
        for topic_filter in self._filters_of.pop(session.client_id, set()):
            self._del_subscription(topic_filter, session)
            if self._subscriptions.get(topic_filter) == []:
                del self._subscriptions[topic_filter]

    def idle(self) -> bool:
        """Whether every message handed to the broker has been acknowledged by its connected
        subscribers, or is queued for offline ones."""
        return (
            self._broadcast_queue.empty()
            and not self._broadcasting
            and all(task.done() for task in self._tasks_queue)
            and not any(
                session.inflight_out or not session.retained_messages.empty()
                for session, _ in self._sessions.values()
                if session.transitions.state == "connected"
            )
        )

    def enqueue_offline(self, session: Session, message: Any) -> None:
        queue = session.retained_messages
        queue.put_nowait(message)
        while queue.qsize() > self.limits.max_queued_messages:
            queue.get_nowait()  # the newest messages are the ones worth keeping

    @staticmethod
    def _keeps_offline(session: Session, qos: int) -> bool:
        # MQTT 3.1.2.4: a persistent session keeps the QoS 1 and 2 messages it misses.
        return not session.clean_session and qos in (QOS_1, QOS_2) and not session.is_anonymous

    async def _publish_session_retained_messages(self, session: Session) -> None:
        handler = self._get_handler(session)
        if handler is None or handler.go_live(self.limits):
            return
        deliveries = []
        while not session.retained_messages.empty():
            message = session.retained_messages.get_nowait()
            deliveries.append(
                asyncio.ensure_future(
                    handler.mqtt_publish(message.topic, message.data, message.qos, retain=False)
                )
            )
        if deliveries:
            await asyncio.wait(deliveries)

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        if not self._retained_messages:
            return  # amqtt calls this for every filter in the table on every connect
        topic_filter, _ = subscription
        granted = [
            qos for subscriber, qos in self._subscriptions.get(topic_filter, []) if subscriber is session
        ]
        handler = self._get_handler(session)
        if not granted or handler is None:
            return
        deliveries = []
        for topic, retained in list(self._retained_messages.items()):
            if self._matches(topic, topic_filter) and await self._topic_filtering(
                session, topic, Action.RECEIVE
            ):
                qos = min(granted[0], granted[0] if retained.qos is None else retained.qos)
                deliveries.append(
                    asyncio.ensure_future(handler.mqtt_publish(topic, retained.data, qos, retain=True))
                )
        if deliveries:
            await asyncio.wait(deliveries)

    async def _run_broadcast(self, running_tasks: deque[asyncio.Task[Any]]) -> None:
        """amqtt's broadcast of one message, with the matching filters looked up (defects 11, 12)."""
        broadcast = await self._broadcast_queue.get()
        self._broadcasting = True
        try:
            await self._route(broadcast["topic"], broadcast["data"], force_qos=broadcast.get("qos"))
        finally:
            self._broadcasting = False

    async def deliver(self, topic: str, data: bytes, qos: int) -> None:
        """Publishes a message of the server itself: delivered before this returns (defect 16).

        amqtt's ``internal_message_broadcast`` queues it for the broadcast loop, which costs a
        task and a wait per message on top of the delivery; the server's own messages need no
        such hand-off, and delivering in the caller keeps them in the caller's order.
        """
        await self._route(topic, data, force_qos=qos)
        await self._on_broadcast(topic, data)

    async def _route(self, topic: str, data: bytes, *, force_qos: int | None) -> None:
        # The matching subscribers are copied before the first await (defect 11).
        targets = [
            subscriber
            for topic_filter in self._subscriptions.filters_matching(topic)
            for subscriber in self._subscriptions[topic_filter]
        ]
        for target_session, subscribed_qos in targets:
            qos = subscribed_qos if force_qos is None else force_qos
            if not await self._topic_filtering(target_session, topic, Action.RECEIVE):
                continue
            if target_session.transitions.state != "connected":
                if self._keeps_offline(target_session, qos):
                    self.enqueue_offline(target_session, RetainedApplicationMessage(None, topic, data, qos))
                continue
            handler = self._get_handler(target_session)
            if handler is None or handler.deliver_now(topic, data, qos, limits=self.limits):
                continue
            delivery = handler.mqtt_publish(topic, data, qos, retain=False)
            self._tasks_queue.append(asyncio.ensure_future(delivery))

    async def _topic_filtering(self, session: Session, topic: str, action: Action) -> bool:
        # amqtt's plugin manager runs each check as a task of its own and gathers them: three
        # event-loop passes per delivery.  The verdict is the same, all plugins must say yes.
        manager = self.plugins_manager
        if not manager.is_topic_filtering_enabled():
            return True
        for plugin in manager._topic_plugins:  # amqtt offers no public accessor
            if not await plugin.topic_filtering(session=session, topic=topic, action=action):
                return False
        return True

    async def _broadcast_message(
        self, session: Session | None, topic: str | None, data: bytes | None, force_qos: int | None = None
    ) -> None:
        await super()._broadcast_message(session, topic, data, force_qos)
        if topic is not None and data is not None:
            await self._on_broadcast(topic, bytes(data))

    def serves(self, session: Session, handler: Any) -> bool:
        """Whether ``handler`` is the connection registered for ``session``'s client id."""
        return self._sessions.get(session.client_id, (None, None))[1] is handler

    async def take_over(self, client_id: str) -> None:
        """Closes the live connection of ``client_id`` (MQTT-3.1.4-2) and waits until amqtt processed it.

        amqtt's own take-over leaves the old connection's disconnect racing with the new one: the
        session ends up marked disconnected while the new connection is live, so it receives nothing.
        """
        session, handler = self._sessions.get(client_id, (None, None))
        if session is None or handler is None or session.transitions.state != "connected":
            return
        closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closing[handler] = closed
        try:
            await handler.handle_connection_closed()
            await asyncio.wait_for(closed, self.limits.connect_timeout)
        except TimeoutError:
            logger.warning("MQTT take-over of %s: the old connection did not close in time", client_id)
        finally:
            self._closing.pop(handler, None)

    async def _handle_disconnect(self, client_session: Session, handler: Any, waiter: Any) -> None:
        try:
            await super()._handle_disconnect(client_session, handler, waiter)
        finally:
            closed = self._closing.pop(handler, None)
            if closed is not None and not closed.done():
                closed.set_result(None)

    async def disconnect(self, client_id: str, handler: Any) -> None:
        """Closes ``client_id``'s connection if ``handler`` still serves it; amqtt has no API for this."""
        session, current = self._sessions.get(client_id, (None, None))
        if session is None or current is not handler or session.transitions.state != "connected":
            return
        session.will_flag = False  # a server-side close is not the client vanishing
        await handler.handle_connection_closed()
