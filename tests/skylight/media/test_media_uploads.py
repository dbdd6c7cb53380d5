"""Uploads, singlepart and chunked, on both blob stores: progress, resends, order, restarts."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from media_support import MediaWorld, assert_error

from conftest import Api
from fieldhub.app import SUBSCRIPTION_TEMPLATES, create_app
from fieldhub.core.bus.memory import MemoryBus
from fieldhub.core.config import Settings
from fieldhub.core.runtime import Runtime

DATA = bytes(range(256)) * 40  # 10,240 bytes


def _etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'  # noqa: S324 - the spec's etag is an MD5


def test_singlepart_upload_stores_the_bytes(api: Api, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    media_id = world.create(totalBytes=len(DATA))["mediaId"]
    response = world.upload(media_id, DATA)
    assert response.status_code == 201, response.text
    assert response.json() == {"uploadedBytes": len(DATA), "totalBytes": len(DATA)}
    assert response.headers["etag"] == _etag(DATA)
    media = world.get(media_id)
    assert media["uploadedBytes"] == len(DATA)
    assert media["etag"] == hashlib.md5(DATA).hexdigest()  # noqa: S324
    content = world.content(media_id)
    assert content.status_code == 200
    assert content.content == DATA


def test_chunks_in_any_order_and_resent_complete_the_upload(api: Api, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    media_id = world.create(totalBytes=len(DATA))["mediaId"]
    upload_id = world.start_chunks(media_id, 3)
    parts = [DATA[:4000], DATA[4000:8000], DATA[8000:]]
    response = world.chunk(media_id, upload_id, 3, 3, parts[2])
    assert response.status_code == 200, response.text
    assert response.json() == {
        "uploadedBytes": len(parts[2]),
        "totalBytes": len(DATA),
        "done": [False, False, True],
    }
    # A resent chunk (here with other bytes first, then the right ones) replaces itself.
    assert world.chunk(media_id, upload_id, 1, 3, b"x" * 100).json()["uploadedBytes"] == 100 + len(parts[2])
    response = world.chunk(media_id, upload_id, 1, 3, parts[0])
    assert response.json() == {
        "uploadedBytes": len(parts[0]) + len(parts[2]),
        "totalBytes": len(DATA),
        "done": [True, False, True],
    }
    assert world.get(media_id)["uploadedBytes"] == len(parts[0]) + len(parts[2])
    response = world.chunk(media_id, upload_id, 2, 3, parts[1])
    assert response.status_code == 201, response.text
    assert response.json() == {"uploadedBytes": len(DATA), "totalBytes": len(DATA)}
    # As S3 does for multipart objects: the MD5 of the chunks' MD5s, and their number.
    digests = b"".join(hashlib.md5(part).digest() for part in parts)  # noqa: S324
    assert response.headers["etag"] == f'"{hashlib.md5(digests).hexdigest()}-3"'  # noqa: S324
    assert world.get(media_id)["etag"] == f"{hashlib.md5(digests).hexdigest()}-3"  # noqa: S324
    assert world.content(media_id).content == DATA
    # The upload is over: its chunk rows are gone, and its id is no longer known.
    assert api.count("media_upload_chunks") == 0
    assert_error(world.chunk(media_id, upload_id, 1, 3, parts[0]), 404, "Upload not found")


def test_concurrent_chunks_are_all_counted(api: Api, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    data = DATA * 4
    media_id = world.create(totalBytes=len(data))["mediaId"]
    upload_id = world.start_chunks(media_id, 8)
    size = len(data) // 8
    with ThreadPoolExecutor(4) as pool:
        responses = list(
            pool.map(
                lambda i: world.chunk(media_id, upload_id, i + 1, 8, data[i * size : (i + 1) * size]),
                range(8),
            )
        )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert world.content(media_id).content == data
    assert world.get(media_id)["uploadedBytes"] == len(data)


def test_chunks_that_do_not_add_up_leave_the_media_incomplete_and_reuploadable(
    api: Api, blob_backend: str
) -> None:
    world = MediaWorld.build(api)
    media_id = world.create(totalBytes=len(DATA))["mediaId"]
    upload_id = world.start_chunks(media_id, 2)
    world.chunk(media_id, upload_id, 1, 2, DATA[:5000])
    response = world.chunk(media_id, upload_id, 2, 2, DATA[5000:6000])
    assert_error(response, 400, "hold 6000 bytes", f"totalBytes is {len(DATA)}")
    media = world.get(media_id)
    assert media["etag"] is None
    assert_error(world.content(media_id), 409, "not uploaded")
    # Re-sending the short chunk with the right bytes completes the upload.
    response = world.chunk(media_id, upload_id, 2, 2, DATA[5000:])
    assert response.status_code == 201, response.text
    assert world.content(media_id).content == DATA


def test_a_new_upload_replaces_the_content(api: Api, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    media = world.uploaded(DATA)
    response = world.upload(media["mediaId"], DATA[::-1])
    assert response.status_code == 201, response.text
    assert world.content(media["mediaId"]).content == DATA[::-1]
    assert world.get(media["mediaId"])["etag"] != media["etag"]


def test_an_upload_resumes_after_a_restart(api: Api, settings: Settings, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    media_id = world.create(totalBytes=len(DATA))["mediaId"]
    upload_id = world.start_chunks(media_id, 2)
    assert world.chunk(media_id, upload_id, 1, 2, DATA[:6000]).status_code == 200
    # A second process on the same database and blob store (the first one is gone or restarted).
    runtime = Runtime.build(settings, subscription_templates=SUBSCRIPTION_TEMPLATES)
    with TestClient(create_app(settings, runtime=runtime, bus=MemoryBus())) as client:
        response = client.put(
            world.media_url(media_id, f"/uploads/{upload_id}"),
            params={"chunkTotal": 2, "chunkIndex": 2},
            files={"file": ("f", DATA[6000:], "application/octet-stream")},
            headers=world.headers,
        )
        assert response.status_code == 201, response.text
        content = client.get(world.media_url(media_id, "/content"), headers=world.headers)
        assert content.content == DATA


def test_one_chunk_has_the_contents_md5_as_etag_and_ranges_span_chunks(api: Api, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    single = world.create(totalBytes=len(DATA))["mediaId"]
    response = world.chunk(single, world.start_chunks(single, 1), 1, 1, DATA)
    assert response.headers["etag"] == _etag(DATA)
    chunked = world.create(totalBytes=len(DATA))["mediaId"]
    upload_id = world.start_chunks(chunked, 4)
    for index in range(4):
        world.chunk(chunked, upload_id, index + 1, 4, DATA[index * 2560 : (index + 1) * 2560])
    for start, end in ((0, 2560), (2000, 6000), (2559, 2561), (9000, len(DATA))):
        part = world.content(chunked, Range=f"bytes={start}-{end - 1}")
        assert part.status_code == 206
        assert part.content == DATA[start:end]


def test_starting_a_new_multipart_upload_abandons_the_old_one(api: Api) -> None:
    world = MediaWorld.build(api)
    media_id = world.create(totalBytes=len(DATA))["mediaId"]
    old = world.start_chunks(media_id, 2)
    world.chunk(media_id, old, 1, 2, DATA[:10])
    new = world.start_chunks(media_id, 1)
    assert_error(world.chunk(media_id, old, 2, 2, DATA[10:]), 404, "Upload not found")
    assert world.chunk(media_id, new, 1, 1, DATA).status_code == 201


def test_raw_bodies_are_accepted_too(api: Api, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    media_id = world.create(totalBytes=len(DATA))["mediaId"]
    upload_id = world.start_chunks(media_id, 2)
    url = world.media_url(media_id, f"/uploads/{upload_id}")
    octets = {**world.headers, "Content-Type": "application/octet-stream"}
    first = api.client.put(url, params={"chunkTotal": 2, "chunkIndex": 1}, content=DATA[:100], headers=octets)
    assert first.status_code == 200, first.text
    # No Content-Type at all is a raw body as well.
    second = api.client.put(
        url, params={"chunkTotal": 2, "chunkIndex": 2}, content=DATA[100:], headers=world.headers
    )
    assert second.status_code == 201, second.text
    assert world.content(media_id).content == DATA
    other = world.create(totalBytes=len(DATA))["mediaId"]
    response = api.client.post(world.media_url(other, "/uploads"), content=DATA, headers=octets)
    assert response.status_code == 201, response.text
    assert world.content(other).content == DATA
