"""Bad metadata is a 400 naming the field, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from media_support import MEDIA_TABLES, MediaWorld, assert_error

from conftest import Api

GOOD = {"filename": "a.jpg", "contentType": "image/jpeg", "totalBytes": 1}
ANNOTATION = "e78fa929-627a-459d-bb57-0a96b98cb11f"


def _counts(api: Api) -> dict[str, int]:
    return {table: api.count(table) for table in MEDIA_TABLES}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"filename": ""}, "body.filename"),
        ({"filename": "x" * 256}, "body.filename"),
        ({"filename": "../../etc/passwd"}, "not a path"),
        ({"filename": "dir\\name.jpg"}, "not a path"),
        ({"filename": ".."}, "body.filename"),
        ({"filename": "bell\x07.jpg"}, "control characters"),
        ({"filename": "nul\x00.jpg"}, "NUL"),
        ({"filename": "rtl\u202egpj.exe"}, "control characters"),
        ({"filename": None}, "body.filename"),
        ({"contentType": ""}, "body.contentType"),
        ({"contentType": "jpeg"}, "MIME type"),
        ({"contentType": "image/" + "x" * 250}, "body.contentType"),
        ({"totalBytes": 0}, "body.totalBytes"),
        ({"totalBytes": -1}, "body.totalBytes"),
        ({"totalBytes": "10"}, "body.totalBytes"),
        ({"totalBytes": 1.5}, "body.totalBytes"),
        ({"title": "t" * 256}, "body.title"),
        ({"description": "d" * 256}, "body.description"),
        ({"labels": [str(i) for i in range(51)]}, "body.labels"),
        ({"labels": ["l" * 129]}, "body.labels[0]"),
        ({"labels": [1]}, "body.labels[0]"),
        ({"properties": {str(i): "v" for i in range(51)}}, "body.properties"),
        ({"properties": {"k": "v" * 257}}, "body.properties.k"),
        ({"properties": {"k": 1}}, "body.properties.k"),
        ({"mediaId": "not-a-uuid"}, "body.mediaId"),
        ({"annotations": [{"annotationId": ANNOTATION.upper(), "path": "M0 0"}]}, "annotationId"),
        (
            {"annotations": [{"annotationId": "e78fa929-627a-659d-bb57-0a96b98cb11f", "path": "M0 0"}]},
            "annotationId",
        ),
        ({"annotations": [{"annotationId": ANNOTATION, "path": "x" * 100_001}]}, "path"),
        ({"annotations": [{"annotationId": ANNOTATION}]}, "path"),
        (
            {"annotations": [{"annotationId": ANNOTATION, "path": "<svg><script>alert(1)</script></svg>"}]},
            "script",
        ),
        (
            {
                "annotations": [
                    {"annotationId": ANNOTATION, "path": "a"},
                    {"annotationId": ANNOTATION, "path": "b"},
                ]
            },
            "distinct",
        ),
    ],
)
def test_bad_create_bodies(api: Api, change: dict[str, Any], message: str) -> None:
    world = MediaWorld.build(api)
    before = _counts(api)
    response = api.client.post(world.url("/media"), json={**GOOD, **change}, headers=world.headers)
    assert_error(response, 400, message)
    assert _counts(api) == before


def test_missing_required_fields(api: Api) -> None:
    world = MediaWorld.build(api)
    for field in ("filename", "contentType", "totalBytes"):
        body = {name: value for name, value in GOOD.items() if name != field}
        response = api.client.post(world.url("/media"), json=body, headers=world.headers)
        assert_error(response, 400, f"body.{field}: is required")
    assert api.count("media") == 0


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"filename": "../x"}, 400, "not a path"),
        ({"filename": None}, 400, "must not be null"),
        ({"labels": ["l" * 129]}, 400, "body.labels[0]"),
        ({"totalBytes": 0}, 400, "body.totalBytes"),
        ({"uploadedBytes": -1}, 400, "body.uploadedBytes"),
        ({"uploadedBytes": 11}, 400, "uploadedBytes: must not exceed totalBytes"),
    ],
)
def test_bad_patch_bodies(api: Api, change: dict[str, Any], status: int, message: str) -> None:
    world = MediaWorld.build(api)
    media = world.create(totalBytes=10)
    response = api.client.patch(world.media_url(media["mediaId"]), json=change, headers=world.headers)
    assert_error(response, status, message)
    assert world.get(media["mediaId"]) == media


def test_total_bytes_of_uploaded_content_cannot_change(api: Api) -> None:
    world = MediaWorld.build(api)
    media = world.uploaded(b"abc")
    response = api.client.patch(
        world.media_url(media["mediaId"]), json={"totalBytes": 4}, headers=world.headers
    )
    assert_error(response, 409, "already uploaded")
    assert world.get(media["mediaId"]) == media


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"archived": "all"}, "archived"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"sort": "size"}, "sort: must be one of filename, createdAt, modifiedAt"),
        ({"createdBy": "nobody"}, "createdBy: must be a comma-separated list of UUIDs"),
        ({"createdFrom": "yesterday"}, "createdFrom: must be an RFC 3339 date-time"),
        ({"nextCursor": "garbage"}, "nextCursor: not a valid cursor"),
    ],
)
def test_bad_list_parameters(api: Api, params: dict[str, Any], message: str) -> None:
    world = MediaWorld.build(api)
    response = api.client.get(world.url("/media"), params=params, headers=world.headers)
    assert_error(response, 400, message)


def test_bad_path_ids(api: Api) -> None:
    world = MediaWorld.build(api)
    assert_error(api.client.get(world.media_url("not-a-uuid"), headers=world.headers), 400, "mediaId")
    response = api.client.delete(
        world.media_url(world.create()["mediaId"], "/annotations/nope"), headers=world.headers
    )
    assert_error(response, 400, "annotationId")
