"""The shared HTTP middlewares, exercised through a tiny Starlette app."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import orjson
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from fieldhub.core.http.body_limit import BodyLimitMiddleware
from fieldhub.core.http.metrics import MetricsMiddleware, make_registry, metrics_response_body
from fieldhub.core.http.request_log import JsonFormatter, RequestLogMiddleware, configure_logging

LIMIT = 64
TOO_LARGE = f"Request body is larger than the limit of {LIMIT} bytes"


def render(status: int, message: str) -> tuple[bytes, str]:
    return orjson.dumps({"error": {"status": status, "message": message}}), "application/json"


async def get_item(request: Request) -> Response:
    return JSONResponse(request.path_params)


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


async def boom(request: Request) -> Response:
    raise RuntimeError("kaput")


def build(registry: CollectorRegistry) -> TestClient:
    sub = Starlette(routes=[Route("/things/{thing_id}", get_item)])
    inner = Starlette(
        routes=[
            Route("/items/{item_id}", get_item),
            Route("/echo", echo, methods=["POST"]),
            Route("/boom", boom),
            Mount("/v1", app=sub),
        ]
    )
    app = RequestLogMiddleware(
        MetricsMiddleware(BodyLimitMiddleware(inner, max_bytes=LIMIT, render=render), registry=registry)
    )
    return TestClient(app)


@pytest.fixture
def registry() -> CollectorRegistry:
    return make_registry()


@pytest.fixture
def client(registry: CollectorRegistry, caplog: pytest.LogCaptureFixture) -> Iterator[TestClient]:
    caplog.set_level(logging.INFO, logger="fieldhub.access")
    with build(registry) as c:
        yield c


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    records = [r for r in caplog.records if r.name == "fieldhub.access"]
    return [json.loads(JsonFormatter().format(r)) for r in records]


def count(registry: CollectorRegistry, route: str, status: str, method: str = "GET") -> float:
    labels = {"method": method, "route": route, "status": status}
    return registry.get_sample_value("fieldhub_http_requests_total", labels) or 0.0


def test_request_id_generated_and_reused(client: TestClient) -> None:
    first = client.get("/items/1").headers["x-request-id"]
    assert len(first) == 32
    assert client.get("/items/1").headers["x-request-id"] != first
    reused = client.get("/items/1", headers={"X-Request-ID": "abc.DEF_123-x"})
    assert reused.headers["x-request-id"] == "abc.DEF_123-x"


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "semi;colon", ""])
def test_bad_request_id_replaced(client: TestClient, bad: str) -> None:
    echoed = client.get("/items/1", headers={"X-Request-ID": bad}).headers["x-request-id"]
    assert echoed != bad
    assert len(echoed) == 32


def test_one_log_line_with_template_no_query(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    response = client.get("/items/42?token=s3cret", headers={"X-Request-ID": "req-1"})
    (line,) = access_lines(caplog)
    assert isinstance(line.pop("duration_ms"), float)
    assert str(line.pop("ts")).endswith("Z")
    assert line == {
        "level": "info",
        "logger": "fieldhub.access",
        "event": "request",
        "request_id": "req-1",
        "method": "GET",
        "path": "/items/42",
        "route": "/items/{item_id}",
        "status": 200,
        "client": "testclient",
        "bytes_out": len(response.content),
    }
    assert "s3cret" not in caplog.text


def test_app_exception_logged_as_500(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(RuntimeError, match="kaput"):
        client.get("/boom")
    (line,) = access_lines(caplog)
    assert (line["status"], line["route"], line["level"]) == (500, "/boom", "error")


def test_metrics_use_route_template(client: TestClient, registry: CollectorRegistry) -> None:
    client.get("/items/1")
    client.get("/items/2")
    assert (count(registry, "/items/{item_id}", "200"), count(registry, "/items/1", "200")) == (2.0, 0.0)
    body, content_type = metrics_response_body(registry)
    assert content_type.startswith("text/plain")
    assert b'route="/items/{item_id}"' in body
    assert b"/items/1" not in body
    assert b'fieldhub_http_request_duration_seconds_bucket{le="0.001",method="GET"' in body
    for path in ("/nope/1", "/nope/2", "/v1/nope", "/v1/things/7"):
        client.get(path)
    # A mount prefix that matched while nothing under it did is still unmatched.
    assert count(registry, "<unmatched>", "404") == 3.0
    assert count(registry, "/v1/things/{thing_id}", "200") == 1.0


def test_registries_are_independent() -> None:
    one, two = make_registry(), make_registry()
    with build(one) as first, build(two):
        first.get("/items/1")
    assert (count(one, "/items/{item_id}", "200"), count(two, "/items/{item_id}", "200")) == (1.0, 0.0)


def test_small_body_passes_untouched(client: TestClient) -> None:
    payload = b"\x00hello\xff" * 8  # exactly LIMIT bytes
    response = client.post("/echo", content=payload)
    assert (response.status_code, response.content) == (200, payload)


def test_declared_content_length_over_limit(client: TestClient, registry: CollectorRegistry) -> None:
    response = client.post("/echo", content=b"a" * (LIMIT + 1))
    assert (response.status_code, response.headers["content-type"]) == (413, "application/json")
    assert response.json() == {"error": {"status": 413, "message": TOO_LARGE}}
    assert "x-request-id" in response.headers
    assert count(registry, "<unmatched>", "413", method="POST") == 1.0


def test_chunked_body_limited_while_streaming(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    # Generator bodies make httpx send chunked, with no Content-Length to check up front.
    small = client.post("/echo", content=(b"b" * 16 for _ in range(4)))
    assert (small.status_code, small.content) == (200, b"b" * LIMIT)
    large = client.post("/echo", content=(b"b" * 16 for _ in range(10)))
    assert large.status_code == 413
    assert large.json() == {"error": {"status": 413, "message": TOO_LARGE}}
    assert [(x["status"], x["route"]) for x in access_lines(caplog)] == [(200, "/echo"), (413, "/echo")]


@pytest.mark.parametrize("value", ["abc", "-1", "1e3", "12 34"])
def test_malformed_content_length(client: TestClient, value: str) -> None:
    response = client.post("/echo", content=b"x", headers={"Content-Length": value})
    assert response.status_code == 400
    assert response.json() == {"error": {"status": 400, "message": "The Content-Length header is malformed"}}
    # Bodyless methods are not inspected at all.
    assert client.get("/items/1", headers={"Content-Length": value}).status_code == 200


def test_configure_logging_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger("fieldhub")
    before = list(root.handlers)
    try:
        configure_logging("info")
        configure_logging("debug")
        assert len([h for h in root.handlers if h not in before]) == 1
        assert root.level == logging.DEBUG
        log = logging.getLogger("fieldhub.test")
        log.info("hello", extra={"fields": {"answer": 42}})
        log.error("failed", exc_info=ValueError("bad"))
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
        assert (lines[0]["message"], lines[0]["answer"], lines[0]["logger"]) == ("hello", 42, "fieldhub.test")
        assert "ValueError: bad" in lines[1]["exc"]
        with pytest.raises(ValueError, match="Unknown log level"):
            configure_logging("loud")
    finally:
        for handler in root.handlers:
            if handler not in before:
                root.removeHandler(handler)
        root.setLevel(logging.NOTSET)
