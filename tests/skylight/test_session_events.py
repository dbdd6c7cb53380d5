"""Session events: which users' topics each change reaches, and what the payload says.

The app runs with the in-memory bus here (fast, both databases); tests/bus/ check the same events
through the real MQTT brokers.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import orjson
from sessions_support import World, group_ref, user_ref

from conftest import Api
from fieldhub.core.identity.models import User

WAIT_SECONDS = 5.0


class Inbox:
    """Every message the bus delivers on ``v1/#``, as (topic, payload) pairs."""

    def __init__(self, api: Api) -> None:
        self._messages: list[tuple[str, dict[str, Any]]] = []
        self._arrived = threading.Condition()
        api.client.portal.call(api.bus.subscribe, "v1/#", self._receive)  # type: ignore[union-attr]

    async def _receive(self, topic: str, payload: bytes) -> None:
        with self._arrived:
            self._messages.append((topic, orjson.loads(payload)))
            self._arrived.notify_all()

    def wait_for(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self._messages) >= count, WAIT_SECONDS)
            return list(self._messages)

    def quiet(self, seconds: float = 0.3) -> list[tuple[str, dict[str, Any]]]:
        """Everything delivered once nothing more has come for ``seconds``."""
        time.sleep(seconds)
        with self._arrived:
            return list(self._messages)


def topic(world: World, user: User, session_id: str, event_type: str) -> str:
    return f"v1/realms/{world.realm.name}/users/{user.id}/session/{session_id}/{event_type}"


def recipients(messages: list[tuple[str, dict[str, Any]]], event_type: str) -> set[str]:
    return {t.split("/")[4] for t, payload in messages if payload["eventType"] == event_type}


def test_a_data_patch_reaches_every_concerned_user_with_the_returned_event_id(api: Api) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    worker, member, outsider = world.user(), world.user(), world.user()
    crew = api.group(world.realm, "crew", [member])
    sid = world.create(participants=[user_ref(worker), group_ref(crew)])["sessionId"]
    before = len(inbox.wait_for(3))
    response = api.client.patch(
        world.url(sid, "/data"),
        json={"data": {"pressure": 4.2}, "version": 1},
        headers={**world.headers, "deviceid": "glass-7", "devicetimestamp": "2020-12-11T16:53:14.081Z"},
    )
    assert response.status_code == 200
    event_id = response.json()["eventId"]
    messages = inbox.wait_for(before + 3)[before:]
    assert sorted(t for t, _ in messages) == sorted(
        topic(world, user, sid, "SessionDataUpdated") for user in (world.admin, worker, member)
    )
    assert str(outsider.id) not in {t.split("/")[4] for t, _ in messages}
    payload = messages[0][1]
    assert payload["eventId"] == event_id
    assert payload["eventType"] == "SessionDataUpdated"
    assert payload["applicationId"] == world.app.id
    assert payload["sessionId"] == sid
    assert payload["actor"] == str(world.admin.id)
    assert payload["data"] == {"pressure": 4.2}
    assert payload["properties"] == {}
    assert payload["changes"] == {"data": {"pressure": 4.2}, "version": 1}
    assert payload["deviceId"] == "glass-7"
    assert payload["deviceTimestamp"] == "2020-12-11T16:53:14.081Z"
    assert payload["timestamp"].endswith("Z")


def test_patch_publishes_properties_then_session_updated_and_closing_publishes_closed(api: Api) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    sid = world.create()["sessionId"]
    world.patch(sid, properties={"orderId": 7}, description="valve 3")
    world.patch(sid, status="closed")
    types = [p["eventType"] for _, p in inbox.wait_for(4)]
    assert types == ["SessionCreated", "SessionPropertiesUpdated", "SessionUpdated", "SessionClosed"]
    closed = inbox.quiet()[-1][1]
    assert closed["changes"] == {"status": "closed"}
    assert closed["properties"] == {"orderId": 7}


def test_an_added_participant_hears_from_then_on_and_a_removed_one_hears_its_removal_only(
    api: Api,
) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    leaving, joining = world.user(), world.user()
    sid = world.create(participants=[user_ref(leaving)])["sessionId"]
    created = inbox.wait_for(2)
    assert recipients(created, "SessionCreated") == {str(world.admin.id), str(leaving.id)}

    added = api.client.post(world.url(sid, "/participants"), json=user_ref(joining), headers=world.headers)
    assert added.status_code == 204
    removed = api.client.delete(world.url(sid, f"/participants/{leaving.id}"), headers=world.headers)
    assert removed.status_code == 204
    world.patch(sid, name="after the removal")
    messages = inbox.wait_for(2 + 3 + 3 + 2)
    assert recipients(messages, "SessionParticipantAdded") == {
        str(world.admin.id),
        str(leaving.id),
        str(joining.id),
    }
    assert recipients(messages, "SessionParticipantRemoved") == {
        str(world.admin.id),
        str(leaving.id),
        str(joining.id),
    }
    assert recipients(messages, "SessionUpdated") == {str(world.admin.id), str(joining.id)}
    assert [p["eventType"] for t, p in inbox.quiet() if str(leaving.id) in t] == [
        "SessionCreated",
        "SessionParticipantAdded",
        "SessionParticipantRemoved",
    ]


def test_a_rejected_patch_publishes_nothing_and_writes_no_event(api: Api) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    sid = world.create()["sessionId"]
    inbox.wait_for(1)
    events_before = api.count("outbox_events")
    # The name is applied before the participants are found wanting: the whole change rolls back.
    response = api.client.patch(
        world.url(sid),
        json={"name": "never seen", "participants": [{"type": "user", "id": str(uuid.uuid4())}]},
        headers=world.headers,
    )
    assert response.status_code == 400
    world.patch(sid, name="seen")
    messages = inbox.wait_for(2)
    assert [p["eventType"] for _, p in inbox.quiet()] == ["SessionCreated", "SessionUpdated"]
    assert messages[-1][1]["changes"] == {"name": "seen"}
    assert api.count("outbox_events") == events_before + 1


def test_a_patch_that_changes_nothing_is_silent_and_keeps_modified_at(api: Api) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    created = world.create(name="same", participants=[])
    sid = created["sessionId"]
    inbox.wait_for(1)
    events_before = api.count("outbox_events")
    for body in ({}, {"name": "same"}, {"status": "open"}, {"participants": []}):
        patched = world.patch(sid, **body)
        assert patched["modifiedAt"] == created["modifiedAt"]
    assert api.count("outbox_events") == events_before
    assert [p["eventType"] for _, p in inbox.quiet()] == ["SessionCreated"]


def test_participants_dropped_by_a_patch_hear_of_it_and_of_nothing_after(api: Api) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    staying, dropped = world.user(), world.user()
    sid = world.create(participants=[user_ref(staying), user_ref(dropped)])["sessionId"]
    inbox.wait_for(3)
    world.patch(sid, participants=[user_ref(staying)])
    world.patch(sid, name="after the drop")
    messages = inbox.wait_for(3 + 3 + 2)
    assert [p["eventType"] for t, p in inbox.quiet() if str(dropped.id) in t] == [
        "SessionCreated",
        "SessionUpdated",
    ]
    updates = [p for t, p in messages if str(dropped.id) in t and p["eventType"] == "SessionUpdated"]
    assert updates[0]["changes"]["participants"] == [user_ref(staying) | {"isGuest": False}]


def test_a_change_refused_on_a_closed_session_writes_no_event(api: Api) -> None:
    world = World.build(api)
    sid = world.create()["sessionId"]
    world.patch(sid, status="closed")
    events_before = api.count("outbox_events")
    refused = [
        api.client.patch(world.url(sid), json={"name": "x"}, headers=world.headers),
        api.client.patch(
            world.url(sid, "/data"), json={"data": {"a": 1}, "version": 1}, headers=world.headers
        ),
        api.client.post(world.url(sid, "/participants"), json=user_ref(world.user()), headers=world.headers),
    ]
    assert [response.status_code for response in refused] == [409, 409, 409]
    assert api.count("outbox_events") == events_before
