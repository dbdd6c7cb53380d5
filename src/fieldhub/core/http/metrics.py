"""Prometheus request metrics, labelled by route template so series stay bounded."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldhub.core.http.routes import route_template

# Spans a cache hit (~1 ms) to the slowest acceptable upload/export (~10 s); finer at the low end
# where nearly all API traffic lands.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Arbitrary request methods would each mint a new series; anything unusual shares one label.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def make_registry() -> CollectorRegistry:
    """A fresh registry; never the process-global one, so several apps can coexist in tests."""
    return CollectorRegistry()


def metrics_response_body(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The exposition body and content type for a ``/metrics`` endpoint."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Count requests and time them, per method and route template.

    The collectors are registered in ``registry`` at construction, so one registry serves exactly
    one MetricsMiddleware (prometheus_client rejects duplicate names).
    """

    def __init__(self, app: ASGIApp, *, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "fieldhub_http_requests_total",
            "HTTP requests handled, by method, route template and status code.",
            ("method", "route", "status"),
            registry=registry,
        )
        self.duration = Histogram(
            "fieldhub_http_request_duration_seconds",
            "Time from receiving the request to the app returning, by method and route template.",
            ("method", "route"),
            registry=registry,
            buckets=DURATION_BUCKETS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        status: int | None = None

        async def send_capturing_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_capturing_status)
        except Exception:
            status = 500
            raise
        finally:
            elapsed = time.perf_counter() - started
            method = str(scope.get("method", ""))
            method_label = method if method in _KNOWN_METHODS else "OTHER"
            route = route_template(scope)
            # No response start means the request was cancelled mid-flight; count it as a failure
            # rather than dropping it so error-rate alerts see it.
            status_label = "500" if status is None else str(status)
            self.requests.labels(method_label, route, status_label).inc()
            self.duration.labels(method_label, route).observe(elapsed)
