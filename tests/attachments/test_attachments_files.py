"""PUT, GET and DELETE of attachments on both blob stores: what is stored, answered and published."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
from attachments_support import PNG_BYTES, Project, assert_envelope_error, assert_success, stored_blobs

from conftest import Api
from fieldhub.skylight.media.service import MediaService

pytestmark = pytest.mark.usefixtures("blob_backend")
WAIT_SECONDS = 5.0


def md5(content: bytes) -> str:
    return hashlib.md5(content).hexdigest()  # noqa: S324 - the API's own checksum, not security


class DataEvents:
    """The ``SessionDataUpdated`` events the app's bus delivers, as payloads."""

    def __init__(self, api: Api) -> None:
        self._payloads: list[dict[str, Any]] = []
        self._arrived = threading.Condition()
        api.client.portal.call(api.bus.subscribe, "v1/#", self._receive)  # type: ignore[union-attr]

    async def _receive(self, topic: str, payload: bytes) -> None:
        event = orjson.loads(payload)
        if event["eventType"] == "SessionDataUpdated":
            with self._arrived:
                self._payloads.append(event)
                self._arrived.notify_all()

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self._payloads) >= count, WAIT_SECONDS)
            return list(self._payloads)


def test_multipart_upload_is_stored_as_session_media_and_read_back(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    result = assert_success(project.put_form(sid, "Photo", PNG_BYTES, filename="pumpe 3 ventil ü.png"))
    assert result == {"length": len(PNG_BYTES), "md5": md5(PNG_BYTES)}
    [media] = project.media_rows()
    assert project.data(sid) == {"photo": {"filename": "pumpe 3 ventil ü.png", "mediaId": media["id"]}}
    assert (media["filename"], media["content_type"], media["total_bytes"], media["etag"]) == (
        "pumpe 3 ventil ü.png",
        "image/png",
        len(PNG_BYTES),
        md5(PNG_BYTES),
    )
    # Point names are case-insensitive: stored lower-cased, found by any case.
    for point in ("photo", "PHOTO"):
        response = project.get(sid, point)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-length"] == str(len(PNG_BYTES))
        assert response.content == PNG_BYTES
    assert "attachment;" in project.get(sid, "photo").headers["content-disposition"]


def test_raw_upload_uses_the_filename_parameter(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    content = os.urandom(3 * 1024 * 1024 + 17)  # several sink batches
    result = assert_success(project.put_raw(sid, "report", content, filename="inspection.pdf"))
    assert result == {"length": len(content), "md5": md5(content)}
    assert project.data(sid)["report"]["filename"] == "inspection.pdf"
    [media] = project.media_rows()
    assert media["content_type"] == "application/pdf"
    assert project.get(sid, "report").content == content


def test_an_empty_file_is_an_attachment_of_length_zero(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    assert assert_success(project.put_raw(sid, "note", b"", filename="empty.txt")) == {
        "length": 0,
        "md5": md5(b""),
    }
    response = project.get(sid, "note")
    assert (response.status_code, response.content) == (200, b"")


def test_replacing_an_attachment_deletes_the_previous_file(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    assert_success(
        project.put_form(sid, "photo", b"first version", filename="a.jpg", content_type="image/jpeg")
    )
    [first] = project.media_rows()
    assert api.runtime.blobs.exists(first["content_key"])
    assert_success(project.put_raw(sid, "photo", b"second version", filename="b.bin"))
    [second] = project.media_rows()
    assert second["id"] != first["id"]
    assert not api.runtime.blobs.exists(first["content_key"])
    assert project.data(sid)["photo"]["filename"] == "b.bin"
    assert project.get(sid, "photo").content == b"second version"


def test_a_point_holding_other_data_is_replaced_without_deleting_anything(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    assert_success(project.put_raw(sid, "other", b"keep me", filename="keep.txt"))
    response = api.client.patch(
        f"{project.sessions}/{sid}/data",
        json={
            "data": {"photo": {"filename": "x", "note": "not an attachment"}, "pressure": 4.2},
            "version": 1,
        },
        headers=project.headers,
    )
    assert response.status_code == 200
    assert_envelope_error(project.get(sid, "photo"), 404, "not found", "No attachment in point 'photo'")
    assert_envelope_error(project.get(sid, "pressure"), 404, "not found")
    assert_success(project.put_raw(sid, "photo", b"now a file", filename="p.bin"))
    data = project.data(sid)
    assert data["pressure"] == 4.2
    assert data["photo"]["filename"] == "p.bin"
    assert len(project.media_rows()) == 2
    assert project.get(sid, "other").content == b"keep me"


def test_delete_removes_the_point_and_the_file(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    assert_success(project.put_raw(sid, "photo", b"bytes", filename="p.bin"))
    assert_success(project.put_raw(sid, "keep", b"other", filename="k.bin"))
    [photo, _] = project.media_rows()
    assert assert_success(project.delete(sid, "Photo")) is True
    assert "photo" not in project.data(sid)
    assert len(project.media_rows()) == 1
    assert not api.runtime.blobs.exists(photo["content_key"])
    assert_envelope_error(project.get(sid, "photo"), 404, "not found", "No attachment")
    assert_envelope_error(project.delete(sid, "photo"), 404, "not found", "No attachment")
    assert project.get(sid, "keep").content == b"other"


def test_get_and_delete_of_an_empty_point_are_404(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    assert_envelope_error(project.get(sid, "nothing"), 404, "not found", "No attachment in point 'nothing'")
    assert_envelope_error(
        project.delete(sid, "nothing"), 404, "not found", "No attachment in point 'nothing'"
    )


def test_a_file_deleted_through_the_media_api_leaves_a_reference_that_delete_clears(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    assert_success(project.put_raw(sid, "photo", b"bytes", filename="p.bin"))
    [media] = project.media_rows()
    with api.runtime.db.unit_of_work() as uow:
        caller = api.runtime.auth(uow.session).authenticate(
            access_token=project.headers["Authorization"].removeprefix("Bearer ")
        )
        MediaService(session=uow.session, blobs=api.runtime.blobs, caller=caller).delete(
            application_id=project.app.id, session_id=uuid.UUID(sid), media_id=media["id"]
        )
    assert_envelope_error(project.get(sid, "photo"), 404, "not found", "no longer exists")
    assert assert_success(project.delete(sid, "photo")) is True
    assert project.data(sid) == {}


def test_each_change_saves_the_session_and_publishes_a_data_update(api: Api) -> None:
    events = DataEvents(api)
    project = Project.build(api)
    editor, editor_headers = project.member("manager")
    sid = project.session()
    created = project.session_json(sid)
    result = project.put_raw(sid, "photo", b"bytes", filename="p.bin", headers=editor_headers)
    assert_success(result)
    saved = project.session_json(sid)
    assert saved["modifiedBy"] == str(editor.id)
    assert saved["modifiedAt"] > created["modifiedAt"]
    [put_event] = events.wait_for(1)
    assert put_event["sessionId"] == sid
    assert put_event["actor"] == str(editor.id)
    assert put_event["changes"]["data"] == {"photo": project.data(sid)["photo"]}
    assert put_event["data"] == project.data(sid)
    assert_success(project.delete(sid, "photo"))
    deleted = project.session_json(sid)
    assert deleted["modifiedBy"] == str(project.admin.id)
    assert deleted["modifiedAt"] >= saved["modifiedAt"]
    delete_event = events.wait_for(2)[1]
    assert delete_event["changes"]["data"] == {"photo": None}
    assert delete_event["data"] == {}


def test_a_closed_session_is_read_only(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    assert_success(project.put_raw(sid, "photo", b"kept", filename="p.bin"))
    project.close(sid)
    before = (project.data(sid), project.media_rows(), project.session_json(sid)["modifiedAt"])
    assert_envelope_error(project.put_raw(sid, "photo", b"new", filename="n.bin"), 409, "conflict", "closed")
    assert_envelope_error(project.put_form(sid, "other", b"new"), 409, "conflict", "closed")
    assert_envelope_error(project.delete(sid, "photo"), 409, "conflict", "closed")
    assert (project.data(sid), project.media_rows(), project.session_json(sid)["modifiedAt"]) == before
    assert project.get(sid, "photo").content == b"kept"


def test_concurrent_uploads_to_one_point_leave_exactly_one_file(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    contents = [f"version {n}".encode() * 1000 for n in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(
            pool.map(
                lambda c: project.put_raw(sid, "photo", c, filename="p.bin", headers=project.headers),
                contents,
            )
        )
    assert [response.status_code for response in responses] == [200] * 4
    [media] = project.media_rows()
    assert project.data(sid)["photo"]["mediaId"] == media["id"]
    [blob] = stored_blobs(api)  # the replaced uploads' files are gone
    assert media["id"] in blob
    assert project.get(sid, "photo").content in contents
