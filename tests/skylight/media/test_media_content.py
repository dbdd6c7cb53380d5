"""GET content: ETag, If-None-Match, single ranges, a safe Content-Disposition; SVG served inert."""

from __future__ import annotations

import hashlib

import pytest
from media_support import MediaWorld, assert_error

from conftest import Api

DATA = bytes(range(256)) * 8  # 2,048 bytes


def test_content_headers(api: Api, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    media = world.uploaded(DATA, filename="report.pdf", contentType="application/pdf")
    response = world.content(media["mediaId"])
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["etag"] == f'"{hashlib.md5(DATA).hexdigest()}"'  # noqa: S324
    assert (
        response.headers["content-disposition"]
        == "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    )
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_if_none_match_answers_304(api: Api, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    media = world.uploaded(DATA)
    etag = world.content(media["mediaId"]).headers["etag"]
    response = world.content(media["mediaId"], **{"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert world.content(media["mediaId"], **{"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=2000-", 2000, 2048),
        ("bytes=-10", 2038, 2048),
        ("bytes=100-99999", 100, 2048),
    ],
)
def test_single_ranges_answer_206(api: Api, blob_backend: str, header: str, start: int, end: int) -> None:
    world = MediaWorld.build(api)
    media = world.uploaded(DATA)
    response = world.content(media["mediaId"], Range=header)
    assert response.status_code == 206
    assert response.content == DATA[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
    assert response.headers["content-length"] == str(end - start)


def test_unsatisfiable_and_ignored_ranges(api: Api) -> None:
    world = MediaWorld.build(api)
    media = world.uploaded(DATA)
    response = world.content(media["mediaId"], Range="bytes=5000-")
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"
    # Several ranges, other units, and a stale If-Range get the whole content.
    for headers in (
        {"Range": "bytes=0-1,5-6"},
        {"Range": "items=0-1"},
        {"Range": "bytes=0-1", "If-Range": '"old"'},
    ):
        response = world.content(media["mediaId"], **headers)
        assert response.status_code == 200
        assert response.content == DATA


def test_incomplete_media_has_no_content(api: Api) -> None:
    world = MediaWorld.build(api)
    media = world.create(totalBytes=5)
    assert_error(world.content(media["mediaId"]), 409, "not uploaded yet")


def test_unicode_filename_is_encoded_per_rfc_6266(api: Api) -> None:
    world = MediaWorld.build(api)
    media = world.uploaded(DATA, filename='Bericht "März" €.txt', contentType="text/plain")
    disposition = world.content(media["mediaId"]).headers["content-disposition"]
    assert disposition == (
        'attachment; filename="Bericht _M_rz_ _.txt"; '
        "filename*=UTF-8''Bericht%20_M%C3%A4rz_%20%E2%82%AC.txt"
    )


def test_svg_content_is_served_as_an_inert_download(api: Api) -> None:
    world = MediaWorld.build(api)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
    media = world.uploaded(svg, filename="x.svg", contentType="image/svg+xml")
    response = world.content(media["mediaId"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert (
        response.headers["content-security-policy"]
        == "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"].startswith("attachment;")
