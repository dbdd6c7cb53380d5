"""Camera requests (switch, flash on/off): the request, its notification, the response and its own."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from snapshots_support import Inbox, Party, World, assert_error

from conftest import Api


def camera_body(world: World, kind: str = "CAMERA_SWITCH", **overrides: Any) -> dict[str, Any]:
    body = {
        "cameraRequestType": kind,
        "sessionId": "conf-1",
        "sessionType": "CONFERENCE",
        "targetUserEndpointId": world.target.endpoint,
        "targetUserId": world.target.id,
        "userEndpointId": world.requester.endpoint,
    }
    body.update(overrides)
    return body


def respond(world: World, request_id: str, caller: Party | None = None, **overrides: Any) -> Any:
    party = caller or world.target
    body = {
        "snapshotCameraRequestId": request_id,
        "succeeded": True,
        "additionalInformation": "switched to the rear camera",
        "userEndpointId": party.endpoint,
    }
    body.update(overrides)
    return world.post("/cameraRequestRespond", party, body)


@pytest.mark.parametrize("kind", ["CAMERA_SWITCH", "FLASH_ON", "FLASH_OFF"])
def test_a_camera_request_answers_its_id_and_notifies_the_target(api: Api, kind: str) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    response = world.post("/cameraRequest", world.requester, camera_body(world, kind))
    assert response.status_code == 200, response.text
    request_id = response.json()
    assert isinstance(request_id, str)
    assert uuid.UUID(request_id)
    [(where, event)] = inbox.wait_for(1)
    assert where == f"user/{world.target.id}/{world.target.endpoint}"
    assert event["type"] == "SnapshotCameraRequestedEvent"
    assert (event["userId"], event["userEndpointId"]) == (world.requester.id, world.requester.endpoint)
    assert event["cameraRequestType"] == kind
    assert event["snapshotCameraRequestId"] == request_id
    assert (event["targetUserId"], event["targetUserEndpointId"]) == (world.target.id, world.target.endpoint)


def test_the_response_notifies_the_requester_with_the_outcome(api: Api) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    request_id = world.post("/cameraRequest", world.requester, camera_body(world, "FLASH_ON")).json()
    assert respond(world, request_id, succeeded=False, additionalInformation="no flash").status_code == 204
    [(where, event)] = [m for m in inbox.wait_for(2) if m[1]["type"] == "SnapshotCameraRequestProcessedEvent"]
    assert where == f"user/{world.requester.id}/{world.requester.endpoint}"
    assert (event["userId"], event["userEndpointId"]) == (world.target.id, world.target.endpoint)
    assert event["snapshotCameraRequestId"] == request_id
    assert event["cameraRequestType"] == "FLASH_ON"
    assert (event["succeeded"], event["additionalInformation"]) == (False, "no flash")


def test_a_camera_request_is_answered_once_only_by_its_target_endpoint(api: Api) -> None:
    world = World.build(api)
    request_id = world.post("/cameraRequest", world.requester, camera_body(world)).json()
    events = api.count("outbox_events")
    assert_error(respond(world, request_id, world.requester), 403, "target endpoint")
    assert_error(respond(world, request_id, userEndpointId="another-tab"), 403, "target endpoint")
    assert_error(respond(world, request_id, world.party()), 403, "no part")
    assert_error(respond(world, str(uuid.uuid4())), 404, "Camera request not found")
    assert api.count("outbox_events") == events
    assert respond(world, request_id).status_code == 204
    assert_error(respond(world, request_id), 409, "already responded")
    assert api.count("outbox_events") == events + 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cameraRequestType", "ZOOM_IN"),
        ("cameraRequestType", None),
        ("targetUserId", None),
        ("targetUserId", "00000000-0000-4000-8000-000000000000"),
        ("targetUserEndpointId", None),
        ("userEndpointId", "a/b"),
    ],
)
def test_a_bad_camera_request_is_a_400(api: Api, field: str, value: Any) -> None:
    world = World.build(api)
    body = camera_body(world, **{field: value})
    if value is None:
        body.pop(field)
    assert_error(world.post("/cameraRequest", world.requester, body), 400, field)
    assert api.count("snapshot_camera_requests") == 0
    assert api.count("outbox_events") == 0


def test_another_realms_camera_request_does_not_exist(api: Api) -> None:
    world = World.build(api)
    elsewhere = World.build(api)
    request_id = world.post("/cameraRequest", world.requester, camera_body(world)).json()
    assert_error(respond(elsewhere, request_id), 404, "Camera request not found")
