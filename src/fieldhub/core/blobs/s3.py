"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, moto's server in the tests).

A writer buffers one part at a time (bounded memory) and uses a multipart upload once the blob
outgrows a part; S3 shows an object only when its upload completes, so an interrupted write
leaves nothing visible (the incomplete upload is aborted, or expires under a lifecycle rule).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from fieldhub.core.blobs.protocol import (
    READ_CHUNK_BYTES,
    BlobMissing,
    StoredBlob,
    WriterBase,
    check_key,
    copy_parts,
)

#: S3 refuses parts under 5 MiB except the last.
MIN_PART_BYTES = 5 * 1024 * 1024
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def _is_missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING_CODES


class S3BlobWriter(WriterBase):
    def __init__(self, *, client: Any, bucket: str, key: str, object_key: str, part_bytes: int) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._object_key = object_key
        self._part_bytes = part_bytes
        self._buffer = bytearray()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._written = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._open = True

    @property
    def bytes_written(self) -> int:
        return self._written

    def write(self, data: bytes) -> None:
        if not self._open:
            raise RuntimeError("writer is closed")
        self._buffer += data
        self._md5.update(data)
        self._written += len(data)
        while len(self._buffer) >= self._part_bytes:
            part = bytes(self._buffer[: self._part_bytes])
            del self._buffer[: self._part_bytes]
            self._upload_part(part)

    def _upload_part(self, data: bytes) -> None:
        if self._upload_id is None:
            started = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._object_key)
            self._upload_id = started["UploadId"]
        number = len(self._parts) + 1
        answer = self._client.upload_part(
            Bucket=self._bucket, Key=self._object_key, UploadId=self._upload_id, PartNumber=number, Body=data
        )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def commit(self) -> StoredBlob:
        if not self._open:
            raise RuntimeError("writer is closed")
        if self._upload_id is None:
            self._client.put_object(Bucket=self._bucket, Key=self._object_key, Body=bytes(self._buffer))
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._object_key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
            self._upload_id = None
        self._open = False
        self._buffer.clear()
        return StoredBlob(key=self._key, size=self._written, md5=self._md5.hexdigest())

    def abort(self) -> None:
        if not self._open:
            return
        self._open = False
        self._buffer.clear()
        if self._upload_id is not None:
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._object_key, UploadId=self._upload_id
            )
            self._upload_id = None


class S3BlobStore:
    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        part_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.bucket = bucket
        self._prefix = prefix.strip("/")
        self._part_bytes = max(part_bytes, MIN_PART_BYTES)
        self._client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"}),
        )

    def _object_key(self, key: str) -> str:
        check_key(key)
        return f"{self._prefix}/{key}" if self._prefix else key

    def writer(self, key: str) -> S3BlobWriter:
        return S3BlobWriter(
            client=self._client,
            bucket=self.bucket,
            key=key,
            object_key=self._object_key(key),
            part_bytes=self._part_bytes,
        )

    def put(self, key: str, chunks: Iterable[bytes]) -> StoredBlob:
        with self.writer(key) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def read(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if end is not None and end <= start:
            self.size(key)
            return iter(())
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": self._object_key(key)}
        if start or end is not None:
            arguments["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            answer = self._client.get_object(**arguments)
        except ClientError as error:
            if _is_missing(error):
                raise BlobMissing(f"No content stored under {key}") from None
            if error.response.get("Error", {}).get("Code") == "InvalidRange":
                return iter(())
            raise
        return self._chunks(answer["Body"])

    @staticmethod
    def _chunks(body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(chunk_size=READ_CHUNK_BYTES)
        finally:
            body.close()

    def size(self, key: str) -> int:
        try:
            answer = self._client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as error:
            if _is_missing(error):
                raise BlobMissing(f"No content stored under {key}") from None
            raise
        return int(answer["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobMissing:
            return False
        return True

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._object_key(key))

    def concatenate(self, key: str, parts: Sequence[str]) -> StoredBlob:
        return copy_parts(self, key, parts)

    def presigned_url(self, key: str, *, expires_seconds: int, content_type: str) -> str | None:
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._object_key(key),
                "ResponseContentType": content_type,
            },
            ExpiresIn=expires_seconds,
        )
        return url
