"""Event latency and delivery rate: a session data PATCH on a real ``fieldhub serve``, received over MQTT.

For 1, 100 and 1,000 subscribed users, each a paho-mqtt client connected as the Skylight spec says
and subscribed to its own ``v1/realms/{realm}/users/{sub}/session/#``, all participants (or the
creator) of one session:

- **latency**: one ``PATCH .../sessions/{id}/data`` at a time; the next one is sent once every
  subscriber received the event of the previous one.  Latency is measured from the moment the HTTP
  response arrived to the moment each subscriber's client had parsed the message;
- **burst**: many PATCHes as fast as ``burst_concurrency`` HTTP clients can send them; the rate is
  every delivery counted over the time from the first request to the last delivery.

The same run measures the reference: a paho publisher sending each event, QoS 1, to every
subscriber's own topic on the local Mosquitto, and (unless ``external`` is off) fieldhub publishing
to that Mosquitto through ``FIELDHUB_MQTT_URL``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson
import paho.mqtt.client as mqtt

from bench import api
from bench.mqtt_clients import (
    Broker,
    ClientSpec,
    Readiness,
    WorkerPool,
    new_client,
    skylight_client,
    subscriber_worker,
    worker_pool,
)
from bench.report import Column, Report, console
from bench.seed import Tenant, bootstrap_tenant, migrated_database
from bench.servers import (
    ADMIN_PASSWORD,
    HOST,
    FieldhubSetup,
    RunningServer,
    ServerError,
    fieldhub_server,
    free_port,
    mqtt_env,
)
from bench.stats import LatencySummary

TARGET_P99_MS = 50.0
TARGET_P99_SUBSCRIBERS = 100
TARGET_DELIVERIES_PER_S = 5_000
MOSQUITTO = Broker("127.0.0.1", 1883)
WARMUP_EVENTS = 3
#: How long one event of the latency phase may take to reach every subscriber.
EVENT_TIMEOUT_SECONDS = 30.0
BURST_TIMEOUT_SECONDS = 300.0
READY_TIMEOUT_SECONDS = 120.0

COLUMNS = [
    Column("route", "route"),
    Column("subscribers", "subscribers", ","),
    Column("phase", "phase"),
    Column("events", "events", ","),
    Column("failed", "HTTP errors", ","),
    Column("deliveries", "deliveries", ","),
    Column("missing", "missing", ","),
    Column("duplicates", "duplicates", ","),
    Column("p50_ms", "p50 ms", ".2f"),
    Column("p99_ms", "p99 ms", ".2f"),
    Column("max_ms", "max ms", ".2f"),
    Column("sent_per_s", "sent events/s", ",.0f"),
    Column("events_per_s", "delivered events/s", ",.1f"),
    Column("deliveries_per_s", "deliveries/s", ",.0f"),
    Column("broker_cpu_us", "broker CPU us/delivery", ",.0f"),
    Column("target_met", "target"),
]


@dataclass(frozen=True)
class EventsOptions:
    subscribers: tuple[int, ...] = (1, 100, 1000)
    #: Events of the latency phase, at most; fewer at large N (see ``latency_deliveries``).
    latency_events: int = 100
    latency_deliveries: int = 20_000
    #: Deliveries a burst aims at (events = this / subscribers, within 20..1,000).
    burst_deliveries: int = 50_000
    burst_concurrency: int = 4
    processes: int = 2
    log_level: str = "info"
    mosquitto: Broker = MOSQUITTO
    #: Also measure fieldhub publishing to Mosquitto (FIELDHUB_MQTT_URL).
    external: bool = True

    def latency_count(self, subscribers: int) -> int:
        return max(10, min(self.latency_events, self.latency_deliveries // subscribers))

    def burst_count(self, subscribers: int) -> int:
        return max(20, min(1_000, self.burst_deliveries // subscribers))


@dataclass(frozen=True, slots=True)
class Sent:
    event_id: str
    #: ``time.monotonic()`` before the request (or the first publish).
    sent_at: float
    #: When the HTTP response had arrived; the same as ``sent_at`` for a paho publisher.
    answered_at: float


class Emitter(Protocol):
    """Causes events, one at a time or as fast as it can."""

    def emit(self) -> Sent: ...

    def burst(self, count: int) -> list[Sent]: ...

    def close(self) -> None: ...


class HttpEmitter:
    """``PATCH .../sessions/{id}/data`` on one session, as the realm admin, over keep-alive connections."""

    def __init__(self, session_url: str, token: str, concurrency: int) -> None:
        self._url, self._token, self._concurrency = session_url, token, concurrency
        self._counter = itertools.count()
        self._client = self._new_client()

    def _new_client(self) -> httpx.Client:
        return httpx.Client(headers=api.bearer(self._token), timeout=api.TIMEOUT_SECONDS)

    def _patch(self, client: httpx.Client) -> Sent:
        started = time.monotonic()
        event_id = api.patch_data(client, self._url, {"n": next(self._counter)})
        return Sent(event_id, started, time.monotonic())

    def emit(self) -> Sent:
        return self._patch(self._client)

    def burst(self, count: int) -> list[Sent]:
        """``count`` PATCHes from ``concurrency`` threads; the ones that failed are left out."""

        def run(share: int) -> list[Sent | None]:
            with self._new_client() as client:
                return [self._try_patch(client) for _ in range(share)]

        shares = [
            count // self._concurrency + (index < count % self._concurrency)
            for index in range(self._concurrency)
        ]
        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            sent = [item for chunk in pool.map(run, shares) for item in chunk if item is not None]
        return sorted(sent, key=lambda item: item.sent_at)

    def _try_patch(self, client: httpx.Client) -> Sent | None:
        try:
            return self._patch(client)
        except (ServerError, httpx.HTTPError) as exc:
            console.print(f"  [yellow]PATCH failed:[/] {str(exc)[:160]}")
            return None

    def close(self) -> None:
        self._client.close()


class PahoEmitter:
    """The reference publisher: each event goes QoS 1 to every subscriber's own topic on Mosquitto."""

    def __init__(self, broker: Broker, topics: Sequence[str]) -> None:
        self._topics = list(topics)
        self._counter = itertools.count()
        self._client = new_client(
            ClientSpec(client_id=f"bench-publisher-{uuid.uuid4().hex[:12]}", topic_filter="")
        )
        self._client.max_inflight_messages_set(0)  # unlimited, as the broker's own fan-out is
        self._client.max_queued_messages_set(0)
        self._last: mqtt.MQTTMessageInfo | None = None
        self._client.connect(broker.host, broker.port, keepalive=60)
        self._client.loop_start()

    def emit(self) -> Sent:
        event_id = str(uuid.uuid4())
        payload = orjson.dumps(_event_like_payload(event_id, next(self._counter)))
        started = time.monotonic()
        for topic in self._topics:
            self._last = self._client.publish(topic, payload, qos=1)
        return Sent(event_id, started, started)

    def burst(self, count: int) -> list[Sent]:
        return [self.emit() for _ in range(count)]

    def close(self) -> None:
        if self._last is not None:
            self._last.wait_for_publish(timeout=EVENT_TIMEOUT_SECONDS)
        self._client.disconnect()
        self._client.loop_stop()


def _event_like_payload(event_id: str, sequence: int) -> dict[str, Any]:
    """A payload with the fields (and about the size) of fieldhub's ``SessionDataUpdated``."""
    return {
        "eventId": event_id,
        "eventType": "SessionDataUpdated",
        "applicationId": "0" * 36,
        "sessionId": str(uuid.UUID(int=0)),
        "actor": str(uuid.UUID(int=1)),
        "timestamp": "2026-01-01T00:00:00.000Z",
        "properties": {},
        "data": {"n": sequence},
        "changes": {"data": {"n": sequence}, "version": 1},
    }


@dataclass(frozen=True)
class Route:
    """Where the subscribers connect and what causes the events they receive."""

    name: str
    broker: Broker
    subscribers: Callable[[int], list[ClientSpec]]
    #: An emitter whose events reach the first N subscribers of ``subscribers(N)``.
    emitter: Callable[[int], Emitter]
    #: Whether the issue's targets apply (fieldhub's own broker).
    judged: bool = False
    #: The process that does the broker's work (fieldhub's server, or Mosquitto), for its CPU time.
    broker_pid: int | None = None


@dataclass
class Hub:
    """A running ``fieldhub serve`` with its seeded users; the admin creates sessions and PATCHes."""

    server: RunningServer
    #: Where its events can be subscribed to: its own plain listener, or the external broker.
    broker: Broker
    tenant: Tenant
    admin_token: str
    concurrency: int
    #: Access tokens of ``tenant.user_ids``, when subscribers connect with them.
    tokens: list[str] = dataclasses.field(default_factory=list)

    def subjects(self, count: int) -> list[str]:
        """The admin (who creates the sessions) and the first ``count - 1`` users."""
        return [str(self.tenant.admin_id), *(str(user) for user in self.tenant.user_ids[: count - 1])]

    def emitter(self, count: int) -> HttpEmitter:
        """PATCHes a new session with ``count - 1`` user participants: with its creator, ``count`` hear."""
        participants = [{"type": "user", "id": str(user)} for user in self.tenant.user_ids[: count - 1]]
        body = {"version": 1, "name": f"Events to {count}", "participants": participants}
        session_id = api.create_session(self.server, self.admin_token, self.tenant.application_id, body)
        url = f"{api.sessions_url(self.server, self.tenant.application_id)}/{session_id}"
        return HttpEmitter(url, self.admin_token, self.concurrency)

    def skylight_clients(self, count: int) -> list[ClientSpec]:
        tokens = [self.admin_token, *self.tokens]
        return [
            skylight_client(api.REALM, subject, token)
            for subject, token in zip(self.subjects(count), tokens, strict=False)
        ]

    def anonymous_clients(self, count: int) -> list[ClientSpec]:
        """The same client ids and filters without credentials (Mosquitto lets anyone in)."""
        return [
            dataclasses.replace(skylight_client(api.REALM, subject, ""), username=None, password=None)
            for subject in self.subjects(count)
        ]


def run(options: EventsOptions, workdir: Path) -> Report:
    report = Report(
        name="events",
        title="Session events: PATCH response to receipt by N subscribers (embedded broker vs Mosquitto)",
        columns=COLUMNS,
        settings={**options.__dict__, "mosquitto": str(options.mosquitto)},
    )
    users = max(options.subscribers) - 1
    with ExitStack() as stack:
        hubs = functools.partial(
            seeded_hub, users=users, log_level=options.log_level, concurrency=options.burst_concurrency
        )
        embedded = stack.enter_context(hubs(workdir / "embedded"))
        routes = [_embedded_route(embedded)]
        routes.append(_mosquitto_route(options.mosquitto, uuid.uuid4().hex[:8]))
        if options.external:
            external = stack.enter_context(hubs(workdir / "external", external=options.mosquitto))
            routes.append(_external_route(external))
        for subscribers in options.subscribers:
            for route in routes:
                report.rows += _measure(route, subscribers, options, report.notes)
    report.notes.append(
        f"latency phase: one PATCH (or publish) at a time, the next once all subscribers got the previous "
        f"event; burst: {options.burst_concurrency} HTTP clients PATCH as fast as they can (the paho "
        f"publisher publishes from one thread); subscribers are paho-mqtt 2 clients spread over "
        f"{options.processes} processes, one selector loop each"
    )
    report.notes.append(
        f"targets (fieldhub's embedded broker only): p99 < {TARGET_P99_MS:.0f} ms at "
        f"{TARGET_P99_SUBSCRIBERS} subscribers; >= {TARGET_DELIVERIES_PER_S:,} deliveries/s in a burst "
        f"(judged from {TARGET_P99_SUBSCRIBERS} subscribers up: with fewer, one PATCH per delivery "
        "caps the rate)"
    )
    return report


@contextmanager
def seeded_hub(
    workdir: Path, *, users: int, log_level: str, concurrency: int = 1, external: Broker | None = None
) -> Iterator[Hub]:
    """A fieldhub with ``users`` users besides the admin, on its embedded broker or on ``external``.

    The users log in over HTTP only for the embedded broker, whose clients need their tokens.
    """
    broker = external or Broker(HOST, free_port())
    external_url = f"mqtt://{broker}" if external else ""
    setup = FieldhubSetup(
        workdir / "data", log_level=log_level, extra_env=mqtt_env(broker.port, external_url=external_url)
    )
    with migrated_database(setup) as database:
        tenant = bootstrap_tenant(database, setup, users=users, password=ADMIN_PASSWORD)
    label = f"fieldhub -> {external_url}" if external_url else "fieldhub (embedded broker)"
    console.print(f"starting {label} with {users + 1:,} users")
    with fieldhub_server(setup, workdir / "fieldhub.log") as server:
        hub = Hub(server, broker, tenant, api.login(server), concurrency)
        if not external_url:
            started = time.monotonic()
            with console.status(f"logging {users:,} users in over HTTP..."):
                hub.tokens = api.logins(server, tenant.usernames, ADMIN_PASSWORD)
            console.print(f"  {users:,} logins in {time.monotonic() - started:.1f} s")
        yield hub


def _embedded_route(hub: Hub) -> Route:
    return Route(
        "fieldhub embedded",
        hub.broker,
        hub.skylight_clients,
        hub.emitter,
        judged=True,
        broker_pid=hub.server.pid,
    )


def _external_route(hub: Hub) -> Route:
    # The server's CPU only: what fieldhub spends publishing, not what Mosquitto spends delivering.
    return Route(
        "fieldhub -> Mosquitto", hub.broker, hub.anonymous_clients, hub.emitter, broker_pid=hub.server.pid
    )


def _mosquitto_route(mosquitto: Broker, run_id: str) -> Route:
    def topic(index: int) -> str:
        return f"fieldhub-bench/{run_id}/users/{index}/session"

    def subscribers(count: int) -> list[ClientSpec]:
        return [ClientSpec(f"bench-{run_id}-{index}", f"{topic(index)}/#") for index in range(count)]

    def emitter(count: int) -> PahoEmitter:
        return PahoEmitter(mosquitto, [f"{topic(index)}/s/SessionDataUpdated" for index in range(count)])

    return Route("Mosquitto (paho pub)", mosquitto, subscribers, emitter, broker_pid=_mosquitto_pid())


def _mosquitto_pid() -> int | None:
    """The local Mosquitto's pid, when one runs on this machine (its CPU time is read from /proc)."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() == "mosquitto":
                return int(comm.parent.name)
    return None


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time of process ``pid`` so far (all its threads), from /proc/<pid>/stat."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Phase:
    name: str
    subscribers: int
    sent: list[Sent]
    receipts: dict[str, list[float]]
    #: Events asked for that the server refused (HTTP errors): no event, nothing to deliver.
    failed: int = 0
    #: CPU seconds the broker process used during the phase (None when it cannot be read).
    broker_cpu: float | None = None


def _measure(
    route: Route, subscribers: int, options: EventsOptions, notes: list[str]
) -> list[dict[str, Any]]:
    console.rule(f"{route.name}: {subscribers:,} subscriber(s)")
    emitter = route.emitter(subscribers)
    try:
        with worker_pool(
            subscriber_worker, route.subscribers(subscribers), route.broker, options.processes
        ) as pool:
            ready = _ready(pool, subscribers)
            if ready.failed:
                notes.append(
                    f"{route.name}, {subscribers}: {ready.failed} subscriber(s) failed to connect/subscribe"
                )
            _run_events(pool, emitter, WARMUP_EVENTS)
            _collect(pool)
            phases = [
                _latency_phase(pool, emitter, route, ready.subscribed, options.latency_count(subscribers)),
                _burst_phase(pool, emitter, route, ready.subscribed, options.burst_count(subscribers)),
            ]
    finally:
        emitter.close()
    rows = [_row(route, phase) for phase in phases]
    for row in rows:
        console.print(
            f"  {row['phase']}: p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, "
            f"{row['deliveries_per_s']:,.0f} deliveries/s, {row['missing']} missing"
        )
    return rows


def _ready(pool: WorkerPool, subscribers: int) -> Readiness:
    with console.status(f"connecting and subscribing {subscribers:,} clients..."):
        answers: list[Readiness] = pool.ask(
            "ready", READY_TIMEOUT_SECONDS, timeout=READY_TIMEOUT_SECONDS + 10
        )
    ready = Readiness(
        subscribed=sum(answer.subscribed for answer in answers),
        failed=sum(answer.failed for answer in answers),
        seconds=max(answer.seconds for answer in answers),
    )
    console.print(f"  {ready.subscribed:,} subscribed in {ready.seconds:.1f} s, {ready.failed} failed")
    if not ready.subscribed:
        raise ServerError("no subscriber could connect and subscribe")
    return ready


def _run_events(pool: WorkerPool, emitter: Emitter, count: int) -> list[Sent]:
    """``count`` events one at a time, each once the previous one reached every subscriber."""
    sent = []
    for index in range(count):
        sent.append(emitter.emit())
        pool.ask("await", index + 1, EVENT_TIMEOUT_SECONDS, timeout=EVENT_TIMEOUT_SECONDS + 10)
    return sent


def _collect(pool: WorkerPool) -> dict[str, list[float]]:
    merged: dict[str, list[float]] = {}
    for answer in pool.ask("collect"):
        for event_id, times in answer.items():
            merged.setdefault(event_id, []).extend(times)
    return merged


def _latency_phase(pool: WorkerPool, emitter: Emitter, route: Route, subscribers: int, events: int) -> Phase:
    with console.status(f"latency: {events} events, one at a time..."):
        cpu_before = cpu_seconds(route.broker_pid)
        sent = _run_events(pool, emitter, events)
        cpu = _used_since(cpu_before, route.broker_pid)
        return Phase("latency", subscribers, sent, _collect(pool), broker_cpu=cpu)


def _burst_phase(pool: WorkerPool, emitter: Emitter, route: Route, subscribers: int, events: int) -> Phase:
    with console.status(f"burst: {events} events as fast as possible..."):
        cpu_before = cpu_seconds(route.broker_pid)
        sent = emitter.burst(events)
        pool.ask("await", len(sent), BURST_TIMEOUT_SECONDS, timeout=BURST_TIMEOUT_SECONDS + 10)
        cpu = _used_since(cpu_before, route.broker_pid)
        return Phase("burst", subscribers, sent, _collect(pool), failed=events - len(sent), broker_cpu=cpu)


def _used_since(cpu_before: float | None, pid: int | None) -> float | None:
    cpu_after = cpu_seconds(pid)
    return None if cpu_before is None or cpu_after is None else cpu_after - cpu_before


def _row(route: Route, phase: Phase) -> dict[str, Any]:
    latencies = [
        arrived - sent.answered_at for sent in phase.sent for arrived in phase.receipts.get(sent.event_id, [])
    ]
    arrivals = [arrived for sent in phase.sent for arrived in phase.receipts.get(sent.event_id, [])]
    summary = LatencySummary.of_seconds(latencies)
    copies = [len(phase.receipts.get(sent.event_id, [])) for sent in phase.sent]
    span = max(arrivals, default=phase.sent[-1].answered_at) - phase.sent[0].sent_at
    sending = max(phase.sent[-1].answered_at - phase.sent[0].sent_at, 1e-9)
    events = len(phase.sent)
    return {
        "route": route.name,
        "subscribers": phase.subscribers,
        "phase": phase.name,
        "events": events,
        "failed": phase.failed,
        "deliveries": summary.count,
        "missing": sum(max(0, phase.subscribers - count) for count in copies),
        # Extra copies: QoS 1 is at least once, and the outbox re-publishes a batch it failed to mark.
        "duplicates": sum(max(0, count - phase.subscribers) for count in copies),
        "p50_ms": summary.p50_ms,
        "p99_ms": summary.p99_ms,
        "max_ms": summary.max_ms,
        "sent_per_s": events / sending if events > 1 else None,
        "events_per_s": events / span,
        "deliveries_per_s": summary.count / span,
        # CPU per delivery does not depend on what else the machine runs, unlike the rates.
        "broker_cpu_us": phase.broker_cpu / summary.count * 1e6
        if phase.broker_cpu is not None and summary.count
        else None,
        "target_met": _verdict(route, phase, summary, summary.count / span),
    }


def _verdict(route: Route, phase: Phase, summary: LatencySummary, deliveries_per_s: float) -> bool | None:
    if not route.judged:
        return None
    if phase.name == "latency":
        return summary.p99_ms < TARGET_P99_MS if phase.subscribers == TARGET_P99_SUBSCRIBERS else None
    return (
        deliveries_per_s >= TARGET_DELIVERIES_PER_S if phase.subscribers >= TARGET_P99_SUBSCRIBERS else None
    )
