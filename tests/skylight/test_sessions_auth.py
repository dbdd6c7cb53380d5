"""Authentication and roles on the session routes: 401 without a valid token, 403 without a role,
and role ``user`` confined to the sessions it takes part in (directly or through a group) or created."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import jwt
from sessions_support import World, assert_error, group_ref, token_headers, user_ref

from conftest import Api
from fieldhub.core.identity.keys import SigningKey


def _routes(world: World, sid: str, participant: str) -> list[tuple[str, str, Any]]:
    return [
        ("GET", world.base, None),
        ("POST", world.base, {"version": 1, "participants": []}),
        ("GET", world.url(sid), None),
        ("PATCH", world.url(sid), {"name": "changed"}),
        ("GET", world.url(sid, "/participants"), None),
        ("POST", world.url(sid, "/participants"), {"type": "user", "id": participant}),
        ("DELETE", world.url(sid, f"/participants/{participant}"), None),
        ("GET", world.url(sid, "/data"), None),
        ("PATCH", world.url(sid, "/data"), {"data": {"a": 1}, "version": 1}),
    ]


def _session_routes(world: World, sid: str, participant: str) -> list[tuple[str, str, Any]]:
    """The routes about one existing session (not list and create)."""
    return _routes(world, sid, participant)[2:]


def test_no_token_is_401_on_every_route(api: Api) -> None:
    world = World.build(api)
    sid = world.create(participants=[user_ref(world.admin)])["sessionId"]
    before = world.snapshot()
    for method, url, body in _routes(world, sid, str(world.admin.id)):
        response = api.client.request(method, url, json=body)
        assert response.status_code == 401
        assert response.json() == {"error": "No authorization token found"}
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert world.snapshot() == before


def test_no_token_is_401_even_when_the_input_is_also_bad(api: Api) -> None:
    world = World.build(api)
    sid = world.create()["sessionId"]
    cases = [
        api.client.post(world.base, json={"version": 0}),
        api.client.get(world.base, params={"limit": "0", "sort": "size"}),
        api.client.get(world.base, params={"nextCursor": "garbage"}),
        api.client.get(world.url("not-a-uuid")),
        api.client.patch(world.url(sid), content=b"{", headers={"content-type": "application/json"}),
        api.client.patch(world.url(sid), json={"name": "x"}, headers={"devicetimestamp": "yesterday"}),
        api.client.post(world.base, content=b"x", headers={"content-type": "text/plain"}),
        api.client.get(world.base, headers={"Authorization": "Bearer garbage"}, params={"limit": "abc"}),
    ]
    for response in cases:
        assert response.status_code == 401, response.text
    # The login route itself still answers bad input with a 400.
    response = api.client.post(f"/v1/authentication/login/realms/{world.realm.name}", json={"username": "x"})
    assert_error(response, 400, "password")


def _foreign_token(tmp_path: Path, world: World) -> str:
    other_key = SigningKey.load_or_create(tmp_path / "other")
    claims = {
        "iss": world.api.runtime.settings.issuer,
        "sub": str(world.admin.id),
        "realm": world.realm.name,
        "roles": ["admin", "user"],
        "iat": int(dt.datetime.now(dt.UTC).timestamp()),
        "exp": int(dt.datetime.now(dt.UTC).timestamp()) + 300,
        "jti": "x",
    }
    return jwt.encode(claims, other_key.private_key, algorithm="RS256", headers={"kid": other_key.kid})


def _unsigned_token(world: World) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {
        "iss": world.api.runtime.settings.issuer,
        "sub": str(world.admin.id),
        "realm": world.realm.name,
        "iat": now,
        "exp": now + 300,
        "jti": "x",
    }
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_bad_tokens_are_401(api: Api, tmp_path: Path) -> None:
    world = World.build(api)
    sid = world.create()["sessionId"]
    before = world.snapshot()
    expired = token_headers(api, world.realm, world.admin, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    good = world.headers["Authorization"].removeprefix("Bearer ")
    authorizations = [
        "Bearer garbage",
        "Bearer ",
        "Bearer",
        good,
        f"Basic {good}",
        f"Token {good}",
        f"Bearer {good}x",
        f"Bearer {good[:-4]}",
        expired["Authorization"],
        f"Bearer {_foreign_token(tmp_path, world)}",
        f"Bearer {_unsigned_token(world)}",
    ]
    for authorization in authorizations:
        for method, url, body in _routes(world, sid, str(world.admin.id)):
            response = api.client.request(method, url, json=body, headers={"Authorization": authorization})
            assert_error(response, 401)
    assert_error(api.client.get(world.base, headers=expired), 401, "expired")
    assert world.snapshot() == before


def test_both_bearer_forms_work_with_a_real_login(api: Api) -> None:
    world = World.build(api)
    user = api.user(world.realm)
    api.grant(world.realm, world.app, "manager", user=user)
    token = api.login(world.realm, user)["access_token"]
    for authorization in (f"Bearer {token}", f"Bearer: {token}", f"bearer {token}", f"BEARER:   {token}"):
        response = api.client.get(world.base, headers={"Authorization": authorization})
        assert response.status_code == 200, (authorization[:10], response.text)
    created = api.client.post(
        world.base, json={"version": 1, "participants": []}, headers={"Authorization": f"Bearer: {token}"}
    )
    assert created.status_code == 201
    assert created.json()["createdBy"] == str(user.id)


def test_a_realm_user_without_a_role_is_403_everywhere(api: Api) -> None:
    world = World.build(api)
    _, headers = world.member()
    sid = world.create()["sessionId"]
    before = world.snapshot()
    for method, url, body in _routes(world, sid, str(world.admin.id)):
        response = api.client.request(method, url, json=body, headers=headers)
        assert_error(response, 403)
    assert world.snapshot() == before


def test_role_user_sees_and_changes_only_its_own_sessions(api: Api) -> None:
    world = World.build(api)
    me, my_headers = world.member("user")
    crew = api.group(world.realm, "crew", [me])
    other_crew = api.group(world.realm, "others", [])
    direct = world.create(name="direct", participants=[user_ref(me)])["sessionId"]
    via_group = world.create(name="via group", participants=[group_ref(crew)])["sessionId"]
    foreign = world.create(name="foreign", participants=[group_ref(other_crew)])["sessionId"]
    mine = world.create(my_headers, name="mine")["sessionId"]

    listing = world.page(my_headers)
    assert [row["sessionId"] for row in listing["data"]] == [direct, via_group, mine]
    assert listing["page"]["total"] == 3
    assert world.ids(my_headers, name="foreign") == []
    assert world.ids(my_headers, participants=str(other_crew.id)) == []
    assert world.ids(my_headers, sort="-name") == [via_group, mine, direct]

    for sid in (direct, via_group, mine):
        assert world.get(sid, my_headers)["sessionId"] == sid
        assert world.patch(sid, my_headers, description="mine now")["modifiedBy"] == str(me.id)
        response = api.client.patch(
            world.url(sid, "/data"), json={"data": {"a": 1}, "version": 1}, headers=my_headers
        )
        assert response.status_code == 200

    before = world.get(foreign)
    for method, url, body in _session_routes(world, foreign, str(other_crew.id)):
        response = api.client.request(method, url, json=body, headers=my_headers)
        assert_error(response, 403)
    assert world.get(foreign) == before
    assert world.participants(foreign) == [{"id": str(other_crew.id), "type": "group", "isGuest": False}]


def test_role_user_granted_through_a_group(api: Api) -> None:
    world = World.build(api)
    me, my_headers = world.member()
    staff = api.group(world.realm, "staff", [me])
    api.grant(world.realm, world.app, "user", group=staff)
    theirs = world.create(participants=[group_ref(staff)])["sessionId"]
    world.create()
    assert world.ids(my_headers) == [theirs]
    created = world.create(my_headers)
    assert created["createdBy"] == str(me.id)
    assert world.ids(my_headers) == [theirs, created["sessionId"]]


def test_role_user_loses_access_when_removed(api: Api) -> None:
    world = World.build(api)
    me, my_headers = world.member("user")
    sid = world.create(participants=[user_ref(me)])["sessionId"]
    assert world.get(sid, my_headers)["sessionId"] == sid
    response = api.client.delete(world.url(sid, f"/participants/{me.id}"), headers=world.headers)
    assert response.status_code == 204
    assert_error(api.client.get(world.url(sid), headers=my_headers), 403)
    assert world.ids(my_headers) == []


def test_manager_and_realm_admin_see_and_change_everything(api: Api) -> None:
    world = World.build(api)
    manager, manager_headers = world.member("manager")
    _, other_admin_headers = world.member(admin=True)  # no grant needed
    _, user_headers = world.member("user")
    by_user = world.create(user_headers)["sessionId"]
    by_admin = world.create()["sessionId"]
    for headers in (manager_headers, other_admin_headers):
        assert world.ids(headers) == [by_user, by_admin]
        for sid in (by_user, by_admin):
            world.patch(sid, headers, name="seen")
            for method, url, body in _session_routes(world, sid, str(manager.id)):
                response = api.client.request(method, url, json=body, headers=headers)
                assert response.status_code in (200, 204), (method, url, response.text)
