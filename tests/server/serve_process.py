"""A real ``fieldhub serve`` process for the slow tests: start, wait for /healthz, stop in every way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from free_ports import free_port

FIELDHUB = str(Path(sys.executable).with_name("fieldhub"))


class ServerProcess:
    """One run of ``fieldhub serve`` with its stdout and stderr captured to files."""

    def __init__(self, data_dir: Path, logs: Path, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        logs.mkdir(parents=True, exist_ok=True)
        run = len(list(logs.glob("*.stderr")))
        self.stderr_path = logs / f"{run}.stderr"
        self.stdout_path = logs / f"{run}.stdout"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("FIELDHUB_")}
        environment.update(
            FIELDHUB_DATA_DIR=str(data_dir),
            FIELDHUB_PORT=str(self.port),
            FIELDHUB_SHUTDOWN_GRACE_SECONDS="10",
            # No MQTT listener unless a test asks for one: the defaults would collide between
            # parallel tests and with a server running on this machine.
            FIELDHUB_MQTTS_PORT="0",
            FIELDHUB_MQTT_PORT="0",
            FIELDHUB_MQTT_WS_PORT="0",
        )
        environment.update(env)
        with self.stderr_path.open("wb") as err, self.stdout_path.open("wb") as out:
            self.process = subprocess.Popen([FIELDHUB, "serve"], env=environment, stdout=out, stderr=err)
        self.client = httpx.Client(base_url=self.base_url, timeout=10)
        self.wait_until_healthy()

    def wait_until_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"fieldhub serve exited with {self.process.returncode}: {self.stderr()}")
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"fieldhub serve did not become healthy: {self.stderr()}")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.stderr().splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
        return records

    def request_records(self, request_id: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The access-log lines of one request (written just after its response went out)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.log_records() if r.get("request_id") == request_id]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def login(self, password: str, *, username: str = "admin", realm: str = "demo") -> dict[str, Any]:
        response = self.client.post(
            f"/v1/authentication/login/realms/{realm}",
            json={"username": username, "password": password, "realm": realm},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def kill(self) -> None:
        """``kill -9``: no shutdown of any kind."""
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 20.0) -> int:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def fieldhub_cli(data_dir: Path, *args: str, **env: str) -> dict[str, Any]:
    """Runs an admin command on the same configuration as a running server; returns its JSON."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FIELDHUB_")}
    environment.update(FIELDHUB_DATA_DIR=str(data_dir), **env)
    result = subprocess.run(
        [FIELDHUB, *args, "--json"], env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload
