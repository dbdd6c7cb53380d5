"""The snapshot workflow on a real ``fieldhub serve`` (SQLite, embedded MQTT broker).

- **round trips**: ``concurrency`` simulated calls at once, each looping ``POST /request`` (the
  agent) -> ``POST /acquire`` with a small PNG (the customer's endpoint) -> ``POST /approve`` (the
  agent); round trips per second over ``duration`` seconds;
- **notification latency**: one ``POST /request`` at a time, from just before it is sent to the
  moment the target endpoint's paho client has parsed its ``SnapshotRequestedEvent`` (the client
  is connected as the spec says and subscribed to ``user/{sub}/#``);
- **signed-URL download**: the same image (``image_kib`` of incompressible PNG) fetched through a
  built-in signed URL (no token), against the bare Starlette app's FileResponse serving a copy of
  the same bytes, ``downloads`` times with ``download_concurrency`` clients each.
"""

from __future__ import annotations

import io
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import paho.mqtt.client as mqtt
from PIL import Image

from bench import api
from bench.bare_app import BARE_DOWNLOAD_PATH
from bench.mqtt_clients import ClientSpec, new_client
from bench.report import Column, Report, console
from bench.seed import bootstrap_tenant, migrated_database
from bench.servers import (
    HOST,
    FieldhubSetup,
    RunningServer,
    ServerError,
    bare_server,
    fieldhub_server,
    free_port,
    mqtt_env,
)
from bench.stats import LatencySummary

PREFIX = "/rtc-api/snapshots"
CUSTOMER_PASSWORD = "bench-customer-password"
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
EVENT_TIMEOUT_SECONDS = 30.0
MIB = 1024 * 1024

COLUMNS = [
    Column("measure", "measure"),
    Column("server", "server"),
    Column("count", "count", ","),
    Column("errors", "errors", ","),
    Column("per_s", "per second", ",.1f"),
    Column("mb_s", "MB/s", ",.1f"),
    Column("p50_ms", "p50 ms", ".1f"),
    Column("p99_ms", "p99 ms", ".1f"),
    Column("ratio", "fieldhub/bare", ".2f"),
]


@dataclass(frozen=True)
class SnapshotOptions:
    concurrency: int = 50
    duration_s: int = 20
    latency_requests: int = 200
    downloads: int = 500
    download_concurrency: int = 8
    image_kib: int = 512
    log_level: str = "info"


def noise_png(kib: int) -> bytes:
    """An incompressible PNG of about ``kib`` KiB (random RGB pixels)."""
    side = max(8, int(math.sqrt(kib * 1024 / 3)))
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


SMALL_PNG = noise_png(8)


class Parties:
    """The agent (the bootstrapped admin) and one customer user, with their HTTP clients."""

    def __init__(self, server: RunningServer, application_id: str, *, customer: str) -> None:
        self.server = server
        self.application_id = application_id
        self.agent_token = api.login(server)
        self.customer_token = api.login(server, customer, CUSTOMER_PASSWORD)
        self.customer_id = _subject(self.customer_token)

    def request(self, client: httpx.Client, interaction: str, endpoint: str) -> str:
        body = {
            "applicationId": {"id": self.application_id},
            "interactionId": interaction,
            "sessionType": "CALL",
            "snapshotType": "bench",
            "targetUserId": self.customer_id,
            "targetUserEndpointId": endpoint,
            "userEndpointId": f"agent-{endpoint}",
        }
        response = client.post(f"{PREFIX}/request", json=body, headers=api.bearer(self.agent_token))
        return str(_checked(response, 200).json()["snapshotId"])

    def acquire(self, client: httpx.Client, snapshot_id: str, endpoint: str, image: bytes) -> None:
        fields = {
            "snapshotId": snapshot_id,
            "snapshotMimeType": "image/png",
            "snapshotSuffix": "png",
            "snapshotType": "bench",
            "userEndpointId": endpoint,
        }
        response = client.post(
            f"{PREFIX}/acquire",
            data=fields,
            files={"image": ("frame.png", image, "image/png")},
            headers=api.bearer(self.customer_token),
        )
        _checked(response, 204)

    def approve(self, client: httpx.Client, snapshot_id: str) -> None:
        response = client.post(
            f"{PREFIX}/approve", json={"snapshotId": snapshot_id}, headers=api.bearer(self.agent_token)
        )
        _checked(response, 204)

    def signed_url(self, client: httpx.Client, snapshot_id: str) -> str:
        response = client.post(
            f"{PREFIX}/signedUrl",
            json={"snapshotId": snapshot_id, "createInternalSignedUrl": True},
            headers={**api.bearer(self.agent_token), "Referer": self.server.base_url},
        )
        return str(_checked(response, 200).json()["url"])


def _subject(token: str) -> str:
    subject: str = jwt.decode(token, options={"verify_signature": False})["sub"]
    return subject


def _checked(response: httpx.Response, expected: int) -> httpx.Response:
    if response.status_code != expected:
        request = response.request
        raise ServerError(
            f"{request.method} {request.url.path}: {response.status_code} {response.text[:300]}"
        )
    return response


def _client(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=TIMEOUT)


# round trips ---------------------------------------------------------------------------------
def round_trips(parties: Parties, options: SnapshotOptions) -> dict[str, Any]:
    deadline = time.monotonic() + options.duration_s
    done: list[int] = []
    errors: list[int] = []
    latencies: list[float] = []

    def call(index: int) -> None:
        completed = failed = 0
        endpoint = f"customer-{index}"
        with _client(parties.server) as client:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    snapshot_id = parties.request(client, f"bench-call-{index}", endpoint)
                    parties.acquire(client, snapshot_id, endpoint, SMALL_PNG)
                    parties.approve(client, snapshot_id)
                except (ServerError, httpx.HTTPError):
                    failed += 1
                    continue
                latencies.append(time.perf_counter() - started)
                completed += 1
        done.append(completed)
        errors.append(failed)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
        list(pool.map(call, range(options.concurrency)))
    elapsed = time.monotonic() - started
    summary = LatencySummary.of_seconds(latencies)
    return {
        "measure": f"request -> acquire -> approve, {options.concurrency} calls at once",
        "server": "fieldhub",
        "count": sum(done),
        "errors": sum(errors),
        "per_s": sum(done) / elapsed,
        "p50_ms": summary.p50_ms,
        "p99_ms": summary.p99_ms,
    }


# notification latency ------------------------------------------------------------------------
class TargetEndpoint:
    """The customer's endpoint: a paho client on ``user/{sub}/#``; receipt times by snapshot id."""

    def __init__(self, broker_port: int, parties: Parties) -> None:
        subject = parties.customer_id
        self.spec = ClientSpec(
            client_id=f"{api.REALM}-{subject}-{int(time.time()) % 10**8:08d}",
            topic_filter=f"user/{subject}/#",
            username=f"{api.REALM}/{subject}",
            password=parties.customer_token,
        )
        self.received: queue.Queue[tuple[str, float]] = queue.Queue()
        self._subscribed = threading.Event()
        self.client = new_client(self.spec)
        self.client.on_connect = lambda c, *_: c.subscribe(self.spec.topic_filter, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(HOST, broker_port, keepalive=60)
        self.client.loop_start()
        if not self._subscribed.wait(EVENT_TIMEOUT_SECONDS):
            raise ServerError("the target endpoint could not subscribe to its topic")

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        arrived = time.perf_counter()
        payload = orjson.loads(message.payload)
        if payload.get("type") == "SnapshotRequestedEvent":
            self.received.put((payload["snapshotId"], arrived))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def notification_latency(parties: Parties, broker_port: int, options: SnapshotOptions) -> dict[str, Any]:
    target = TargetEndpoint(broker_port, parties)
    samples: list[float] = []
    try:
        with _client(parties.server) as client:
            for index in range(options.latency_requests):
                sent = time.perf_counter()
                snapshot_id = parties.request(client, "bench-latency", "customer-latency")
                while True:
                    heard, arrived = target.received.get(timeout=EVENT_TIMEOUT_SECONDS)
                    if heard == snapshot_id:
                        break
                if index >= 3:  # the first few warm the connections up
                    samples.append(arrived - sent)
    finally:
        target.close()
    summary = LatencySummary.of_seconds(samples)
    return {
        "measure": "POST /request -> target receives SnapshotRequestedEvent",
        "server": "fieldhub",
        "count": summary.count,
        "errors": 0,
        "p50_ms": summary.p50_ms,
        "p99_ms": summary.p99_ms,
    }


# signed-URL downloads ------------------------------------------------------------------------
def _downloads(url: str, size: int, options: SnapshotOptions) -> tuple[float, int]:
    """Seconds for ``options.downloads`` GETs of ``url`` (each must be a 200 of ``size`` bytes)."""
    errors: list[int] = []
    share = -(-options.downloads // options.download_concurrency)

    def fetch(_: int) -> None:
        with httpx.Client(timeout=TIMEOUT) as client:
            for _ in range(share):
                response = client.get(url)
                if response.status_code != 200 or len(response.content) != size:
                    errors.append(response.status_code)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=options.download_concurrency) as pool:
        list(pool.map(fetch, range(options.download_concurrency)))
    return time.perf_counter() - started, len(errors)


def _download_row(
    server: str, seconds: float, errors: int, size: int, options: SnapshotOptions
) -> dict[str, Any]:
    count = -(-options.downloads // options.download_concurrency) * options.download_concurrency
    return {
        "measure": f"download a {size // 1024} KiB image, {options.download_concurrency} clients",
        "server": server,
        "count": count,
        "errors": errors,
        "per_s": count / seconds,
        "mb_s": count * size / MIB / seconds,
    }


def signed_downloads(
    parties: Parties, bare: RunningServer, image: bytes, options: SnapshotOptions
) -> list[dict[str, Any]]:
    with _client(parties.server) as client:
        snapshot_id = parties.request(client, "bench-download", "customer-download")
        parties.acquire(client, snapshot_id, "customer-download", image)
        url = parties.signed_url(client, snapshot_id)
    rows = []
    for name, target in (("bare", bare.base_url + BARE_DOWNLOAD_PATH), ("fieldhub", url)):
        console.print(f"snapshots: downloads from {name}", markup=False)
        seconds, errors = _downloads(target, len(image), options)
        rows.append(_download_row(name, seconds, errors, len(image), options))
    rows[1]["ratio"] = rows[1]["per_s"] / rows[0]["per_s"]
    return rows


def _phase(label: str, action: Callable[[], Any]) -> Any:
    console.print(f"snapshots: {label}", markup=False)
    return action()


def run(options: SnapshotOptions, workdir: Path) -> Report:
    report = Report(
        name="snapshots",
        title="Snapshot workflow: round trips, notification latency, signed-URL downloads",
        columns=COLUMNS,
        settings={key: getattr(options, key) for key in SnapshotOptions.__dataclass_fields__},
    )
    broker_port = free_port()
    setup = FieldhubSetup(
        data_dir=workdir / "fieldhub", log_level=options.log_level, extra_env=mqtt_env(broker_port)
    )
    with migrated_database(setup) as database:
        tenant = bootstrap_tenant(database, setup, users=1, password=CUSTOMER_PASSWORD)
    image = noise_png(options.image_kib)
    bare_dir = workdir / "bare"
    bare_dir.mkdir(parents=True, exist_ok=True)
    (bare_dir / "single.bin").write_bytes(image)
    with (
        fieldhub_server(setup, workdir / "fieldhub.log") as server,
        bare_server(workdir / "bare.log", log_level=options.log_level, upload_dir=bare_dir) as bare,
    ):
        parties = Parties(server, tenant.application_id, customer=tenant.usernames[0])
        report.rows.append(
            _phase("notification latency", lambda: notification_latency(parties, broker_port, options))
        )
        report.rows.append(_phase("round trips", lambda: round_trips(parties, options)))
        report.rows += signed_downloads(parties, bare, image, options)
    report.notes.append(
        "one machine runs the server, its embedded broker, the bare app and every client (Python threads), "
        "so the figures are a floor; the bare route is Starlette's FileResponse on the same disk"
    )
    return report
