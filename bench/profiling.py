"""Optional py-spy sampling of a server while it is under load."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SAMPLE_RATE_HZ = 200
WAIT_SLACK_SECONDS = 30


def py_spy() -> str | None:
    beside_python = Path(sys.executable).with_name("py-spy")
    return str(beside_python) if beside_python.exists() else shutil.which("py-spy")


@contextmanager
def sampled(pid: int, seconds: int, output: Path | None) -> Iterator[None]:
    """Records a flame graph of ``pid`` for ``seconds`` into ``output`` (an .svg); no-op when None."""
    executable = py_spy() if output else None
    if output is None or executable is None:
        yield
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [executable, "record", "--pid", str(pid), "--duration", str(seconds)]
    command += ["--rate", str(SAMPLE_RATE_HZ), "--nonblocking", "--output", str(output)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        try:
            process.wait(timeout=seconds + WAIT_SLACK_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
