"""Helpers for the Session Media tests: a realm, an admin, an application and an open session,
plus HTTP shortcuts for media.  A plain module (imported by name), like sessions_support."""

from __future__ import annotations

import datetime as dt
import io
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from conftest import Api
from fieldhub.core.identity.models import Application, Realm, User

NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"
MEDIA_FIELDS = {
    "filename",
    "title",
    "description",
    "etag",
    "labels",
    "properties",
    "applicationId",
    "mediaId",
    "contentType",
    "totalBytes",
    "uploadedBytes",
    "createdBy",
    "createdAt",
    "modifiedBy",
    "modifiedAt",
    "sessionId",
    "annotations",
    "archived",
    "thumbnailStatus",
    "thumbnailError",
}
MEDIA_TABLES = ("media", "media_labels", "media_properties", "media_annotations", "media_uploads")
THUMBNAIL_WAIT_SECONDS = 20.0


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


def assert_error(response: Any, status: int, *fragments: str) -> str:
    """The Skylight error envelope: exactly ``{"error": "..."}`` with every fragment in the message."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    body = response.json()
    assert set(body) == {"error"}, body
    message: str = body["error"]
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def multipart(data: bytes, *, field: str = "file", filename: str = "f.bin") -> dict[str, Any]:
    """``files=`` for httpx: one multipart part."""
    return {field: (filename, data, "application/octet-stream")}


def png_bytes(width: int = 40, height: int = 30, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


@dataclass
class MediaWorld:
    api: Api
    realm: Realm
    admin: User
    app: Application
    headers: dict[str, str]
    session_id: str

    @classmethod
    def build(cls, api: Api) -> MediaWorld:
        realm = api.realm()
        admin = new_user(api, realm, admin=True)
        app = api.application(realm)
        headers = token_headers(api, realm, admin)
        world = cls(api=api, realm=realm, admin=admin, app=app, headers=headers, session_id="")
        world.session_id = world.new_session()
        return world

    def new_session(self, headers: Mapping[str, str] | None = None) -> str:
        response = self.api.client.post(
            f"/v1/application/applications/{self.app.id}/sessions",
            json={"version": 1, "participants": []},
            headers=dict(headers or self.headers),
        )
        assert response.status_code == 201, response.text
        return str(response.json()["sessionId"])

    def close_session(self, session_id: str | None = None) -> None:
        response = self.api.client.patch(
            f"/v1/application/applications/{self.app.id}/sessions/{session_id or self.session_id}",
            json={"status": "closed"},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text

    def member(self, role: str | None = None) -> tuple[User, dict[str, str]]:
        user = new_user(self.api, self.realm)
        if role:
            self.api.grant(self.realm, self.app, role, user=user)
        return user, token_headers(self.api, self.realm, user)

    def url(self, suffix: str = "", *, session_id: str | None = None) -> str:
        return f"/v1/application/applications/{self.app.id}/sessions/{session_id or self.session_id}{suffix}"

    def media_url(self, media_id: str, suffix: str = "", *, session_id: str | None = None) -> str:
        return self.url(f"/media/{media_id}{suffix}", session_id=session_id)

    # metadata --------------------------------------------------------------------------
    def create(
        self, headers: Mapping[str, str] | None = None, session_id: str | None = None, **body: Any
    ) -> dict[str, Any]:
        body.setdefault("filename", "photo.jpg")
        body.setdefault("contentType", "image/jpeg")
        body.setdefault("totalBytes", 10)
        response = self.api.client.post(
            self.url("/media", session_id=session_id), json=body, headers=dict(headers or self.headers)
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        assert set(created) == MEDIA_FIELDS
        return created

    def get(self, media_id: str) -> dict[str, Any]:
        response = self.api.client.get(self.media_url(media_id), headers=self.headers)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def page(self, headers: Mapping[str, str] | None = None, **params: Any) -> dict[str, Any]:
        response = self.api.client.get(
            self.url("/media"), params=params, headers=dict(headers or self.headers)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["page"]["count"] == len(body["data"])
        return body

    def ids(self, **params: Any) -> list[str]:
        return [row["mediaId"] for row in self.page(**params)["data"]]

    # content ---------------------------------------------------------------------------
    def upload(self, media_id: str, data: bytes, *, filename: str = "f.bin") -> Any:
        return self.api.client.post(
            self.media_url(media_id, "/uploads"),
            params={"uploadType": "singlepart"},
            files=multipart(data, filename=filename),
            headers=self.headers,
        )

    def start_chunks(self, media_id: str, chunk_total: int) -> str:
        response = self.api.client.post(
            self.media_url(media_id, "/uploads"),
            params={"uploadType": "multipart", "chunkTotal": chunk_total},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["uploadId"])

    def chunk(self, media_id: str, upload_id: str, index: int, total: int, data: bytes) -> Any:
        return self.api.client.put(
            self.media_url(media_id, f"/uploads/{upload_id}"),
            params={"chunkTotal": total, "chunkIndex": index},
            files=multipart(data),
            headers=self.headers,
        )

    def uploaded(self, data: bytes, **body: Any) -> dict[str, Any]:
        """A media item with ``data`` uploaded in one part (not an image unless asked, so that no
        thumbnail task changes it behind the test's back)."""
        body.setdefault("contentType", "application/octet-stream")
        media = self.create(totalBytes=len(data), **body)
        response = self.upload(media["mediaId"], data)
        assert response.status_code == 201, response.text
        return self.get(media["mediaId"])

    def content(self, media_id: str, **headers: str) -> Any:
        return self.api.client.get(self.media_url(media_id, "/content"), headers={**self.headers, **headers})

    def wait_for_thumbnails(self, media_id: str) -> dict[str, Any]:
        """Polls until the background task has settled the thumbnails (ready or failed)."""
        deadline = time.monotonic() + THUMBNAIL_WAIT_SECONDS
        while True:
            media = self.get(media_id)
            if media["thumbnailStatus"] in {"ready", "failed"} or time.monotonic() > deadline:
                return media
            time.sleep(0.05)


def stored_keys(api: Api) -> set[str]:
    """Every blob the store holds (and, for files, any temp file left behind), to show that a
    refused upload leaves nothing."""
    settings = api.runtime.settings
    if not settings.blob_url:
        root = settings.data_dir / "blobs"
        return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}
    import boto3

    bucket, _, prefix = settings.blob_url.removeprefix("s3://").partition("/")
    client = boto3.client(
        "s3",
        endpoint_url=settings.blob_s3_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    keys = {item["Key"].removeprefix(prefix).lstrip("/") for item in listed.get("Contents", [])}
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return keys | {f"(unfinished) {upload['Key']}" for upload in uploads}


def mp4_bytes(frames: int = 30, width: int = 64, height: int = 48) -> bytes:
    """A small MPEG-4 video (colours changing frame by frame)."""
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            image = Image.new("RGB", (width, height), (index * 8 % 256, 80, 160))
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels in a few dozen bytes: a decompression bomb's
    header, which must be refused before anything is decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def zip_bomb_bytes() -> bytes:
    """A small zip holding a large run of zeros."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\x00" * (20 * 1024 * 1024))
    return out.getvalue()


class Inbox:
    """Every message the app's in-memory bus delivers on ``v1/#``, as (topic, payload) pairs."""

    def __init__(self, api: Api) -> None:
        import threading

        self._messages: list[tuple[str, dict[str, Any]]] = []
        self._arrived = threading.Condition()
        api.client.portal.call(api.bus.subscribe, "v1/#", self._receive)  # type: ignore[union-attr]

    async def _receive(self, topic: str, payload: bytes) -> None:
        import orjson

        with self._arrived:
            self._messages.append((topic, orjson.loads(payload)))
            self._arrived.notify_all()

    def wait_for(self, count: int, seconds: float = 5.0) -> list[tuple[str, dict[str, Any]]]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self._messages) >= count, seconds)
            return list(self._messages)
