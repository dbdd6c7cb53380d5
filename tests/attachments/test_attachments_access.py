"""Realm isolation and the foundation's role rules, applied to attachments (Bearer tokens here)."""

from __future__ import annotations

from attachments_support import Project, assert_envelope_error, assert_success, new_user, token_headers

from conftest import Api


def test_another_realms_caller_gets_404_and_changes_nothing(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    assert_success(project.put_raw(sid, "photo", b"private", filename="p.bin"))
    other_realm = api.realm()
    stranger = token_headers(api, other_realm, new_user(api, other_realm, admin=True))
    api.application(other_realm)  # number 1 exists there too: the project number alone finds nothing
    assert_envelope_error(project.get(sid, "photo", stranger), 404, "not found", "Session not found")
    assert_envelope_error(project.delete(sid, "photo", stranger), 404, "not found")
    assert_envelope_error(
        project.put_raw(sid, "photo", b"overwrite", headers=stranger), 404, "not found", "Session not found"
    )
    no_project = api.realm()
    lost = token_headers(api, no_project, new_user(api, no_project, admin=True))
    assert_envelope_error(project.get(sid, "photo", lost), 404, "not found", "Project not found")
    assert project.get(sid, "photo").content == b"private"
    assert len(project.media_rows()) == 1


def test_a_caller_without_a_role_in_the_application_is_403(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    assert_success(project.put_raw(sid, "photo", b"bytes", filename="p.bin"))
    _, outsider = project.member()
    assert_envelope_error(project.get(sid, "photo", outsider), 403, "forbidden", "no role")
    assert_envelope_error(project.put_raw(sid, "photo", b"x", headers=outsider), 403, "forbidden")
    assert_envelope_error(project.delete(sid, "photo", outsider), 403, "forbidden")
    assert project.get(sid, "photo").content == b"bytes"


def test_an_application_user_works_only_on_sessions_they_take_part_in(api: Api) -> None:
    project = Project.build(api)
    worker, worker_headers = project.member("user")
    theirs = project.session(participants=[{"type": "user", "id": str(worker.id)}])
    others = project.session()
    assert_success(project.put_raw(others, "photo", b"not yours", filename="p.bin"))
    assert_envelope_error(project.get(others, "photo", worker_headers), 403, "forbidden", "take part")
    assert_envelope_error(project.put_raw(others, "photo", b"x", headers=worker_headers), 403, "forbidden")
    assert_envelope_error(project.delete(others, "photo", worker_headers), 403, "forbidden")
    assert_success(project.put_form(theirs, "photo", b"mine", headers=worker_headers))
    assert project.get(theirs, "photo", worker_headers).content == b"mine"
    assert assert_success(project.delete(theirs, "photo", worker_headers)) is True
    assert project.get(others, "photo").content == b"not yours"


def test_a_manager_works_on_every_session_of_the_application(api: Api) -> None:
    project = Project.build(api)
    _, manager = project.member("manager")
    sid = project.session()
    assert_success(project.put_raw(sid, "photo", b"by manager", filename="m.bin", headers=manager))
    assert project.get(sid, "photo").content == b"by manager"
