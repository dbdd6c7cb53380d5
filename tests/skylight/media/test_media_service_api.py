"""The media service's entry points for other families (the attachments API uses them)."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from media_support import MediaWorld, stored_keys

from conftest import Api
from fieldhub.core.db import UnitOfWork
from fieldhub.core.errors import Conflict, InvalidInput, NotFound
from fieldhub.core.identity.service import Principal
from fieldhub.skylight.media.service import MediaService

DATA = b"attachment bytes " * 100


def _caller(world: MediaWorld) -> Principal:
    return Principal(
        user_id=world.admin.id,
        username=world.admin.username,
        realm_id=world.realm.id,
        realm_name=world.realm.name,
        is_admin=True,
    )


def _service(api: Api, world: MediaWorld, uow: UnitOfWork) -> MediaService:
    return MediaService(session=uow.session, blobs=api.runtime.blobs, caller=_caller(world))


def test_create_open_and_delete_content(api: Api, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    session_id = uuid.UUID(world.session_id)
    where = {"application_id": world.app.id, "session_id": session_id}
    with api.runtime.db.unit_of_work() as uow:
        media = _service(api, world, uow).create_with_content(
            **where,
            filename="reading.csv",
            content_type="text/csv",
            chunks=iter([DATA[:100], DATA[100:]]),
            properties={"point": "gauge"},
        )
        media_id = media.media_id
    assert media.size == len(DATA)
    assert media.md5 == hashlib.md5(DATA).hexdigest()  # noqa: S324
    assert (media.content_type, media.filename) == ("text/csv", "reading.csv")
    listed = world.get(media_id)
    assert listed["uploadedBytes"] == listed["totalBytes"] == len(DATA)
    assert listed["properties"] == {"point": "gauge"}
    with api.runtime.db.unit_of_work(write=False) as uow:
        content = _service(api, world, uow).open_content(**where, media_id=media_id)
        assert (content.size, content.md5, content.filename) == (len(DATA), media.md5, "reading.csv")
        assert b"".join(content.chunks) == DATA
    keys_with_content = stored_keys(api)
    with api.runtime.db.unit_of_work() as uow:
        _service(api, world, uow).delete(**where, media_id=media_id)
    assert api.count("media") == 0
    assert len(stored_keys(api)) == len(keys_with_content) - 1
    with api.runtime.db.unit_of_work(write=False) as uow, pytest.raises(NotFound):
        _service(api, world, uow).open_content(**where, media_id=media_id)


def test_a_rolled_back_create_leaves_no_blob(api: Api, blob_backend: str) -> None:
    world = MediaWorld.build(api)
    before = stored_keys(api)

    def create_then_fail() -> None:
        with api.runtime.db.unit_of_work() as uow:
            _service(api, world, uow).create_with_content(
                application_id=world.app.id,
                session_id=uuid.UUID(world.session_id),
                filename="a.bin",
                content_type="application/octet-stream",
                chunks=[DATA],
            )
            raise RuntimeError("the caller's later step failed")

    with pytest.raises(RuntimeError):
        create_then_fail()
    assert api.count("media") == 0
    assert stored_keys(api) == before


def test_refusals(api: Api) -> None:
    world = MediaWorld.build(api)
    where = {"application_id": world.app.id, "session_id": uuid.UUID(world.session_id)}
    with api.runtime.db.unit_of_work() as uow, pytest.raises(InvalidInput, match="filename"):
        _service(api, world, uow).create_with_content(
            **where, filename="../x", content_type="a/b", chunks=[b"1"]
        )
    world.close_session()
    with api.runtime.db.unit_of_work() as uow, pytest.raises(Conflict, match="closed"):
        _service(api, world, uow).create_with_content(
            **where, filename="x", content_type="a/b", chunks=[b"1"]
        )
    assert api.count("media") == 0
