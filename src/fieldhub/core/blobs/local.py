"""Blobs as files under a directory: temp file, fsync, rename, so a crash never shows a half file."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from fieldhub.core.blobs.protocol import (
    READ_CHUNK_BYTES,
    BlobMissing,
    StoredBlob,
    WriterBase,
    check_key,
    copy_parts,
)

#: Unfinished writes live here, on the same file system as the blobs so that rename is atomic.
_TEMP_DIR = ".incoming"
#: A temp file this old belongs to a write that a crash interrupted.
_STALE_TEMP_SECONDS = 24 * 3600


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class FileBlobWriter(WriterBase):
    def __init__(self, *, key: str, target: Path, temp_dir: Path) -> None:
        self._key = key
        self._target = target
        temp_dir.mkdir(parents=True, exist_ok=True)
        descriptor, name = _make_temp(temp_dir)
        self._temp = Path(name)
        self._file: BinaryIO | None = os.fdopen(descriptor, "wb")
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._written = 0

    @property
    def bytes_written(self) -> int:
        return self._written

    def write(self, data: bytes) -> None:
        if self._file is None:
            raise RuntimeError("writer is closed")
        self._file.write(data)
        self._md5.update(data)
        self._written += len(data)

    def commit(self) -> StoredBlob:
        if self._file is None:
            raise RuntimeError("writer is closed")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        self._target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._temp, self._target)
        _fsync_directory(self._target.parent)
        return StoredBlob(key=self._key, size=self._written, md5=self._md5.hexdigest())

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._temp.unlink(missing_ok=True)


def _make_temp(directory: Path) -> tuple[int, str]:
    return tempfile.mkstemp(dir=directory, prefix="blob-", suffix=".part")


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._temp_dir = root / _TEMP_DIR
        self._remove_stale_temp_files()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def writer(self, key: str) -> FileBlobWriter:
        return FileBlobWriter(key=key, target=self._path(key), temp_dir=self._temp_dir)

    def put(self, key: str, chunks: Iterable[bytes]) -> StoredBlob:
        with self.writer(key) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def read(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise BlobMissing(f"No content stored under {key}") from None
        return self._chunks(handle, start=start, end=end)

    @staticmethod
    def _chunks(handle: BinaryIO, *, start: int, end: int | None) -> Iterator[bytes]:
        with handle:
            handle.seek(start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                want = READ_CHUNK_BYTES if remaining is None else min(READ_CHUNK_BYTES, remaining)
                chunk = handle.read(want)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise BlobMissing(f"No content stored under {key}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def concatenate(self, key: str, parts: Sequence[str]) -> StoredBlob:
        return copy_parts(self, key, parts)

    def presigned_url(self, key: str, *, expires_seconds: int, content_type: str) -> str | None:
        return None

    def _remove_stale_temp_files(self) -> None:
        if not self._temp_dir.is_dir():
            return
        cutoff = time.time() - _STALE_TEMP_SECONDS
        for leftover in self._temp_dir.glob("blob-*.part"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
            except FileNotFoundError:
                continue
