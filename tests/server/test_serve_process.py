"""Through a real ``fieldhub serve``: bootstrap, durability under ``kill -9``, graceful SIGTERM, ops."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from serve_process import ServerProcess, fieldhub_cli

pytestmark = pytest.mark.slow

PG_ADMIN_DSN = os.environ.get("FIELDHUB_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_session(server: ServerProcess, token: str, application_id: str, name: str) -> dict[str, Any]:
    response = server.client.post(
        f"/v1/application/applications/{application_id}/sessions",
        json={"version": 1, "name": name, "participants": []},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def demo_application(data_dir: Path, **env: str) -> dict[str, Any]:
    (application,) = fieldhub_cli(data_dir, "app", "list", "--realm", "demo", **env)["applications"]
    return dict(application)


def stalled_login(server: ServerProcess, password: str) -> tuple[socket.socket, bytes]:
    """A login whose body is only partly sent: the request stays in flight until the rest arrives."""
    body = json.dumps({"username": "admin", "password": password, "realm": "demo"}).encode()
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    head = (
        "POST /v1/authentication/login/realms/demo HTTP/1.1\r\nHost: fieldhub\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    connection.sendall(head + body[:7])
    return connection, body[7:]


def finish_and_read(connection: socket.socket, rest: bytes) -> bytes:
    connection.sendall(rest)
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    connection.close()
    return received


def test_bootstrap_logs_metrics_durability_and_graceful_shutdown(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    logs = tmp_path / "logs"
    first = ServerProcess(data_dir, logs)
    try:
        password_file = data_dir / "admin-password.txt"
        password = password_file.read_text(encoding="utf-8").strip()
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        # Printed once on stderr, and nowhere else.
        assert first.stderr().count(password) == 1
        assert "Bootstrapped realm 'demo'" in first.stderr()

        tokens = first.login(password)
        access = tokens["access_token"]
        # The CLI works on the same data while the server runs.
        application = demo_application(data_dir)
        assert (application["name"], application["number"]) == ("Demo", 1)
        (admin,) = fieldhub_cli(data_dir, "user", "list", "--realm", "demo")["users"]
        assert (admin["username"], admin["admin"]) == ("admin", True)

        session = create_session(first, access, application["id"], "survives kill -9")
        session_url = f"/v1/application/applications/{application['id']}/sessions/{session['sessionId']}"
        fetched = first.client.get(session_url, headers=bearer(access))
        assert fetched.status_code == 200

        metrics_response = first.client.get("/metrics")
        metrics = metrics_response.text
        template = "/v1/application/applications/{applicationId}/sessions/{sessionId}"
        assert "fieldhub_http_requests_total" in metrics
        assert f'route="{template}"' in metrics
        assert 'route="/v1/authentication/login/realms/{realm}"' in metrics
        assert session["sessionId"] not in metrics
        assert application["id"] not in metrics
        assert "fieldhub_http_request_duration_seconds_bucket" in metrics

        # Exactly one line per request, found by the id the response carried.
        for response, route in ((fetched, template), (metrics_response, "/metrics")):
            lines = first.request_records(response.headers["x-request-id"])
            assert [(r["event"], r["route"]) for r in lines] == [("request", route)]
        records = [r for r in first.log_records() if r.get("event") == "request"]
        assert all(r["request_id"] for r in records)
        logged = "\n".join(line for line in first.stderr().splitlines() if line.startswith("{"))
        for secret in (password, access, tokens["refresh_token"]):
            assert secret not in logged
    finally:
        first.kill()

    second = ServerProcess(data_dir, logs)
    try:
        assert "Bootstrapped" not in second.stderr()
        assert password_file.read_text(encoding="utf-8").strip() == password
        access = second.login(password)["access_token"]
        # The 201 before kill -9 is still there.
        assert second.client.get(session_url, headers=bearer(access)).json()["name"] == "survives kill -9"
        assert len(fieldhub_cli(data_dir, "realm", "list")["realms"]) == 1

        in_flight, rest = stalled_login(second, password)
        time.sleep(1.0)  # let the server read the headers and start the request
        second.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert second.process.poll() is None, "the server must wait for the in-flight request"
        answer = finish_and_read(in_flight, rest)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert b"access_token" in answer
        assert second.terminate() == 0
        assert second.process.returncode == 0
    finally:
        second.kill()


def test_admin_password_from_the_environment(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    chosen = f"env-{uuid.uuid4().hex}"
    server = ServerProcess(data_dir, tmp_path / "logs", FIELDHUB_ADMIN_PASSWORD=chosen)
    try:
        tokens = server.login(chosen)
        assert not (data_dir / "admin-password.txt").exists()
        assert "Bootstrapped realm 'demo'" in server.stderr()
        assert chosen not in server.stderr()
        assert tokens["access_token"] not in server.stderr()
        wrong = server.client.post(
            "/v1/authentication/login/realms/demo",
            json={"username": "admin", "password": "not-the-password", "realm": "demo"},
        )
        assert wrong.status_code == 401
        assert "not-the-password" not in server.stderr()
        assert server.terminate() == 0
    finally:
        server.kill()


@pytest.fixture
def dedicated_postgres_url() -> Iterator[str]:
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL at {PG_ADMIN_DSN} is not reachable: {str(exc).strip().splitlines()[0]}")
    name = f"fieldhub_test_serve_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_durability_on_postgresql(tmp_path: Path, dedicated_postgres_url: str) -> None:
    data_dir = tmp_path / "data"
    env = {"FIELDHUB_DATABASE_URL": dedicated_postgres_url, "FIELDHUB_ADMIN_PASSWORD": "pg-admin-password"}
    first = ServerProcess(data_dir, tmp_path / "logs", **env)
    try:
        access = first.login("pg-admin-password")["access_token"]
        application = demo_application(data_dir, FIELDHUB_DATABASE_URL=dedicated_postgres_url)
        session = create_session(first, access, application["id"], "durable on postgres")
    finally:
        first.kill()
    second = ServerProcess(data_dir, tmp_path / "logs", **env)
    try:
        assert "Bootstrapped" not in second.stderr()
        access = second.login("pg-admin-password")["access_token"]
        fetched = second.client.get(
            f"/v1/application/applications/{application['id']}/sessions/{session['sessionId']}",
            headers=bearer(access),
        )
        assert fetched.status_code == 200
        assert fetched.json()["name"] == "durable on postgres"
        assert second.terminate() == 0
    finally:
        second.kill()
