"""The outbox publisher: requests never wait for the broker, events survive it, publishers never race.

The app runs here on stand-in buses that fail or hang on demand; tests/bus/test_session_events_mqtt.py
runs the same paths against real brokers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update

from conftest import TEST_PASSWORD
from fieldhub.app import create_app
from fieldhub.core.bus.memory import MemoryBus
from fieldhub.core.bus.outbox import OutboxEvent, record_event
from fieldhub.core.bus.publisher import OutboxPublisher
from fieldhub.core.config import Settings
from fieldhub.core.db import Database, make_engine, utcnow
from fieldhub.core.runtime import Runtime


class ControlledBus(MemoryBus):
    """Refuses (``down``) or never answers (``hanging``) until told otherwise; records what it took."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        #: Cleared, publishing waits until it is set again.
        self.answering = threading.Event()
        self.answering.set()
        self.published: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        if self.down:
            raise ConnectionError("broker down")
        if not self.answering.is_set():
            await asyncio.to_thread(self.answering.wait)
        with self._lock:
            self.published.append((topic, orjson.loads(payload)))

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.published) >= count:
                    return list(self.published)
            time.sleep(0.02)
        with self._lock:
            return list(self.published)


class Client:
    """An app on a :class:`ControlledBus`, with one realm admin and one application."""

    def __init__(self, client: TestClient, runtime: Runtime) -> None:
        self.http = client
        with runtime.db.unit_of_work() as uow:
            identity = runtime.identity(uow.session)
            realm = identity.create_realm(name=f"r{uuid.uuid4().hex[:10]}")
            identity.create_user(realm=realm, username="boss", password=TEST_PASSWORD, is_admin=True)
            application = identity.create_application(realm=realm, name="App")
        login = client.post(
            f"/v1/authentication/login/realms/{realm.name}",
            json={"username": "boss", "password": TEST_PASSWORD, "realm": realm.name},
        )
        self.headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        self.base = f"/v1/application/applications/{application.id}/sessions"

    def create(self) -> str:
        response = self.http.post(self.base, json={"version": 1, "participants": []}, headers=self.headers)
        assert response.status_code == 201, response.text
        return str(response.json()["sessionId"])

    def patch_data(self, session_id: str, value: int) -> tuple[str, float]:
        started = time.monotonic()
        response = self.http.patch(
            f"{self.base}/{session_id}/data", json={"data": {"n": value}, "version": 1}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return str(response.json()["eventId"]), time.monotonic() - started


@pytest.fixture
def bus() -> ControlledBus:
    return ControlledBus()


@pytest.fixture
def client(settings: Settings, bus: ControlledBus) -> Iterator[Client]:
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime=runtime, bus=bus)) as http:
        yield Client(http, runtime)


def test_a_broker_that_is_down_delays_events_and_never_fails_a_request(
    client: Client, bus: ControlledBus
) -> None:
    bus.down = True
    session_id = client.create()
    event_ids = []
    for value in range(3):
        event_id, took = client.patch_data(session_id, value)
        event_ids.append(event_id)
        assert took < 1.0
    time.sleep(0.5)  # several failed attempts
    assert bus.published == []
    bus.down = False
    published = bus.wait_for(4)
    assert [payload["eventType"] for _, payload in published] == ["SessionCreated"] + [
        "SessionDataUpdated"
    ] * 3
    assert [payload["eventId"] for _, payload in published[1:]] == event_ids
    assert [payload["data"] for _, payload in published[1:]] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_a_broker_that_hangs_never_stalls_a_request(client: Client, bus: ControlledBus) -> None:
    bus.answering.clear()
    session_id = client.create()
    for value in range(3):
        _, took = client.patch_data(session_id, value)
        assert took < 1.0
    bus.answering.set()
    assert len(bus.wait_for(4)) >= 4


@pytest.mark.postgres
def test_concurrent_publishers_publish_each_event_once_in_order_per_session(
    request: pytest.FixtureRequest,
) -> None:
    database_url: str = request.getfixturevalue("postgres_url")
    databases = [Database(make_engine(database_url.replace("postgresql://", "postgresql+psycopg://")))]
    databases.append(Database(make_engine(databases[0].engine.url.render_as_string(hide_password=False))))
    realm_id = uuid.uuid4()
    aggregates = [str(uuid.uuid4()) for _ in range(5)]
    with databases[0].unit_of_work() as uow:
        for number in range(400):
            record_event(
                uow.session,
                realm_id=realm_id,
                aggregate_id=aggregates[number % len(aggregates)],
                event_type="Counted",
                payload={"n": number},
                topics=[f"t/{aggregates[number % len(aggregates)]}"],
            )

    async def run() -> list[tuple[str, dict[str, Any]]]:
        bus = ControlledBus()
        publishers = [OutboxPublisher(db=db, batch_size=7) for db in databases]
        for publisher in publishers:
            await publisher.start(bus=bus)
        await asyncio.to_thread(bus.wait_for, 400, 20.0)
        for publisher in publishers:
            await publisher.stop()
        return bus.published

    try:
        published = asyncio.run(run())
    finally:
        with databases[0].unit_of_work() as uow:  # the database is shared by this worker's tests
            uow.session.execute(delete(OutboxEvent).where(OutboxEvent.realm_id == realm_id))
        for db in databases:
            db.dispose()
    numbers = [payload["n"] for _, payload in published]
    assert sorted(numbers) == list(range(400))  # each exactly once
    for aggregate in aggregates:
        mine = [payload["n"] for topic, payload in published if topic == f"t/{aggregate}"]
        assert mine == sorted(mine)


def test_a_published_batch_that_cannot_be_marked_at_first_is_not_published_again(tmp_path: Path) -> None:
    database_file = tmp_path / "outbox.db"
    db = Database(make_engine(f"sqlite:///{database_file}", sqlite_busy_timeout_ms=20))
    OutboxEvent.__table__.create(db.engine)
    with db.unit_of_work() as uow:
        for number in range(3):
            record_event(
                uow.session,
                realm_id=uuid.uuid4(),
                aggregate_id="a1",
                event_type="Counted",
                payload={"n": number},
                topics=["t/a1"],
            )
    # Another writer holds SQLite's write lock far beyond the busy timeout; in WAL mode the
    # publisher can still read (claim) and publish, but marking the batch fails until it lets go.
    blocker = sqlite3.connect(database_file, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    async def run() -> list[tuple[str, dict[str, Any]]]:
        bus = ControlledBus()
        publisher = OutboxPublisher(db=db, poll_interval_seconds=0.05, max_backoff_seconds=0.1)
        await publisher.start(bus=bus)
        await asyncio.to_thread(bus.wait_for, 3)
        await asyncio.sleep(0.5)  # several failed marks, and as many chances to publish again
        blocker.commit()
        await asyncio.to_thread(_wait_until_marked, db)
        await publisher.stop()
        return bus.published

    try:
        published = asyncio.run(run())
    finally:
        blocker.close()
        db.dispose()
    assert [payload["n"] for _, payload in published] == [0, 1, 2]


def _wait_until_marked(db: Database) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with db.unit_of_work(write=False) as uow:
            if uow.session.scalar(select(func.count()).where(OutboxEvent.published_at.is_(None))) == 0:
                return
        time.sleep(0.02)
    raise AssertionError("the published batch was never marked")


class SlowBus(ControlledBus):
    """Takes ``delay`` seconds to accept each copy: slow, but working."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        await asyncio.sleep(self.delay)
        await super().publish(topic, payload, qos=qos)


def test_a_batch_slower_than_the_timeout_is_published_once_when_each_event_is_in_time(
    tmp_path: Path,
) -> None:
    db = Database(make_engine(f"sqlite:///{tmp_path / 'outbox.db'}"))
    OutboxEvent.__table__.create(db.engine)
    with db.unit_of_work() as uow:
        for number in range(8):
            record_event(
                uow.session,
                realm_id=uuid.uuid4(),
                aggregate_id="a1",
                event_type="Counted",
                payload={"n": number},
                topics=["t/a1/u1", "t/a1/u2"],
            )

    async def run() -> list[tuple[str, dict[str, Any]]]:
        # Each event takes 0.1 s, the batch of 8 in one aggregate 0.8 s: more than the timeout.
        bus = SlowBus(delay=0.1)
        publisher = OutboxPublisher(db=db, publish_timeout_seconds=0.5, max_backoff_seconds=0.1)
        await publisher.start(bus=bus)
        await asyncio.to_thread(_wait_until_marked, db)
        await publisher.stop()
        return bus.published

    try:
        published = asyncio.run(run())
    finally:
        db.dispose()
    assert [payload["n"] for topic, payload in published if topic == "t/a1/u1"] == list(range(8))
    assert len(published) == 16


def test_published_events_are_deleted_once_older_than_the_retention(tmp_path: Path) -> None:
    db = Database(make_engine(f"sqlite:///{tmp_path / 'outbox.db'}"))
    OutboxEvent.__table__.create(db.engine)
    now = utcnow()
    ages = {"published 2 h ago": dt.timedelta(hours=2), "published 10 min ago": dt.timedelta(minutes=10)}
    with db.unit_of_work() as uow:
        for name in [*ages, "not published yet"]:
            record_event(
                uow.session,
                realm_id=uuid.uuid4(),
                aggregate_id=name,
                event_type="Counted",
                payload={"name": name},
                topics=["t/a1"],
            )
        uow.session.flush()
        for name, age in ages.items():
            uow.session.execute(
                update(OutboxEvent).where(OutboxEvent.aggregate_id == name).values(published_at=now - age)
            )

    def kept() -> set[str]:
        with db.unit_of_work(write=False) as uow:
            return set(uow.session.scalars(select(OutboxEvent.aggregate_id)))

    async def run() -> list[tuple[str, dict[str, Any]]]:
        bus = ControlledBus()
        publisher = OutboxPublisher(db=db, poll_interval_seconds=0.02, retention=dt.timedelta(hours=1))
        await publisher.start(bus=bus)
        await asyncio.to_thread(bus.wait_for, 1)
        await asyncio.to_thread(_wait_until, lambda: "published 2 h ago" not in kept())
        await publisher.stop()
        return bus.published

    try:
        published = asyncio.run(run())
        assert kept() == {"published 10 min ago", "not published yet"}
    finally:
        db.dispose()
    assert [payload["name"] for _, payload in published] == ["not published yet"]


def _wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
