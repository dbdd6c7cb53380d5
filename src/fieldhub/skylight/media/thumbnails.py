"""Thumbnails, made by a background task after an upload completes (never in the request).

``image`` is a JPEG of the picture (or of a video's first frame); ``preview`` is a GIF: the
picture itself for stills, a few frames spread over the first seconds for videos and animations.
Both go to the blob store under ``thumbs/<realm>/<media>/``.

Content is untrusted: its type is only what the client claimed.  Anything Pillow or FFmpeg cannot
decode, and any picture over :data:`MAX_PIXELS` (checked from the header, before decoding: the
decompression-bomb guard), records a thumbnail error on the media instead of failing the task.
Only infrastructure errors (storage, database) raise, so that the task runner retries them.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, BinaryIO

import av
import av.error
from PIL import Image, ImageSequence, UnidentifiedImageError

from fieldhub.core.blobs.protocol import BlobStore
from fieldhub.core.db import Database
from fieldhub.core.runtime import Runtime
from fieldhub.skylight.media.base import THUMBNAIL_TASK
from fieldhub.skylight.media.models import THUMBNAILS_FAILED, THUMBNAILS_READY, Media, thumbnail_key
from fieldhub.skylight.media.parts import Parts, read_parts, total_size
from fieldhub.skylight.media.repository import MediaRepository

log = logging.getLogger(__name__)

#: The largest picture (or video frame) decoded: 40 megapixels, far below what a 2 GiB process
#: could not hold, and above any camera a field device carries.
MAX_PIXELS = 40_000_000
THUMBNAIL_SIZE = (320, 320)
PREVIEW_FRAMES = 12
#: A video preview samples a frame this often, and gives up decoding after this many frames.
PREVIEW_INTERVAL_SECONDS = 0.5
MAX_DECODED_FRAMES = 900
_READ_BUFFER_BYTES = 1024 * 1024


class ThumbnailError(Exception):
    """The content cannot be made into a thumbnail; the message is shown to clients."""


@dataclass(frozen=True, slots=True)
class Thumbnails:
    image: bytes
    preview: bytes


class ContentFile(io.RawIOBase):
    """A read-only, seekable view of stored content, fetched range by range (no local copy)."""

    def __init__(self, blobs: BlobStore, parts: Parts) -> None:
        super().__init__()
        self._blobs, self._parts, self._size, self._position = blobs, parts, total_size(parts), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        end = min(self._size, self._position + len(view))
        filled = 0
        if end > self._position:
            for chunk in read_parts(self._blobs, self._parts, start=self._position, end=end):
                view[filled : filled + len(chunk)] = chunk
                filled += len(chunk)
        self._position += filled
        return filled


def _check_pixels(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ThumbnailError(
            f"the picture is {width}x{height} pixels, over the limit of {MAX_PIXELS} (a decompression bomb?)"
        )


def _jpeg(image: Image.Image) -> bytes:
    still = image.convert("RGB")
    still.thumbnail(THUMBNAIL_SIZE)
    out = io.BytesIO()
    still.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _gif(frames: list[Image.Image], *, frame_ms: int) -> bytes:
    small = []
    for frame in frames:
        copy = frame.convert("RGB")
        copy.thumbnail(THUMBNAIL_SIZE)
        small.append(copy)
    out = io.BytesIO()
    small[0].save(
        out, format="GIF", save_all=len(small) > 1, append_images=small[1:], duration=frame_ms, loop=0
    )
    return out.getvalue()


def image_thumbnails(source: BinaryIO) -> Thumbnails:
    try:
        with Image.open(source) as image:  # reads the header only
            _check_pixels(*image.size)
            frames = [frame.copy() for frame in islice(ImageSequence.Iterator(image), PREVIEW_FRAMES)]
            return Thumbnails(image=_jpeg(frames[0]), preview=_gif(frames, frame_ms=200))
    except UnidentifiedImageError:
        raise ThumbnailError("the content is not a picture in a format Pillow reads") from None
    except Image.DecompressionBombError as exc:
        raise ThumbnailError(f"the picture is too large to decode ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ThumbnailError(f"the picture is damaged ({exc})") from None


def _video_frames(container: Any) -> Iterator[Image.Image]:
    stream = container.streams.video[0]
    _check_pixels(stream.codec_context.width, stream.codec_context.height)
    rate = float(stream.average_rate or 25)
    step = max(1, round(rate * PREVIEW_INTERVAL_SECONDS))
    for index, frame in enumerate(container.decode(stream)):
        if index >= MAX_DECODED_FRAMES:
            return
        if index % step == 0:
            yield frame.to_image()


def video_thumbnails(source: BinaryIO) -> Thumbnails:
    try:
        with av.open(source, mode="r") as container:
            if not container.streams.video:
                raise ThumbnailError("the content has no video stream")
            frames = list(islice(_video_frames(container), PREVIEW_FRAMES))
    except av.error.FFmpegError as exc:
        raise ThumbnailError(f"the content is not a video FFmpeg can read ({exc})") from None
    if not frames:
        raise ThumbnailError("the video has no frames")
    return Thumbnails(
        image=_jpeg(frames[0]), preview=_gif(frames, frame_ms=int(PREVIEW_INTERVAL_SECONDS * 1000))
    )


def make_thumbnails(blobs: BlobStore, media: Media) -> Thumbnails:
    source = io.BufferedReader(ContentFile(blobs, media.parts or []), _READ_BUFFER_BYTES)
    if media.content_type.lower().startswith("video/"):
        return video_thumbnails(source)
    return image_thumbnails(source)


def run_thumbnail_task(db: Database, blobs: BlobStore, payload: dict[str, Any]) -> None:
    """The task handler: makes and stores the thumbnails of the content named by ``etag``."""
    realm_id, media_pk, etag = uuid.UUID(payload["realmId"]), int(payload["mediaPk"]), str(payload["etag"])
    with db.unit_of_work(write=False) as uow:
        media = MediaRepository(uow.session, realm_id=realm_id).by_pk(media_pk)
    if media is None or media.etag != etag:
        return  # deleted, or replaced by newer content (which has its own task)
    error: str | None = None
    try:
        made = make_thumbnails(blobs, media)
    except ThumbnailError as exc:
        error = str(exc)[:1000]
    else:
        blobs.put(thumbnail_key(realm_id, media.id, "image"), [made.image])
        blobs.put(thumbnail_key(realm_id, media.id, "preview"), [made.preview])
    with db.unit_of_work() as uow:
        current = MediaRepository(uow.session, realm_id=realm_id).by_pk(media_pk, for_update=True)
        if current is not None and current.etag == etag:
            current.thumbnail_status = THUMBNAILS_FAILED if error else THUMBNAILS_READY
            current.thumbnail_error = error
    if error:
        log.info("no thumbnail for media %s: %s", media.id, error)


def register(runtime: Runtime) -> None:
    runtime.tasks.register(
        THUMBNAIL_TASK, lambda payload: run_thumbnail_task(runtime.db, runtime.blobs, payload)
    )
