"""Runs the ASGI app under uvicorn with graceful shutdown on SIGTERM."""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn
from fastapi import FastAPI

from fieldhub.app import create_app
from fieldhub.core.config import Settings, load_settings
from fieldhub.core.http.request_log import configure_logging

#: Not uvloop, which uvicorn would pick: it accepts one connection per event-loop pass, so a busy
#: loop (30-60 ms a pass) accepted 15-30 MQTT clients a second and the listener collapsed under
#: 1,000 churning clients (ADR 10).  asyncio's loop accepts every connection that waits.
EVENT_LOOP = "asyncio"


def app_from_environment() -> FastAPI:
    """The factory each uvicorn worker calls when ``FIELDHUB_WORKERS`` > 1.

    Workers are fresh processes, so each configures its own JSON logging.
    """
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def run(settings: Settings) -> None:
    configure_logging(settings.log_level)
    # uvicorn handles SIGTERM itself (stop accepting, let in-flight requests finish, run the
    # lifespan shutdown) and then re-raises the signal under the handler that was in place
    # before it started.  With the default handler that would kill the process with status 143
    # after a clean shutdown; this one makes a requested stop exit 0.  It also covers a SIGTERM
    # that arrives before uvicorn has installed its own handlers.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    common = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        # On SIGTERM uvicorn stops accepting, lets in-flight requests finish (up to this long) and exits.
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        "loop": EVENT_LOOP,
    }
    if settings.workers > 1:
        uvicorn.run(
            "fieldhub.server:app_from_environment",
            factory=True,
            workers=settings.workers,
            **common,  # type: ignore[arg-type]
        )
    else:
        uvicorn.run(create_app(settings), **common)  # type: ignore[arg-type]
