"""The blob store port, on the local-file backend and on a real S3-compatible server (moto)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import new_s3_bucket
from fieldhub.core.blobs.local import FileBlobStore
from fieldhub.core.blobs.protocol import BlobMissing, BlobStore
from fieldhub.core.blobs.s3 import MIN_PART_BYTES, S3BlobStore


@pytest.fixture
def store(blob_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[BlobStore]:
    if blob_backend == "file":
        yield FileBlobStore(tmp_path / "blobs")
        return
    endpoint: str = request.getfixturevalue("s3_endpoint")
    yield S3BlobStore(
        bucket=new_s3_bucket(endpoint),
        prefix="unit",
        endpoint_url=endpoint,
        access_key_id="test",
        secret_access_key="test",
        part_bytes=MIN_PART_BYTES,
    )


def test_put_then_read_back_with_size_and_md5(store: BlobStore) -> None:
    stored = store.put("media/r1/a", [b"hello ", b"world"])
    assert stored.size == 11
    assert stored.md5 == hashlib.md5(b"hello world", usedforsecurity=False).hexdigest()
    assert b"".join(store.read("media/r1/a")) == b"hello world"
    assert store.size("media/r1/a") == 11
    assert store.exists("media/r1/a")


def test_ranges(store: BlobStore) -> None:
    store.put("k", [bytes(range(256))])
    assert b"".join(store.read("k", start=10, end=20)) == bytes(range(10, 20))
    assert b"".join(store.read("k", start=250)) == bytes(range(250, 256))
    assert b"".join(store.read("k", start=5, end=5)) == b""


def test_missing_blob_is_a_typed_error(store: BlobStore) -> None:
    with pytest.raises(BlobMissing):
        b"".join(store.read("nothing/here"))
    with pytest.raises(BlobMissing):
        store.size("nothing/here")
    assert not store.exists("nothing/here")
    store.delete("nothing/here")  # deleting what is not there is fine


def test_delete(store: BlobStore) -> None:
    store.put("gone", [b"x"])
    store.delete("gone")
    assert not store.exists("gone")


def test_a_failed_write_leaves_nothing_visible_and_keeps_the_old_content(store: BlobStore) -> None:
    store.put("doc", [b"old"])

    def interrupted_write() -> None:
        with store.writer("doc") as writer:
            writer.write(b"new content that never completes")
            raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        interrupted_write()
    assert b"".join(store.read("doc")) == b"old"
    with store.writer("fresh") as writer:
        writer.write(b"half")
    assert not store.exists("fresh")


def test_large_blob_goes_up_in_parts(store: BlobStore) -> None:
    block = os.urandom(1024 * 1024)
    with store.writer("big") as writer:
        for _ in range(11):
            writer.write(block)
        stored = writer.commit()
    assert stored.size == 11 * len(block)
    assert stored.md5 == hashlib.md5(block * 11, usedforsecurity=False).hexdigest()
    assert store.size("big") == 11 * len(block)
    assert b"".join(store.read("big", start=len(block) * 6, end=len(block) * 6 + 3)) == block[:3]


def test_concatenate_keeps_order(store: BlobStore) -> None:
    store.put("p/2", [b"second"])
    store.put("p/1", [b"first-"])
    stored = store.concatenate("whole", ["p/1", "p/2"])
    assert b"".join(store.read("whole")) == b"first-second"
    assert stored.size == 12


@pytest.mark.parametrize("key", ["", "../etc/passwd", "a/../b", "/abs", "a//b", "a/./b", "sp ace", "x\x00y"])
def test_unsafe_keys_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        store.put(key, [b"x"])


def test_presigned_url_serves_without_credentials(blob_backend: str, store: BlobStore) -> None:
    store.put("signed/img", [b"\x89PNG..."])
    url = store.presigned_url("signed/img", expires_seconds=60, content_type="image/png")
    if blob_backend == "file":
        assert url is None
        return
    assert url is not None
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"\x89PNG..."
    assert response.headers["content-type"] == "image/png"


def test_file_backend_keeps_unfinished_writes_out_of_the_tree(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    writer = store.writer("media/x")
    writer.write(b"partial")
    visible = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file() and ".incoming" not in p.parts]
    assert visible == []
    writer.abort()
    assert list((tmp_path / "blobs" / ".incoming").iterdir()) == []
