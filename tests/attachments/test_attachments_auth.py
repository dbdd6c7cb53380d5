"""The attachments API's authentication: HMAC-signed Basic credentials, Bearer tokens, server time."""

from __future__ import annotations

import base64
import time

import pytest
from attachments_support import (
    Project,
    assert_envelope_error,
    assert_success,
    basic_password,
    create_api_user,
    signed_headers,
    token_headers,
)

from conftest import Api

REFUSED = "Invalid API credentials"


def test_server_time_needs_no_authentication(api: Api) -> None:
    before = int(time.time())
    result = assert_success(api.client.get("/api/v1/time"))
    assert isinstance(result, int)
    assert before <= result <= int(time.time())


def test_a_correctly_signed_request_is_served(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    assert assert_success(project.put_raw(sid, "report", b"signed bytes")) is not None
    response = project.get(sid, "report")
    assert response.status_code == 200
    assert response.content == b"signed bytes"


def test_the_timestamp_header_may_also_be_sent_as_x_api_timestamp(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    headers = project.signed()
    headers["X-API-TIMESTAMP"] = headers.pop("HTTP-X-API-TIMESTAMP")
    assert_envelope_error(project.get(sid, "nothing", headers), 404, "not found", "No attachment")


def test_bearer_tokens_are_accepted_too(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    assert_success(project.put_raw(sid, "report", b"by token", headers=project.headers))
    assert project.get(sid, "report", project.headers).content == b"by token"
    spec_form = {"Authorization": project.headers["Authorization"].replace("Bearer ", "Bearer: ")}
    assert project.get(sid, "report", spec_form).content == b"by token"


def test_a_bad_signature_is_refused_and_changes_nothing(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    ts = str(int(time.time()))
    wrong = basic_password("not-the-secret", project.admin.username, ts)
    headers = signed_headers(project.admin.username, project.secret, timestamp=ts, password=wrong)
    assert_envelope_error(project.put_raw(sid, "report", b"x", headers=headers), 403, "forbidden", REFUSED)
    # The signature covers the timestamp: a password made for another second does not pass.
    stale = basic_password(project.secret, project.admin.username, str(int(ts) - 1))
    headers = signed_headers(project.admin.username, project.secret, timestamp=ts, password=stale)
    assert_envelope_error(project.get(sid, "report", headers), 403, "forbidden", REFUSED)
    assert project.data(sid) == {}
    assert project.media_rows() == []


# Not 301: the timestamp has whole seconds, so "now + 301" read a moment later can be within 300 s.
@pytest.mark.parametrize("offset", [-320, 320, -3600])
def test_a_timestamp_more_than_five_minutes_off_is_refused(api: Api, offset: int) -> None:
    project = Project.build(api)
    sid = project.session()
    headers = project.signed(timestamp=int(time.time()) + offset)
    assert_envelope_error(
        project.put_raw(sid, "report", b"x", headers=headers), 403, "forbidden", "5 minutes"
    )
    assert project.data(sid) == {}


def test_a_timestamp_within_five_minutes_is_accepted(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    headers = project.signed(timestamp=int(time.time()) - 240)
    assert_envelope_error(project.get(sid, "report", headers), 404, "not found", "No attachment")


def test_an_unknown_api_user_gets_the_same_answer_as_a_bad_signature(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    headers = signed_headers("nobody", project.secret)
    assert_envelope_error(project.get(sid, "report", headers), 403, "forbidden", REFUSED)


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "No credentials"),
        ({"Authorization": "Digest abc"}, "must be 'Basic"),
        ({"Authorization": "Basic !!!", "HTTP-X-API-TIMESTAMP": "1"}, "must be 'Basic"),
        ({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, "username:password"),
        ({"Authorization": "Bearer not-a-token"}, "Invalid access token"),
    ],
)
def test_missing_or_malformed_credentials_are_401(api: Api, headers: dict[str, str], fragment: str) -> None:
    project = Project.build(api)
    sid = project.session()
    response = api.client.get(project.url(sid, "report"), headers=headers)
    assert_envelope_error(response, 401, "unauthorized", fragment)
    assert response.headers["www-authenticate"].startswith("Basic ")


@pytest.mark.parametrize("timestamp", [None, "soon", "-5", "1.5e9"])
def test_basic_credentials_need_a_unix_timestamp_header(api: Api, timestamp: str | None) -> None:
    project = Project.build(api)
    sid = project.session()
    headers = project.signed()
    if timestamp is None:
        del headers["HTTP-X-API-TIMESTAMP"]
    else:
        headers["HTTP-X-API-TIMESTAMP"] = timestamp
    assert_envelope_error(project.get(sid, "report", headers), 401, "unauthorized", "HTTP-X-API-TIMESTAMP")


def test_authentication_comes_before_input_checks(api: Api) -> None:
    response = api.client.put(
        "/api/v1/project/not-a-number/sessions/x/attachments/bad%20name", content=b"x", headers={}
    )
    assert_envelope_error(response, 401, "unauthorized")


def test_an_api_user_of_another_realm_sees_nothing_of_this_one(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    assert_success(project.put_raw(sid, "report", b"private"))
    other = Project.build(api)  # its application has the same number (1) in its own realm
    assert other.app.number == project.app.number
    for response in (
        api.client.get(project.url(sid, "report"), headers=other.signed()),
        api.client.delete(project.url(sid, "report"), headers=other.signed()),
        api.client.put(
            project.url(sid, "report"),
            content=b"overwrite",
            params={"filename": "x.bin"},
            headers={"Content-Type": "application/octet-stream", **other.signed()},
        ),
    ):
        assert_envelope_error(response, 404, "not found", "Session not found")
    assert project.get(sid, "report").content == b"private"


def test_an_api_user_acts_with_its_realm_users_roles(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    secret = create_api_user(api, project.realm, "integration")  # a new user, without any role yet
    headers = signed_headers("integration", secret)
    assert_envelope_error(project.get(sid, "report", headers), 403, "forbidden", "no role")
    with api.runtime.db.unit_of_work() as uow:
        api.runtime.identity(uow.session).grant(
            realm=project.realm, application_id=project.app.id, role="manager", username="integration"
        )
    assert_success(
        project.put_raw(sid, "report", b"by integration", headers=signed_headers("integration", secret))
    )
    session = project.session_json(sid)
    assert session["modifiedBy"] != str(project.admin.id)


def test_a_deleted_user_token_is_refused(api: Api) -> None:
    project = Project.build(api)
    sid = project.session()
    other_realm = api.realm()
    stranger = token_headers(api, other_realm, project.admin)  # the token names a user its realm lacks
    assert_envelope_error(project.get(sid, "report", stranger), 401, "unauthorized")
