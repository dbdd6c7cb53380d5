"""Realm isolation, roles and closed sessions on the media routes."""

from __future__ import annotations

from media_support import MediaWorld, assert_error, token_headers

from conftest import Api

SVG = '<svg xmlns="http://www.w3.org/2000/svg"/>'
ANNOTATION = "e78fa929-627a-459d-bb57-0a96b98cb11f"


def test_another_realm_sees_nothing(api: Api) -> None:
    world = MediaWorld.build(api)
    media = world.uploaded(b"secret")
    stranger = MediaWorld.build(api)
    media_id = media["mediaId"]
    for method, suffix in (
        ("get", ""),
        ("get", "/content"),
        ("get", "/thumbnail"),
        ("patch", ""),
        ("delete", ""),
        ("post", "/unarchive"),
    ):
        kwargs = {"json": {"title": "x"}} if method == "patch" else {}
        response = getattr(api.client, method)(
            world.media_url(media_id, suffix), headers=stranger.headers, **kwargs
        )
        assert_error(response, 404, "Application not found")
    # Its own application with the other realm's session id: still nothing.
    response = api.client.get(
        f"/v1/application/applications/{stranger.app.id}/sessions/{world.session_id}/media/{media_id}",
        headers=stranger.headers,
    )
    assert_error(response, 404, "Session not found")
    assert world.get(media_id) == media


def test_users_without_a_role_or_outside_the_session_are_refused(api: Api) -> None:
    world = MediaWorld.build(api)
    media_id = world.create()["mediaId"]
    _, no_role = world.member()
    assert_error(api.client.get(world.url("/media"), headers=no_role), 403, "no role")
    _, outsider = world.member("user")
    assert_error(api.client.get(world.media_url(media_id), headers=outsider), 403, "do not take part")
    response = api.client.post(
        world.url("/media"), json={"filename": "a", "contentType": "a/b", "totalBytes": 1}, headers=outsider
    )
    assert_error(response, 403, "do not take part")
    _, manager = world.member("manager")
    assert api.client.get(world.media_url(media_id), headers=manager).status_code == 200


def test_a_participant_may_read_and_write_media(api: Api) -> None:
    world = MediaWorld.build(api)
    user, headers = world.member("user")
    api.client.post(
        world.url("/participants"), json={"type": "user", "id": str(user.id)}, headers=world.headers
    )
    created = world.create(headers=headers)
    assert created["createdBy"] == str(user.id)
    assert api.client.get(world.url("/media"), headers=headers).json()["data"] == [created]


def test_closed_sessions_are_read_only(api: Api) -> None:
    world = MediaWorld.build(api)
    media = world.uploaded(b"abc", annotations=[{"annotationId": ANNOTATION, "path": SVG}])
    media_id = media["mediaId"]
    world.close_session()
    client, headers = api.client, world.headers
    refused = [
        client.post(
            world.url("/media"),
            json={"filename": "a", "contentType": "a/b", "totalBytes": 1},
            headers=headers,
        ),
        client.patch(world.media_url(media_id), json={"title": "x"}, headers=headers),
        client.delete(world.media_url(media_id), headers=headers),
        client.post(world.media_url(media_id, "/unarchive"), headers=headers),
        client.post(
            world.media_url(media_id, "/annotations"),
            json={"annotationId": "f78fa929-627a-459d-bb57-0a96b98cb11f", "path": SVG},
            headers=headers,
        ),
        client.delete(world.media_url(media_id, f"/annotations/{ANNOTATION}"), headers=headers),
        world.upload(media_id, b"xyz"),
    ]
    for response in refused:
        assert_error(response, 409, "Session is closed")
    assert world.get(media_id) == media
    assert world.content(media_id).content == b"abc"
    assert api.client.get(world.url("/mediaLabels"), headers=headers).status_code == 200


def test_no_token_is_401(api: Api) -> None:
    world = MediaWorld.build(api)
    media_id = world.create()["mediaId"]
    assert_error(api.client.get(world.url("/media")), 401)
    assert_error(api.client.post(world.media_url(media_id, "/uploads"), files={"file": ("a", b"1")}), 401)
    expired = token_headers(api, world.realm, world.admin)
    expired["Authorization"] += "x"
    assert_error(api.client.get(world.media_url(media_id, "/content"), headers=expired), 401)
