"""Gateway ingest over MQTT with mutual TLS: sustained rate into the database, against a bulk INSERT.

A real ``fieldhub serve`` runs its embedded broker with only the TLS listener.  Its database is
seeded with one customer and ``gateways`` REGISTERED gateways whose client certificates are issued
by the customer's gateway CA, as provisioning issues them.  Each simulated gateway is a paho-mqtt
client (MQTT 3.1.1, TLS, client certificate alone, at most ``inflight`` unacknowledged QoS 1
messages, like paho's default of 20).  All gateways publish their share at once; the rate is the
messages (and events) acknowledged per second, where the broker acknowledges a message only once
it is committed.  Then the number of stored events is checked (nothing acknowledged may be missing).

The reference is the same rows inserted straight into the same database with one bulk statement.

Loss: a burst of ``burst_messages`` (far above the sustainable rate, with ``burst_inflight``
unacknowledged messages per gateway) and a ``kill -9`` of the server mid-burst; every event the
broker acknowledged must be in the database (target: none lost).  The server's RSS is sampled
during the burst: back-pressure must keep it bounded.
"""

from __future__ import annotations

import os
import signal
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from sqlalchemy import insert, select

from bench.databases import DEFAULT_PG_ADMIN_DSN, provisioned
from bench.report import Column, Report, console
from bench.seed import bootstrap_tenant, migrated_database
from bench.servers import FieldhubSetup, RunningServer, fieldhub_server, free_port, rss_bytes
from fieldhub.core.db import Database, utcnow
from fieldhub.core.pki import CertificateAuthority
from fieldhub.insight.gateway_mqtt import gateway_topic
from fieldhub.insight.models import Gateway
from fieldhub.insight.provisioning import gateway_authority
from fieldhub.insight.scans.models import ScanEvent
from fieldhub.insight.service_gateways import REGISTERED

#: Not the shared benchmark database: other benchmarks may be running (and dropping theirs).
BENCH_DATABASE = "fieldhub_bench_ingest"
TARGET_SINGLE_MESSAGES_S = 5_000.0
TARGET_BATCHED_EVENTS_S = 50_000.0
CONNECT_TIMEOUT_S = 30.0
#: How long a run may take before it is given up (a stalled ingest must not hang the benchmark).
RUN_TIMEOUT_S = 600.0

COLUMNS = [
    Column("backend", "backend"),
    Column("measure", "measure"),
    Column("messages", "messages", ","),
    Column("events", "events", ","),
    Column("messages_s", "messages/s", ",.0f"),
    Column("events_s", "events/s", ",.0f"),
    Column("reference", "bulk INSERT events/s", ",.0f"),
    Column("stored", "all stored"),
    Column("target", "target"),
    Column("target_met", "met"),
]


@dataclass(frozen=True)
class IngestOptions:
    backends: tuple[str, ...] = ("sqlite", "postgresql")
    gateways: int = 50
    single_messages: int = 20_000
    batched_messages: int = 500
    events_per_batch: int = 100
    inflight: int = 20
    burst_messages: int = 40_000
    burst_inflight: int = 200
    kill_after_s: float = 5.0
    log_level: str = "warning"
    pg_admin_dsn: str = DEFAULT_PG_ADMIN_DSN


@dataclass(frozen=True, slots=True)
class SimulatedGateway:
    gateway_id: uuid.UUID
    thing_name: str
    topic: str
    cert_file: Path
    key_file: Path


@dataclass(frozen=True, slots=True)
class Seeded:
    realm_id: uuid.UUID
    gateways: list[SimulatedGateway]


def run(options: IngestOptions, workdir: Path) -> Report:
    report = Report(
        name="ingest",
        title=f"Gateway ingest over MQTT/TLS: {options.gateways} gateways, QoS 1, ack after commit",
        columns=COLUMNS,
        settings=dict(options.__dict__),
    )
    for backend in options.backends:
        report.rows += _run_backend(backend, options, workdir / backend)
    report.notes.append(
        f"paho-mqtt clients in the benchmark process (one network thread each), at most {options.inflight} "
        "unacknowledged messages per gateway; the server is one `fieldhub serve` process"
    )
    report.notes.append("reference: the same rows in one multi-row INSERT through SQLAlchemy, same database")
    return report


def _run_backend(backend: str, options: IngestOptions, workdir: Path) -> list[dict[str, Any]]:
    console.rule(f"gateway ingest on {backend}")
    port = free_port()
    with provisioned(backend, pg_admin_dsn=options.pg_admin_dsn, database=BENCH_DATABASE) as database:
        env = {
            "FIELDHUB_MQTTS_PORT": str(port),
            "FIELDHUB_MQTT_PORT": "0",
            "FIELDHUB_MQTT_WS_PORT": "0",
            "FIELDHUB_MQTT_TLS_BIND_HOST": "127.0.0.1",
        }
        setup = FieldhubSetup(workdir / "data", database.database_url, options.log_level, extra_env=env)
        with migrated_database(setup) as db:
            seeded = _seed(db, setup, options.gateways, workdir / "certs")
        modes = (
            ("1 event/message", 1, options.single_messages),
            (
                f"{options.events_per_batch} events/message",
                options.events_per_batch,
                options.batched_messages,
            ),
        )
        measured = []
        with fieldhub_server(setup, workdir / "fieldhub.log") as server:
            # The server created its CA on start; gateways verify the listener with it.
            ca_file = CertificateAuthority.load_or_create(
                setup.data_dir, name="fieldhub", common_name="fieldhub local CA"
            ).ca_file
            for label, per_message, messages in modes:
                payloads = _payloads(options.gateways, messages, per_message)
                elapsed = _publish_all(port, ca_file, seeded.gateways, payloads, options.inflight)
                measured.append((label, per_message, payloads, elapsed))
            burst = _payloads(options.gateways, options.burst_messages, 1)
            acknowledged, rss_growth = _burst_and_kill(server, port, ca_file, seeded.gateways, burst, options)
        rows = []
        with migrated_database(setup) as db:
            stored = _stored_ids(db)
            for label, per_message, payloads, elapsed in measured:
                count = sum(len(share) for share in payloads)
                events = count * per_message
                single = per_message == 1
                rate = (count if single else events) / elapsed
                target = TARGET_SINGLE_MESSAGES_S if single else TARGET_BATCHED_EVENTS_S
                rows.append(
                    {
                        "backend": backend,
                        "measure": label,
                        "messages": count,
                        "events": events,
                        "messages_s": count / elapsed,
                        "events_s": events / elapsed,
                        "reference": _bulk_insert_rate(db, seeded, payloads),
                        "stored": _event_ids(payloads) <= stored,
                        "target": f">= {target:,.0f} {'messages' if single else 'events'}/s",
                        "target_met": rate >= target,
                    }
                )
                console.print(
                    f"{backend}, {label}: {count / elapsed:,.0f} messages/s, "
                    f"{events / elapsed:,.0f} events/s (bulk INSERT: {rows[-1]['reference']:,.0f} events/s)"
                )
            lost = acknowledged - stored
            rows.append(
                {
                    "backend": backend,
                    "measure": f"loss: burst, kill -9 after {options.kill_after_s:g} s "
                    f"(server RSS +{rss_growth / 2**20:.0f} MB)",
                    "messages": len(acknowledged),
                    "events": len(acknowledged) - len(lost),
                    "stored": not lost,
                    "target": "0 acknowledged events lost",
                    "target_met": not lost,
                }
            )
            console.print(f"{backend}: {len(lost):,} of {len(acknowledged):,} acknowledged events lost")
    return rows


def _seed(db: Database, setup: FieldhubSetup, count: int, cert_dir: Path) -> Seeded:
    tenant = bootstrap_tenant(db, setup, users=0)
    authority = gateway_authority(setup.data_dir, realm_id=tenant.realm_id)
    gateways = []
    with db.unit_of_work() as uow:
        for index in range(count):
            gateway_id = uuid.uuid4()
            thing_name = f"gw-{gateway_id.hex}"
            uow.session.add(
                Gateway(
                    id=gateway_id,
                    realm_id=tenant.realm_id,
                    name=f"bench-{index}",
                    thing_name=thing_name,
                    usecase="Picking",
                    station=f"S{index}",
                    registration=REGISTERED,
                )
            )
            certificate_pem, key_pem = authority.issue_client_certificate(common_name=thing_name, days=1)
            directory = cert_dir / thing_name
            directory.mkdir(parents=True)
            (directory / "cert.pem").write_bytes(certificate_pem)
            (directory / "key.pem").write_bytes(key_pem)
            gateways.append(
                SimulatedGateway(
                    gateway_id=gateway_id,
                    thing_name=thing_name,
                    topic=gateway_topic(tenant.realm_id, gateway_id),
                    cert_file=directory / "cert.pem",
                    key_file=directory / "key.pem",
                )
            )
    return Seeded(realm_id=tenant.realm_id, gateways=gateways)


def _payloads(gateways: int, messages: int, per_message: int) -> list[list[bytes]]:
    """Each gateway's messages: unique event ids, scanner serials per gateway."""
    now = int(utcnow().timestamp() * 1000)
    shares: list[list[bytes]] = []
    for index in range(gateways):
        share = []
        for _ in range(messages // gateways):
            events = [
                {
                    "id": str(uuid.uuid4()),
                    "created": now,
                    "scan_code": "4006381333931",
                    "scan_duration": 0.4,
                    "device_id": f"SCANNER-{index:03d}",
                    "device_battery": 77,
                }
                for _ in range(per_message)
            ]
            share.append(orjson.dumps(events[0] if per_message == 1 else events))
        shares.append(share)
    return shares


class _Client:
    def __init__(
        self, port: int, ca_file: Path, gateway: SimulatedGateway, inflight: int, expected: int
    ) -> None:
        self.gateway, self.port, self.expected = gateway, port, expected
        self.paho = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=gateway.thing_name,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        context = ssl.create_default_context(cafile=str(ca_file))
        context.load_cert_chain(gateway.cert_file, gateway.key_file)
        self.paho.tls_set_context(context)
        self.paho.max_inflight_messages_set(inflight)
        self.paho.max_queued_messages_set(0)
        self.connected = threading.Event()
        self.done = threading.Event()
        self.acknowledged = 0
        self.acknowledged_mids: list[int] = []
        self.paho.on_connect = self._on_connect
        self.paho.on_publish = self._on_publish

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            raise RuntimeError(f"gateway {self.gateway.thing_name} refused: {reason}")
        self.connected.set()

    def _on_publish(self, _c: Any, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        self.acknowledged_mids.append(mid)
        self.acknowledged += 1
        if self.acknowledged >= self.expected:
            self.done.set()

    def start(self) -> None:
        self.paho.connect("127.0.0.1", self.port, keepalive=60)
        self.paho.loop_start()

    def stop(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


def _publish_all(
    port: int, ca_file: Path, gateways: list[SimulatedGateway], payloads: list[list[bytes]], inflight: int
) -> float:
    """Seconds from the first publish until every message was acknowledged."""
    clients = [
        _Client(port, ca_file, gateway, inflight, len(share))
        for gateway, share in zip(gateways, payloads, strict=True)
    ]
    try:
        for client in clients:
            client.start()
        for client in clients:
            if not client.connected.wait(CONNECT_TIMEOUT_S):
                raise RuntimeError(f"gateway {client.gateway.thing_name} got no CONNACK")
        started = time.perf_counter()
        for client, share in zip(clients, payloads, strict=True):
            for payload in share:
                client.paho.publish(client.gateway.topic, payload, qos=1)
        deadline = started + RUN_TIMEOUT_S
        for client in clients:
            if not client.done.wait(max(0.0, deadline - time.perf_counter())):
                raise RuntimeError(f"gateway {client.gateway.thing_name}: {client.acknowledged} acknowledged")
        return time.perf_counter() - started
    finally:
        for client in clients:
            client.stop()


def _burst_and_kill(
    server: RunningServer,
    port: int,
    ca_file: Path,
    gateways: list[SimulatedGateway],
    payloads: list[list[bytes]],
    options: IngestOptions,
) -> tuple[set[str], int]:
    """The event ids the broker acknowledged before the kill, and the RSS growth during the burst."""
    clients = [
        _Client(port, ca_file, gateway, options.burst_inflight, len(share))
        for gateway, share in zip(gateways, payloads, strict=True)
    ]
    baseline = rss_bytes(server.pid)
    peak = baseline
    try:
        for client in clients:
            client.start()
        for client in clients:
            if not client.connected.wait(CONNECT_TIMEOUT_S):
                raise RuntimeError(f"gateway {client.gateway.thing_name} got no CONNACK")
        sent: list[dict[int, str]] = []
        for client, share in zip(clients, payloads, strict=True):
            sent.append(
                {
                    client.paho.publish(client.gateway.topic, payload, qos=1).mid: orjson.loads(payload)["id"]
                    for payload in share
                }
            )
        deadline = time.perf_counter() + options.kill_after_s
        while time.perf_counter() < deadline:
            peak = max(peak, rss_bytes(server.pid))
            time.sleep(0.1)
        os.kill(server.pid, signal.SIGKILL)
    finally:
        for client in clients:
            client.stop()
    acknowledged = {
        ids[mid] for client, ids in zip(clients, sent, strict=True) for mid in client.acknowledged_mids
    }
    console.print(f"burst: {len(acknowledged):,} events acknowledged before the kill")
    return acknowledged, peak - baseline


def _stored_ids(db: Database) -> set[str]:
    with db.unit_of_work(write=False) as uow:
        return set(uow.session.scalars(select(ScanEvent.event_id)))


def _event_ids(payloads: list[list[bytes]]) -> set[str]:
    ids = set()
    for share in payloads:
        for payload in share:
            document = orjson.loads(payload)
            ids.update(event["id"] for event in (document if isinstance(document, list) else [document]))
    return ids


def _bulk_insert_rate(db: Database, seeded: Seeded, payloads: list[list[bytes]]) -> float:
    """The same rows (fresh event ids) inserted with one statement; events per second."""
    now = utcnow()
    rows = []
    for gateway, share in zip(seeded.gateways, payloads, strict=True):
        for payload in share:
            document = orjson.loads(payload)
            for event in document if isinstance(document, list) else [document]:
                rows.append(
                    {
                        **{key: value for key, value in event.items() if key != "id"},
                        "event_id": f"ref-{uuid.uuid4()}",
                        "type": "scan",
                        "realm_id": seeded.realm_id,
                        "gateway_id": gateway.gateway_id,
                        "gateway_usecase": "Picking",
                        "gateway_station": "S",
                        "received_at": now,
                    }
                )
    started = time.perf_counter()
    with db.engine.begin() as connection:
        connection.execute(insert(ScanEvent), rows)
    return len(rows) / (time.perf_counter() - started)
