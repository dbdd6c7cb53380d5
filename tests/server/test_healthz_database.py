"""``GET /healthz`` answers 503, promptly, when the database does not answer."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from fieldhub.app import create_app
from fieldhub.core.bus.memory import MemoryBus
from fieldhub.core.config import Settings
from fieldhub.migrations import upgrade_to_head

PG_ADMIN_DSN = os.environ.get("FIELDHUB_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def test_healthz_is_503_when_postgresql_is_not_listening(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql://postgres@127.0.0.1:1/nowhere")
    # The app starts without the database; only the health check (and real work) needs it.
    with TestClient(create_app(settings, bus=MemoryBus())) as client:
        started = time.monotonic()
        response = client.get("/healthz")
        assert time.monotonic() - started < 5
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "database": False}
        # Routes that do not need the database keep answering.
        assert client.get("/.well-known/jwks.json").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_healthz_is_503_when_the_sqlite_file_cannot_be_opened(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/missing-dir/fieldhub.db")
    with TestClient(create_app(settings, bus=MemoryBus())) as client:
        assert client.get("/healthz").status_code == 503


@pytest.mark.postgres
def test_healthz_turns_503_when_the_database_goes_away(tmp_path: Path) -> None:
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL at {PG_ADMIN_DSN} is not reachable: {str(exc).strip().splitlines()[0]}")
    name = f"fieldhub_test_health_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            settings = Settings(data_dir=tmp_path, database_url=PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}")
            upgrade_to_head(settings.resolved_database_url)
            with TestClient(create_app(settings, bus=MemoryBus())) as client:
                assert client.get("/healthz").status_code == 200
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                response = client.get("/healthz")
                assert response.status_code == 503
                assert response.json()["database"] is False
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
