"""Bad input: a clear 4xx in the family's envelope, and nothing changed (no data, no media, no blob)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from attachments_support import Project, assert_envelope_error, assert_success, stored_blobs

from conftest import Api
from fieldhub.attachments import endpoints

pytestmark = pytest.mark.usefixtures("blob_backend")
NO_SUCH_SESSION = "00000000-0000-4000-8000-000000000000"


def assert_unchanged(project: Project, sid: str, before: Any) -> None:
    assert (project.data(sid), project.media_rows(), stored_blobs(project.api)) == before


def snapshot(project: Project, sid: str) -> Any:
    return (project.data(sid), project.media_rows(), stored_blobs(project.api))


def multipart(boundary: str, *parts: bytes, closing: bool = True) -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return body + (b"--" + boundary.encode() + b"--\r\n" if closing else b"")


def file_part(name: str, filename: str, content: bytes) -> bytes:
    return (
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + content


CASES: dict[str, Callable[[Project, str], Any]] = {
    "json body": lambda p, sid: p.api.client.put(
        p.url(sid, "photo"), json={"attachment": "x"}, headers=p.signed()
    ),
    "text/plain body": lambda p, sid: p.put_raw(sid, "photo", b"x", content_type="text/plain"),
    "no content type": lambda p, sid: p.api.client.put(p.url(sid, "photo"), content=b"x", headers=p.signed()),
    "wrong form field": lambda p, sid: p.put_form(sid, "photo", b"x", field="file"),
    "raw without filename": lambda p, sid: p.put_raw(sid, "photo", b"x", filename=None),
    "raw with empty filename": lambda p, sid: p.put_raw(sid, "photo", b"x", filename=""),
    "raw path traversal": lambda p, sid: p.put_raw(sid, "photo", b"x", filename="../../etc/passwd"),
    "raw windows path": lambda p, sid: p.put_raw(sid, "photo", b"x", filename="..\\boot.ini"),
    "raw dot-dot": lambda p, sid: p.put_raw(sid, "photo", b"x", filename=".."),
    "raw control character": lambda p, sid: p.put_raw(sid, "photo", b"x", filename="a\x07b.txt"),
    "raw NUL": lambda p, sid: p.put_raw(sid, "photo", b"x", filename="a\x00b.txt"),
    "raw newline": lambda p, sid: p.put_raw(sid, "photo", b"x", filename="a\r\nX-Evil: 1"),
    "raw too long": lambda p, sid: p.put_raw(sid, "photo", b"x", filename="a" * 256),
    "form path traversal": lambda p, sid: p.put_form(sid, "photo", b"x", filename="../../../x.png"),
    "form control character": lambda p, sid: p.put_form(sid, "photo", b"x", filename="bad\x1bname.png"),
    "form part without filename": lambda p, sid: p.api.client.put(
        p.url(sid, "photo"),
        content=multipart("b0undary", b'Content-Disposition: form-data; name="attachment"\r\n\r\nplain text'),
        headers={"Content-Type": "multipart/form-data; boundary=b0undary", **p.signed()},
    ),
    "truncated multipart": lambda p, sid: p.api.client.put(
        p.url(sid, "photo"),
        content=multipart("b0undary", file_part("attachment", "a.bin", b"x" * 5000), closing=False)[:-100],
        headers={"Content-Type": "multipart/form-data; boundary=b0undary", **p.signed()},
    ),
    "multipart without boundary": lambda p, sid: p.api.client.put(
        p.url(sid, "photo"), content=b"--x--", headers={"Content-Type": "multipart/form-data", **p.signed()}
    ),
    "attachment sent twice": lambda p, sid: p.api.client.put(
        p.url(sid, "photo"),
        content=multipart(
            "b0undary", file_part("attachment", "a.bin", b"1"), file_part("attachment", "b.bin", b"2")
        ),
        headers={"Content-Type": "multipart/form-data; boundary=b0undary", **p.signed()},
    ),
    "point name with a dot": lambda p, sid: p.put_raw(sid, "photo.jpg", b"x"),
    "point name too long": lambda p, sid: p.put_raw(sid, "p" * 65, b"x"),
    "project not a number": lambda p, sid: p.api.client.put(
        p.url(sid, "photo", project="one"),
        content=b"x",
        params={"filename": "a.bin"},
        headers={"Content-Type": "application/octet-stream", **p.signed()},
    ),
}
MESSAGES = {
    "json body": "content-type",
    "text/plain body": "content-type",
    "no content type": "content-type",
    "wrong form field": "attachment: is required",
    "raw without filename": "filename: is required",
    "raw path traversal": "filename",
    "raw windows path": "filename",
    "raw control character": "control characters",
    "raw too long": "at most 255",
    "form path traversal": "filename",
    "form control character": "control characters",
    "form part without filename": "no filename",
    "truncated multipart": "truncated",
    "multipart without boundary": "boundary",
    "attachment sent twice": "more than once",
    "point name with a dot": "id:",
    "point name too long": "id:",
    "project not a number": "project_id: must be an integer",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_uploads_are_400_and_change_nothing(api: Api, case: str) -> None:
    project = Project.build(api)
    sid = project.session()
    assert_success(project.put_raw(sid, "photo", b"original", filename="original.bin"))
    before = snapshot(project, sid)
    assert_envelope_error(CASES[case](project, sid), 400, "bad request", MESSAGES.get(case, ""))
    assert_unchanged(project, sid, before)
    assert project.get(sid, "photo").content == b"original"


@pytest.mark.parametrize(
    ("project_number", "session", "fragment"),
    [
        (99, None, "Project not found"),
        (None, NO_SUCH_SESSION, "Session not found"),
        (None, "not-a-uuid", "Session"),
    ],
)
def test_unknown_projects_and_sessions_are_404(
    api: Api, project_number: int | None, session: str | None, fragment: str
) -> None:
    project = Project.build(api)
    sid = project.session()
    url = project.url(session or sid, "photo", project=project_number)
    for response in (
        api.client.get(url, headers=project.signed()),
        api.client.delete(url, headers=project.signed()),
        api.client.put(
            url,
            content=b"x",
            params={"filename": "a.bin"},
            headers={"Content-Type": "application/octet-stream", **project.signed()},
        ),
    ):
        assert_envelope_error(response, 404, "not found", fragment)
    assert project.media_rows() == []
    assert stored_blobs(api) == []


def test_other_routes_and_methods_answer_in_the_envelope(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    assert_envelope_error(
        api.client.post(project.url(sid, "photo"), headers=project.signed()), 405, "method not allowed"
    )
    assert_envelope_error(api.client.get("/api/v1/nothing-here"), 404, "not found")
    assert_envelope_error(api.client.post("/api/v1/time"), 405, "method not allowed")


@pytest.mark.parametrize("form", [False, True])
def test_a_file_over_the_size_limit_is_413_and_leaves_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch, form: bool
) -> None:
    monkeypatch.setattr(endpoints, "MAX_ATTACHMENT_BYTES", 64 * 1024)
    project = Project.build(api)
    sid = project.session()
    before = snapshot(project, sid)
    content = b"x" * (64 * 1024 + 1)
    response = project.put_form(sid, "photo", content) if form else project.put_raw(sid, "photo", content)
    assert_envelope_error(response, 413, "request entity too large", str(64 * 1024))
    assert_unchanged(project, sid, before)
    assert_success(project.put_raw(sid, "photo", content[:-1]))


def test_the_openapi_document_describes_the_routes(api: Api) -> None:
    document = api.client.get("/api/v1/openapi.json").json()
    operations = document["paths"]["/v1/project/{project_id}/sessions/{session_id}/attachments/{id}"]
    assert set(operations) == {"get", "put", "delete"}
    assert set(operations["put"]["requestBody"]["content"]) == {
        "multipart/form-data",
        "application/octet-stream",
    }
    assert "/v1/time" in document["paths"]
