"""Bad uploads: each is a clear 400/404/409, changes nothing, and leaves no (half) file behind."""

from __future__ import annotations

import uuid

import pytest
from media_support import MediaWorld, assert_error, multipart, stored_keys

from conftest import Api

DATA = b"0123456789" * 100  # 1,000 bytes
BOUNDARY = "fieldhubtestboundary"


def _raw_multipart(data: bytes, *, close: bool = True) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + (f"\r\n--{BOUNDARY}--\r\n".encode() if close else b"")


def _unchanged(world: MediaWorld, media_id: str, keys_before: set[str]) -> None:
    media = world.get(media_id)
    assert media["etag"] is None
    assert media["uploadedBytes"] == 0
    assert_error(world.content(media_id), 409, "not uploaded yet")
    assert stored_keys(world.api) == keys_before


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (_raw_multipart(DATA, close=False), f"multipart/form-data; boundary={BOUNDARY}", "truncated"),
        (_raw_multipart(DATA)[:-40], f"multipart/form-data; boundary={BOUNDARY}", "truncated"),
        (DATA, "text/plain", "content-type: must be multipart/form-data (or application/octet-stream)"),
        (_raw_multipart(DATA), "multipart/form-data", "boundary"),
        (b"", f"multipart/form-data; boundary={BOUNDARY}", "truncated"),
    ],
)
def test_broken_singlepart_bodies(
    api: Api, blob_backend: str, body: bytes, content_type: str, message: str
) -> None:
    world = MediaWorld.build(api)
    media_id = world.create(totalBytes=len(DATA))["mediaId"]
    before = stored_keys(api)
    response = api.client.post(
        world.media_url(media_id, "/uploads"),
        content=body,
        headers={**world.headers, "content-type": content_type},
    )
    assert_error(response, 400, message)
    _unchanged(world, media_id, before)


def test_missing_file_field(api: Api) -> None:
    world = MediaWorld.build(api)
    media_id = world.create(totalBytes=len(DATA))["mediaId"]
    response = api.client.post(
        world.media_url(media_id, "/uploads"), files=multipart(DATA, field="other"), headers=world.headers
    )
    assert_error(response, 400, "file: is required")


@pytest.mark.parametrize("size", [len(DATA) + 1, len(DATA) - 1])
def test_a_body_that_is_not_total_bytes_long_is_refused(api: Api, blob_backend: str, size: int) -> None:
    world = MediaWorld.build(api)
    media_id = world.create(totalBytes=len(DATA))["mediaId"]
    before = stored_keys(api)
    response = world.upload(media_id, (DATA * 2)[:size])
    assert_error(response, 400, "file:", str(len(DATA)))
    _unchanged(world, media_id, before)


def test_a_chunk_larger_than_what_total_bytes_leaves_is_refused(api: Api, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    media_id = world.create(totalBytes=len(DATA))["mediaId"]
    upload_id = world.start_chunks(media_id, 2)
    assert world.chunk(media_id, upload_id, 1, 2, DATA[:600]).status_code == 200
    before = stored_keys(api)
    assert_error(world.chunk(media_id, upload_id, 2, 2, DATA[:401]), 400, "larger than the 400 bytes")
    assert stored_keys(api) == before
    assert world.get(media_id)["uploadedBytes"] == 600


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"chunkTotal": 3, "chunkIndex": 0}, 400, "chunkIndex: must be between 1 and chunkTotal (3)"),
        ({"chunkTotal": 3, "chunkIndex": 4}, 400, "chunkIndex: must be between 1 and chunkTotal (3)"),
        ({"chunkTotal": 2, "chunkIndex": 1}, 400, "chunkTotal: this upload was started with chunkTotal=3"),
        ({"chunkTotal": 3}, 400, "chunkIndex"),
        ({"chunkTotal": "x", "chunkIndex": 1}, 400, "chunkTotal"),
    ],
)
def test_bad_chunk_parameters(api: Api, params: dict[str, object], status: int, message: str) -> None:
    world = MediaWorld.build(api)
    media_id = world.create(totalBytes=len(DATA))["mediaId"]
    upload_id = world.start_chunks(media_id, 3)
    response = api.client.put(
        world.media_url(media_id, f"/uploads/{upload_id}"),
        params=params,
        files=multipart(DATA),
        headers=world.headers,
    )
    assert_error(response, status, message)
    assert world.get(media_id)["uploadedBytes"] == 0
    assert api.count("media_upload_chunks") == 0


def test_unknown_upload_id_is_404(api: Api) -> None:
    world = MediaWorld.build(api)
    media_id = world.create(totalBytes=len(DATA))["mediaId"]
    world.start_chunks(media_id, 1)
    response = world.chunk(media_id, str(uuid.uuid4()), 1, 1, DATA)
    assert_error(response, 404, "Upload not found")
    # Another media's upload id is unknown here too.
    other = world.create(totalBytes=len(DATA))["mediaId"]
    other_upload = world.start_chunks(other, 1)
    assert_error(world.chunk(media_id, other_upload, 1, 1, DATA), 404, "Upload not found")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"uploadType": "multipart"}, "chunkTotal: is required"),
        ({"uploadType": "multipart", "chunkTotal": 0}, "chunkTotal: must be between 1 and 10000"),
        ({"uploadType": "multipart", "chunkTotal": 10001}, "chunkTotal: must be between 1 and 10000"),
        ({"uploadType": "resumable"}, "uploadType"),
    ],
)
def test_bad_upload_initialisation(api: Api, params: dict[str, object], message: str) -> None:
    world = MediaWorld.build(api)
    media_id = world.create(totalBytes=len(DATA))["mediaId"]
    response = api.client.post(world.media_url(media_id, "/uploads"), params=params, headers=world.headers)
    assert_error(response, 400, message)
    assert api.count("media_uploads") == 0


def test_uploads_to_unknown_or_closed_targets(api: Api) -> None:
    world = MediaWorld.build(api)
    media_id = world.create(totalBytes=len(DATA))["mediaId"]
    assert_error(world.upload(str(uuid.uuid4()), DATA), 404, "Media not found")
    world.close_session()
    assert_error(world.upload(media_id, DATA), 409, "closed")
    response = api.client.post(
        world.media_url(media_id, "/uploads"),
        params={"uploadType": "multipart", "chunkTotal": 1},
        headers=world.headers,
    )
    assert_error(response, 409, "closed")


def test_the_parts_own_filename_is_never_used(api: Api, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    media = world.create(totalBytes=len(DATA), filename="safe.bin")
    response = api.client.post(
        world.media_url(media["mediaId"], "/uploads"),
        files={"file": ("../../../etc/passwd\x07", DATA, "text/plain")},
        headers=world.headers,
    )
    assert response.status_code == 201, response.text
    assert world.get(media["mediaId"])["filename"] == "safe.bin"
    assert not any("passwd" in key or ".." in key for key in stored_keys(api))
    assert (
        world.content(media["mediaId"])
        .headers["content-disposition"]
        .startswith('attachment; filename="safe.bin"')
    )
