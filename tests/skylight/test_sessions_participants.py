"""``GET/POST .../participants`` and ``DELETE .../participants/{participantId}``."""

from __future__ import annotations

import time

from sessions_support import NO_SUCH_ID, World, assert_error, group_ref, new_user, parse_time, user_ref

from conftest import Api


def test_get_participants_lists_users_and_groups_in_order(api: Api) -> None:
    world = World.build(api)
    worker, guest = world.user(), world.user()
    crew = api.group(world.realm, "crew", [worker])
    created = world.create(participants=[user_ref(worker), group_ref(crew), user_ref(guest, guest=True)])
    response = api.client.get(world.url(created["sessionId"], "/participants"), headers=world.headers)
    assert response.status_code == 200
    assert response.json() == [
        {"id": str(worker.id), "type": "user", "isGuest": False},
        {"id": str(crew.id), "type": "group", "isGuest": False},
        {"id": str(guest.id), "type": "user", "isGuest": True},
    ]


def test_get_participants_of_a_session_without_any(api: Api) -> None:
    world = World.build(api)
    created = world.create()
    assert world.participants(created["sessionId"]) == []


def test_add_user_and_group_participants(api: Api) -> None:
    world = World.build(api)
    manager, manager_headers = world.member("manager")
    worker = world.user()
    crew = api.group(world.realm, "crew", [])
    created = world.create()
    time.sleep(0.005)
    response = api.client.post(
        world.url(created["sessionId"], "/participants"),
        json={"type": "user", "id": str(worker.id), "isGuest": True},
        headers=manager_headers,
    )
    assert response.status_code == 204
    assert response.content == b""
    after_first = world.get(created["sessionId"])
    assert after_first["modifiedBy"] == str(manager.id)
    assert after_first["createdBy"] == str(world.admin.id)
    response = api.client.post(
        world.url(created["sessionId"], "/participants"), json=group_ref(crew), headers=world.headers
    )
    assert response.status_code == 204
    assert world.participants(created["sessionId"]) == [
        {"id": str(worker.id), "type": "user", "isGuest": True},
        {"id": str(crew.id), "type": "group", "isGuest": False},
    ]
    session = world.get(created["sessionId"])
    assert session["participants"] == world.participants(created["sessionId"])
    assert session["modifiedBy"] == str(world.admin.id)
    assert parse_time(session["modifiedAt"]) > parse_time(created["modifiedAt"])
    assert world.ids(participants=str(worker.id)) == [created["sessionId"]]


def test_adding_an_existing_participant_updates_it(api: Api) -> None:
    world = World.build(api)
    worker, other = world.user(), world.user()
    created = world.create(participants=[user_ref(worker), user_ref(other)])
    url = world.url(created["sessionId"], "/participants")
    response = api.client.post(url, json=user_ref(worker, guest=True), headers=world.headers)
    assert response.status_code == 204
    assert world.participants(created["sessionId"]) == [
        {"id": str(worker.id), "type": "user", "isGuest": True},
        {"id": str(other.id), "type": "user", "isGuest": False},
    ]
    # isGuest defaults to false when left out, also when updating.
    response = api.client.post(url, json=user_ref(worker), headers=world.headers)
    assert response.status_code == 204
    assert world.participants(created["sessionId"])[0] == {
        "id": str(worker.id),
        "type": "user",
        "isGuest": False,
    }


def test_adding_an_unknown_user_or_group_is_400_naming_the_field(api: Api) -> None:
    world = World.build(api)
    worker = world.user()
    crew = api.group(world.realm, "crew", [])
    created = world.create()
    url = world.url(created["sessionId"], "/participants")
    elsewhere = api.realm()
    stranger = new_user(api, elsewhere)
    for body in (
        {"type": "user", "id": NO_SUCH_ID},
        {"type": "group", "id": NO_SUCH_ID},
        {"type": "group", "id": str(worker.id)},  # a user is not a group
        {"type": "user", "id": str(crew.id)},
        {"type": "user", "id": str(stranger.id)},  # another realm's user
    ):
        response = api.client.post(url, json=body, headers=world.headers)
        assert_error(response, 400, "id", body["id"])
    assert world.get(created["sessionId"]) == created


def test_bad_participant_bodies_are_400(api: Api) -> None:
    world = World.build(api)
    worker = world.user()
    created = world.create()
    url = world.url(created["sessionId"], "/participants")
    cases = [
        ({"type": "robot", "id": str(worker.id)}, "type"),
        ({"id": str(worker.id)}, "type"),
        ({"type": "user"}, "id"),
        ({"type": "user", "id": "not-a-uuid"}, "id"),
        ({"type": "user", "id": 5}, "id"),
        ({"type": "user", "id": str(worker.id), "isGuest": "yes"}, "isGuest"),
        ({"type": "user", "id": str(worker.id), "isGuest": 1}, "isGuest"),
        ([user_ref(worker)], "body"),
    ]
    for body, field in cases:
        response = api.client.post(url, json=body, headers=world.headers)
        assert_error(response, 400, field)
    assert world.get(created["sessionId"]) == created


def test_remove_participants(api: Api) -> None:
    world = World.build(api)
    worker, other = world.user(), world.user()
    crew = api.group(world.realm, "crew", [])
    created = world.create(participants=[user_ref(worker), group_ref(crew), user_ref(other)])
    sid = created["sessionId"]
    response = api.client.delete(world.url(sid, f"/participants/{worker.id}"), headers=world.headers)
    assert response.status_code == 204
    assert response.content == b""
    response = api.client.delete(world.url(sid, f"/participants/{crew.id}"), headers=world.headers)
    assert response.status_code == 204
    assert world.participants(sid) == [{"id": str(other.id), "type": "user", "isGuest": False}]
    assert world.ids(participants=str(worker.id)) == []
    assert parse_time(world.get(sid)["modifiedAt"]) >= parse_time(created["modifiedAt"])


def test_removing_a_non_participant_is_404(api: Api) -> None:
    world = World.build(api)
    worker, outsider = world.user(), world.user()
    created = world.create(participants=[user_ref(worker)])
    sid = created["sessionId"]
    for participant_id in (str(outsider.id), NO_SUCH_ID):
        response = api.client.delete(world.url(sid, f"/participants/{participant_id}"), headers=world.headers)
        assert_error(response, 404, "Participant not found")
    # Removing twice: the second time it is no longer there.
    assert (
        api.client.delete(world.url(sid, f"/participants/{worker.id}"), headers=world.headers).status_code
        == 204
    )
    response = api.client.delete(world.url(sid, f"/participants/{worker.id}"), headers=world.headers)
    assert_error(response, 404, "Participant not found")


def test_participant_routes_of_an_unknown_session_are_404(api: Api) -> None:
    world = World.build(api)
    worker = world.user()
    url = world.url(NO_SUCH_ID, "/participants")
    assert_error(api.client.get(url, headers=world.headers), 404, "Session not found")
    assert_error(api.client.post(url, json=user_ref(worker), headers=world.headers), 404, "Session not found")
    response = api.client.delete(f"{url}/{worker.id}", headers=world.headers)
    assert_error(response, 404, "Session not found")


def test_closed_session_refuses_participant_changes_with_409(api: Api) -> None:
    world = World.build(api)
    worker, newcomer = world.user(), world.user()
    created = world.create(participants=[user_ref(worker)])
    sid = created["sessionId"]
    closed = world.patch(sid, status="closed")
    response = api.client.post(
        world.url(sid, "/participants"), json=user_ref(newcomer), headers=world.headers
    )
    assert_error(response, 409, "closed")
    response = api.client.post(
        world.url(sid, "/participants"), json=user_ref(worker, guest=True), headers=world.headers
    )
    assert_error(response, 409, "closed")
    response = api.client.delete(world.url(sid, f"/participants/{worker.id}"), headers=world.headers)
    assert_error(response, 409, "closed")
    assert world.get(sid) == closed
    # Reading still works.
    assert world.participants(sid) == [{"id": str(worker.id), "type": "user", "isGuest": False}]


def test_participant_id_in_the_path_must_be_a_uuid(api: Api) -> None:
    world = World.build(api)
    created = world.create()
    response = api.client.delete(world.url(created["sessionId"], "/participants/bob"), headers=world.headers)
    assert_error(response, 400, "participantId")
