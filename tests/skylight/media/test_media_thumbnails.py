"""Thumbnails: made in the background once content is complete; bad or hostile content records
an error on the media (and a 422 on the route), never a 500."""

from __future__ import annotations

import io

import pytest
from media_support import (
    MediaWorld,
    assert_error,
    mp4_bytes,
    png_bytes,
    png_header_only,
    zip_bomb_bytes,
)
from PIL import Image

from conftest import Api


def _thumbnail(world: MediaWorld, media_id: str, kind: str) -> Image.Image:
    response = world.api.client.get(
        world.media_url(media_id, "/thumbnail"), params={"type": kind}, headers=world.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == ("image/jpeg" if kind == "image" else "image/gif")
    assert response.headers["content-disposition"].startswith("attachment;")
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def test_image_thumbnails(api: Api, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    media = world.uploaded(png_bytes(800, 600), contentType="image/png", filename="big.png")
    assert media["thumbnailStatus"] in {"pending", "ready"}
    assert world.wait_for_thumbnails(media["mediaId"])["thumbnailStatus"] == "ready"
    still = _thumbnail(world, media["mediaId"], "image")
    assert still.format == "JPEG"
    assert still.size == (320, 240)
    preview = _thumbnail(world, media["mediaId"], "preview")
    assert preview.format == "GIF"


def test_video_thumbnails_and_an_animated_preview(api: Api, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    media = world.uploaded(mp4_bytes(), contentType="video/mp4", filename="clip.mp4")
    settled = world.wait_for_thumbnails(media["mediaId"])
    assert settled["thumbnailStatus"] == "ready", settled["thumbnailError"]
    assert _thumbnail(world, media["mediaId"], "image").size == (64, 48)
    preview = _thumbnail(world, media["mediaId"], "preview")
    assert preview.n_frames > 1


@pytest.mark.parametrize(
    ("data", "content_type", "message"),
    [
        (b"this is not a jpeg at all", "image/jpeg", "not a picture"),
        # Over Pillow's own bomb limit, and over ours only (which is checked before decoding).
        (png_header_only(60_000, 60_000), "image/png", "decompression bomb"),
        (png_header_only(10_000, 5_000), "image/png", "decompression bomb"),
        (zip_bomb_bytes(), "image/png", "not a picture"),
        (png_bytes()[:60], "image/png", "damaged"),
        (b"\x00" * 500, "video/mp4", "not a video"),
    ],
)
def test_undecodable_or_hostile_content_records_an_error(
    api: Api, data: bytes, content_type: str, message: str
) -> None:
    world = MediaWorld.build(api)
    media = world.uploaded(data, contentType=content_type)
    settled = world.wait_for_thumbnails(media["mediaId"])
    assert settled["thumbnailStatus"] == "failed"
    assert message in settled["thumbnailError"]
    response = api.client.get(world.media_url(media["mediaId"], "/thumbnail"), headers=world.headers)
    assert_error(response, 422, "No thumbnail could be made", message)
    # The content itself is still there, byte for byte.
    assert world.content(media["mediaId"]).content == data


def test_no_thumbnails_for_other_types_or_incomplete_media(api: Api) -> None:
    world = MediaWorld.build(api)
    for content_type in ("application/zip", "image/svg+xml"):
        media = world.uploaded(zip_bomb_bytes(), contentType=content_type)
        response = api.client.get(world.media_url(media["mediaId"], "/thumbnail"), headers=world.headers)
        assert_error(response, 404, f"No thumbnails are made for content type {content_type}")
        assert world.get(media["mediaId"])["thumbnailStatus"] == "none"
    incomplete = world.create(contentType="image/png")
    response = api.client.get(world.media_url(incomplete["mediaId"], "/thumbnail"), headers=world.headers)
    assert_error(response, 409, "not uploaded yet")
    response = api.client.get(
        world.media_url(incomplete["mediaId"], "/thumbnail"), params={"type": "gif"}, headers=world.headers
    )
    assert_error(response, 400, "type")
