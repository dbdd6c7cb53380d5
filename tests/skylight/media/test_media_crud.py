"""Media metadata: create, get, patch, archive/unarchive, annotations and mediaLabels."""

from __future__ import annotations

import uuid

from media_support import MEDIA_FIELDS, NO_SUCH_ID, MediaWorld, assert_error

from conftest import Api

ANNOTATION = "e78fa929-627a-459d-bb57-0a96b98cb11f"
SVG = '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0 L10 10" stroke="red"/></svg>'


def test_create_with_every_field_then_get(api: Api) -> None:
    world = MediaWorld.build(api)
    media_id = str(uuid.uuid4())
    created = world.create(
        filename="theImage.jpeg",
        title="The Image",
        description="This is the image.",
        labels=["one", "two", "three"],
        properties={"deviceType": "HUD"},
        mediaId=media_id,
        contentType="image/jpeg",
        totalBytes=800000,
        annotations=[{"annotationId": ANNOTATION, "path": SVG}],
    )
    assert created["mediaId"] == media_id
    assert created["sessionId"] == world.session_id
    assert created["applicationId"] == world.app.id
    assert created["labels"] == ["one", "two", "three"]
    assert created["properties"] == {"deviceType": "HUD"}
    assert created["totalBytes"] == 800000
    assert created["uploadedBytes"] == 0
    assert created["etag"] is None
    assert created["archived"] is False
    assert created["createdBy"] == created["modifiedBy"] == str(world.admin.id)
    assert created["annotations"] == [{"annotationId": ANNOTATION, "path": SVG}]
    assert world.get(media_id) == created


def test_media_id_is_generated_when_absent_or_empty(api: Api) -> None:
    world = MediaWorld.build(api)
    first = world.create()
    second = world.create(mediaId="")
    assert uuid.UUID(first["mediaId"]) != uuid.UUID(second["mediaId"])


def test_a_taken_media_id_is_a_conflict(api: Api) -> None:
    world = MediaWorld.build(api)
    media_id = world.create()["mediaId"]
    response = api.client.post(
        world.url("/media"),
        json={"filename": "a", "contentType": "a/b", "totalBytes": 1, "mediaId": media_id},
        headers=world.headers,
    )
    assert_error(response, 409, "already exists")
    assert api.count("media") == 1


def test_patch_changes_only_given_fields(api: Api) -> None:
    world = MediaWorld.build(api)
    media = world.create(title="T", labels=["a"], properties={"k": "v"})
    response = api.client.patch(
        world.media_url(media["mediaId"]),
        json={"filename": "new.jpg", "labels": ["b", "c"], "totalBytes": 99, "uploadedBytes": 5},
        headers=world.headers,
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert set(patched) == MEDIA_FIELDS
    assert patched["filename"] == "new.jpg"
    assert patched["title"] == "T"
    assert patched["labels"] == ["b", "c"]
    assert patched["properties"] == {"k": "v"}
    assert patched["totalBytes"] == 99
    assert patched["uploadedBytes"] == 0  # progress is the server's to count
    assert patched["modifiedAt"] >= media["modifiedAt"]
    assert world.get(media["mediaId"]) == patched


def test_archive_then_unarchive(api: Api) -> None:
    world = MediaWorld.build(api)
    media_id = world.create()["mediaId"]
    response = api.client.delete(world.media_url(media_id), headers=world.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "applicationId": world.app.id,
        "mediaId": media_id,
        "etag": None,
        "sessionId": world.session_id,
    }
    assert world.get(media_id)["archived"] is True
    assert_error(api.client.delete(world.media_url(media_id), headers=world.headers), 409, "already archived")
    response = api.client.post(world.media_url(media_id, "/unarchive"), headers=world.headers)
    assert response.status_code == 200, response.text
    assert response.json()["mediaId"] == media_id
    assert world.get(media_id)["archived"] is False
    assert_error(
        api.client.post(world.media_url(media_id, "/unarchive"), headers=world.headers), 409, "not archived"
    )


def test_archived_media_is_read_only(api: Api) -> None:
    world = MediaWorld.build(api)
    media_id = world.create()["mediaId"]
    api.client.delete(world.media_url(media_id), headers=world.headers)
    response = api.client.patch(world.media_url(media_id), json={"title": "x"}, headers=world.headers)
    assert_error(response, 409, "archived")
    assert world.get(media_id)["title"] is None


def test_annotations_add_and_delete(api: Api) -> None:
    world = MediaWorld.build(api)
    media_id = world.create()["mediaId"]
    url = world.media_url(media_id, "/annotations")
    response = api.client.post(url, json={"annotationId": ANNOTATION, "path": SVG}, headers=world.headers)
    assert response.status_code == 201, response.text
    assert response.json() == {"annotationId": ANNOTATION}
    assert world.get(media_id)["annotations"] == [{"annotationId": ANNOTATION, "path": SVG}]
    # The spec: an annotation that exists already is a 404, as is a missing media.
    again = api.client.post(url, json={"annotationId": ANNOTATION, "path": SVG}, headers=world.headers)
    assert_error(again, 404, "already exists")
    missing = api.client.post(
        world.media_url(NO_SUCH_ID, "/annotations"),
        json={"annotationId": ANNOTATION, "path": SVG},
        headers=world.headers,
    )
    assert_error(missing, 404, "Media not found")
    response = api.client.delete(f"{url}/{ANNOTATION}", headers=world.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"annotationId": ANNOTATION}
    assert world.get(media_id)["annotations"] == []
    assert_error(api.client.delete(f"{url}/{ANNOTATION}", headers=world.headers), 404, "Annotation not found")


def test_media_labels_are_unique_across_the_sessions_media(api: Api) -> None:
    world = MediaWorld.build(api)
    world.create(labels=["b", "a"])
    world.create(labels=["a", "c"])
    other_session = world.new_session()
    world.create(session_id=other_session, labels=["elsewhere"])
    response = api.client.get(world.url("/mediaLabels"), headers=world.headers)
    assert response.status_code == 200, response.text
    assert response.json() == ["a", "b", "c"]


def test_unknown_media_and_session_are_404(api: Api) -> None:
    world = MediaWorld.build(api)
    assert_error(api.client.get(world.media_url(NO_SUCH_ID), headers=world.headers), 404, "Media not found")
    response = api.client.get(world.url("/media", session_id=NO_SUCH_ID), headers=world.headers)
    assert_error(response, 404, "Session not found")
