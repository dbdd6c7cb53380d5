"""Media changes publish session events to the session's audience, like the session's own."""

from __future__ import annotations

from media_support import Inbox, MediaWorld

from conftest import Api

ANNOTATION = "e78fa929-627a-459d-bb57-0a96b98cb11f"


def test_each_media_change_publishes_its_event_to_the_session_audience(api: Api) -> None:
    inbox = Inbox(api)
    world = MediaWorld.build(api)
    participant, _ = world.member("user")
    outsider, _ = world.member("user")
    api.client.post(
        world.url("/participants"), json={"type": "user", "id": str(participant.id)}, headers=world.headers
    )
    start = len(inbox.wait_for(3))  # SessionCreated (admin), SessionParticipantAdded (admin, participant)
    media = world.create(
        totalBytes=3, contentType="text/plain", headers={**world.headers, "deviceid": "glass-1"}
    )
    media_id = media["mediaId"]
    api.client.patch(world.media_url(media_id), json={"title": "T"}, headers=world.headers)
    world.upload(media_id, b"abc")
    annotations = world.media_url(media_id, "/annotations")
    api.client.post(annotations, json={"annotationId": ANNOTATION, "path": "M0 0"}, headers=world.headers)
    api.client.delete(f"{annotations}/{ANNOTATION}", headers=world.headers)
    api.client.delete(world.media_url(media_id), headers=world.headers)
    api.client.post(world.media_url(media_id, "/unarchive"), headers=world.headers)
    expected = [
        "SessionMediaCreated",
        "SessionMediaUpdated",
        "SessionMediaUploaded",
        "SessionMediaAnnotationCreated",
        "SessionMediaAnnotationDeleted",
        "SessionMediaArchived",
        "SessionMediaUnarchived",
    ]
    messages = inbox.wait_for(start + 2 * len(expected))[start:]
    assert len(messages) == 2 * len(expected)
    for topic, payload in messages:
        user = topic.split("/")[4]
        assert user in {str(world.admin.id), str(participant.id)}
        assert user != str(outsider.id)
        assert topic.endswith(f"/session/{world.session_id}/{payload['eventType']}")
        assert payload["changes"]["mediaId"] == media_id
    types = [payload["eventType"] for topic, payload in messages if str(world.admin.id) in topic]
    assert types == expected
    created = messages[0][1]
    assert created["deviceId"] == "glass-1"
    assert created["changes"]["media"]["filename"] == media["filename"]
    uploaded = next(p for _, p in messages if p["eventType"] == "SessionMediaUploaded")
    assert uploaded["changes"]["changes"] == {"etag": "900150983cd24fb0d6963f7d28e17f72", "size": 3}


def test_refused_changes_publish_nothing(api: Api) -> None:
    inbox = Inbox(api)
    world = MediaWorld.build(api)
    start = len(inbox.wait_for(1))
    response = api.client.post(
        world.url("/media"),
        json={"filename": "", "contentType": "a/b", "totalBytes": 1},
        headers=world.headers,
    )
    assert response.status_code == 400
    media_id = world.create(totalBytes=3)["mediaId"]
    assert world.upload(media_id, b"abcd").status_code == 400
    messages = inbox.wait_for(start + 2, seconds=0.5)[start:]
    assert [payload["eventType"] for _, payload in messages] == ["SessionMediaCreated"]
