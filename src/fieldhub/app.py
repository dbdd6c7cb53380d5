"""Composes the ASGI application: operational routes, the core middleware and every API family."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from starlette.responses import Response

from fieldhub.attachments.web import PREFIX as ATTACHMENTS_PREFIX
from fieldhub.attachments.web import create_attachments_app
from fieldhub.core.bus.factory import ConfiguredBus, bus_from_settings
from fieldhub.core.bus.protocol import EventBus
from fieldhub.core.config import Settings
from fieldhub.core.http.metrics import MetricsMiddleware, make_registry, metrics_response_body
from fieldhub.core.http.request_log import RequestLogMiddleware
from fieldhub.core.runtime import Runtime
from fieldhub.core.web import json_response
from fieldhub.insight.cognito import build_cognito_router
from fieldhub.insight.gateway_mqtt import GatewayDevices
from fieldhub.insight.scans.metrics import SCAN_EVENTS
from fieldhub.insight.web import create_insight_app
from fieldhub.skylight.events import SUBSCRIPTION_TEMPLATE as SKYLIGHT_SUBSCRIPTIONS
from fieldhub.skylight.web import create_skylight_app
from fieldhub.snapshots.events import SUBSCRIPTION_TEMPLATE as SNAPSHOT_SUBSCRIPTIONS
from fieldhub.snapshots.web import ExactPrefixMount, create_snapshots_app

#: Where each API family is mounted.
SKYLIGHT_PREFIX = "/v1"
SNAPSHOTS_PREFIX = "/rtc-api/snapshots"
#: The topic filters a user's access token lets them subscribe to, one per family that publishes.
SUBSCRIPTION_TEMPLATES = (SKYLIGHT_SUBSCRIPTIONS, SNAPSHOT_SUBSCRIPTIONS)
#: On shutdown, how long the publisher may go on publishing what was committed before.
PUBLISHER_FLUSH_SECONDS = 5.0


def create_app(settings: Settings, *, runtime: Runtime | None = None, bus: EventBus | None = None) -> FastAPI:
    """The app; ``bus`` replaces the configured event bus (tests pass an in-memory one)."""
    runtime = runtime or Runtime.build(settings, subscription_templates=SUBSCRIPTION_TEMPLATES)
    registry = make_registry()
    # The Insight ingest's counters are module-level (the MQTT and HTTPS ingest share them).
    registry.register(SCAN_EVENTS)
    configured: ConfiguredBus | None = None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Endpoints are sync and hold the GIL for most of their work: a few threads keep the CPU
        # busy, while anyio's default of 40 only adds contention (measured in docs/benchmarks.md).
        to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        nonlocal configured
        configured = (
            ConfiguredBus(bus=bus, ca_pem=None)
            if bus is not None
            else bus_from_settings(
                settings,
                tokens=runtime.tokens,
                subscription_templates=SUBSCRIPTION_TEMPLATES,
                db=runtime.db,
                # Insight gateways connect with their client certificate and publish scan events.
                devices=GatewayDevices(db=runtime.db, data_dir=settings.data_dir).access(),
            )
        )
        await configured.bus.start()
        await runtime.publisher.start(bus=configured.bus)
        await runtime.tasks.start()
        # The objects built at start-up live as long as the process; moving them out of the
        # collector's sight keeps full collections (the p99 pauses) short.
        gc.freeze()
        try:
            yield
        finally:
            # In-flight requests are done by now; what they committed is published before the
            # bus goes away (whatever is left stays in the outbox for the next start).
            await runtime.tasks.stop()
            await runtime.publisher.stop(flush_timeout_seconds=PUBLISHER_FLUSH_SECONDS)
            await configured.bus.stop()
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

    @app.get("/ca.pem", include_in_schema=False)
    def ca_certificate() -> Response:
        if configured is None or configured.ca_pem is None:
            return json_response({"error": "This server runs no MQTT TLS listener"}, status_code=404)
        return Response(configured.ca_pem, media_type="application/x-pem-file")

    @app.get("/.well-known/jwks.json", include_in_schema=False)
    def jwks() -> Response:
        return json_response(runtime.signing_key.jwks(), headers={"Cache-Control": "public, max-age=300"})

    app.mount(SKYLIGHT_PREFIX, create_skylight_app(runtime))
    app.mount(settings.insight_prefix, create_insight_app(runtime))
    # Insight clients log in through a Cognito-compatible endpoint, at exactly this path.
    app.include_router(build_cognito_router(runtime))
    app.mount(ATTACHMENTS_PREFIX, create_attachments_app(runtime))
    app.router.routes.append(ExactPrefixMount(SNAPSHOTS_PREFIX, create_snapshots_app(runtime)))
    app.add_middleware(MetricsMiddleware, registry=registry)
    app.add_middleware(RequestLogMiddleware)
    return app
