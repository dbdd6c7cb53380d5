"""Composes the ASGI application: operational routes, the core middleware and every API family."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from starlette.responses import Response

from fieldhub.core.config import Settings
from fieldhub.core.http.metrics import MetricsMiddleware, make_registry, metrics_response_body
from fieldhub.core.http.request_log import RequestLogMiddleware
from fieldhub.core.runtime import Runtime
from fieldhub.core.web import json_response
from fieldhub.skylight.web import create_skylight_app

#: Where each API family is mounted.
SKYLIGHT_PREFIX = "/v1"


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> FastAPI:
    runtime = runtime or Runtime.build(settings)
    registry = make_registry()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Endpoints are sync and hold the GIL for most of their work: a few threads keep the CPU
        # busy, while anyio's default of 40 only adds contention (measured in docs/benchmarks.md).
        to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        # The objects built at start-up live as long as the process; moving them out of the
        # collector's sight keeps full collections (the p99 pauses) short.
        gc.freeze()
        yield
        runtime.close()

    app = FastAPI(title="fieldhub", openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.runtime = runtime

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        healthy = runtime.db.ping()
        return json_response(
            {"status": "ok" if healthy else "unavailable", "database": healthy},
            status_code=200 if healthy else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        body, content_type = metrics_response_body(registry)
        return Response(body, media_type=content_type)

    @app.get("/.well-known/jwks.json", include_in_schema=False)
    def jwks() -> Response:
        return json_response(runtime.signing_key.jwks(), headers={"Cache-Control": "public, max-age=300"})

    app.mount(SKYLIGHT_PREFIX, create_skylight_app(runtime))
    app.add_middleware(MetricsMiddleware, registry=registry)
    app.add_middleware(RequestLogMiddleware)
    return app
