"""The streaming multipart reader: the file reaches the sink in bounded pieces; bad bodies are 400s."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from fieldhub.core.errors import InvalidInput
from fieldhub.core.http.streaming_multipart import (
    ENVELOPE_BYTES,
    SINK_BATCH_BYTES,
    read_body,
    read_file_field,
)

BOUNDARY = "xyzBOUNDARYxyz"


def _client(received: list[bytes]) -> TestClient:
    async def upload(request: Request) -> JSONResponse:
        limit = request.query_params.get("max")
        try:
            result = await read_file_field(
                request, field="file", sink=received.append, max_bytes=int(limit) if limit else None
            )
        except InvalidInput as exc:
            return JSONResponse({"error": exc.message}, status_code=400)
        part = result.file
        return JSONResponse(
            {
                "filename": part.filename,
                "contentType": part.content_type,
                "size": part.size,
                "fields": result.fields,
            }
        )

    async def raw(request: Request) -> JSONResponse:
        try:
            size = await read_body(request, sink=received.append, max_bytes=100)
        except InvalidInput as exc:
            return JSONResponse({"error": exc.message}, status_code=400)
        return JSONResponse({"size": size})

    return TestClient(
        Starlette(routes=[Route("/up", upload, methods=["POST"]), Route("/raw", raw, methods=["POST"])])
    )


def _body(*parts: tuple[str, str | None, bytes], close: bool = True) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename:
            out += b"Content-Type: image/png\r\n"
        out += b"\r\n" + data + b"\r\n"
    return out + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


def _post(client: TestClient, body: bytes, path: str = "/up", **kwargs: Any) -> Any:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    return client.post(path, content=body, headers=kwargs.pop("headers", headers), **kwargs)


def test_file_and_text_fields_are_read_and_large_files_arrive_in_bounded_batches() -> None:
    received: list[bytes] = []
    data = bytes(range(256)) * (3 * SINK_BATCH_BYTES // 256 + 7)
    response = _post(_client(received), _body(("note", None, "héllo".encode()), ("file", "a.png", data)))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "filename": "a.png",
        "contentType": "image/png",
        "size": len(data),
        "fields": {"note": "héllo"},
    }
    assert b"".join(received) == data
    assert len(received) >= 3
    assert max(len(piece) for piece in received) < 2 * SINK_BATCH_BYTES


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b"x", {"content-type": "application/json"}, "content-type: must be multipart/form-data"),
        (b"x", {"content-type": "multipart/form-data"}, "content-type: multipart/form-data needs a boundary"),
        (_body(("other", "a.png", b"abc")), None, "file: is required (a multipart part named 'file')"),
        (
            _body(("file", "a.png", b"abc"), close=False),
            None,
            "multipart body: truncated (no closing boundary)",
        ),
        (_body(("file", "a.png", b"abc"))[:-30], None, "multipart body: truncated (no closing boundary)"),
        (_body(("file", "a", b"1"), ("file", "b", b"2")), None, "file: sent more than once"),
        (_body(("file", "a.png", b"0123456789A")), None, "file: larger than 10 bytes"),
    ],
)
def test_bad_bodies_are_refused(body: bytes, headers: dict[str, str] | None, message: str) -> None:
    received: list[bytes] = []
    kwargs: dict[str, Any] = {"params": {"max": "10"}}
    if headers is not None:
        kwargs["headers"] = headers
    response = _post(_client(received), body, **kwargs)
    assert response.status_code == 400
    assert response.json() == {"error": message}


def test_other_parts_cannot_make_the_body_unbounded() -> None:
    received: list[bytes] = []
    junk = b"j" * (ENVELOPE_BYTES + 1)
    body = _body(("file", "a.png", b"abc"), ("other", "junk.bin", junk))
    response = _post(_client(received), body, params={"max": "10"})
    assert response.status_code == 400
    assert response.json() == {"error": f"multipart body: larger than {10 + ENVELOPE_BYTES} bytes"}


def test_raw_body_is_streamed_and_limited() -> None:
    received: list[bytes] = []
    client = _client(received)
    assert client.post("/raw", content=b"a" * 100).json() == {"size": 100}
    assert b"".join(received) == b"a" * 100
    response = client.post("/raw", content=b"a" * 101)
    assert response.json() == {"error": "request body: larger than 100 bytes"}


def test_a_failing_sink_fails_the_read_with_its_own_error() -> None:
    def broken(_: bytes) -> None:
        raise OSError("disk full")

    async def upload(request: Request) -> JSONResponse:
        try:
            await read_file_field(request, field="file", sink=broken)
        except OSError as exc:
            return JSONResponse({"error": str(exc)}, status_code=507)
        return JSONResponse({})

    client = TestClient(Starlette(routes=[Route("/up", upload, methods=["POST"])]))
    body = _body(("file", "a.bin", b"x" * (3 * SINK_BATCH_BYTES)))
    response = _post(client, body)
    assert response.status_code == 507
    assert response.json() == {"error": "disk full"}
