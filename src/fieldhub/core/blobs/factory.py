"""Chooses the blob store backend from the settings."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fieldhub.core.blobs.local import FileBlobStore
from fieldhub.core.blobs.protocol import BlobStore
from fieldhub.core.blobs.s3 import S3BlobStore
from fieldhub.core.config import Settings


def blob_store_from_settings(settings: Settings) -> BlobStore:
    """``FIELDHUB_BLOB_URL``: empty (files under the data dir), ``file:///PATH`` or ``s3://BUCKET/PREFIX``."""
    if not settings.blob_url:
        return FileBlobStore(settings.data_dir / "blobs")
    url = urlsplit(settings.blob_url)
    if url.scheme == "file":
        return FileBlobStore(Path(url.path))
    return S3BlobStore(
        bucket=url.netloc,
        prefix=url.path,
        endpoint_url=settings.blob_s3_endpoint_url,
        region=settings.blob_s3_region,
        access_key_id=settings.blob_s3_access_key_id,
        secret_access_key=settings.blob_s3_secret_access_key,
        part_bytes=settings.blob_s3_part_bytes,
    )
