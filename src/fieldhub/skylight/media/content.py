"""HTTP details of serving stored bytes: ETags, single byte ranges, a safe Content-Disposition."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    #: Excluded.
    end: int

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


class RangeNotSatisfiable(Exception):
    """A well-formed range that lies outside the content (answered with a 416)."""


def quoted_etag(md5: str) -> str:
    return f'"{md5}"'


def etag_matches(header: str | None, md5: str) -> bool:
    """``If-None-Match``: a list of (weak or strong) tags, or ``*``."""
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or quoted_etag(md5) in tags


def requested_range(header: str | None, *, size: int, if_range: str | None, md5: str) -> ByteRange | None:
    """The single range asked for, or None for the whole content.

    Anything but one ``bytes=`` range (several ranges, other units, garbage) is ignored, which
    RFC 9110 allows; so is a Range whose ``If-Range`` names other content.
    """
    if not header:
        return None
    if if_range is not None and if_range.strip() != quoted_etag(md5):
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        # "bytes=-N": the last N bytes.
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable
        return ByteRange(start=max(0, size - suffix), end=size)
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable
    return ByteRange(start=start, end=end)


def content_disposition(filename: str, *, disposition: str = "attachment") -> str:
    """RFC 6266: an ASCII fallback plus the exact name as RFC 5987 ``filename*``.

    Control characters, quotes, backslashes and path separators never reach the header, so a
    stored name cannot split the header or make a browser save outside its download folder.
    """
    cleaned = "".join(
        "_" if unicodedata.category(char) in {"Cc", "Cf"} or char in '"\\/' else char for char in filename
    ).strip()
    cleaned = cleaned.lstrip(".") or "download"
    fallback = "".join(char if " " <= char <= "~" else "_" for char in cleaned)
    encoded = quote(cleaned, safe="!#$&+-.^_`|~")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
