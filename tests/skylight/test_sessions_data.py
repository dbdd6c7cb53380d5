"""``GET/PATCH .../sessions/{sessionId}/data``: merge semantics, key rules, eventId, closed sessions."""

from __future__ import annotations

import time
import uuid

from sessions_support import NO_SUCH_ID, World, assert_error, parse_time

from conftest import Api


def test_new_session_has_empty_data(api: Api) -> None:
    world = World.build(api)
    created = world.create()
    response = api.client.get(world.url(created["sessionId"], "/data"), headers=world.headers)
    assert response.status_code == 200
    assert response.json() == {}


def test_patch_data_returns_a_new_event_id_each_time(api: Api) -> None:
    world = World.build(api)
    sid = world.create()["sessionId"]
    ids = set()
    for index in range(3):
        response = api.client.patch(
            world.url(sid, "/data"), json={"data": {"step": index}, "version": 1}, headers=world.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"eventId"}
        ids.add(str(uuid.UUID(body["eventId"])))
    assert len(ids) == 3


def test_patch_data_merges_replaces_and_removes(api: Api) -> None:
    world = World.build(api)
    sid = world.create()["sessionId"]
    url = world.url(sid, "/data")
    first = {
        "step": 1,
        "notes": "start",
        "checklist": {"valve": True, "seal": False},
        "readings": [1.5, 2, "x"],
        "empty": {},
    }
    assert api.client.patch(url, json={"data": first, "version": 1}, headers=world.headers).status_code == 200
    assert world.data(sid) == first
    second = {"step": 2, "notes": None, "checklist": {"valve": True}, "new-key_2": "added"}
    assert (
        api.client.patch(url, json={"data": second, "version": 2}, headers=world.headers).status_code == 200
    )
    # Given keys replace (objects too, not deep-merged), null removes, the rest is kept.
    assert world.data(sid) == {
        "step": 2,
        "checklist": {"valve": True},
        "readings": [1.5, 2, "x"],
        "empty": {},
        "new-key_2": "added",
    }
    # Removing a key that is not there is fine; an empty patch changes nothing.
    for data in ({"ghost": None}, {}):
        assert (
            api.client.patch(url, json={"data": data, "version": 1}, headers=world.headers).status_code == 200
        )
    assert world.data(sid)["step"] == 2
    assert "ghost" not in world.data(sid)


def test_patch_data_is_recorded_as_a_change_of_the_session(api: Api) -> None:
    world = World.build(api)
    manager, manager_headers = world.member("manager")
    created = world.create()
    time.sleep(0.005)
    response = api.client.patch(
        world.url(created["sessionId"], "/data"),
        json={"data": {"a": 1}, "version": 1},
        headers=manager_headers,
    )
    assert response.status_code == 200
    session = world.get(created["sessionId"])
    assert session["modifiedBy"] == str(manager.id)
    assert parse_time(session["modifiedAt"]) > parse_time(created["modifiedAt"])
    assert "data" not in session  # data lives behind its own route


def test_data_keys_are_checked(api: Api) -> None:
    world = World.build(api)
    sid = world.create()["sessionId"]
    world.api.client.patch(
        world.url(sid, "/data"), json={"data": {"kept": 1}, "version": 1}, headers=world.headers
    )
    good = {"a": 1, "A-Z_09": 2, "x" * 64: 3, "-": 4, "_": 5}
    response = api.client.patch(
        world.url(sid, "/data"), json={"data": good, "version": 1}, headers=world.headers
    )
    assert response.status_code == 200, response.text
    before = world.data(sid)
    for bad_key in ("x" * 65, "", "has space", "dot.key", "slash/key", "ümlaut", "key\n", "a$", "emoji😀"):
        response = api.client.patch(
            world.url(sid, "/data"),
            json={"data": {"fine": 1, bad_key: 1}, "version": 1},
            headers=world.headers,
        )
        message = assert_error(response, 400, "data")
        assert repr(bad_key)[:40] in message or bad_key == "", message
    assert world.data(sid) == before


def test_data_values_must_round_trip(api: Api) -> None:
    world = World.build(api)
    sid = world.create()["sessionId"]
    before = world.data(sid)
    deep: dict[str, object] = {}
    node = deep
    for _ in range(70):
        node["d"] = {}
        node = node["d"]  # type: ignore[assignment]
    for data in (
        {"big": 2**63},
        {"huge": 1e300},
        {"nested": {"big": -(2**63) - 1}},
        {"text": "nul\u0000byte"},
        {"nested": {"bad\u0000key": 1}},
        {"deep": deep},
    ):
        response = api.client.patch(
            world.url(sid, "/data"), json={"data": data, "version": 1}, headers=world.headers
        )
        assert_error(response, 400, "data")
    for raw in (b'{"data": {"x": NaN}, "version": 1}', b'{"data": {"x": [Infinity]}, "version": 1}'):
        response = api.client.patch(
            world.url(sid, "/data"),
            content=raw,
            headers={**world.headers, "content-type": "application/json"},
        )
        assert response.status_code == 400, response.text
    assert world.data(sid) == before
    fine = {
        "max": 2**63 - 1,
        "min": -(2**63),
        "unicode": "Grüße ✓",
        "float": -1.5e18,
        "small": 1e-300,
        "null_in_list": [None],
    }
    response = api.client.patch(
        world.url(sid, "/data"), json={"data": fine, "version": 1}, headers=world.headers
    )
    assert response.status_code == 200, response.text
    assert world.data(sid) == fine


def test_data_patch_needs_a_valid_version_and_an_object(api: Api) -> None:
    world = World.build(api)
    sid = world.create()["sessionId"]
    url = world.url(sid, "/data")
    cases = [
        ({"data": {"a": 1}}, "version"),
        ({"data": {"a": 1}, "version": 0}, "version"),
        ({"data": {"a": 1}, "version": -3}, "version"),
        ({"data": {"a": 1}, "version": "1"}, "version"),
        ({"data": {"a": 1}, "version": 1.0}, "version"),
        ({"data": {"a": 1}, "version": True}, "version"),
        ({"data": {"a": 1}, "version": 2**31}, "version"),
        ({"version": 1}, "data"),
        ({"data": None, "version": 1}, "data"),
        ({"data": [1, 2], "version": 1}, "data"),
        ({"data": "text", "version": 1}, "data"),
    ]
    for body, field in cases:
        response = api.client.patch(url, json=body, headers=world.headers)
        assert_error(response, 400, field)
    assert world.data(sid) == {}


def test_closed_session_data_is_readable_but_not_patchable(api: Api) -> None:
    world = World.build(api)
    sid = world.create()["sessionId"]
    api.client.patch(world.url(sid, "/data"), json={"data": {"a": 1}, "version": 1}, headers=world.headers)
    world.patch(sid, status="closed")
    response = api.client.patch(
        world.url(sid, "/data"), json={"data": {"a": 2}, "version": 1}, headers=world.headers
    )
    assert_error(response, 409, "Session is closed")
    assert world.data(sid) == {"a": 1}


def test_data_of_an_unknown_session_is_404(api: Api) -> None:
    world = World.build(api)
    url = world.url(NO_SUCH_ID, "/data")
    assert_error(api.client.get(url, headers=world.headers), 404, "Session not found")
    response = api.client.patch(url, json={"data": {"a": 1}, "version": 1}, headers=world.headers)
    assert_error(response, 404, "Session not found")
