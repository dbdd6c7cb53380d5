"""What the results were measured on, recorded with every result file."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
from pathlib import Path

from fieldhub.server import EVENT_LOOP

COMMAND_TIMEOUT_SECONDS = 10


def _command_output(*command: str) -> str:
    if shutil.which(command[0]) is None:
        return ""
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return ""
    return completed.stdout.strip()


def cpu_model() -> str:
    for line in _command_output("lscpu").splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_total() -> str:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return "unknown"
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            kib = int(line.split()[1])
            return f"{kib / 1024 / 1024:.1f} GiB"
    return "unknown"


def uvicorn_implementations() -> str:
    """The event loop fieldhub runs uvicorn with, and what uvicorn's ``auto`` http setting
    resolves to in this environment."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"loop={EVENT_LOOP}, http={http}"


def code_version() -> str:
    """The commit measured, marked ``+dirty`` when the working tree has changes."""
    root = str(Path(__file__).resolve().parent.parent)
    commit = _command_output("git", "-C", root, "rev-parse", "--short", "HEAD") or "unknown"
    dirty = _command_output("git", "-C", root, "status", "--porcelain", "--untracked-files=no", "src")
    return commit + ("+dirty" if dirty else "")


def load_average() -> str:
    """The 1-minute load average: other work on the machine competes with the benchmark."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "unknown"


def describe() -> dict[str, str]:
    wrk = _command_output("wrk", "--version").splitlines()
    return {
        "cpus": str(os.cpu_count()),
        "cpu_model": cpu_model(),
        "memory": memory_total(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "uvicorn": uvicorn_implementations(),
        "wrk": wrk[0].split(" Copyright")[0] if wrk else "not installed",
        "code": code_version(),
    }
