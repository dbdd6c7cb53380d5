"""Insight scan events: list latency, export, job analysis and the ingest service, each beside a reference.

Events are seeded straight into a migrated database (one realm, one gateway, spread over the last
20 hours so that the default 24-hour window holds them all); then

* list: pages of 500 over HTTP from a running ``fieldhub serve``, walking ``next_token``;
* export: the whole window to CSV through the blob store, against the database writing the same
  rows as CSV itself (PostgreSQL ``COPY ... TO STDOUT``; on SQLite the sqlite3 module's cursor
  into Python's csv writer, the least work Python can do), with the growth of the process RSS;
* job analysis over all events of the gateway;
* ingest: the ingest service in-process (what the MQTT ingest calls), with one event per message
  and with 100, against one bulk INSERT of the same rows.  The broker in front is not measured.
"""

from __future__ import annotations

import csv
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from sqlalchemy import insert

from bench import api
from bench.databases import DEFAULT_PG_ADMIN_DSN, provisioned
from bench.report import Column, Report, console
from bench.seed import bootstrap_tenant, migrated_database
from bench.servers import FieldhubSetup, ServerError, fieldhub_server
from bench.stats import LatencySummary
from fieldhub.core.blobs.local import FileBlobStore
from fieldhub.core.db import Database, utcnow
from fieldhub.insight.models import Gateway
from fieldhub.insight.scans.export import write_export
from fieldhub.insight.scans.jobs import JobFields, JobService
from fieldhub.insight.scans.models import ScanEvent
from fieldhub.insight.scans.repository import ScanRepository, TimeWindow
from fieldhub.insight.scans.service import ScanIngest
from fieldhub.insight.scans.tokens import ExportFile

TARGET_LIST_P99_MS = 20.0
TARGET_EXPORT_RATIO = 3.0
TARGET_EXPORT_RSS_MB = 100.0
TARGET_JOBS_S = 1.0
SEED_BATCH = 10_000
SPREAD_MS = 20 * 3600 * 1000
PAGE = "500"

COLUMNS = [
    Column("backend", "backend"),
    Column("measure", "measure"),
    Column("events", "events", ","),
    Column("value", "fieldhub", ".2f"),
    Column("reference", "reference", ".2f"),
    Column("unit", "unit"),
    Column("target", "target"),
    Column("target_met", "met"),
]


@dataclass(frozen=True)
class InsightEventsOptions:
    backends: tuple[str, ...] = ("sqlite", "postgresql")
    events: int = 1_000_000
    requests: int = 300
    warmup: int = 20
    ingest_events: int = 20_000
    log_level: str = "info"
    pg_admin_dsn: str = DEFAULT_PG_ADMIN_DSN


@dataclass(frozen=True, slots=True)
class Seeded:
    realm_id: uuid.UUID
    gateway_id: uuid.UUID
    window: TimeWindow


def run(options: InsightEventsOptions, workdir: Path) -> Report:
    report = Report(
        name="insight-events",
        title=f"Insight events: {options.events:,} stored events of one gateway",
        columns=COLUMNS,
        settings=dict(options.__dict__),
    )
    for backend in options.backends:
        report.rows += _run_backend(backend, options, workdir / backend, report.notes)
    report.notes.append(
        f"list: {options.requests} sequential pages of {PAGE} after {options.warmup} warm-up pages, one "
        "keep-alive httpx client; export, job analysis and ingest run in the benchmark process"
    )
    return report


def _run_backend(
    backend: str, options: InsightEventsOptions, workdir: Path, notes: list[str]
) -> list[dict[str, Any]]:
    console.rule(f"insight events on {backend}")
    with provisioned(backend, pg_admin_dsn=options.pg_admin_dsn) as database:
        setup = FieldhubSetup(workdir / "data", database.database_url, options.log_level)
        with migrated_database(setup) as db:
            started = time.perf_counter()
            seeded = _seed(db, setup, options.events)
            notes.append(
                f"{backend}: seeded {options.events:,} events in {time.perf_counter() - started:.1f} s"
            )
        with fieldhub_server(setup, workdir / "fieldhub.log") as server:
            rows = [
                _list(backend, server.base_url, api.login(server), seeded, options, gateway)
                for gateway in (False, True)
            ]
        with migrated_database(setup) as db:
            rows += _export(backend, db, seeded, workdir, options, database.database_url)
            rows.append(_jobs(backend, db, seeded, options))
            rows += _ingest(backend, db, seeded, options)
    return rows


def _seed(db: Database, setup: FieldhubSetup, count: int) -> Seeded:
    tenant = bootstrap_tenant(db, setup, users=0)
    gateway_id = uuid.uuid4()
    with db.unit_of_work() as uow:
        uow.session.add(
            Gateway(
                id=gateway_id,
                realm_id=tenant.realm_id,
                name="bench",
                thing_name=f"gw-{gateway_id.hex}",
                usecase="Picking",
                station="S1",
            )
        )
    end = int(utcnow().timestamp() * 1000)
    start = end - SPREAD_MS
    step = max(1, SPREAD_MS // max(count, 1))
    for first in range(0, count, SEED_BATCH):
        rows = [
            _event_row(index, start + index * step, tenant.realm_id, gateway_id)
            for index in range(first, min(count, first + SEED_BATCH))
        ]
        with db.engine.begin() as connection:
            connection.execute(insert(ScanEvent), rows)
    return Seeded(realm_id=tenant.realm_id, gateway_id=gateway_id, window=TimeWindow(start, end + 1))


def _event_row(index: int, created: int, realm_id: uuid.UUID, gateway_id: uuid.UUID) -> dict[str, Any]:
    # Every tenth scan starts a job and every tenth, five later, ends it.
    code = f"START-{index}" if index % 10 == 0 else f"END-{index}" if index % 10 == 5 else f"{index:012d}"
    return {
        "realm_id": realm_id,
        "event_id": f"ev-{index}",
        "type": "scan",
        "created": created,
        "scan_code": code,
        "scan_duration": 0.5,
        "scan_decode_symbology": "EAN_13",
        "device_id": f"M2MR{index % 20:09d}",
        "device_battery": 80,
        "device_firmware": "1.2.3",
        "device_temperature": 30.0,
        "metrics_worker_steps": 1,
        "gateway_id": gateway_id,
        "gateway_usecase": "Picking",
        "gateway_station": "S1",
        "received_at": utcnow(),
    }


def _list(
    backend: str, base_url: str, token: str, seeded: Seeded, options: InsightEventsOptions, by_gateway: bool
) -> dict[str, Any]:
    url = f"{base_url}/insight/{seeded.realm_id}/events"
    first = {
        "limit": PAGE,
        "start_time_millis": str(seeded.window.start),
        "end_time_millis": str(seeded.window.end),
    }
    if by_gateway:
        first["gateway_id"] = str(seeded.gateway_id)
    latencies: list[float] = []
    params: dict[str, str] = first
    with httpx.Client(headers=api.bearer(token), timeout=api.TIMEOUT_SECONDS) as client:
        for index in range(options.warmup + options.requests):
            started = time.perf_counter()
            response = client.get(url, params=params)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise ServerError(f"GET {url}: {response.status_code} {response.text[:200]}")
            if index >= options.warmup:
                latencies.append(elapsed)
            link = response.json()["links"]["next"]
            params = {"limit": PAGE, "next_token": httpx.URL(link).params["next_token"]} if link else first
    summary = LatencySummary.of_seconds(latencies)
    return {
        "backend": backend,
        "measure": f"list page of {PAGE}, p99 (p50 {summary.p50_ms:.1f} ms)"
        + (", ?gateway_id" if by_gateway else ""),
        "events": options.events,
        "value": summary.p99_ms,
        "unit": "ms",
        "target": f"p99 < {TARGET_LIST_P99_MS:.0f} ms",
        "target_met": summary.p99_ms < TARGET_LIST_P99_MS,
    }


class _PeakRss:
    """Samples this process's resident set size while running; reports the peak growth in MB."""

    def __init__(self) -> None:
        self.baseline = self._rss()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _rss() -> int:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * 4096

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    @contextmanager
    def watching(self) -> Iterator[None]:
        self._thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 1e6


def _export(
    backend: str,
    db: Database,
    seeded: Seeded,
    workdir: Path,
    options: InsightEventsOptions,
    database_url: str,
) -> list[dict[str, Any]]:
    blobs = FileBlobStore(workdir / "blobs")
    file = ExportFile(realm_id=seeded.realm_id, export_id=uuid.uuid4(), format="csv")
    rss = _PeakRss()
    with rss.watching(), db.unit_of_work(write=False) as uow:
        started = time.perf_counter()
        write_export(
            ScanRepository(uow.session, realm_id=seeded.realm_id), blobs, window=seeded.window, file=file
        )
        ours = time.perf_counter() - started
    started = time.perf_counter()
    reference_path = workdir / "reference.csv"
    if backend == "postgresql":
        _copy_reference(database_url, seeded, reference_path)
    else:
        _sqlite_reference(db, seeded, reference_path)
    reference = time.perf_counter() - started
    common = {"backend": backend, "events": options.events}
    return [
        {
            **common,
            "measure": "export to CSV",
            "value": ours,
            "reference": reference,
            "unit": "s",
            "target": f"<= {TARGET_EXPORT_RATIO:.0f}x reference",
            "target_met": ours <= TARGET_EXPORT_RATIO * reference,
        },
        {
            **common,
            "measure": "export: peak RSS growth",
            "value": rss.growth_mb,
            "unit": "MB",
            "target": f"< {TARGET_EXPORT_RSS_MB:.0f} MB",
            "target_met": rss.growth_mb < TARGET_EXPORT_RSS_MB,
        },
    ]


_REFERENCE_QUERY = (
    "SELECT event_id, 'event', type, created, scan_code, scan_duration, scan_decode_symbology, device_id, "
    "device_battery, device_firmware, device_temperature, gateway_id, gateway_usecase, gateway_station, "
    "metrics_worker_steps FROM insight_scan_events WHERE realm_id = {realm} AND created >= {start} "
    "AND created < {end} ORDER BY created, seq"
)


def _copy_reference(database_url: str, seeded: Seeded, path: Path) -> None:
    query = _REFERENCE_QUERY.format(
        realm=f"'{seeded.realm_id}'", start=seeded.window.start, end=seeded.window.end
    )
    copy_sql = f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)"
    with (
        psycopg.connect(database_url) as connection,
        connection.cursor() as cursor,
        path.open("wb") as out,
        cursor.copy(copy_sql) as copy,
    ):
        for chunk in copy:
            out.write(chunk)


def _sqlite_reference(db: Database, seeded: Seeded, path: Path) -> None:
    # SQLite stores the UUID as 32 hex digits (SQLAlchemy's Uuid without native support).
    query = _REFERENCE_QUERY.format(
        realm=f"'{seeded.realm_id.hex}'", start=seeded.window.start, end=seeded.window.end
    )
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(query)
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            while rows := cursor.fetchmany(2_000):
                writer.writerows(rows)
    finally:
        connection.close()


def _jobs(backend: str, db: Database, seeded: Seeded, options: InsightEventsOptions) -> dict[str, Any]:
    with db.unit_of_work() as uow:
        service = JobService(ScanRepository(uow.session, realm_id=seeded.realm_id))
        config = service.create(
            fields=JobFields("bench", "START-", "END-", [str(seeded.gateway_id)]), now=utcnow()
        )
        config_id = str(config.id)
    with db.unit_of_work(write=False) as uow:
        started = time.perf_counter()
        results = JobService(ScanRepository(uow.session, realm_id=seeded.realm_id)).analyse(
            config_id=config_id, window=seeded.window
        )
        seconds = time.perf_counter() - started
    jobs = sum(len(result.jobs) for result in results)
    return {
        "backend": backend,
        "measure": f"job analysis ({jobs:,} jobs)",
        "events": options.events,
        "value": seconds,
        "unit": "s",
        "target": f"< {TARGET_JOBS_S:.0f} s",
        "target_met": seconds < TARGET_JOBS_S,
    }


def _ingest(
    backend: str, db: Database, seeded: Seeded, options: InsightEventsOptions
) -> list[dict[str, Any]]:
    count = options.ingest_events
    ingest = ScanIngest(db=db)
    rows = []
    for label, per_message, per_call in (
        ("1 event/message, 1 message per commit", 1, 1),
        ("1 event/message, 100 messages per commit", 1, 100),
        ("100 events/message, 10 messages per commit", 100, 10),
    ):
        total = count if per_call > 1 or per_message > 1 else min(count, 2_000)
        messages = [_message(per_message) for _ in range(total // per_message)]
        started = time.perf_counter()
        for first in range(0, len(messages), per_call):
            ingest.ingest(
                realm_id=seeded.realm_id,
                gateway_id=seeded.gateway_id,
                messages=messages[first : first + per_call],
            )
        rate = total / (time.perf_counter() - started)
        rows.append(
            {
                "backend": backend,
                "measure": f"ingest service: {label}",
                "events": total,
                "value": rate,
                "reference": _bulk_insert_rate(db, seeded, total),
                "unit": "events/s",
                "target": "-",
                "target_met": None,
            }
        )
    return rows


def _message(events: int) -> bytes:
    now = int(utcnow().timestamp() * 1000)
    batch = [
        {
            "id": str(uuid.uuid4()),
            "created": now,
            "scan_code": "4006381333931",
            "device_id": "M2MR000000001",
            "device_battery": 77,
        }
        for _ in range(events)
    ]
    return orjson.dumps(batch[0] if events == 1 else batch)


def _bulk_insert_rate(db: Database, seeded: Seeded, count: int) -> float:
    base = int(utcnow().timestamp() * 1000)
    rows = [
        {**_event_row(index, base, seeded.realm_id, seeded.gateway_id), "event_id": str(uuid.uuid4())}
        for index in range(count)
    ]
    started = time.perf_counter()
    with db.engine.begin() as connection:
        connection.execute(insert(ScanEvent), rows)
    return count / (time.perf_counter() - started)
