"""An uploaded image on its way into the blob store: streamed, checked with Pillow, then stored.

The bytes go to an uncommitted blob writer as they arrive (and to a spooled temporary file, so
that Pillow can seek in them); the blob becomes visible only once the service has accepted the
request and the image is what it claims to be.  Whatever fails, :meth:`StagedImage.discard`
leaves nothing behind.
"""

from __future__ import annotations

import logging
import tempfile
import uuid

from PIL import Image

from fieldhub.core.blobs.protocol import BlobStore, BlobWriter
from fieldhub.core.errors import InvalidInput

log = logging.getLogger(__name__)

#: The Pillow format that must be found in the bytes of each mime type we can check.
PILLOW_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
}
#: Up to this size the copy Pillow reads stays in memory; larger ones go to a temporary file.
_SPOOL_IN_MEMORY_BYTES = 1024 * 1024


def new_blob_key() -> str:
    # Random rather than derived from the request: the bytes start streaming before the fields
    # that name the snapshot have been read (a client may send them after the image).
    return f"snapshots/{uuid.uuid4().hex}"


class StagedImage:
    def __init__(self, blobs: BlobStore) -> None:
        self.key = new_blob_key()
        self._blobs = blobs
        self._writer: BlobWriter = blobs.writer(self.key)
        self._copy = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115 - closed in discard/store
        self._stored = False

    @property
    def size(self) -> int:
        return self._writer.bytes_written

    def write(self, data: bytes) -> None:
        """The streaming reader's sink (called in a worker thread)."""
        self._writer.write(data)
        self._copy.write(data)

    def check(self, *, mime_type: str) -> None:
        """400 unless the bytes hold an image of ``mime_type`` (read header-deep, bomb-safe)."""
        if self.size == 0:
            raise InvalidInput("image: is empty")
        pillow_format = PILLOW_FORMATS.get(mime_type)
        if pillow_format is None:
            raise InvalidInput(f"snapshotMimeType: {mime_type} cannot be checked by this server")
        self._copy.seek(0)
        try:
            with Image.open(self._copy, formats=[pillow_format]) as image:
                # Pillow only warns between MAX_IMAGE_PIXELS and twice that (and raises above);
                # both are refused here, without warnings.catch_warnings, which is not thread-safe.
                width, height = image.size
                if Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS:
                    raise InvalidInput(f"image: more than {Image.MAX_IMAGE_PIXELS} pixels")
                image.verify()
        except InvalidInput:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            # Raised by Image.open itself above twice the limit (the warning, where warnings are errors).
            raise InvalidInput(f"image: more than {Image.MAX_IMAGE_PIXELS} pixels") from None
        except Exception:  # any failure of the decoder on untrusted bytes is bad input
            raise InvalidInput(f"image: is not a valid {mime_type} image") from None

    def store(self) -> None:
        """Makes the blob visible under :attr:`key`."""
        self._writer.commit()
        self._stored = True
        self._copy.close()

    def discard(self) -> None:
        """Removes every trace: the unfinished write, or the stored blob if the change did not commit."""
        self._copy.close()
        self._writer.abort()
        if self._stored:
            try:
                self._blobs.delete(self.key)
            except Exception:  # the original failure matters more; an orphan is harmless
                log.warning("could not delete blob %s of a failed snapshot request", self.key)
