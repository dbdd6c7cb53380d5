"""Free loopback ports for servers the tests start.

Ports come from below the kernel's ephemeral range: a port the kernel picked for us (bind to 0)
is free only until the kernel hands the same number to some test's outgoing connection, which
happens often while another test opens thousands of sockets.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20_000


def _ephemeral_start() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port() -> int:
    """A port nobody listens on now, outside the range used for outgoing connections."""
    highest = _ephemeral_start() - 1
    for _ in range(200):
        port = random.randint(_LOWEST, highest)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")
