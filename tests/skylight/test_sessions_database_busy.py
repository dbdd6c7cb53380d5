"""A write that cannot get SQLite's write lock within the busy timeout is a 503, not a 500."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sessions_support import World

from conftest import Api
from fieldhub.app import SUBSCRIPTION_TEMPLATES, create_app
from fieldhub.core.bus.memory import MemoryBus
from fieldhub.core.config import Settings
from fieldhub.core.runtime import Runtime


@pytest.fixture
def impatient_api(tmp_path: Path, sqlite_template: Path) -> Iterator[Api]:
    database = tmp_path / "fieldhub.db"
    shutil.copyfile(sqlite_template, database)
    settings = Settings(
        data_dir=tmp_path / "data", database_url=f"sqlite:///{database}", sqlite_busy_timeout_ms=100
    )
    runtime = Runtime.build(settings, subscription_templates=SUBSCRIPTION_TEMPLATES)
    bus = MemoryBus()
    with TestClient(create_app(settings, runtime=runtime, bus=bus)) as client:
        yield Api(client=client, runtime=runtime, bus=bus)


def test_a_write_blocked_past_the_busy_timeout_is_a_503_and_changes_nothing(
    impatient_api: Api, tmp_path: Path
) -> None:
    world = World.build(impatient_api)
    session = world.create(name="before")
    holder = sqlite3.connect(tmp_path / "fieldhub.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        response = impatient_api.client.patch(
            world.url(session["sessionId"]), json={"name": "after"}, headers=world.headers
        )
        assert response.status_code == 503, response.text
        assert response.json() == {"error": "The database is busy; retry shortly"}
    finally:
        holder.rollback()
        holder.close()
    assert world.get(session["sessionId"])["name"] == "before"
