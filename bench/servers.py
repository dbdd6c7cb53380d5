"""Server subprocesses on free loopback ports: a real ``fieldhub serve`` and the bare Starlette app."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.bare_app import BARE_PATH, SHUTDOWN_GRACE_SECONDS

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "bench-admin-password"
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = SHUTDOWN_GRACE_SECONDS + 10
CLI_TIMEOUT_SECONDS = 120.0


class ServerError(RuntimeError):
    """A server did not start, or a command against it failed."""


@dataclass(frozen=True, slots=True)
class RunningServer:
    name: str
    base_url: str
    pid: int
    log_path: Path


@dataclass(frozen=True, slots=True)
class FieldhubSetup:
    """Everything a ``fieldhub`` process (server or CLI) needs to find its data."""

    data_dir: Path
    database_url: str = ""
    log_level: str = "info"
    #: More ``FIELDHUB_*`` settings, e.g. from :func:`mqtt_env`.
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def env(self, port: int = 0) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("FIELDHUB_")}
        env.update(
            FIELDHUB_DATA_DIR=str(self.data_dir),
            FIELDHUB_HOST=HOST,
            FIELDHUB_PORT=str(port),
            FIELDHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
            FIELDHUB_LOG_LEVEL=self.log_level,
            FIELDHUB_ACCESS_TOKEN_TTL_SECONDS="3600",
            FIELDHUB_SHUTDOWN_GRACE_SECONDS=str(SHUTDOWN_GRACE_SECONDS),
        )
        if self.database_url:
            env["FIELDHUB_DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        return env


def mqtt_env(plain_port: int, *, external_url: str = "") -> dict[str, str]:
    """The embedded broker with only its plain listener, on ``plain_port`` (loopback), or an external broker.

    The TLS and WebSocket listeners stay off so that runs never collide with the default ports.
    """
    env = {"FIELDHUB_MQTT_PORT": str(plain_port), "FIELDHUB_MQTTS_PORT": "0", "FIELDHUB_MQTT_WS_PORT": "0"}
    if external_url:
        env.update(FIELDHUB_MQTT_URL=external_url, FIELDHUB_MQTT_PORT="0")
    return env


def rss_bytes(pid: int) -> int:
    """The resident set size of process ``pid`` (``VmRSS`` of /proc/<pid>/status); 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def fieldhub_executable() -> str:
    return str(Path(sys.executable).with_name("fieldhub"))


def fieldhub_cli(setup: FieldhubSetup, *args: str) -> dict[str, Any]:
    """Runs ``fieldhub ARGS --json`` on the same configuration as the server; returns its JSON."""
    completed = subprocess.run(
        [fieldhub_executable(), *args, "--json"],
        env=setup.env(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise ServerError(f"fieldhub {' '.join(args)} failed: {completed.stderr.strip()}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


@contextmanager
def fieldhub_server(setup: FieldhubSetup, log_path: Path) -> Iterator[RunningServer]:
    port = free_port()
    with _running(
        "fieldhub",
        [fieldhub_executable(), "serve"],
        env=setup.env(port),
        port=port,
        ready_path="/healthz",
        log_path=log_path,
    ) as server:
        yield server


@contextmanager
def bare_server(
    log_path: Path, *, log_level: str = "info", upload_dir: Path | None = None
) -> Iterator[RunningServer]:
    port = free_port()
    command = [sys.executable, "-m", "bench.bare_app", "--port", str(port), "--log-level", log_level]
    env = {key: value for key, value in os.environ.items() if not key.startswith("FIELDHUB_")}
    if upload_dir is not None:
        env["BENCH_BARE_UPLOAD_DIR"] = str(upload_dir)
    with _running("bare", command, env=env, port=port, ready_path=BARE_PATH, log_path=log_path) as server:
        yield server


@contextmanager
def _running(
    name: str, command: list[str], *, env: dict[str, str], port: int, ready_path: str, log_path: Path
) -> Iterator[RunningServer]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            base_url = f"http://{HOST}:{port}"
            _wait_ready(process, base_url + ready_path, log_path)
            yield RunningServer(name=name, base_url=base_url, pid=process.pid, log_path=log_path)
        finally:
            _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"server exited with {process.returncode}; see {log_path}:\n{_tail(log_path)}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise ServerError(f"{url} not ready after {READY_TIMEOUT_SECONDS:.0f} s; see {log_path}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
