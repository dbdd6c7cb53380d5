"""Arrangements shared by the snapshot tests: a realm with two parties, images, and the workflow calls."""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from PIL import Image

from conftest import Api
from fieldhub.core.identity.models import Application, Realm, User

PREFIX = "/rtc-api/snapshots"
#: Generous: the outbox publisher shares two CPUs with the whole test run.
WAIT_SECONDS = 15.0


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=kind)
    return buffer.getvalue()


PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG")


def multipart(fields: dict[str, str], image: bytes | None, content_type: str) -> list[tuple[str, Any]]:
    """Form parts (always multipart, even without the image), the image first."""
    parts: list[tuple[str, Any]] = [("image", ("snap", image, content_type))] if image is not None else []
    return parts + [(name, (None, value)) for name, value in fields.items()]


@dataclass
class Party:
    user: User
    endpoint: str
    headers: dict[str, str]

    @property
    def id(self) -> str:
        return str(self.user.id)


@dataclass
class World:
    """A realm with an application, a requester (agent) and a target (customer) in one interaction."""

    api: Api
    realm: Realm
    application: Application
    requester: Party
    target: Party
    interaction: str = field(default_factory=lambda: f"int-{uuid.uuid4().hex[:8]}")

    @classmethod
    def build(cls, api: Api) -> World:
        realm = api.realm()
        application = api.application(realm)
        world = cls(
            api=api,
            realm=realm,
            application=application,
            requester=cls._party(api, realm, "agent-ep"),
            target=cls._party(api, realm, "customer-ep"),
        )
        return world

    @staticmethod
    def _party(api: Api, realm: Realm, endpoint: str, *, admin: bool = False) -> Party:
        user = api.user(realm, admin=admin)
        return Party(
            user=user, endpoint=f"{endpoint}-{uuid.uuid4().hex[:6]}", headers=api.headers(realm, user)
        )

    def party(self, endpoint: str = "other-ep", *, admin: bool = False) -> Party:
        return self._party(self.api, self.realm, endpoint, admin=admin)

    # calls ---------------------------------------------------------------------------------
    def post(
        self, path: str, caller: Party | dict[str, str], body: Any = None, **kwargs: Any
    ) -> httpx.Response:
        headers = caller.headers if isinstance(caller, Party) else caller
        return self.api.client.post(
            f"{PREFIX}{path}", json=body, headers={**headers, **kwargs.pop("headers", {})}, **kwargs
        )

    def get(self, path: str, caller: Party | dict[str, str], **kwargs: Any) -> httpx.Response:
        headers = caller.headers if isinstance(caller, Party) else caller
        return self.api.client.get(f"{PREFIX}{path}", headers=headers, **kwargs)

    def request_body(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "applicationId": {"id": self.application.id},
            "interactionId": self.interaction,
            "sessionId": "conf-1",
            "sessionType": "CALL",
            "snapshotType": "id-card",
            "targetUserEndpointId": self.target.endpoint,
            "targetUserId": self.target.id,
            "userEndpointId": self.requester.endpoint,
        }
        body.update(overrides)
        return {key: value for key, value in body.items() if value is not None}

    def request(self, caller: Party | None = None, **overrides: Any) -> str:
        response = self.post("/request", caller or self.requester, self.request_body(**overrides))
        assert response.status_code == 200, response.text
        return str(response.json()["snapshotId"])

    def acquire_fields(self, snapshot_id: str, **overrides: Any) -> dict[str, str]:
        fields = {
            "snapshotId": snapshot_id,
            "snapshotMimeType": "image/png",
            "snapshotSuffix": "png",
            "snapshotType": "id-card",
            "userEndpointId": self.target.endpoint,
        }
        fields.update(overrides)
        return {key: value for key, value in fields.items() if value is not None}

    def acquire_response(
        self, snapshot_id: str, *, caller: Party | None = None, image: bytes | None = PNG, **overrides: Any
    ) -> httpx.Response:
        return self.api.client.post(
            f"{PREFIX}/acquire",
            files=multipart(self.acquire_fields(snapshot_id, **overrides), image, "image/png"),
            headers=(caller or self.target).headers,
        )

    def acquire(self, snapshot_id: str, **overrides: Any) -> None:
        response = self.acquire_response(snapshot_id, **overrides)
        assert response.status_code == 204, response.text

    def acquired(self) -> str:
        snapshot_id = self.request()
        self.acquire(snapshot_id)
        return snapshot_id

    def upload_fields(self, **overrides: Any) -> dict[str, str]:
        fields = {
            "applicationId": self.application.id,
            "interactionId": self.interaction,
            "snapshotMimeType": "image/jpeg",
            "snapshotSuffix": ".jpg",
            "snapshotType": "annotated",
            "targetUserEndpointId": self.target.endpoint,
            "targetUserId": self.target.id,
            "userEndpointId": self.requester.endpoint,
        }
        fields.update(overrides)
        return {key: value for key, value in fields.items() if value is not None}

    def upload_response(
        self, *, caller: Party | None = None, image: bytes | None = JPEG, **overrides: Any
    ) -> httpx.Response:
        return self.api.client.post(
            f"{PREFIX}/upload",
            files=multipart(self.upload_fields(**overrides), image, "image/jpeg"),
            headers=(caller or self.requester).headers,
        )

    def snapshot(self, snapshot_id: str, caller: Party | None = None) -> dict[str, Any]:
        response = self.get(f"/{snapshot_id}", caller or self.requester)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def decide(
        self, verb: str, snapshot_id: str, caller: Party | None = None, **extra: Any
    ) -> httpx.Response:
        party = caller or self.requester
        return self.post(
            f"/{verb}", party, {"snapshotId": snapshot_id, "userEndpointId": party.endpoint, **extra}
        )


def assert_error(response: httpx.Response, status: int, message_part: str = "") -> dict[str, Any]:
    """The spec's (Spring Boot's) error body, with the status and a message naming the problem."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"timestamp", "status", "error", "message", "path"}, body
    assert body["status"] == status
    assert body["path"].startswith(PREFIX)
    assert message_part in body["message"], body
    return body


def blob_count(api: Api) -> int:
    """How many snapshot images the blob store holds (both backends list through their own API)."""
    store: Any = api.runtime.blobs
    root = getattr(store, "root", None)
    if root is not None:
        directory = root / "snapshots"
        return sum(1 for path in directory.rglob("*") if path.is_file()) if directory.exists() else 0
    prefix = store._object_key("snapshots") + "/"
    listing = store._client.list_objects_v2(Bucket=store.bucket, Prefix=prefix)
    return int(listing.get("KeyCount", 0))


class Inbox:
    """Every message the in-memory bus delivers on ``user/#``, as (topic, payload) pairs."""

    def __init__(self, api: Api) -> None:
        self._messages: list[tuple[str, dict[str, Any]]] = []
        self._arrived = threading.Condition()
        api.client.portal.call(api.bus.subscribe, "user/#", self._receive)  # type: ignore[union-attr]

    async def _receive(self, topic: str, payload: bytes) -> None:
        with self._arrived:
            self._messages.append((topic, orjson.loads(payload)))
            self._arrived.notify_all()

    def wait_for(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self._messages) >= count, WAIT_SECONDS)
            return list(self._messages)

    def wait_until(self, found: Callable[[str, dict[str, Any]], bool]) -> list[tuple[str, dict[str, Any]]]:
        """Every message so far, once one matching ``found`` has arrived (or the wait ran out)."""
        with self._arrived:
            self._arrived.wait_for(lambda: any(found(t, p) for t, p in self._messages), WAIT_SECONDS)
            return list(self._messages)

    def quiet(self, seconds: float = 0.3) -> list[tuple[str, dict[str, Any]]]:
        time.sleep(seconds)
        with self._arrived:
            return list(self._messages)
