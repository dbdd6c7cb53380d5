"""Every bad input named in the issue: a clear 4xx in the spec's error body, and nothing changed."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from PIL import Image
from snapshots_support import JPEG, PNG, PREFIX, World, assert_error, blob_count

from conftest import Api
from fieldhub.core.config import Settings


class Unchanged:
    """Snapshots, blobs and events as they were before a refused request."""

    def __init__(self, world: World, *snapshot_ids: str) -> None:
        self.world = world
        self.ids = snapshot_ids
        self.before = self._state()

    def _state(self) -> tuple[Any, ...]:
        api = self.world.api
        snapshots = [self.world.snapshot(snapshot_id) for snapshot_id in self.ids]
        return (snapshots, api.count("snapshots"), blob_count(api), api.count("outbox_events"))

    def check(self) -> None:
        assert self._state() == self.before


def test_an_unknown_snapshot_id_is_a_404_everywhere(api: Api) -> None:
    world = World.build(api)
    unknown = str(uuid.uuid4())
    unchanged = Unchanged(world)
    assert_error(world.get(f"/{unknown}", world.requester), 404, "Snapshot not found")
    assert_error(world.get("/not-a-uuid", world.requester), 404, "Snapshot not found")
    assert_error(world.acquire_response(unknown), 404, "Snapshot not found")
    assert_error(world.decide("approve", unknown), 404, "Snapshot not found")
    assert_error(world.decide("discard", unknown), 404, "Snapshot not found")
    signed = world.post(
        "/signedUrl", world.requester, {"snapshotId": unknown}, headers={"Referer": "https://a.example/"}
    )
    assert_error(signed, 404, "Snapshot not found")
    unchanged.check()


def test_a_malformed_snapshot_id_in_a_body_is_a_400(api: Api) -> None:
    world = World.build(api)
    assert_error(world.post("/approve", world.requester, {"snapshotId": "nope"}), 400, "snapshotId")
    assert_error(world.acquire_response("nope"), 400, "snapshotId")


def test_acquire_by_an_endpoint_that_is_not_the_target_is_a_403(api: Api) -> None:
    world = World.build(api)
    snapshot_id = world.request()
    unchanged = Unchanged(world, snapshot_id)
    # The target user, but from another of their endpoints.
    assert_error(world.acquire_response(snapshot_id, userEndpointId="other-tab"), 403, "target endpoint")
    # The requester naming the target's endpoint.
    assert_error(world.acquire_response(snapshot_id, caller=world.requester), 403, "target endpoint")
    # A user of the realm who takes no part.
    assert_error(world.acquire_response(snapshot_id, caller=world.party()), 403, "no part")
    unchanged.check()


def test_acquire_with_the_snapshot_id_of_another_interaction_is_a_403(api: Api) -> None:
    world = World.build(api)
    mine = world.request(targetUserEndpointId="customer-tab-a")
    theirs = world.request(interactionId="other-interaction", targetUserEndpointId="customer-tab-b")
    unchanged = Unchanged(world, mine, theirs)
    response = world.acquire_response(theirs, userEndpointId="customer-tab-a")
    assert_error(response, 403, "target endpoint")
    unchanged.check()


@pytest.mark.parametrize(
    "missing", ["snapshotId", "snapshotMimeType", "snapshotSuffix", "snapshotType", "userEndpointId"]
)
def test_acquire_without_a_field_is_a_400_naming_it(api: Api, missing: str) -> None:
    world = World.build(api)
    snapshot_id = world.request()
    unchanged = Unchanged(world, snapshot_id)
    assert_error(world.acquire_response(snapshot_id, **{missing: None}), 400, f"{missing}: is required")
    unchanged.check()


def test_acquire_without_the_image_is_a_400(api: Api) -> None:
    world = World.build(api)
    snapshot_id = world.request()
    unchanged = Unchanged(world, snapshot_id)
    assert_error(world.acquire_response(snapshot_id, image=None), 400, "image")
    unchanged.check()


def test_acquire_that_is_not_multipart_is_a_400(api: Api) -> None:
    world = World.build(api)
    snapshot_id = world.request()
    unchanged = Unchanged(world, snapshot_id)
    response = world.post("/acquire", world.target, world.acquire_fields(snapshot_id))
    assert_error(response, 400, "multipart/form-data")
    unchanged.check()


@pytest.mark.parametrize(
    "missing",
    [
        "applicationId",
        "interactionId",
        "snapshotMimeType",
        "snapshotSuffix",
        "snapshotType",
        "targetUserEndpointId",
        "targetUserId",
        "userEndpointId",
    ],
)
def test_upload_without_a_field_is_a_400_naming_it(api: Api, missing: str) -> None:
    world = World.build(api)
    unchanged = Unchanged(world)
    assert_error(world.upload_response(**{missing: None}), 400, f"{missing}: is required")
    unchanged.check()


def test_an_empty_image_is_a_400(api: Api, blob_backend: str) -> None:
    world = World.build(api)
    snapshot_id = world.request()
    unchanged = Unchanged(world, snapshot_id)
    assert_error(world.acquire_response(snapshot_id, image=b""), 400, "image: is empty")
    assert_error(world.upload_response(image=b""), 400, "image: is empty")
    unchanged.check()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Small enough to exceed cheaply; every test in this module gets it.
    return settings.model_copy(update={"snapshot_max_bytes": 64 * 1024})


def test_an_oversized_image_is_a_413(api: Api, blob_backend: str) -> None:
    world = World.build(api)
    snapshot_id = world.request()
    unchanged = Unchanged(world, snapshot_id)
    big = PNG + b"\0" * (64 * 1024)
    assert_error(world.acquire_response(snapshot_id, image=big), 413, "larger than 65536 bytes")
    assert_error(world.upload_response(image=big), 413, "larger than 65536 bytes")
    unchanged.check()


@pytest.mark.parametrize(
    ("image", "mime_type", "message"),
    [
        (b"this is not an image at all", "image/png", "not a valid image/png image"),
        (JPEG, "image/png", "not a valid image/png image"),
        (PNG, "image/jpeg", "not a valid image/jpeg image"),
        (PNG[:40], "image/png", "not a valid image/png image"),
        (b"GIF89a" + b"\0" * 32, "image/gif", "image/gif is not accepted"),
        (PNG, "text/html", "text/html is not accepted"),
    ],
    ids=["text", "jpeg-as-png", "png-as-jpeg", "truncated-png", "gif-not-allowed", "html"],
)
def test_an_image_that_is_not_what_it_claims_is_a_400(
    api: Api, blob_backend: str, image: bytes, mime_type: str, message: str
) -> None:
    world = World.build(api)
    snapshot_id = world.request()
    unchanged = Unchanged(world, snapshot_id)
    assert_error(world.acquire_response(snapshot_id, image=image, snapshotMimeType=mime_type), 400, message)
    assert_error(world.upload_response(image=image, snapshotMimeType=mime_type), 400, message)
    unchanged.check()


# Pillow warns on opening such a file (before the server refuses it); the warning is expected here.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [10_000, 14_000], ids=["over-the-limit", "over-twice-the-limit"])
def test_a_decompression_bomb_is_a_400(api: Api, side: int) -> None:
    world = World.build(api)
    snapshot_id = world.request()
    buffer = io.BytesIO()
    # 1-bit pixels compress to almost nothing: a tiny file that claims 100 (or 196) million pixels.
    Image.new("1", (side, side)).save(buffer, format="PNG")
    bomb = buffer.getvalue()
    assert len(bomb) < 64 * 1024
    unchanged = Unchanged(world, snapshot_id)
    assert_error(world.acquire_response(snapshot_id, image=bomb), 400, "image: more than")
    unchanged.check()


@pytest.mark.parametrize("suffix", ["", "p/ng", "../png", "averyverylongsuffix"])
def test_a_bad_suffix_is_a_400(api: Api, suffix: str) -> None:
    world = World.build(api)
    snapshot_id = world.request()
    assert_error(world.acquire_response(snapshot_id, snapshotSuffix=suffix), 400, "snapshotSuffix")


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("interactionId", None, 400),
        ("targetUserId", None, 400),
        ("targetUserEndpointId", None, 400),
        ("userEndpointId", None, 400),
        ("targetUserId", "not-a-uuid", 400),
        ("targetUserEndpointId", "a/b", 400),
        ("userEndpointId", "ep#1", 400),
        ("interactionId", "has space", 400),
        ("sessionType", "MEETING", 400),
    ],
)
def test_a_bad_request_body_is_a_400_naming_the_field(api: Api, field: str, value: Any, status: int) -> None:
    world = World.build(api)
    unchanged = Unchanged(world)
    body = world.request_body(**{field: value})
    if value is None:
        body.pop(field, None)
    assert_error(world.post("/request", world.requester, body), status, field)
    unchanged.check()


def test_a_target_or_application_of_no_one_in_the_realm_is_a_400(api: Api) -> None:
    world = World.build(api)
    stranger = api.user(api.realm())
    unchanged = Unchanged(world)
    response = world.post("/request", world.requester, world.request_body(targetUserId=str(stranger.id)))
    assert_error(response, 400, "targetUserId: no such user")
    response = world.post("/request", world.requester, world.request_body(applicationId={"id": "f" * 24}))
    assert_error(response, 400, "applicationId: no such application")
    assert_error(world.upload_response(targetUserId=str(uuid.uuid4())), 400, "targetUserId: no such user")
    unchanged.check()


def test_a_related_snapshot_of_another_interaction_is_a_400(api: Api) -> None:
    world = World.build(api)
    other = world.request(interactionId="elsewhere")
    unchanged = Unchanged(world, other)
    assert_error(world.upload_response(relatedSnapshotId=other), 400, "relatedSnapshotId")
    assert_error(world.upload_response(relatedSnapshotId=str(uuid.uuid4())), 404, "Snapshot not found")
    unchanged.check()


def test_a_body_that_is_not_json_is_a_400(api: Api) -> None:
    world = World.build(api)
    response = api.client.post(
        f"{PREFIX}/request",
        content=b"{not json",
        headers={**world.requester.headers, "Content-Type": "application/json"},
    )
    assert_error(response, 400, "not valid JSON")
