"""Every transition the state machine forbids is a 409 that changes nothing (docs/snapshots.md)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from snapshots_support import World, assert_error, blob_count

from conftest import Api


def _requested(world: World) -> str:
    return world.request()


def _uploaded(world: World) -> str:
    return world.acquired()


def _approved(world: World) -> str:
    snapshot_id = world.acquired()
    assert world.decide("approve", snapshot_id).status_code == 204
    return snapshot_id


def _discarded(world: World) -> str:
    snapshot_id = world.acquired()
    assert world.decide("discard", snapshot_id).status_code == 204
    return snapshot_id


def _uploaded_without_request(world: World) -> str:
    response = world.upload_response()
    assert response.status_code == 200, response.text
    return str(response.json()["snapshotId"])


STATES: dict[str, Callable[[World], str]] = {
    "requested": _requested,
    "uploaded": _uploaded,
    "approved": _approved,
    "discarded": _discarded,
    "uploaded-by-upload": _uploaded_without_request,
}
FORBIDDEN = [
    ("approve", "requested", "not been acquired"),
    ("discard", "requested", "not been acquired"),
    ("approve", "approved", "state APPROVED"),
    ("discard", "approved", "state APPROVED"),
    ("approve", "discarded", "state DISCARDED"),
    ("discard", "discarded", "state DISCARDED"),
    ("acquire", "uploaded", "already acquired"),
    ("acquire", "approved", "already acquired"),
    ("acquire", "discarded", "already acquired"),
    ("acquire", "uploaded-by-upload", "already acquired"),
]


@pytest.mark.parametrize(("action", "state", "message"), FORBIDDEN)
def test_a_forbidden_transition_is_a_409_and_changes_nothing(
    api: Api, action: str, state: str, message: str
) -> None:
    world = World.build(api)
    snapshot_id = STATES[state](world)
    before = world.snapshot(snapshot_id)
    blobs, events = blob_count(api), api.count("outbox_events")
    if action == "acquire":
        response = world.acquire_response(snapshot_id)
    else:
        response = world.decide(action, snapshot_id)
    assert_error(response, 409, message)
    assert world.snapshot(snapshot_id) == before
    assert (blob_count(api), api.count("outbox_events")) == (blobs, events)


@pytest.mark.parametrize("state", ["uploaded", "uploaded-by-upload"])
@pytest.mark.parametrize("action", ["approve", "discard"])
def test_an_uploaded_snapshot_may_be_approved_or_discarded(api: Api, state: str, action: str) -> None:
    world = World.build(api)
    snapshot_id = STATES[state](world)
    assert world.decide(action, snapshot_id).status_code == 204
    assert world.snapshot(snapshot_id)["state"] == {"approve": "APPROVED", "discard": "DISCARDED"}[action]
