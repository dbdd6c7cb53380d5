"""Load generators: wrk when installed, else a multi-process asyncio + httpx client."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

WRK_SCRIPT = Path(__file__).with_name("wrk_report.lua")
RESULT_PREFIX = "BENCH_RESULT "
WRK_REQUEST_TIMEOUT_SECONDS = 5
PROCESS_SLACK_SECONDS = 60


class LoadError(RuntimeError):
    """The load generator failed or printed no result."""


@dataclass(frozen=True, slots=True)
class LoadSpec:
    url: str
    headers: dict[str, str]
    connections: int
    threads: int
    duration_s: int


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    errors: int
    duration_s: float
    p50_ms: float
    p99_ms: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else math.nan


class LoadGenerator(Protocol):
    name: str
    note: str

    def run(self, spec: LoadSpec) -> LoadResult: ...


class Wrk:
    name = "wrk"
    note = "wrk (C, epoll), latency percentiles from its done() callback"

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def run(self, spec: LoadSpec) -> LoadResult:
        command = [
            self.executable,
            f"-t{spec.threads}",
            f"-c{spec.connections}",
            f"-d{spec.duration_s}s",
            f"--timeout={WRK_REQUEST_TIMEOUT_SECONDS}s",
            "-s",
            str(WRK_SCRIPT),
        ]
        for name, value in spec.headers.items():
            command += ["-H", f"{name}: {value}"]
        completed = subprocess.run(
            [*command, spec.url],
            capture_output=True,
            text=True,
            timeout=spec.duration_s + PROCESS_SLACK_SECONDS,
            check=False,
        )
        if completed.returncode != 0:
            raise LoadError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
        return _parse_wrk(completed.stdout)


def _parse_wrk(output: str) -> LoadResult:
    for line in output.splitlines():
        if line.startswith(RESULT_PREFIX):
            data = json.loads(line.removeprefix(RESULT_PREFIX))
            return LoadResult(
                requests=int(data["requests"]),
                errors=int(data["errors"]),
                duration_s=float(data["duration_us"]) / 1e6,
                p50_ms=float(data["p50_us"]) / 1000,
                p99_ms=float(data["p99_us"]) / 1000,
            )
    raise LoadError(f"wrk printed no {RESULT_PREFIX.strip()} line:\n{output}")


def choose_generator(preference: str) -> tuple[LoadGenerator, str | None]:
    """The generator to use and, when it is not the one preferred, why."""
    from bench.pyload import PythonLoad

    if preference == "python":
        return PythonLoad(), None
    executable = shutil.which("wrk")
    if executable:
        return Wrk(executable), None
    warning = (
        "wrk is not installed (Debian/Ubuntu: apt-get install -y wrk); falling back to the Python "
        "asyncio+httpx client, which needs far more CPU per request than wrk and shares the machine's "
        "cores with the server, so its requests/s understate both servers and the ratio is less reliable."
    )
    if preference == "wrk":
        raise LoadError(warning)
    return PythonLoad(), warning
