"""The baseline: a bare Starlette app with one JSON endpoint, served like ``fieldhub serve`` serves.

``python -m bench.bare_app --port N`` runs it under uvicorn with the options fieldhub.server.run
uses (one process, no uvicorn log config, access log off, no server header, the default ``auto``
event loop and HTTP implementation), so the two servers differ only in the application.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from fieldhub.server import EVENT_LOOP

BARE_PATH = "/session"
#: The upload reference: streams the request body to a file (temp, fsync, rename), like a blob store.
BARE_UPLOAD_PATH = "/upload"
#: Serves the last single upload with Starlette's FileResponse (Range supported).
BARE_DOWNLOAD_PATH = "/download"
UPLOAD_DIR = Path(os.environ.get("BENCH_BARE_UPLOAD_DIR", "bench/.data/bare-uploads"))
SHUTDOWN_GRACE_SECONDS = 5

#: Shaped and sized like a Skylight session with two participants and three properties.
BODY: dict[str, Any] = {
    "sessionId": "0b6f3f4c-8d4e-4a43-9d53-0f1e6a3c9b21",
    "applicationId": "5f0c2d9e8b7a6f5e4d3c2b1a",
    "version": 1,
    "name": "Inspection line 4",
    "description": "Weekly inspection of the packaging line",
    "participants": [
        {"id": "9a3c1d52-63f2-4f0e-8f7b-5c0f4e2d1a90", "type": "user", "isGuest": False},
        {"id": "2c7e4b1a-0d9f-4e3c-8b6a-7f5d4c3b2a19", "type": "user", "isGuest": False},
    ],
    "status": "open",
    "properties": {"department": "A", "deviceType": "HUD", "orderId": 123456},
    "createdBy": "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
    "createdAt": "2026-01-01T12:00:00.000Z",
    "modifiedBy": "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
    "modifiedAt": "2026-01-01T12:00:00.000Z",
    "isDraft": False,
}


async def session(_: Request) -> Response:
    return JSONResponse(BODY)


async def upload(request: Request) -> Response:
    await anyio.to_thread.run_sync(lambda: UPLOAD_DIR.mkdir(parents=True, exist_ok=True))
    name = f"part-{request.query_params['part']}" if "part" in request.query_params else "single"
    temp, target = UPLOAD_DIR / f"{name}.tmp", UPLOAD_DIR / f"{name}.bin"
    size = 0
    with temp.open("wb") as handle:
        async for chunk in request.stream():
            await anyio.to_thread.run_sync(handle.write, chunk)
            size += len(chunk)
        await anyio.to_thread.run_sync(os.fsync, handle.fileno())
    temp.replace(target)
    return JSONResponse({"uploadedBytes": size}, status_code=201)


async def download(_: Request) -> Response:
    return FileResponse(UPLOAD_DIR / "single.bin", media_type="application/octet-stream")


app = Starlette(
    routes=[
        Route(BARE_PATH, session),
        Route(BARE_UPLOAD_PATH, upload, methods=["POST"]),
        Route(BARE_DOWNLOAD_PATH, download),
    ]
)


def uvicorn_options(*, host: str, port: int) -> dict[str, Any]:
    """What fieldhub.server.run passes to uvicorn.run for one worker."""
    return {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,
        "loop": EVENT_LOOP,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--log-level", default="info", help="level of this app's logger, like FIELDHUB_LOG_LEVEL"
    )
    args = parser.parse_args(argv)
    logging.getLogger("bench.bare_app").setLevel(args.log_level.upper())
    uvicorn.run(app, **uvicorn_options(host=args.host, port=args.port))


if __name__ == "__main__":
    main()
