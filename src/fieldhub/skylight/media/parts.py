"""Content stored as ordered parts: one blob for a singlepart upload, the chunks of a multipart one.

Keeping a chunked upload's chunks as its content (instead of concatenating them into one blob)
makes completing a 2 GiB upload cost nothing: no copy through the server, on local files or S3.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from fieldhub.core.blobs.protocol import BlobStore

Parts = Sequence[dict[str, Any]]


def part(key: str, size: int) -> dict[str, Any]:
    return {"key": key, "size": size}


def total_size(parts: Parts) -> int:
    return sum(int(p["size"]) for p in parts)


def read_parts(blobs: BlobStore, parts: Parts, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The content's bytes from ``start`` up to (excluding) ``end``, across the parts."""
    stop = total_size(parts) if end is None else min(end, total_size(parts))
    offset = 0
    for item in parts:
        key, size = str(item["key"]), int(item["size"])
        first, last = offset, offset + size
        offset = last
        if last <= start or first >= stop:
            continue
        yield from blobs.read(key, start=max(0, start - first), end=min(size, stop - first))


def composite_etag(md5s: Sequence[str]) -> str:
    """The ETag of content made of parts: the MD5 itself for one part, otherwise (as S3 does for
    multipart objects) the MD5 of the parts' MD5s and the number of parts, e.g. ``…-8``."""
    if len(md5s) == 1:
        return md5s[0]
    digest = hashlib.md5(b"".join(bytes.fromhex(m) for m in md5s), usedforsecurity=False).hexdigest()
    return f"{digest}-{len(md5s)}"
