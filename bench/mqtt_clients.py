"""paho-mqtt clients by the hundred, spread over worker processes so that the client side keeps up.

Each worker process drives its share of the clients from one thread: paho's socket callbacks
register every connection with a selector (epoll), so 500 connections cost one thread rather than
500 ``loop_start`` threads.  The main process talks to its workers over pipes (:class:`WorkerPool`).

Two kinds of worker:

- :func:`subscriber_worker` keeps its clients connected and subscribed and records, for every
  message, the payload's ``eventId`` and the time it arrived (``time.monotonic()``, which is the
  system-wide CLOCK_MONOTONIC on Linux and so comparable with the main process's clock);
- :func:`churn_worker` makes its clients connect, subscribe, stay a while and disconnect, over and
  over, counting every failure.
"""

from __future__ import annotations

import heapq
import itertools
import multiprocessing
import random
import selectors
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, fields
from multiprocessing.connection import Connection
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

KEEPALIVE_SECONDS = 60
#: A client without CONNACK or SUBACK this long after connecting counts as failed.
HANDSHAKE_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 20.0
#: SUBACK reason codes from 0x80 on are refusals.
SUBACK_FAILURE = 0x80


@dataclass(frozen=True, slots=True)
class Broker:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """One MQTT client: its identity and the filter it subscribes to (QoS 1)."""

    client_id: str
    topic_filter: str
    username: str | None = None
    password: str | None = None
    clean_session: bool = True


def skylight_client(realm: str, subject: str, access_token: str, *, clean_session: bool = True) -> ClientSpec:
    """A client connected exactly as the Skylight spec says, subscribed to its own session events."""
    return ClientSpec(
        client_id=f"{realm}-{subject}-{random.randrange(10**8):08d}",
        topic_filter=f"v1/realms/{realm}/users/{subject}/session/#",
        username=f"{realm}/{subject}",
        password=access_token,
        clean_session=clean_session,
    )


def new_client(spec: ClientSpec) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=spec.client_id,
        clean_session=spec.clean_session,
        protocol=mqtt.MQTTv311,
    )
    if spec.username is not None:
        client.username_pw_set(spec.username, spec.password)
    return client


class ClientLoop:
    """Drives many paho clients from one thread: a selector over their sockets, plus timers."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self._clients: set[mqtt.Client] = set()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._next_misc = 0.0

    def adopt(self, client: mqtt.Client) -> None:
        client.on_socket_open = self._opened
        client.on_socket_close = self._closed
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._wrote
        self._clients.add(client)

    def release(self, client: mqtt.Client) -> None:
        self._clients.discard(client)

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), callback))

    def run_once(self, timeout: float) -> list[selectors.SelectorKey]:
        """Serves ready sockets and due timers; returns the ready keys that are not MQTT clients."""
        others = []
        for key, events in self.selector.select(self._timeout(timeout)):
            if not isinstance(key.data, mqtt.Client):
                others.append(key)
                continue
            if events & selectors.EVENT_READ:
                key.data.loop_read()
            if events & selectors.EVENT_WRITE:
                key.data.loop_write()
        self._run_timers()
        return others

    def _timeout(self, timeout: float) -> float:
        if not self._timers:
            return timeout
        return max(0.0, min(timeout, self._timers[0][0] - time.monotonic()))

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            heapq.heappop(self._timers)[2]()
        if now >= self._next_misc:  # keep-alive pings
            self._next_misc = now + 1.0
            for client in list(self._clients):
                client.loop_misc()

    def _opened(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.selector.register(sock, selectors.EVENT_READ, client)

    def _closed(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        with suppress(KeyError, ValueError):
            self.selector.unregister(sock)

    def _want_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        with suppress(KeyError, ValueError):
            self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)

    def _wrote(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        with suppress(KeyError, ValueError):
            self.selector.modify(sock, selectors.EVENT_READ, client)


# --- the main process's side -------------------------------------------------------------------


class WorkerError(RuntimeError):
    """A client worker process died or did not answer."""


class WorkerPool:
    """Worker processes, each running ``target(share, broker, connection)``, and their pipes."""

    def __init__(
        self, connections: list[Connection], processes: Sequence[multiprocessing.process.BaseProcess]
    ) -> None:
        self._connections = connections
        self._processes = processes

    def ask(self, *command: Any, timeout: float = 60.0) -> list[Any]:
        """Sends ``command`` to every worker and returns their answers, in worker order."""
        for connection in self._connections:
            connection.send(command)
        return [self._answer(connection, timeout) for connection in self._connections]

    def _answer(self, connection: Connection, timeout: float) -> Any:
        if not connection.poll(timeout):
            raise WorkerError(f"no answer from a client worker within {timeout:.0f} s")
        try:
            return connection.recv()
        except EOFError:
            raise WorkerError("a client worker exited") from None

    def close(self) -> None:
        for connection in self._connections:
            with suppress(OSError):
                connection.send(("stop",))
        for process in self._processes:
            process.join(STOP_TIMEOUT_SECONDS)
            if process.is_alive():
                process.terminate()
                process.join(STOP_TIMEOUT_SECONDS)


def shares(specs: Sequence[ClientSpec], processes: int) -> list[list[ClientSpec]]:
    """``specs`` dealt round-robin to at most ``processes`` non-empty shares."""
    count = max(1, min(processes, len(specs)))
    return [list(specs[index::count]) for index in range(count)]


@contextmanager
def worker_pool(
    target: Callable[[list[ClientSpec], Broker, Connection], None],
    specs: Sequence[ClientSpec],
    broker: Broker,
    processes: int,
) -> Iterator[WorkerPool]:
    context = multiprocessing.get_context("spawn")
    connections, started = [], []
    for share in shares(specs, processes):
        ours, theirs = context.Pipe()
        process = context.Process(target=target, args=(share, broker, theirs), daemon=True)
        process.start()
        theirs.close()
        connections.append(ours)
        started.append(process)
    pool = WorkerPool(connections, started)
    try:
        yield pool
    finally:
        pool.close()


# --- subscribers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Readiness:
    subscribed: int
    failed: int
    #: Seconds from the first CONNECT to the last SUBACK.
    seconds: float


@dataclass
class _Receipts:
    """Arrival times of messages by ``eventId``, kept until the main process collects them."""

    times: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    total: int = 0

    def record(self, payload: bytes | bytearray) -> None:
        arrived = time.monotonic()
        self.times[str(orjson.loads(payload).get("eventId"))].append(arrived)
        self.total += 1

    def take(self) -> dict[str, list[float]]:
        taken, self.times = dict(self.times), defaultdict(list)
        return taken


class _Subscriber:
    """Connects, subscribes to its filter and records what arrives."""

    def __init__(self, spec: ClientSpec, loop: ClientLoop, receipts: _Receipts) -> None:
        self.spec = spec
        self.subscribed = False
        self.failed = False
        self.client = new_client(spec)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda client, userdata, message: receipts.record(message.payload)
        loop.adopt(self.client)

    def connect(self, broker: Broker) -> None:
        try:
            self.client.connect(broker.host, broker.port, keepalive=KEEPALIVE_SECONDS)
        except OSError:
            self.failed = True

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self.failed = True
            return
        client.subscribe(self.spec.topic_filter, qos=1)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        refused = any(int(reason.value) >= SUBACK_FAILURE for reason in reasons)
        self.failed, self.subscribed = refused, not refused


@dataclass(frozen=True, slots=True)
class _Pending:
    """A question the worker answers once ``ready()`` holds or the deadline passed."""

    ready: Callable[[], bool]
    answer: Callable[[], Any]
    deadline: float

    def due(self) -> bool:
        return self.ready() or time.monotonic() > self.deadline


def _readiness(subscribers: list[_Subscriber], started: float, timeout: float) -> _Pending:
    return _Pending(
        ready=lambda: all(s.subscribed or s.failed for s in subscribers),
        answer=lambda: Readiness(
            subscribed=sum(s.subscribed for s in subscribers),
            failed=sum(s.failed for s in subscribers),
            seconds=time.monotonic() - started,
        ),
        deadline=time.monotonic() + timeout,
    )


def _deliveries(receipts: _Receipts, baseline: int, wanted: int, timeout: float) -> _Pending:
    return _Pending(
        ready=lambda: receipts.total >= baseline + wanted,
        answer=lambda: receipts.total - baseline,
        deadline=time.monotonic() + timeout,
    )


def subscriber_worker(specs: list[ClientSpec], broker: Broker, connection: Connection) -> None:
    """Serves commands from the main process until ``stop``:

    - ``("ready", timeout)`` answers a :class:`Readiness` once every client is subscribed or failed;
    - ``("await", events, timeout)`` answers the number of messages received since the last
      ``collect``, once every subscribed client received ``events`` of them (or the timeout passed);
    - ``("collect",)`` answers the receipts (``eventId`` -> arrival times) and forgets them.
    """
    loop, receipts = ClientLoop(), _Receipts()
    loop.selector.register(connection.fileno(), selectors.EVENT_READ, connection)
    subscribers = [_Subscriber(spec, loop, receipts) for spec in specs]
    started = time.monotonic()
    for subscriber in subscribers:
        subscriber.connect(broker)
        loop.run_once(0)
    pending: _Pending | None = None
    baseline = 0
    while True:
        for key in loop.run_once(0.05):
            command = key.data.recv()
            if command[0] == "stop":
                for subscriber in subscribers:
                    subscriber.client.disconnect()
                _flush(loop, seconds=1.0)
                return
            if command[0] == "collect":
                baseline = receipts.total
                connection.send(receipts.take())
            elif command[0] == "ready":
                pending = _readiness(subscribers, started, command[1])
            elif command[0] == "await":
                wanted = command[1] * sum(s.subscribed for s in subscribers)
                pending = _deliveries(receipts, baseline, wanted, command[2])
        if pending is not None and pending.due():
            connection.send(pending.answer())
            pending = None


# --- churn ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChurnPlan:
    """A churning client stays ``dwell`` seconds once subscribed, then reconnects after ``pause``."""

    dwell: tuple[float, float] = (1.0, 10.0)
    pause: tuple[float, float] = (0.0, 2.0)


@dataclass
class ChurnCounts:
    connects: int = 0
    subscribed: int = 0
    #: Clean disconnects we asked for, after a complete connect-subscribe cycle.
    cycles: int = 0
    messages: int = 0
    refused_connects: int = 0
    refused_subscriptions: int = 0
    socket_errors: int = 0
    timeouts: int = 0
    #: Connections the broker closed (or that broke) before we disconnected.
    dropped: int = 0

    @property
    def failures(self) -> int:
        return (
            self.refused_connects
            + self.refused_subscriptions
            + self.socket_errors
            + self.timeouts
            + self.dropped
        )

    def add(self, other: ChurnCounts) -> None:
        for counter in fields(self):
            setattr(self, counter.name, getattr(self, counter.name) + getattr(other, counter.name))


class _Churner:
    """One client identity that connects, subscribes, stays, disconnects and starts over, forever."""

    def __init__(
        self, spec: ClientSpec, broker: Broker, loop: ClientLoop, plan: ChurnPlan, counts: ChurnCounts
    ) -> None:
        self._spec, self._broker, self._loop, self._plan, self._counts = spec, broker, loop, plan, counts
        self._client: mqtt.Client | None = None
        self._generation = 0
        self._leaving = False
        self._settled = False

    def start(self, delay: float) -> None:
        self._loop.call_later(delay, self._connect)

    def stop(self) -> None:
        if self._client is not None:
            self._leaving = True
            self._client.disconnect()

    def _connect(self) -> None:
        self._generation += 1
        self._leaving, self._settled = False, False
        client = new_client(self._spec)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        self._loop.adopt(client)
        self._client = client
        try:
            client.connect(self._broker.host, self._broker.port, keepalive=KEEPALIVE_SECONDS)
        except OSError:
            self._counts.socket_errors += 1
            self._retire(client)
            return
        generation = self._generation
        self._loop.call_later(HANDSHAKE_TIMEOUT_SECONDS, lambda: self._check_settled(generation))

    def _check_settled(self, generation: int) -> None:
        if generation == self._generation and not self._settled and self._client is not None:
            self._counts.timeouts += 1
            self._leaving = True
            client = self._client
            client.disconnect()
            self._retire(client)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._counts.refused_connects += 1
            self._settled, self._leaving = True, True
            client.disconnect()
            return
        self._counts.connects += 1
        client.subscribe(self._spec.topic_filter, qos=1)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        self._settled = True
        if any(int(reason.value) >= SUBACK_FAILURE for reason in reasons):
            self._counts.refused_subscriptions += 1
        else:
            self._counts.subscribed += 1
        self._loop.call_later(random.uniform(*self._plan.dwell), lambda: self._leave(client))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._counts.messages += 1

    def _leave(self, client: mqtt.Client) -> None:
        if client is self._client and not self._leaving:
            self._leaving = True
            self._counts.cycles += 1
            client.disconnect()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if not self._leaving:
            self._counts.dropped += 1
        self._retire(client)

    def _retire(self, client: mqtt.Client) -> None:
        """Forgets ``client`` and plans the next connection."""
        self._loop.release(client)
        if client is self._client:
            self._client = None
            self._generation += 1
            self._loop.call_later(random.uniform(*self._plan.pause), self._connect)


def churn_worker(specs: list[ClientSpec], broker: Broker, connection: Connection) -> None:
    """Churns its clients until ``("stop",)``; ``("counts",)`` answers the :class:`ChurnCounts` so far.

    The first command must be ``("plan", ChurnPlan)``; clients start spread over the first dwell.
    """
    plan: ChurnPlan = connection.recv()[1]
    loop, counts = ClientLoop(), ChurnCounts()
    connection.send(counts)
    loop.selector.register(connection.fileno(), selectors.EVENT_READ, connection)
    churners = [_Churner(spec, broker, loop, plan, counts) for spec in specs]
    for churner in churners:
        churner.start(random.uniform(0, plan.dwell[1]))
    while True:
        for key in loop.run_once(0.05):
            command = key.data.recv()
            if command[0] == "stop":
                for churner in churners:
                    churner.stop()
                _flush(loop, seconds=2.0)
                connection.send(counts)
                return
            connection.send(counts)


def _flush(loop: ClientLoop, *, seconds: float) -> None:
    """Lets pending DISCONNECTs go out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        loop.run_once(0.05)
