"""Helpers for the attachments API tests (a plain module, imported by name; see tests/skylight).

A :class:`Project` is one realm with an admin, an application (the project, by its number) and
an API user acting as the admin; requests are signed the way the docs tell clients to sign them,
computed here independently of the server's code.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text

from conftest import Api
from fieldhub.attachments.credentials import ApiUserService
from fieldhub.core.identity.models import Application, Realm, User
from fieldhub.core.identity.sealing import SecretSealer

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def basic_password(secret: str, username: str, timestamp: str) -> str:
    message = f"name:{username};timestamp:{timestamp};".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def signed_headers(
    username: str, secret: str, *, timestamp: int | str | None = None, password: str | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    password = password if password is not None else basic_password(secret, username, ts)
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {credentials}", "HTTP-X-API-TIMESTAMP": ts}


def stored_blobs(api: Api) -> list[str]:
    """Every blob the app's store holds (files under the data dir, or objects of the S3 bucket)."""
    settings = api.runtime.settings
    if not settings.blob_url:
        root = settings.data_dir / "blobs"
        return (
            sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []
        )
    import boto3

    url = urlsplit(settings.blob_url)
    client = boto3.client(
        "s3",
        endpoint_url=settings.blob_s3_endpoint_url,
        region_name=settings.blob_s3_region,
        aws_access_key_id=settings.blob_s3_access_key_id,
        aws_secret_access_key=settings.blob_s3_secret_access_key,
    )
    listing = client.list_objects_v2(Bucket=url.netloc)
    return sorted(str(item["Key"]) for item in listing.get("Contents", []))


def assert_envelope_error(response: Any, status: int, text: str, *fragments: str) -> str:
    """The family's error envelope: exactly ``{"status": text, "message": "..."}``."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status", "message"}, body
    assert body["status"] == text
    message: str = body["message"]
    assert message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def assert_success(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code} {response.text}"
    body = response.json()
    assert set(body) == {"status", "result"}, body
    assert body["status"] == "success"
    return body["result"]


def new_user(api: Api, realm: Realm, *, admin: bool = False) -> User:
    with api.runtime.db.unit_of_work() as uow:
        return api.runtime.identity(uow.session).create_user(
            realm=realm, username=f"u{uuid.uuid4().hex[:12]}", password=None, is_admin=admin
        )


def token_headers(api: Api, realm: Realm, user: User) -> dict[str, str]:
    token = api.runtime.tokens.issue(
        user_id=user.id, realm=realm.name, roles=user.roles, now=dt.datetime.now(dt.UTC)
    )
    return {"Authorization": f"Bearer {token}"}


def create_api_user(api: Api, realm: Realm, username: str) -> str:
    """Arrangement: gives ``username`` (created if missing) an API secret; returns the secret."""
    sealer = SecretSealer.load_or_create(api.runtime.settings.data_dir)
    with api.runtime.db.unit_of_work() as uow:
        return (
            ApiUserService(session=uow.session, sealer=sealer).create(realm=realm, username=username).secret
        )


@dataclass
class Project:
    api: Api
    realm: Realm
    admin: User
    app: Application
    headers: dict[str, str]
    secret: str

    @classmethod
    def build(cls, api: Api) -> Project:
        realm = api.realm()
        admin = new_user(api, realm, admin=True)
        app = api.application(realm)
        secret = create_api_user(api, realm, admin.username)
        return cls(api, realm, admin, app, token_headers(api, realm, admin), secret)

    def signed(self, **extra: Any) -> dict[str, str]:
        return signed_headers(self.admin.username, self.secret, **extra)

    def member(self, role: str | None = None) -> tuple[User, dict[str, str]]:
        user = new_user(self.api, self.realm)
        if role:
            self.api.grant(self.realm, self.app, role, user=user)
        return user, token_headers(self.api, self.realm, user)

    # sessions (through the Skylight API) ----------------------------------------------
    @property
    def sessions(self) -> str:
        return f"/v1/application/applications/{self.app.id}/sessions"

    def session(self, headers: Mapping[str, str] | None = None, **body: Any) -> str:
        body = {"version": 1, "participants": [], **body}
        response = self.api.client.post(self.sessions, json=body, headers=dict(headers or self.headers))
        assert response.status_code == 201, response.text
        return str(response.json()["sessionId"])

    def session_json(self, sid: str) -> dict[str, Any]:
        response = self.api.client.get(f"{self.sessions}/{sid}", headers=self.headers)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def data(self, sid: str) -> dict[str, Any]:
        response = self.api.client.get(f"{self.sessions}/{sid}/data", headers=self.headers)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def close(self, sid: str) -> None:
        response = self.api.client.patch(
            f"{self.sessions}/{sid}", json={"status": "closed"}, headers=self.headers
        )
        assert response.status_code == 200, response.text

    def media_rows(self) -> list[dict[str, Any]]:
        """The application's media items (id, filename, content type, size, md5, blob key)."""
        query = text(
            "SELECT id, filename, content_type, total_bytes, etag, content_key FROM media"
            " WHERE application_id = :app ORDER BY pk"
        )
        with self.api.runtime.db.unit_of_work(write=False) as uow:
            rows = [dict(row._mapping) for row in uow.session.execute(query, {"app": self.app.id})]
        # SQLite gives UUIDs back as 32 hex digits, PostgreSQL as UUIDs: show both as the API does.
        return [{**row, "id": str(uuid.UUID(str(row["id"])))} for row in rows]

    # attachments ------------------------------------------------------------------------
    def url(self, sid: str, point: str, *, project: int | str | None = None) -> str:
        number = self.app.number if project is None else project
        return f"/api/v1/project/{number}/sessions/{sid}/attachments/{point}"

    def put_form(
        self,
        sid: str,
        point: str,
        content: bytes,
        *,
        filename: str = "photo.png",
        content_type: str = "image/png",
        headers: Mapping[str, str] | None = None,
        field: str = "attachment",
    ) -> Any:
        return self.api.client.put(
            self.url(sid, point),
            files={field: (filename, content, content_type)},
            headers=dict(headers if headers is not None else self.signed()),
        )

    def put_raw(
        self,
        sid: str,
        point: str,
        content: bytes,
        *,
        filename: str | None = "report.pdf",
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> Any:
        params = {"filename": filename} if filename is not None else {}
        return self.api.client.put(
            self.url(sid, point),
            content=content,
            params=params,
            headers={"Content-Type": content_type, **(headers if headers is not None else self.signed())},
        )

    def get(self, sid: str, point: str, headers: Mapping[str, str] | None = None) -> Any:
        return self.api.client.get(self.url(sid, point), headers=dict(headers or self.signed()))

    def delete(self, sid: str, point: str, headers: Mapping[str, str] | None = None) -> Any:
        return self.api.client.delete(self.url(sid, point), headers=dict(headers or self.signed()))
