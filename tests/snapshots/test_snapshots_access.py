"""Who may do what: the two parties, other users of the realm, realm admins, other realms, no token."""

from __future__ import annotations

import pytest
from snapshots_support import PREFIX, World, assert_error

from conftest import Api


def test_both_parties_read_a_snapshot_and_other_users_get_a_403(api: Api) -> None:
    world = World.build(api)
    snapshot_id = world.acquired()
    assert world.snapshot(snapshot_id, world.requester)["id"] == snapshot_id
    assert world.snapshot(snapshot_id, world.target)["id"] == snapshot_id
    assert_error(world.get(f"/{snapshot_id}", world.party()), 403, "no part")


def test_a_realm_admin_reads_and_decides_any_snapshot_of_the_realm(api: Api) -> None:
    world = World.build(api)
    admin = world.party("admin-ep", admin=True)
    snapshot_id = world.acquired()
    assert world.snapshot(snapshot_id, admin)["id"] == snapshot_id
    listed = world.get("", admin, params={"interactionId": world.interaction}).json()
    assert [snapshot["id"] for snapshot in listed] == [snapshot_id]
    assert world.decide("approve", snapshot_id, admin).status_code == 204
    assert world.snapshot(snapshot_id)["state"] == "APPROVED"


def test_the_interaction_list_shows_a_user_only_the_snapshots_they_take_part_in(api: Api) -> None:
    world = World.build(api)
    other_target = world.party("third-ep")
    mine = world.request()
    world.request(targetUserId=other_target.id, targetUserEndpointId=other_target.endpoint)
    listed = world.get("", world.target, params={"interactionId": world.interaction}).json()
    assert [snapshot["id"] for snapshot in listed] == [mine]
    assert world.get("", world.party(), params={"interactionId": world.interaction}).json() == []


@pytest.mark.parametrize("verb", ["approve", "discard"])
def test_only_the_requester_approves_or_discards(api: Api, verb: str) -> None:
    world = World.build(api)
    snapshot_id = world.acquired()
    before = world.snapshot(snapshot_id)
    assert_error(
        world.decide(verb, snapshot_id, world.target), 403, f"Only the snapshot's requester may {verb}"
    )
    assert_error(world.decide(verb, snapshot_id, world.party()), 403, "no part")
    assert world.snapshot(snapshot_id) == before


def test_another_realms_snapshot_does_not_exist(api: Api) -> None:
    world = World.build(api)
    elsewhere = World.build(api)
    snapshot_id = world.acquired()
    before = world.snapshot(snapshot_id)
    admin = elsewhere.party("admin-ep", admin=True)
    assert_error(elsewhere.get(f"/{snapshot_id}", admin), 404, "Snapshot not found")
    assert elsewhere.get("", admin, params={"interactionId": world.interaction}).json() == []
    assert_error(elsewhere.decide("approve", snapshot_id, admin), 404, "Snapshot not found")
    assert_error(elsewhere.decide("discard", snapshot_id, admin), 404, "Snapshot not found")
    assert_error(world.acquire_response(snapshot_id, caller=admin), 404, "Snapshot not found")
    signed = elsewhere.post(
        "/signedUrl", admin, {"snapshotId": snapshot_id}, headers={"Referer": "https://x/"}
    )
    assert_error(signed, 404, "Snapshot not found")
    assert world.snapshot(snapshot_id) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "?interactionId=a"),
        ("GET", "/00000000-0000-0000-0000-000000000000"),
        ("POST", "/request"),
        ("POST", "/acquire"),
        ("POST", "/upload"),
        ("POST", "/approve"),
        ("POST", "/discard"),
        ("POST", "/cameraRequest"),
        ("POST", "/cameraRequestRespond"),
        ("POST", "/signedUrl"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic Zm9vOmJhcg=="])
def test_every_operation_needs_a_valid_token(
    api: Api, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = api.client.request(method, f"{PREFIX}{path}", json={}, headers=headers)
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
