"""Signed URLs: the built-in HMAC ones (no token needed; tampered or expired is a 403) and S3's own."""

from __future__ import annotations

import datetime as dt
import stat
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from snapshots_support import PNG, PREFIX, World, assert_error

from conftest import Api
from fieldhub.snapshots.signing import UrlSigner

REFERER = {"Referer": "https://agent.example.com/call/1"}


def signed_url(
    world: World, snapshot_id: str, *, internal: bool = True, caller: Any = None
) -> httpx.Response:
    body = {"snapshotId": snapshot_id, "createInternalSignedUrl": internal}
    return world.post("/signedUrl", caller or world.requester, body, headers=REFERER)


def internal_url(world: World, snapshot_id: str) -> str:
    response = signed_url(world, snapshot_id)
    assert response.status_code == 200, response.text
    return str(response.json()["url"])


def path_of(url: str) -> str:
    """The URL relative to the test client's base (the same server)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_an_internal_signed_url_serves_the_image_without_a_token(api: Api, blob_backend: str) -> None:
    world = World.build(api)
    snapshot_id = world.acquired()
    before = dt.datetime.now(dt.UTC)
    response = signed_url(world, snapshot_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"url", "validUntil"}
    valid_until = dt.datetime.fromisoformat(body["validUntil"])
    assert before + dt.timedelta(seconds=290) <= valid_until <= before + dt.timedelta(seconds=301)
    parts = urlsplit(body["url"])
    assert parts.path == f"{PREFIX}/signed/{snapshot_id}/{int(valid_until.timestamp())}"
    assert set(parse_qs(parts.query)) == {"signature"}
    image = api.client.get(path_of(body["url"]))
    assert image.status_code == 200
    assert image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"


def test_the_target_may_sign_too_but_other_users_may_not(api: Api) -> None:
    world = World.build(api)
    snapshot_id = world.acquired()
    assert signed_url(world, snapshot_id, caller=world.target).status_code == 200
    assert_error(signed_url(world, snapshot_id, caller=world.party()), 403, "no part")


def test_without_internal_the_url_is_presigned_by_s3_or_internal_for_files(
    api: Api, blob_backend: str
) -> None:
    world = World.build(api)
    snapshot_id = world.acquired()
    response = signed_url(world, snapshot_id, internal=False)
    assert response.status_code == 200, response.text
    url = response.json()["url"]
    if blob_backend == "s3":
        assert "X-Amz-Signature" in url
        downloaded = httpx.get(url)
        assert downloaded.status_code == 200
        assert downloaded.content == PNG
        assert downloaded.headers["content-type"] == "image/png"
    else:
        assert urlsplit(url).path.startswith(f"{PREFIX}/signed/{snapshot_id}/")
        assert api.client.get(path_of(url)).content == PNG


def _tamper(url: str, part: str, other_id: str) -> str:
    parts = urlsplit(url)
    _, _, _, _, snapshot_id, expiration = parts.path.split("/")
    signature = parse_qs(parts.query)["signature"][0]
    if part == "id":
        snapshot_id = other_id
    elif part == "expiration":
        expiration = str(int(expiration) + 3600)
    elif part == "expiration-text":
        expiration = f"{expiration}.0"
    elif part == "signature":
        signature = ("0" if signature[0] != "0" else "1") + signature[1:]
    elif part == "signature-other-snapshot":
        signature = "f" * 64
    return f"{PREFIX}/signed/{snapshot_id}/{expiration}?signature={signature}"


@pytest.mark.parametrize(
    "part", ["id", "expiration", "expiration-text", "signature", "signature-other-snapshot"]
)
def test_a_tampered_url_is_a_403(api: Api, part: str) -> None:
    world = World.build(api)
    snapshot_id, other_id = world.acquired(), world.acquired()
    url = internal_url(world, snapshot_id)
    response = api.client.get(_tamper(url, part, other_id))
    assert_error(response, 403, "Invalid signature")
    assert api.client.get(path_of(url)).status_code == 200


def test_an_expired_url_is_a_403(api: Api) -> None:
    world = World.build(api)
    snapshot_id = world.acquired()
    signer = UrlSigner.load_or_create(api.runtime.settings.data_dir)
    expiration = str(int(dt.datetime.now(dt.UTC).timestamp()) - 1)
    signature = signer.signature(snapshot_id, expiration)
    response = api.client.get(f"{PREFIX}/signed/{snapshot_id}/{expiration}?signature={signature}")
    assert_error(response, 403, "expired")


def test_a_url_without_a_signature_is_a_400(api: Api) -> None:
    world = World.build(api)
    snapshot_id = world.acquired()
    url = internal_url(world, snapshot_id)
    assert_error(api.client.get(urlsplit(url).path), 400, "signature")


def test_signing_needs_the_referer_header(api: Api) -> None:
    world = World.build(api)
    snapshot_id = world.acquired()
    body = {"snapshotId": snapshot_id, "createInternalSignedUrl": True}
    assert_error(world.post("/signedUrl", world.requester, body), 400, "Referer: header is required")
    assert_error(world.post("/signedUrl", world.requester, body, headers={"Referer": ""}), 400, "Referer")


def test_a_snapshot_without_an_image_cannot_be_signed(api: Api) -> None:
    world = World.build(api)
    snapshot_id = world.request()
    assert_error(signed_url(world, snapshot_id), 409, "no image")


def test_a_discarded_snapshots_url_no_longer_serves_it(api: Api, blob_backend: str) -> None:
    world = World.build(api)
    snapshot_id = world.acquired()
    url = internal_url(world, snapshot_id)
    assert world.decide("discard", snapshot_id).status_code == 204
    assert_error(api.client.get(path_of(url)), 404, "no image")
    assert_error(signed_url(world, snapshot_id), 409, "no image")


def test_the_secret_is_kept_private_in_the_data_dir(api: Api) -> None:
    path = api.runtime.settings.data_dir / "keys" / "snapshot-url-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
