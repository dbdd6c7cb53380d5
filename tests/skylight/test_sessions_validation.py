"""Bad input: a 400 ``{"error": ...}`` naming the field, and nothing changes."""

from __future__ import annotations

from typing import Any

from sessions_support import NO_SUCH_ID, World, assert_error, user_ref

from conftest import Api

FIFTY_ONE = {f"k{index}": index for index in range(51)}


def _bad_session_fields(world: World) -> list[tuple[dict[str, Any], str]]:
    """(fields, the field the error must name) for both create and patch."""
    worker = world.user()
    return [
        ({"name": "n" * 256}, "name"),
        ({"name": 5}, "name"),
        ({"name": "nul\u0000"}, "name"),
        ({"description": "d" * 1001}, "description"),
        ({"description": ["x"]}, "description"),
        ({"properties": FIFTY_ONE}, "properties"),
        ({"properties": {"nested": {"a": 1}}}, "properties"),
        ({"properties": {"list": [1]}}, "properties"),
        ({"properties": {"none": None}}, "properties"),
        ({"properties": {"long": "v" * 1025}}, "properties"),
        ({"properties": {"k" * 256: "v"}}, "properties"),
        ({"properties": {"": "v"}}, "properties"),
        ({"properties": {"big": 2**63}}, "properties"),
        ({"properties": ["a"]}, "properties"),
        ({"properties": "a=b"}, "properties"),
        ({"version": 0}, "version"),
        ({"version": -1}, "version"),
        ({"version": "1"}, "version"),
        ({"version": 1.0}, "version"),
        ({"version": True}, "version"),
        ({"version": 2**31}, "version"),
        ({"status": "pending"}, "status"),
        ({"status": "OPEN"}, "status"),
        ({"status": 1}, "status"),
        ({"participants": {"type": "user"}}, "participants"),
        ({"participants": [{"type": "robot", "id": str(worker.id)}]}, "participants[0].type"),
        ({"participants": [{"type": "user", "id": "not-a-uuid"}]}, "participants[0].id"),
        ({"participants": [{"type": "user"}]}, "participants[0].id"),
        ({"participants": [{"id": str(worker.id)}]}, "participants[0].type"),
        (
            {"participants": [{"type": "user", "id": str(worker.id), "isGuest": "no"}]},
            "participants[0].isGuest",
        ),
        ({"participants": [user_ref(worker), {"type": "user", "id": NO_SUCH_ID}]}, "participants[1].id"),
        ({"participants": [user_ref(worker), user_ref(worker)]}, "participants[1].id"),
        ({"participants": [{"type": "group", "id": str(worker.id)}]}, "participants[0].id"),
    ]


def test_create_validation(api: Api) -> None:
    world = World.build(api)
    world.create(name="existing")
    before = world.snapshot()
    for fields, field in _bad_session_fields(world):
        body = {"version": 1, "participants": [], **fields}
        response = api.client.post(world.base, json=body, headers=world.headers)
        assert_error(response, 400, field)
    for missing in ("version", "participants"):
        body = {"version": 1, "participants": []}
        del body[missing]
        assert_error(api.client.post(world.base, json=body, headers=world.headers), 400, missing, "required")
    for body in ({"version": None, "participants": []}, {"version": 1, "participants": None}):
        assert_error(api.client.post(world.base, json=body, headers=world.headers), 400)
    assert world.snapshot() == before


def test_create_accepts_the_documented_maximums(api: Api) -> None:
    world = World.build(api)
    fifty = {f"k{index}": index for index in range(50)}
    body = world.create(name="n" * 255, description="d" * 1000, properties=fifty, version=2**31 - 1)
    assert body["properties"] == fifty
    assert len(body["name"]) == 255
    assert len(body["description"]) == 1000
    body = world.create(properties={"k" * 255: "v" * 1024, "unicode": "Grüße ✓"})
    assert body["properties"]["unicode"] == "Grüße ✓"


def test_patch_validation(api: Api) -> None:
    world = World.build(api)
    sid = world.create(name="keep", properties={"a": "1"})["sessionId"]
    before = world.snapshot()
    for fields, field in _bad_session_fields(world):
        response = api.client.patch(world.url(sid), json=fields, headers=world.headers)
        assert_error(response, 400, field)
    # Only properties is nullable; null for another field is refused rather than ignored.
    for field in ("version", "name", "description", "participants", "status"):
        response = api.client.patch(world.url(sid), json={field: None}, headers=world.headers)
        assert_error(response, 400, field, "null")
    assert world.snapshot() == before


def test_malformed_bodies(api: Api) -> None:
    world = World.build(api)
    sid = world.create()["sessionId"]
    before = world.snapshot()
    json_headers = {**world.headers, "content-type": "application/json"}
    targets = [
        ("POST", world.base),
        ("PATCH", world.url(sid)),
        ("POST", world.url(sid, "/participants")),
        ("PATCH", world.url(sid, "/data")),
    ]
    for method, url in targets:
        for raw in (b'{"version": 1,', b"{'version': 1}", b"not json", b'{"version": 1} trailing'):
            response = api.client.request(method, url, content=raw, headers=json_headers)
            assert_error(response, 400, "JSON")
        for raw in (b"[]", b'"text"', b"null", b"1"):
            response = api.client.request(method, url, content=raw, headers=json_headers)
            assert_error(response, 400, "body")
        response = api.client.request(method, url, content=b"", headers=json_headers)
        assert_error(response, 400, "body")
    assert world.snapshot() == before


def test_wrong_content_types(api: Api) -> None:
    world = World.build(api)
    sid = world.create()["sessionId"]
    before = world.snapshot()
    raw = (
        b'{"version": 1, "participants": [], "data": {"a": 1}, "type": "user", "id": "%s"}'
        % str(world.admin.id).encode()
    )
    targets = [
        ("POST", world.base),
        ("PATCH", world.url(sid)),
        ("POST", world.url(sid, "/participants")),
        ("PATCH", world.url(sid, "/data")),
    ]
    for method, url in targets:
        for content_type in ("text/plain", "application/xml", "application/x-www-form-urlencoded", None):
            headers = dict(world.headers)
            if content_type:
                headers["content-type"] = content_type
            response = api.client.request(method, url, content=raw, headers=headers)
            assert_error(response, 400, "content-type", "application/json")
    assert world.snapshot() == before
    # JSON with a charset, or a +json type, is JSON.
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = api.client.patch(
            world.url(sid), content=b'{"name": "ok"}', headers={**world.headers, "content-type": content_type}
        )
        assert response.status_code == 200, response.text


def test_invalid_uuids_in_paths_are_400(api: Api) -> None:
    world = World.build(api)
    sid = world.create()["sessionId"]
    before = world.snapshot()
    for bad in (
        "nope",
        "123",
        "e78fa929-627a-459d-bb57-0a96b98cb11",
        "e78fa929-627a-459d-bb57-0a96b98cb11fz",
    ):
        cases = [
            ("GET", world.url(bad), None),
            ("PATCH", world.url(bad), {"name": "x"}),
            ("GET", world.url(bad, "/participants"), None),
            ("POST", world.url(bad, "/participants"), user_ref(world.admin)),
            ("DELETE", world.url(bad, f"/participants/{world.admin.id}"), None),
            ("GET", world.url(bad, "/data"), None),
            ("PATCH", world.url(bad, "/data"), {"data": {}, "version": 1}),
            ("DELETE", world.url(sid, f"/participants/{bad}"), None),
        ]
        for method, url, body in cases:
            response = api.client.request(method, url, json=body, headers=world.headers)
            assert_error(
                response,
                400,
                "participantId" if url.endswith(bad) and "/participants/" in url else "sessionId",
            )
    assert world.snapshot() == before


def test_application_id_with_a_nul_is_404(api: Api) -> None:
    world = World.build(api)
    response = api.client.get("/v1/application/applications/ab%00cd/sessions", headers=world.headers)
    assert_error(response, 404, "Application not found")


def test_bad_filter_text_is_400(api: Api) -> None:
    world = World.build(api)
    for params in ({"name": "a\u0000"}, {"prop.k": "a\u0000"}, {"prop.k\u0000": "a"}, {"name": "n" * 256}):
        response = api.client.get(world.base, params=params, headers=world.headers)
        assert response.status_code == 400, response.text


BAD_TIMESTAMPS = ["yesterday", "2020-12-11T16:53:14", "2020-12-11", "2020-12-11T16:53:14.081+0100", "0"]


def _write_requests(world: World, sid: str) -> list[tuple[str, str, Any]]:
    worker = world.user()
    return [
        ("POST", world.base, {"version": 1, "participants": []}),
        ("PATCH", world.url(sid), {"name": "changed"}),
        ("POST", world.url(sid, "/participants"), user_ref(worker)),
        ("DELETE", world.url(sid, f"/participants/{world.admin.id}"), None),
        ("PATCH", world.url(sid, "/data"), {"data": {"a": 1}, "version": 1}),
    ]


def test_bad_device_headers_are_400_on_every_write(api: Api) -> None:
    world = World.build(api)
    sid = world.create(participants=[user_ref(world.admin)])["sessionId"]
    before = world.snapshot()
    for method, url, body in _write_requests(world, sid):
        for value in BAD_TIMESTAMPS:
            headers = {**world.headers, "deviceid": "hud-7", "devicetimestamp": value}
            response = api.client.request(method, url, json=body, headers=headers)
            assert_error(response, 400, "devicetimestamp")
        response = api.client.request(
            method, url, json=body, headers={**world.headers, "deviceid": "d" * 256}
        )
        assert_error(response, 400, "deviceid")
    assert world.snapshot() == before


def test_valid_device_headers_are_accepted_on_every_write(api: Api) -> None:
    world = World.build(api)
    sid = world.create(participants=[user_ref(world.admin)])["sessionId"]
    stamps = ["2020-12-11T16:53:14.081Z", "2020-12-11T17:53:14+01:00", "2020-12-11t16:53:14.123456z"]
    for (method, url, body), stamp in zip(_write_requests(world, sid), stamps * 2, strict=False):
        headers = {**world.headers, "deviceid": "hud-7", "devicetimestamp": stamp}
        response = api.client.request(method, url, json=body, headers=headers)
        assert response.status_code in (200, 201, 204), response.text
    assert world.get(sid)["name"] == "changed"
    assert world.data(sid) == {"a": 1}
