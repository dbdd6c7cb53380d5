"""Notifications: which endpoint's topic each step reaches, and what the payload says (in-memory bus;
tests/snapshots/test_snapshots_e2e_mqtt.py checks the same through a real broker)."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
from snapshots_support import Inbox, Party, World

from conftest import Api


def topic(party: Party) -> str:
    return f"user/{party.id}/{party.endpoint}"


def only(messages: list[tuple[str, dict[str, Any]]], event_type: str) -> list[tuple[str, dict[str, Any]]]:
    return [(t, payload) for t, payload in messages if payload["type"] == event_type]


def assert_base_fields(payload: dict[str, Any], actor: Party) -> None:
    assert uuid.UUID(payload["id"])
    assert payload["userId"] == actor.id
    assert payload["userEndpointId"] == actor.endpoint
    assert payload["timestamp"].endswith("Z")


def test_request_notifies_the_target_endpoint(api: Api) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    snapshot_id = world.request()
    [(where, event)] = inbox.wait_for(1)
    assert where == topic(world.target)
    assert event["type"] == "SnapshotRequestedEvent"
    assert_base_fields(event, world.requester)
    assert event["snapshotId"] == snapshot_id
    assert event["snapshotType"] == "id-card"
    assert event["snapshotLocation"] is None
    assert event["interactionId"] == world.interaction


def test_acquire_notifies_the_requester_with_the_image_location(api: Api) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    snapshot_id = world.acquired()
    [(where, event)] = only(inbox.wait_for(2), "SnapshotAcquiredEvent")
    assert where == topic(world.requester)
    assert_base_fields(event, world.target)
    assert event["snapshotId"] == snapshot_id
    assert event["snapshotLocation"] == f"interactions/{world.interaction}/{snapshot_id}.png"


def test_approve_notifies_both_endpoints_with_the_final_type(api: Api) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    snapshot_id = world.acquired()
    assert world.decide("approve", snapshot_id, snapshotType="passport").status_code == 204
    approved = only(inbox.wait_for(4), "SnapshotApprovedEvent")
    assert sorted(t for t, _ in approved) == sorted([topic(world.requester), topic(world.target)])
    for _, event in approved:
        assert_base_fields(event, world.requester)
        assert (event["snapshotId"], event["snapshotType"]) == (snapshot_id, "passport")
    assert approved[0][1]["id"] == approved[1][1]["id"]


def test_discard_notifies_both_endpoints_and_the_image_is_gone(api: Api) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    snapshot_id = world.acquired()
    assert world.decide("discard", snapshot_id).status_code == 204
    discarded = only(inbox.wait_for(4), "SnapshotDiscardedEvent")
    assert sorted(t for t, _ in discarded) == sorted([topic(world.requester), topic(world.target)])
    assert all(event["snapshotLocation"] is None for _, event in discarded)


def test_an_upload_and_the_reads_notify_no_one(api: Api) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    assert world.upload_response().status_code == 200
    world.get("", world.requester, params={"interactionId": world.interaction})
    assert inbox.quiet() == []


def test_a_refused_step_notifies_no_one(api: Api) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    snapshot_id = world.request()
    inbox.wait_for(1)
    assert world.decide("approve", snapshot_id).status_code == 409
    assert world.acquire_response(snapshot_id, userEndpointId="wrong").status_code == 403
    assert len(inbox.quiet()) == 1


def test_a_users_token_lets_an_external_broker_authorise_their_snapshot_topics(api: Api) -> None:
    """EMQX authorises from the token's ``acl`` claim (docs/emqx.md): it lists this family's filter."""
    world = World.build(api)
    token = world.requester.headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    topics = [rule["topic"] for rule in claims["acl"] if rule["action"] == "subscribe"]
    assert f"user/{world.requester.id}/#" in topics
    assert f"v1/realms/{world.realm.name}/users/{world.requester.id}/session/#" in topics
