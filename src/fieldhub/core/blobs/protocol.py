"""The blob store port: what every backend (local files, S3-compatible bucket) offers.

Content is addressed by keys the service makes (``media/<realm>/<uuid>``), never by a
client-supplied filename.  A blob becomes visible only when its writer commits: a crash or an
error before that leaves nothing readable under the key (the previous content, if any, stays).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from fieldhub.core.errors import NotFound

#: Keys are slash-separated segments of safe characters; no segment may be ``.`` or ``..``.
_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")
#: How much a read yields at a time.
READ_CHUNK_BYTES = 1024 * 1024


class BlobMissing(NotFound):
    """No blob is stored under the key."""


@dataclass(frozen=True)
class StoredBlob:
    key: str
    size: int
    #: Hex MD5 of exactly the stored bytes (the attachments API reports it; also the ETag).
    md5: str


def check_key(key: str) -> str:
    if len(key) > 512 or not _KEY.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise ValueError(f"invalid blob key {key!r}")
    return key


class BlobWriter(Protocol):
    """Receives a blob's bytes in order; nothing is visible until :meth:`commit`."""

    @property
    def bytes_written(self) -> int: ...

    def write(self, data: bytes) -> None: ...

    def commit(self) -> StoredBlob:
        """Makes the blob visible under its key, replacing any previous content atomically."""

    def abort(self) -> None:
        """Discards what was written; safe to call more than once and after commit (a no-op)."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        """Aborts unless committed."""


class BlobStore(Protocol):
    def writer(self, key: str) -> BlobWriter: ...

    def put(self, key: str, chunks: Iterable[bytes]) -> StoredBlob:
        """Writes ``chunks`` and commits them under ``key``."""

    def read(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes from ``start`` up to (excluding) ``end``; raises :class:`BlobMissing`."""

    def size(self, key: str) -> int:
        """The stored size; raises :class:`BlobMissing`."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Removes the blob; a missing key is not an error."""

    def concatenate(self, key: str, parts: Sequence[str]) -> StoredBlob:
        """Stores the parts' bytes, in order, as one blob under ``key`` (the parts stay)."""

    def presigned_url(self, key: str, *, expires_seconds: int, content_type: str) -> str | None:
        """A URL that serves the blob without credentials until it expires, where the backend has
        such URLs (S3); ``None`` otherwise."""


class WriterBase:
    """The context-manager half every writer shares: abort unless committed."""

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.abort()


def copy_parts(store: BlobStore, key: str, parts: Sequence[str]) -> StoredBlob:
    """Streams ``parts`` into a new blob: the portable way to concatenate."""
    with store.writer(key) as writer:
        for part in parts:
            for chunk in store.read(part):
                writer.write(chunk)
        return writer.commit()
