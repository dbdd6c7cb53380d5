"""The steps of an upload.  Bytes stream into the blob store *between* short units of work, so no
database transaction (nor SQLite's write lock) is held while a client sends a large body:

* singlepart: :meth:`prepare_singlepart` (checks, where to write) -> stream -> :meth:`finish_singlepart`;
* multipart: :meth:`start_multipart` once, then per chunk :meth:`prepare_chunk` -> stream ->
  :meth:`record_chunk`; the chunk that completes the set makes the chunks the content.

Every write goes to a fresh blob key and becomes reachable only when the row pointing to it
commits, so a server killed mid-chunk loses that chunk alone, and a resent chunk replaces the
earlier one (its blob is deleted after the commit) without being counted twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fieldhub.core.blobs.protocol import StoredBlob
from fieldhub.core.db import utcnow
from fieldhub.core.errors import InvalidInput, NotFound
from fieldhub.skylight.media.models import Media, MediaUpload, MediaUploadChunk, new_content_key
from fieldhub.skylight.media.parts import composite_etag, part
from fieldhub.skylight.media.service import MediaService
from fieldhub.skylight.models import WorkSession

#: More chunks than this is a client bug (and would make ``done`` lists huge).
MAX_CHUNKS = 10_000


@dataclass(frozen=True, slots=True)
class UploadTarget:
    #: The fresh blob key to stream the bytes into.
    key: str
    #: The most bytes this body may hold without exceeding the media's ``totalBytes``.
    max_bytes: int


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    uploaded_bytes: int
    total_bytes: int
    done: list[bool]
    #: The media's new ETag, when this chunk completed the upload.
    etag: str | None = None
    #: Why the upload cannot complete although every chunk is in (their sizes do not add up).
    problem: str | None = None


def check_chunk_total(chunk_total: int) -> None:
    if not 1 <= chunk_total <= MAX_CHUNKS:
        raise InvalidInput(f"chunkTotal: must be between 1 and {MAX_CHUNKS}")


class UploadService(MediaService):
    # singlepart ----------------------------------------------------------------------------
    def prepare_singlepart(
        self, *, application_id: str, session_id: uuid.UUID, media_id: uuid.UUID
    ) -> UploadTarget:
        _, media = self._changeable(application_id, session_id, media_id)
        return UploadTarget(key=new_content_key(media.realm_id, media.id), max_bytes=media.total_bytes)

    def finish_singlepart(
        self, *, application_id: str, session_id: uuid.UUID, media_id: uuid.UUID, stored: StoredBlob
    ) -> Media:
        """Points the media at the streamed content; a refusal here deletes that content again."""
        self.on_rollback(lambda: self._blobs.delete(stored.key))
        work_session, media = self._changeable(application_id, session_id, media_id)
        if stored.size != media.total_bytes:
            raise InvalidInput(
                f"file: holds {stored.size} bytes but the media's totalBytes is {media.total_bytes}"
            )
        # A singlepart upload supersedes any multipart upload still in progress.
        self._drop_uploads(media)
        self.complete_content(work_session, media, stored)
        return media

    # multipart -----------------------------------------------------------------------------
    def start_multipart(
        self, *, application_id: str, session_id: uuid.UUID, media_id: uuid.UUID, chunk_total: int
    ) -> tuple[uuid.UUID, Media]:
        """A new upload; one begun earlier for the same media is abandoned (its chunks deleted)."""
        check_chunk_total(chunk_total)
        _, media = self._changeable(application_id, session_id, media_id)
        self._drop_uploads(media)
        upload = MediaUpload(id=uuid.uuid4(), media_pk=media.pk, chunk_total=chunk_total, created_at=utcnow())
        self._db.add(upload)
        self._db.flush()
        return upload.id, media

    def prepare_chunk(
        self,
        *,
        application_id: str,
        session_id: uuid.UUID,
        media_id: uuid.UUID,
        upload_id: uuid.UUID,
        chunk_total: int,
        chunk_index: int,
    ) -> UploadTarget:
        _, media, upload = self._upload(
            application_id, session_id, media_id, upload_id, chunk_total, chunk_index
        )
        others = sum(chunk.size for chunk in self._repo.chunks(upload.id) if chunk.chunk_index != chunk_index)
        key = f"uploads/{media.realm_id}/{upload.id}/{chunk_index}-{uuid.uuid4().hex}"
        return UploadTarget(key=key, max_bytes=max(0, media.total_bytes - others))

    def record_chunk(
        self,
        *,
        application_id: str,
        session_id: uuid.UUID,
        media_id: uuid.UUID,
        upload_id: uuid.UUID,
        chunk_total: int,
        chunk_index: int,
        stored: StoredBlob,
    ) -> ChunkOutcome:
        """Records a streamed chunk, replacing an earlier copy of the same index; the chunk that
        completes the set makes the chunks, in order, the media's content (nothing is copied)."""
        self.on_rollback(lambda: self._blobs.delete(stored.key))
        work_session, media, upload = self._upload(
            application_id, session_id, media_id, upload_id, chunk_total, chunk_index
        )
        chunks = {chunk.chunk_index: chunk for chunk in self._repo.chunks(upload.id)}
        previous = chunks.get(chunk_index)
        if previous is not None:
            replaced = previous.blob_key
            previous.blob_key, previous.size, previous.md5 = stored.key, stored.size, stored.md5
            self.on_commit(lambda: self._blobs.delete(replaced))
        else:
            chunks[chunk_index] = MediaUploadChunk(
                upload_id=upload.id,
                chunk_index=chunk_index,
                blob_key=stored.key,
                size=stored.size,
                md5=stored.md5,
            )
            self._db.add(chunks[chunk_index])
        received = sum(chunk.size for chunk in chunks.values())
        media.uploaded_bytes = min(received, media.total_bytes)
        self._db.flush()
        done = [index in chunks for index in range(1, upload.chunk_total + 1)]
        if not all(done):
            return ChunkOutcome(uploaded_bytes=media.uploaded_bytes, total_bytes=media.total_bytes, done=done)
        if received != media.total_bytes:
            problem = (
                f"the {upload.chunk_total} chunks hold {received} bytes but the media's totalBytes is "
                f"{media.total_bytes}; re-send the wrong chunks or start a new upload"
            )
            return ChunkOutcome(
                uploaded_bytes=media.uploaded_bytes, total_bytes=media.total_bytes, done=done, problem=problem
            )
        ordered = [chunks[index] for index in range(1, upload.chunk_total + 1)]
        parts = [part(chunk.blob_key, chunk.size) for chunk in ordered]
        etag = composite_etag([chunk.md5 for chunk in ordered])
        # The upload's rows go; its chunk blobs stay, as the content.
        self._repo.delete_uploads(media)
        self.complete_parts(work_session, media, parts, etag=etag)
        return ChunkOutcome(
            uploaded_bytes=media.uploaded_bytes, total_bytes=media.total_bytes, done=done, etag=etag
        )

    # helpers -------------------------------------------------------------------------------
    def _upload(
        self,
        application_id: str,
        session_id: uuid.UUID,
        media_id: uuid.UUID,
        upload_id: uuid.UUID,
        chunk_total: int,
        chunk_index: int,
    ) -> tuple[WorkSession, Media, MediaUpload]:
        work_session, media = self._changeable(application_id, session_id, media_id)
        upload = self._repo.upload(media, upload_id)
        if upload is None:
            raise NotFound("Upload not found (unknown uploadId, or the upload was completed or replaced)")
        if chunk_total != upload.chunk_total:
            raise InvalidInput(f"chunkTotal: this upload was started with chunkTotal={upload.chunk_total}")
        if not 1 <= chunk_index <= upload.chunk_total:
            raise InvalidInput(f"chunkIndex: must be between 1 and chunkTotal ({upload.chunk_total})")
        return work_session, media, upload

    def _drop_uploads(self, media: Media) -> None:
        keys = self._repo.chunk_keys_of(media)
        self._repo.delete_uploads(media)
        if keys:
            self.on_commit(lambda: self._delete_blobs(keys))
