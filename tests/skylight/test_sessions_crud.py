"""Create, get, patch and list sessions: the spec's exact shapes, codes and server-kept fields."""

from __future__ import annotations

import datetime as dt
import time
import uuid

from sessions_support import (
    NO_SUCH_ID,
    SESSION_FIELDS,
    World,
    assert_error,
    group_ref,
    parse_time,
    user_ref,
)

from conftest import Api


def test_create_returns_201_with_the_spec_shape(api: Api) -> None:
    world = World.build(api)
    worker = world.user()
    crew = api.group(world.realm, "crew", [worker])
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    response = api.client.post(
        world.base,
        json={
            "version": 3,
            "name": "Pump inspection",
            "description": "Check the seals",
            "participants": [user_ref(worker, guest=True), group_ref(crew)],
            "status": "open",
            "properties": {"productId": "ABC-123", "orderId": 123456, "urgent": True, "weight": 1.5},
        },
        headers=world.headers,
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == SESSION_FIELDS
    assert uuid.UUID(body["sessionId"]).version == 4
    assert body["applicationId"] == world.app.id
    assert body["version"] == 3
    assert body["name"] == "Pump inspection"
    assert body["description"] == "Check the seals"
    assert body["participants"] == [
        {"id": str(worker.id), "type": "user", "isGuest": True},
        {"id": str(crew.id), "type": "group", "isGuest": False},
    ]
    assert body["status"] == "open"
    assert body["properties"] == {"productId": "ABC-123", "orderId": 123456, "urgent": True, "weight": 1.5}
    assert body["createdBy"] == body["modifiedBy"] == str(world.admin.id)
    assert body["createdAt"] == body["modifiedAt"]
    created = parse_time(body["createdAt"])
    assert before <= created <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert body["isDraft"] is False
    assert world.get(body["sessionId"]) == body


def test_create_applies_the_documented_defaults(api: Api) -> None:
    world = World.build(api)
    body = world.create(version=1, participants=[])
    assert body["name"] == ""
    assert body["description"] == ""
    assert body["status"] == "open"
    assert body["properties"] == {}
    assert body["participants"] == []
    assert world.data(body["sessionId"]) == {}


def test_create_accepts_a_closed_session_and_null_properties(api: Api) -> None:
    world = World.build(api)
    body = world.create(status="closed", properties=None)
    assert body["status"] == "closed"
    assert body["properties"] == {}


def test_server_fields_ignore_what_the_client_sends(api: Api) -> None:
    world = World.build(api)
    forged = str(uuid.uuid4())
    body = world.create(
        sessionId=forged,
        createdBy=forged,
        modifiedBy=forged,
        createdAt="2000-01-01T00:00:00.000Z",
        applicationId="nope",
        isDraft=True,
    )
    assert body["sessionId"] != forged
    assert body["createdBy"] == body["modifiedBy"] == str(world.admin.id)
    assert not body["createdAt"].startswith("2000")
    assert body["applicationId"] == world.app.id
    assert body["isDraft"] is False


def test_get_returns_the_session(api: Api) -> None:
    world = World.build(api)
    created = world.create(name="one", properties={"k": "v"})
    response = api.client.get(world.url(created["sessionId"]), headers=world.headers)
    assert response.status_code == 200
    assert response.json() == created


def test_get_unknown_session_is_404(api: Api) -> None:
    world = World.build(api)
    response = api.client.get(world.url(NO_SUCH_ID), headers=world.headers)
    assert_error(response, 404, "Session not found")


def test_session_of_another_application_is_404(api: Api) -> None:
    world = World.build(api)
    other = api.application(world.realm, "Other")
    created = world.create()
    response = api.client.get(
        f"/v1/application/applications/{other.id}/sessions/{created['sessionId']}", headers=world.headers
    )
    assert_error(response, 404, "Session not found")


def test_unknown_application_is_404(api: Api) -> None:
    world = World.build(api)
    response = api.client.get(
        "/v1/application/applications/5fbd8ebfcee428353b0dc8de/sessions", headers=world.headers
    )
    assert_error(response, 404, "Application not found")


def test_patch_changes_only_the_given_fields(api: Api) -> None:
    world = World.build(api)
    created = world.create(name="before", description="desc", properties={"a": "1", "b": 2})
    patched = world.patch(created["sessionId"], name="after")
    assert patched["name"] == "after"
    assert patched["description"] == "desc"
    assert patched["properties"] == {"a": "1", "b": 2}
    assert patched["version"] == 1
    assert patched["createdAt"] == created["createdAt"]
    assert patched["createdBy"] == created["createdBy"]
    assert world.get(created["sessionId"]) == patched


def test_patch_replaces_properties_participants_version_and_description(api: Api) -> None:
    world = World.build(api)
    first, second = world.user(), world.user()
    created = world.create(participants=[user_ref(first)], properties={"a": "1", "b": "2"})
    patched = world.patch(
        created["sessionId"],
        version=7,
        description="new",
        participants=[user_ref(second, guest=True), user_ref(first)],
        properties={"c": 3},
    )
    assert patched["version"] == 7
    assert patched["description"] == "new"
    assert patched["participants"] == [
        {"id": str(second.id), "type": "user", "isGuest": True},
        {"id": str(first.id), "type": "user", "isGuest": False},
    ]
    assert patched["properties"] == {"c": 3}
    # The properties index follows: the old values no longer match, the new one does.
    assert world.page(**{"prop.a": "1"})["page"]["total"] == 0
    assert [row["sessionId"] for row in world.page(**{"prop.c": "3"})["data"]] == [created["sessionId"]]


def test_patch_properties_null_clears_them(api: Api) -> None:
    world = World.build(api)
    created = world.create(properties={"a": "1"})
    assert world.patch(created["sessionId"], properties=None)["properties"] == {}
    assert world.page(**{"prop.a": "1"})["page"]["total"] == 0


def test_patch_keeps_the_same_participant_with_a_new_guest_flag(api: Api) -> None:
    world = World.build(api)
    worker = world.user()
    created = world.create(participants=[user_ref(worker)])
    patched = world.patch(created["sessionId"], participants=[user_ref(worker, guest=True)])
    assert patched["participants"] == [{"id": str(worker.id), "type": "user", "isGuest": True}]
    assert world.participants(created["sessionId"]) == patched["participants"]


def test_patch_is_recorded_as_the_patching_user(api: Api) -> None:
    world = World.build(api)
    manager, manager_headers = world.member("manager")
    created = world.create(name="x")
    time.sleep(0.005)
    patched = world.patch(created["sessionId"], manager_headers, name="y")
    assert patched["createdBy"] == str(world.admin.id)
    assert patched["modifiedBy"] == str(manager.id)
    assert parse_time(patched["modifiedAt"]) > parse_time(created["modifiedAt"])
    assert patched["createdAt"] == created["createdAt"]


def test_closing_a_session_then_any_patch_is_409(api: Api) -> None:
    world = World.build(api)
    created = world.create(name="x")
    closed = world.patch(created["sessionId"], status="closed")
    assert closed["status"] == "closed"
    for body in ({"name": "y"}, {"status": "open"}, {"status": "closed"}, {}):
        response = api.client.patch(world.url(created["sessionId"]), json=body, headers=world.headers)
        assert_error(response, 409, "Session is closed")
        assert response.json() == {"error": "Session is closed"}
    assert world.get(created["sessionId"]) == closed


def test_session_created_closed_is_409_on_patch(api: Api) -> None:
    world = World.build(api)
    created = world.create(status="closed")
    response = api.client.patch(world.url(created["sessionId"]), json={"name": "z"}, headers=world.headers)
    assert response.status_code == 409
    assert response.json() == {"error": "Session is closed"}


def test_patch_unknown_session_is_404(api: Api) -> None:
    world = World.build(api)
    response = api.client.patch(world.url(NO_SUCH_ID), json={"name": "x"}, headers=world.headers)
    assert_error(response, 404, "Session not found")


def test_list_returns_data_and_page_in_creation_order_by_default(api: Api) -> None:
    world = World.build(api)
    created = [world.create(name=f"s{index}") for index in range(3)]
    response = api.client.get(world.base, headers=world.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == created
    assert body["page"] == {"count": 3, "limit": 50, "total": 3, "prevCursor": None, "nextCursor": None}
    for row in body["data"]:
        assert set(row) == SESSION_FIELDS


def test_list_of_an_empty_application(api: Api) -> None:
    world = World.build(api)
    body = world.page()
    assert body == {
        "data": [],
        "page": {"count": 0, "limit": 50, "total": 0, "prevCursor": None, "nextCursor": None},
    }


def test_list_shows_the_patched_state(api: Api) -> None:
    world = World.build(api)
    created = world.create(name="a")
    patched = world.patch(created["sessionId"], name="b", status="closed")
    assert world.page()["data"] == [patched]


def test_timestamps_are_utc_milliseconds_with_z(api: Api) -> None:
    world = World.build(api)
    created = world.create()
    for field in ("createdAt", "modifiedAt"):
        parse_time(created[field])
        parse_time(world.page()["data"][0][field])
