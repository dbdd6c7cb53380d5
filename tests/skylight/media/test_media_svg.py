"""SVG annotations are untrusted: markup that could run script or load anything is refused (400),
so no stored annotation can execute when a client renders it."""

from __future__ import annotations

import pytest
from media_support import MediaWorld, assert_error

from conftest import Api

ANNOTATION = "e78fa929-627a-459d-bb57-0a96b98cb11f"
SAFE = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><defs><linearGradient id="g"/></defs>'
    '<path d="M0 0 L10 10" stroke="red" fill="url(#g)"/><text x="1" y="5">note</text></svg>'
)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "<script>"),
        ('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "event handler"),
        ('<svg><rect ONCLICK="alert(1)"/></svg>', "event handler"),
        ('<svg><a href="javascript:alert(1)"><text>x</text></a></svg>', "links"),
        (
            '<svg xmlns:x="http://www.w3.org/1999/xlink"><use x:href="http://evil.example/x.svg#a"/></svg>',
            "links",
        ),
        ("<svg><foreignObject><iframe src='x'/></foreignObject></svg>", "<foreignobject>"),
        ('<svg><set attributeName="onclick" to="alert(1)"/></svg>', "<set>"),
        ('<svg><rect style="background:url(javascript:alert(1))"/></svg>', "script"),
        ('<!DOCTYPE svg [<!ENTITY x "y">]><svg>&x;</svg>', "DTD"),
        ('<!DOCTYPE svg SYSTEM "http://evil.example/x.dtd"><svg/>', "DTD"),
        ("<svg><unclosed></svg>", "well-formed"),
    ],
)
def test_hostile_annotations_are_refused(api: Api, path: str, message: str) -> None:
    world = MediaWorld.build(api)
    media = world.create()
    response = api.client.post(
        world.media_url(media["mediaId"], "/annotations"),
        json={"annotationId": ANNOTATION, "path": path},
        headers=world.headers,
    )
    assert_error(response, 400, "path", message)
    assert world.get(media["mediaId"])["annotations"] == []
    response = api.client.post(
        world.url("/media"),
        json={
            "filename": "a",
            "contentType": "a/b",
            "totalBytes": 1,
            "annotations": [{"annotationId": ANNOTATION, "path": path}],
        },
        headers=world.headers,
    )
    assert_error(response, 400, message)
    assert api.count("media") == 1


def test_drawings_and_plain_path_data_are_stored_verbatim(api: Api) -> None:
    world = MediaWorld.build(api)
    media = world.create(annotations=[{"annotationId": ANNOTATION, "path": SAFE}])
    assert media["annotations"] == [{"annotationId": ANNOTATION, "path": SAFE}]
    other = "f78fa929-627a-459d-bb57-0a96b98cb11f"
    response = api.client.post(
        world.media_url(media["mediaId"], "/annotations"),
        json={"annotationId": other, "path": "M 10 10 L 20 20"},
        headers=world.headers,
    )
    assert response.status_code == 201
    assert world.get(media["mediaId"])["annotations"][1] == {"annotationId": other, "path": "M 10 10 L 20 20"}
