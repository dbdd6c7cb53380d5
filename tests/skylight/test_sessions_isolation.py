"""Realms are tenants: a token of realm A learns nothing about, and changes nothing in, realm B."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sessions_support import World, assert_error, group_ref, user_ref

from conftest import Api


def _every_route(b: World, sid: str, participant: str) -> list[tuple[str, str, Any]]:
    return [
        ("GET", b.base, None),
        ("POST", b.base, {"version": 1, "participants": []}),
        ("GET", b.url(sid), None),
        ("PATCH", b.url(sid), {"name": "hijacked", "status": "closed"}),
        ("GET", b.url(sid, "/participants"), None),
        ("POST", b.url(sid, "/participants"), {"type": "user", "id": participant, "isGuest": True}),
        ("DELETE", b.url(sid, f"/participants/{participant}"), None),
        ("GET", b.url(sid, "/data"), None),
        ("PATCH", b.url(sid, "/data"), {"data": {"secret": None, "x": 1}, "version": 1}),
    ]


def test_another_realms_application_and_sessions_are_404_on_every_route(api: Api) -> None:
    a = World.build(api)
    b = World.build(api)
    b_worker = b.user()
    b_crew = api.group(b.realm, "crew", [b_worker])
    sid = b.create(name="b-session", participants=[user_ref(b_worker), group_ref(b_crew)])["sessionId"]
    api.client.patch(b.url(sid, "/data"), json={"data": {"secret": "s"}, "version": 1}, headers=b.headers)
    before = b.snapshot()

    # Realm A's admin, manager and plain user alike: every route, every participant kind.
    _, a_manager = a.member("manager")
    _, a_user = a.member("user")
    for headers in (a.headers, a_manager, a_user):
        for participant in (str(b_worker.id), str(b_crew.id), str(b.admin.id)):
            for method, url, body in _every_route(b, sid, participant):
                response = api.client.request(method, url, json=body, headers=headers)
                assert_error(response, 404, "Application not found")
                assert "b-session" not in response.text

    assert b.snapshot() == before
    assert a.page()["page"]["total"] == 0


def test_a_session_id_of_realm_b_under_realm_as_application_is_404(api: Api) -> None:
    a = World.build(api)
    b = World.build(api)
    sid = b.create(participants=[user_ref(b.admin)])["sessionId"]
    before = b.snapshot()
    for method, url, body in _every_route(a, sid, str(b.admin.id))[2:]:
        response = api.client.request(method, url, json=body, headers=a.headers)
        assert_error(response, 404, "Session not found")
    assert b.snapshot() == before


def test_another_realms_users_and_groups_cannot_be_participants(api: Api) -> None:
    a = World.build(api)
    b = World.build(api)
    b_worker = b.user()
    b_crew = api.group(b.realm, "crew", [])
    sid = a.create()["sessionId"]
    before = a.snapshot()
    for ref, field in ((user_ref(b_worker), "user"), (group_ref(b_crew), "group")):
        response = api.client.post(a.base, json={"version": 1, "participants": [ref]}, headers=a.headers)
        assert_error(response, 400, "participants[0].id", f"no {field}")
        response = api.client.patch(a.url(sid), json={"participants": [ref]}, headers=a.headers)
        assert_error(response, 400, "participants[0].id")
        response = api.client.post(a.url(sid, "/participants"), json=ref, headers=a.headers)
        assert_error(response, 400, "id")
    assert a.snapshot() == before


def test_filters_never_reach_into_another_realm(api: Api) -> None:
    a = World.build(api)
    b = World.build(api)
    b.create(name="same", properties={"k": "v"}, participants=[user_ref(b.admin)])
    mine = a.create(name="same", properties={"k": "v"})["sessionId"]
    assert a.ids(name="same") == [mine]
    assert a.ids(**{"prop.k": "v"}) == [mine]
    assert a.ids(createdBy=str(b.admin.id)) == []
    assert a.ids(participants=str(b.admin.id)) == []


def test_a_token_for_a_realm_is_not_accepted_with_another_realms_name(api: Api) -> None:
    a = World.build(api)
    b = World.build(api)
    # A well-signed token whose realm claim does not match its user's realm is refused.
    token = api.runtime.tokens.issue(
        user_id=a.admin.id, realm=b.realm.name, roles=["admin", "user"], now=dt.datetime.now(dt.UTC)
    )
    response = api.client.get(b.base, headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401)
