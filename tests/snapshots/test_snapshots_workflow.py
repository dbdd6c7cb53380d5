"""The workflow through HTTP: request, acquire, approve or discard, upload, read; on both blob stores."""

from __future__ import annotations

import pytest
from snapshots_support import JPEG, PNG, PREFIX, World, assert_error, blob_count

from conftest import Api


def test_request_answers_a_snapshot_id_and_shows_a_snapshot_waiting_for_its_image(api: Api) -> None:
    world = World.build(api)
    snapshot_id = world.request()
    snapshot = world.snapshot(snapshot_id)
    assert snapshot == {
        "applicationId": {"id": world.application.id},
        "approvalProcessingResult": None,
        "approved": None,
        "createdAt": snapshot["createdAt"],
        "id": snapshot_id,
        "interactionId": world.interaction,
        "mimeType": None,
        "organizationId": str(world.realm.id),
        "path": None,
        "relatedSnapshotId": None,
        "requestProcessingResult": {"error": None, "snapshotAcquired": False},
        "requesterUserEndpointId": world.requester.endpoint,
        "requesterUserId": world.requester.id,
        "sessionId": "conf-1",
        "sessionType": "CALL",
        "state": None,
        "suffix": None,
        "timestamp": snapshot["timestamp"],
        "type": "id-card",
        "userEndpointId": world.target.endpoint,
        "userId": world.target.id,
        "version": 0,
    }
    assert snapshot["createdAt"].endswith("Z")


def test_acquire_stores_the_image_and_approve_keeps_it(api: Api, blob_backend: str) -> None:
    world = World.build(api)
    snapshot_id = world.request()
    world.acquire(snapshot_id)
    acquired = world.snapshot(snapshot_id, world.target)
    assert acquired["state"] == "UPLOADED"
    assert acquired["requestProcessingResult"] == {"error": None, "snapshotAcquired": True}
    assert acquired["mimeType"] == "image/png"
    assert acquired["suffix"] == "png"
    assert acquired["path"] == f"interactions/{world.interaction}/{snapshot_id}.png"
    assert acquired["version"] == 1
    assert blob_count(api) == 1

    response = world.decide("approve", snapshot_id, snapshotType="passport")
    assert response.status_code == 204, response.text
    approved = world.snapshot(snapshot_id)
    assert approved["state"] == "APPROVED"
    assert approved["approved"] is True
    assert approved["approvalProcessingResult"] == {"additionalInformation": None, "succeeded": True}
    assert approved["type"] == "passport"
    assert approved["version"] == 2
    assert blob_count(api) == 1


def test_discard_deletes_the_image_from_storage(api: Api, blob_backend: str) -> None:
    world = World.build(api)
    snapshot_id = world.acquired()
    assert blob_count(api) == 1
    response = world.decide("discard", snapshot_id)
    assert response.status_code == 204, response.text
    discarded = world.snapshot(snapshot_id)
    assert discarded["state"] == "DISCARDED"
    assert discarded["approved"] is False
    assert discarded["path"] is None
    assert blob_count(api) == 0


def test_upload_stores_a_snapshot_without_a_request(api: Api, blob_backend: str) -> None:
    world = World.build(api)
    original = world.acquired()
    response = world.upload_response(relatedSnapshotId=original)
    assert response.status_code == 200, response.text
    snapshot_id = response.json()["snapshotId"]
    copy = world.snapshot(snapshot_id, world.target)
    assert copy["state"] == "UPLOADED"
    assert copy["relatedSnapshotId"] == original
    assert copy["requesterUserId"] == world.requester.id
    assert copy["userId"] == world.target.id
    assert copy["mimeType"] == "image/jpeg"
    assert copy["suffix"] == "jpg"
    assert copy["type"] == "annotated"
    assert copy["requestProcessingResult"] is None
    assert blob_count(api) == 2
    assert world.decide("approve", snapshot_id).status_code == 204


def test_the_interaction_lists_its_snapshots_oldest_first(api: Api) -> None:
    world = World.build(api)
    first = world.request()
    second = world.acquired()
    elsewhere = world.request(interactionId="another-interaction")
    response = world.get("", world.target, params={"interactionId": world.interaction})
    assert response.status_code == 200, response.text
    assert [snapshot["id"] for snapshot in response.json()] == [first, second]
    other = world.get("", world.requester, params={"interactionId": "another-interaction"}).json()
    assert [snapshot["id"] for snapshot in other] == [elsewhere]
    # The spec's URL has no trailing slash; it is served without a redirect.
    assert (
        api.client.get(
            f"{PREFIX}/", params={"interactionId": world.interaction}, headers=world.target.headers
        ).json()
        == response.json()
    )


def test_listing_needs_an_interaction_id(api: Api) -> None:
    world = World.build(api)
    assert_error(world.get("", world.requester), 400, "interactionId")


def test_a_jpeg_can_be_acquired_with_a_dotted_suffix(api: Api) -> None:
    world = World.build(api)
    snapshot_id = world.request()
    response = world.acquire_response(
        snapshot_id, image=JPEG, snapshotMimeType="IMAGE/JPEG", snapshotSuffix=".JPG"
    )
    assert response.status_code == 204, response.text
    snapshot = world.snapshot(snapshot_id)
    assert (snapshot["mimeType"], snapshot["suffix"]) == ("image/jpeg", "jpg")


@pytest.mark.parametrize("field_order", ["image first", "image last"])
def test_the_image_may_come_before_or_after_the_fields(api: Api, field_order: str) -> None:
    world = World.build(api)
    snapshot_id = world.request()
    fields = list(world.acquire_fields(snapshot_id).items())
    image = ("image", ("snap.png", PNG, "image/png"))
    parts = [image, *[(k, (None, v)) for k, v in fields]]
    if field_order == "image last":
        parts = parts[1:] + parts[:1]
    response = api.client.post(f"{PREFIX}/acquire", files=parts, headers=world.target.headers)
    assert response.status_code == 204, response.text
    assert world.snapshot(snapshot_id)["state"] == "UPLOADED"
