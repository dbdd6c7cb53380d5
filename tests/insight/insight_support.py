"""Arrangements for the Insight tests: a customer (realm) with an admin and a plain user."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from conftest import Api
from fieldhub.app import SUBSCRIPTION_TEMPLATES, create_app
from fieldhub.core.bus.memory import MemoryBus
from fieldhub.core.config import Settings
from fieldhub.core.db import utcnow
from fieldhub.core.identity.models import Realm, User
from fieldhub.core.runtime import Runtime
from fieldhub.insight.models import Gateway, Scanner

PREFIX = "/insight"


def token_of(api: Api, realm: Realm, user: User) -> str:
    """An access token as a login issues it (without a login's deliberately slow password check)."""
    return api.runtime.tokens.issue(user_id=user.id, realm=realm.name, roles=user.roles, now=utcnow())


def quick_user(api: Api, realm: Realm, *, admin: bool = False, email: str | None = None) -> User:
    """A user without a password (as the Insight API creates them), so no password is hashed."""
    with api.runtime.db.unit_of_work() as uow:
        return api.runtime.identity(uow.session).create_user(
            realm=realm, username=f"u{uuid.uuid4().hex[:10]}", password=None, email=email, is_admin=admin
        )


@dataclass
class Customer:
    api: Api
    realm: Realm
    admin: User
    user: User
    admin_headers: dict[str, str]
    user_headers: dict[str, str]

    @classmethod
    def build(cls, api: Api) -> Customer:
        realm = api.realm()
        admin = quick_user(api, realm, admin=True, email="admin@example.com")
        user = quick_user(api, realm, email="user@example.com")
        # The spec's form: the IdToken as the whole header value, without a scheme.
        return cls(
            api=api,
            realm=realm,
            admin=admin,
            user=user,
            admin_headers={"Authorization": token_of(api, realm, admin)},
            user_headers={"Authorization": token_of(api, realm, user)},
        )

    @property
    def base(self) -> str:
        return f"{PREFIX}/{self.realm.id}"

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def get(self, path: str, *, admin: bool = True, **kwargs: Any) -> httpx.Response:
        return self.api.client.get(self.url(path), headers=self._headers(admin), **kwargs)

    def post(self, path: str, body: Any = None, *, admin: bool = True, **kwargs: Any) -> httpx.Response:
        headers = {**self._headers(admin), **kwargs.pop("headers", {})}
        return self.api.client.post(self.url(path), json=body, headers=headers, **kwargs)

    def patch(
        self, path: str, body: Any, *, admin: bool = True, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.api.client.patch(
            self.url(path), json=body, headers={**self._headers(admin), **(headers or {})}
        )

    def put(self, path: str, *, admin: bool = True, **kwargs: Any) -> httpx.Response:
        headers = {**self._headers(admin), **kwargs.pop("headers", {})}
        return self.api.client.put(self.url(path), headers=headers, **kwargs)

    def delete(self, path: str, *, admin: bool = True) -> httpx.Response:
        return self.api.client.delete(self.url(path), headers=self._headers(admin))

    def _headers(self, admin: bool) -> dict[str, str]:
        return dict(self.admin_headers if admin else self.user_headers)

    def gateway(self, name: str | None = None) -> dict[str, Any]:
        response = self.post(
            "/gateways", {"usecase": "Picking", "station": "S1", "name": name or f"gw-{uuid.uuid4().hex[:8]}"}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def prepare(self, gateway_id: str) -> str:
        response = self.post(f"/gateways/{gateway_id}/prepare-provisioning")
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def scanner(self, serial: str, **fields: Any) -> None:
        with self.api.runtime.db.unit_of_work() as uow:
            uow.session.add(Scanner(realm_id=self.realm.id, serial=serial, **fields))

    def gateway_seen(self, gateway_id: str, at: dt.datetime) -> None:
        """What the events part records when a gateway's message arrives."""
        with self.api.runtime.db.unit_of_work() as uow:
            row = uow.session.query(Gateway).filter(Gateway.id == uuid.UUID(gateway_id)).one()
            row.last_seen_at = at


def assert_error(response: httpx.Response, status: int, details: str | None = None) -> dict[str, Any]:
    """The family's envelope, with the spec's CORS headers like every response."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"title", "details"}, body
    assert body["title"]
    assert body["details"]
    if details is not None:
        assert details in body["details"], body
    assert response.headers["access-control-allow-origin"]
    return body


@contextmanager
def custom_api(settings: Settings, **overrides: Any) -> Iterator[Api]:
    """An app like the ``api`` fixture's, with some settings changed."""
    changed = settings.model_copy(update=overrides)
    runtime = Runtime.build(changed, subscription_templates=SUBSCRIPTION_TEMPLATES)
    bus = MemoryBus()
    with TestClient(create_app(changed, runtime=runtime, bus=bus)) as client:
        yield Api(client=client, runtime=runtime, bus=bus)
