"""Runs the ASGI app under uvicorn with graceful shutdown on SIGTERM."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from fieldhub.app import create_app
from fieldhub.core.config import Settings, load_settings
from fieldhub.core.http.request_log import configure_logging


def app_from_environment() -> FastAPI:
    """The factory each uvicorn worker calls when ``FIELDHUB_WORKERS`` > 1."""
    return create_app(load_settings())


def run(settings: Settings) -> None:
    configure_logging(settings.log_level)
    common = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        # On SIGTERM uvicorn stops accepting, lets in-flight requests finish (up to this long) and exits.
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
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
