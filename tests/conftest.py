"""Shared fixtures: a migrated database per backend (SQLite and the real PostgreSQL), isolated per test.

Every API test that takes ``api`` runs twice, once per backend.  SQLite gets a fresh copy of a
migrated template file; PostgreSQL gets a database of its own per xdist worker, migrated once and
truncated after each test.  Without a reachable PostgreSQL server the PostgreSQL half is skipped
with the reason shown in the summary.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from fieldhub.app import SUBSCRIPTION_TEMPLATES, create_app
from fieldhub.core.bus.memory import MemoryBus
from fieldhub.core.config import Settings
from fieldhub.core.db import Base
from fieldhub.core.identity.models import Application, Group, Realm, User
from fieldhub.core.runtime import Runtime
from fieldhub.migrations import upgrade_to_head
from free_ports import free_port

PG_ADMIN_DSN = os.environ.get("FIELDHUB_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TEST_PASSWORD = "correct-horse-battery"


def _pg_unavailable_reason() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_ADMIN_DSN} is not reachable: {str(exc).strip().splitlines()[0]}"


@pytest.fixture(scope="session")
def worker_id_safe(worker_id: str) -> str:
    return worker_id.replace("-", "_")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url(worker_id_safe: str) -> Iterator[str]:
    reason = _pg_unavailable_reason()
    if reason:
        pytest.skip(reason)
    # Unique per run, so that two runs sharing one server (two clones, CI beside a developer)
    # never drop or truncate each other's databases.
    name = f"fieldhub_test_{worker_id_safe}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    upgrade_to_head(url.replace("postgresql://", "postgresql+psycopg://"))
    yield url
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "fieldhub.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_url")
    yield url
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible HTTP server (moto's server mode) on loopback, for the whole run."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def new_s3_bucket(endpoint: str) -> str:
    """A fresh bucket, so that tests sharing the server never see each other's blobs."""
    import boto3

    name = f"fieldhub-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["file", "s3"])
def blob_backend(request: pytest.FixtureRequest) -> str:
    """Ask for this fixture (or ``usefixtures("blob_backend")``) to run a test on both blob stores."""
    return str(request.param)


def blob_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    if "blob_backend" not in request.fixturenames or request.getfixturevalue("blob_backend") == "file":
        return {}
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return {
        "blob_url": f"s3://{new_s3_bucket(endpoint)}/fieldhub",
        "blob_s3_endpoint_url": endpoint,
        "blob_s3_access_key_id": "test",
        "blob_s3_secret_access_key": "test",
    }


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        login_failure_limit=5,
        **blob_settings(request),
    )


@dataclass
class Api:
    """The app under test plus the arrangements a test needs (made through the core services)."""

    client: TestClient
    runtime: Runtime
    #: The app's event bus: in memory, so that tests open no MQTT ports (tests/bus/ use real ones).
    bus: MemoryBus
    realms: dict[str, Realm] = field(default_factory=dict)

    def realm(self, name: str | None = None) -> Realm:
        name = name or f"r{uuid.uuid4().hex[:10]}"
        with self.runtime.db.unit_of_work() as uow:
            realm = self.runtime.identity(uow.session).create_realm(name=name)
        self.realms[name] = realm
        return realm

    def user(self, realm: Realm, username: str | None = None, *, admin: bool = False, **extra: Any) -> User:
        with self.runtime.db.unit_of_work() as uow:
            return self.runtime.identity(uow.session).create_user(
                realm=realm,
                username=username or f"u{uuid.uuid4().hex[:10]}",
                password=TEST_PASSWORD,
                is_admin=admin,
                **extra,
            )

    def group(self, realm: Realm, name: str, members: list[User]) -> Group:
        with self.runtime.db.unit_of_work() as uow:
            identity = self.runtime.identity(uow.session)
            group = identity.create_group(realm=realm, name=name)
            for member in members:
                identity.add_member(realm=realm, group_name=name, username=member.username)
        return group

    def application(self, realm: Realm, name: str = "App") -> Application:
        with self.runtime.db.unit_of_work() as uow:
            return self.runtime.identity(uow.session).create_application(realm=realm, name=name)

    def grant(
        self,
        realm: Realm,
        application: Application,
        role: str,
        *,
        user: User | None = None,
        group: Group | None = None,
    ) -> None:
        with self.runtime.db.unit_of_work() as uow:
            self.runtime.identity(uow.session).grant(
                realm=realm,
                application_id=application.id,
                role=role,
                username=user.username if user else None,
                group_name=group.name if group else None,
            )

    def login(self, realm: Realm, user: User, password: str = TEST_PASSWORD) -> dict[str, Any]:
        response = self.client.post(
            f"/v1/authentication/login/realms/{realm.name}",
            json={"username": user.username, "password": password, "realm": realm.name},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def headers(self, realm: Realm, user: User) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.login(realm, user)['access_token']}"}

    def count(self, table: str) -> int:
        with self.runtime.db.unit_of_work(write=False) as uow:
            return int(uow.session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)  # noqa: S608 - test helper


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    runtime = Runtime.build(settings, subscription_templates=SUBSCRIPTION_TEMPLATES)
    bus = MemoryBus()
    app = create_app(settings, runtime=runtime, bus=bus)
    with TestClient(app) as client:
        yield Api(client=client, runtime=runtime, bus=bus)
