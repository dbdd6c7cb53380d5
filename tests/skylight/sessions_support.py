"""Helpers for the Skylight Sessions API tests (a plain module, not a conftest: see the note below).

Each test builds a :class:`World` (a realm, its admin, an application) through the ``Api``
arrangement helpers and then talks to the service only through HTTP.  The module is imported by
name from the test files next to it; a second ``conftest.py`` would shadow ``tests/conftest.py``
for ``from conftest import Api`` in rootdir (prepend) import mode.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert

from conftest import Api
from fieldhub.core.identity.models import Application, Group, Realm, User
from fieldhub.skylight.models import WorkSession

RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SESSION_FIELDS = {
    "sessionId",
    "applicationId",
    "version",
    "name",
    "description",
    "participants",
    "status",
    "properties",
    "createdBy",
    "createdAt",
    "modifiedBy",
    "modifiedAt",
    "isDraft",
}
PAGE_FIELDS = {"count", "limit", "total", "prevCursor", "nextCursor"}
NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"


def user_ref(user: User, *, guest: bool | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"type": "user", "id": str(user.id)}
    if guest is not None:
        ref["isGuest"] = guest
    return ref


def group_ref(group: Group, *, guest: bool | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"type": "group", "id": str(group.id)}
    if guest is not None:
        ref["isGuest"] = guest
    return ref


def assert_error(response: Any, status: int, *fragments: str) -> str:
    """The spec's error envelope: exactly ``{"error": "..."}`` with every fragment in the message."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    message: str = body["error"]
    assert isinstance(message, str)
    assert message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def parse_time(value: str) -> dt.datetime:
    assert RFC3339_MS.match(value), value
    return dt.datetime.fromisoformat(value)


def new_user(api: Api, realm: Realm, *, admin: bool = False) -> User:
    """A user without a password: no argon2 work, for users that never log in with one."""
    with api.runtime.db.unit_of_work() as uow:
        return api.runtime.identity(uow.session).create_user(
            realm=realm, username=f"u{uuid.uuid4().hex[:12]}", password=None, is_admin=admin
        )


def token_headers(api: Api, realm: Realm, user: User, *, now: dt.datetime | None = None) -> dict[str, str]:
    """An access token minted by the server's own codec (login itself is tested elsewhere)."""
    token = api.runtime.tokens.issue(
        user_id=user.id, realm=realm.name, roles=user.roles, now=now or dt.datetime.now(dt.UTC)
    )
    return {"Authorization": f"Bearer {token}"}


@dataclass
class World:
    """One realm with an admin and an application, plus HTTP shortcuts for its sessions."""

    api: Api
    realm: Realm
    admin: User
    app: Application
    headers: dict[str, str]

    @classmethod
    def build(cls, api: Api) -> World:
        realm = api.realm()
        admin = new_user(api, realm, admin=True)
        app = api.application(realm)
        return cls(api=api, realm=realm, admin=admin, app=app, headers=token_headers(api, realm, admin))

    @property
    def base(self) -> str:
        return f"/v1/application/applications/{self.app.id}/sessions"

    def url(self, session_id: str, suffix: str = "") -> str:
        return f"{self.base}/{session_id}{suffix}"

    def member(self, role: str | None = None, *, admin: bool = False) -> tuple[User, dict[str, str]]:
        """A new user of this realm, granted ``role`` in the application when given."""
        user = new_user(self.api, self.realm, admin=admin)
        if role:
            self.api.grant(self.realm, self.app, role, user=user)
        return user, token_headers(self.api, self.realm, user)

    def user(self) -> User:
        return new_user(self.api, self.realm)

    # HTTP shortcuts ---------------------------------------------------------------------
    def create(self, headers: Mapping[str, str] | None = None, **body: Any) -> dict[str, Any]:
        body.setdefault("version", 1)
        body.setdefault("participants", [])
        response = self.api.client.post(self.base, json=body, headers=dict(headers or self.headers))
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def get(self, session_id: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        response = self.api.client.get(self.url(session_id), headers=dict(headers or self.headers))
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def patch(self, session_id: str, headers: Mapping[str, str] | None = None, **body: Any) -> dict[str, Any]:
        response = self.api.client.patch(
            self.url(session_id), json=body, headers=dict(headers or self.headers)
        )
        assert response.status_code == 200, response.text
        patched: dict[str, Any] = response.json()
        return patched

    def data(self, session_id: str) -> dict[str, Any]:
        response = self.api.client.get(self.url(session_id, "/data"), headers=self.headers)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def participants(self, session_id: str) -> list[dict[str, Any]]:
        response = self.api.client.get(self.url(session_id, "/participants"), headers=self.headers)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        return rows

    def page(self, headers: Mapping[str, str] | None = None, **params: Any) -> dict[str, Any]:
        response = self.api.client.get(self.base, params=params, headers=dict(headers or self.headers))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert set(body) == {"data", "page"}
        assert set(body["page"]) == PAGE_FIELDS
        assert body["page"]["count"] == len(body["data"])
        return body

    def walk(self, headers: Mapping[str, str] | None = None, **params: Any) -> list[dict[str, Any]]:
        """Every session the list shows for ``params``, following ``nextCursor`` to the end."""
        params.setdefault("limit", 200)
        seen: list[dict[str, Any]] = []
        body = self.page(headers, **params)
        while True:
            seen.extend(body["data"])
            cursor = body["page"]["nextCursor"]
            if cursor is None:
                return seen
            body = self.page(headers, **params, nextCursor=cursor)

    def ids(self, headers: Mapping[str, str] | None = None, **params: Any) -> list[str]:
        return [row["sessionId"] for row in self.walk(headers, **params)]

    def snapshot(self) -> list[dict[str, Any]]:
        """Every session of the application with its data: compare before/after a refused request."""
        return [{**row, "data": self.data(row["sessionId"])} for row in self.walk()]

    # fast arrangement -------------------------------------------------------------------
    def insert_sessions(self, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        """Inserts sessions straight into the table (arrangement only), in the given order."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        values = []
        for row in rows:
            session_id = uuid.uuid4()
            values.append(
                {
                    "id": session_id,
                    "realm_id": self.realm.id,
                    "application_id": self.app.id,
                    "version": 1,
                    "name": row.get("name", ""),
                    "description": "",
                    "status": row.get("status", "open"),
                    "properties": {},
                    "data": {},
                    "is_draft": False,
                    "created_by": row.get("created_by", self.admin.id),
                    "created_at": row.get("created_at", now),
                    "modified_by": row.get("modified_by", self.admin.id),
                    "modified_at": row.get("modified_at", row.get("created_at", now)),
                }
            )
        with self.api.runtime.db.unit_of_work() as uow:
            uow.session.execute(insert(WorkSession), values)
        return [str(value["id"]) for value in values]
