"""Media bytes over HTTP: streamed uploads (singlepart and chunked), content and thumbnails.

Upload routes are async: the request body is parsed as it arrives and written to the blob
store from worker threads, between two short units of work (see uploads.py), so no database
transaction is open while a client sends a large body.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

from anyio import to_thread
from fastapi import APIRouter, Header, Path, Query, Request
from starlette.responses import Response, StreamingResponse

from fieldhub.core.blobs.protocol import StoredBlob
from fieldhub.core.errors import InvalidInput
from fieldhub.core.http.streaming_multipart import BodyTooLarge, read_body, read_file_field
from fieldhub.core.identity.service import Principal
from fieldhub.core.web import RequestContext, json_response
from fieldhub.skylight.endpoints import DeviceId, DeviceTimestamp, device_context
from fieldhub.skylight.events import DeviceContext
from fieldhub.skylight.media.content import (
    RangeNotSatisfiable,
    content_disposition,
    etag_matches,
    quoted_etag,
    requested_range,
)
from fieldhub.skylight.media.endpoints import (
    CHANGE_ERRORS,
    PREFIX,
    ApplicationId,
    MediaId,
    SessionId,
    media_service,
)
from fieldhub.skylight.media.schemas import UploadProgress, UploadStarted
from fieldhub.skylight.media.svg import SAFE_CONTENT_HEADERS
from fieldhub.skylight.media.uploads import ChunkOutcome, UploadService, UploadTarget
from fieldhub.skylight.schemas import ErrorBody

T = TypeVar("T")
_UPLOAD_TYPES = frozenset({"multipart/form-data", "application/octet-stream", ""})
_BINARY: dict[int | str, dict[str, Any]] = {200: {"content": {"application/octet-stream": {}}}}
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        }
    }
}


def _etag_header(etag: str | None) -> dict[str, str]:
    return {"ETag": quoted_etag(etag)} if etag else {}


def build_router(context: RequestContext) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["media"])
    runtime = context.runtime
    blobs = runtime.blobs

    async def authorised_step(
        request: Request, application_id: str, device: DeviceContext, step: Callable[[UploadService], T]
    ) -> tuple[T, Principal]:
        """The upload's first unit of work: authenticates the request; returns the caller too."""

        def run() -> tuple[T, Principal]:
            with media_service(
                context, request, application_id, write=True, device=device, kind=UploadService
            ) as service:
                return step(service), service.caller

        return await to_thread.run_sync(run)

    async def step_as(caller: Principal, device: DeviceContext, step: Callable[[UploadService], T]) -> T:
        """A later unit of work of the same upload, as the caller authenticated at its start: a
        token that expires while a large body streams in must not lose the upload.  The rules
        (roles, an open session) are checked again by the service."""

        def run() -> T:
            with runtime.db.unit_of_work() as uow:
                uow.after_commit(runtime.publisher.wake)
                uow.after_commit(partial(runtime.tasks.wake_if_enqueued, uow.session))
                return step(UploadService(session=uow.session, blobs=blobs, caller=caller, device=device))

        return await to_thread.run_sync(run)

    async def stream_file(request: Request, target: UploadTarget) -> StoredBlob:
        """The spec's multipart ``file`` part, or (an extension) a raw body sent as
        ``application/octet-stream`` or without a Content-Type, streamed to a new blob."""
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type not in _UPLOAD_TYPES:
            raise InvalidInput("content-type: must be multipart/form-data (or application/octet-stream)")
        writer = await to_thread.run_sync(blobs.writer, target.key)
        try:
            if media_type == "multipart/form-data":
                await read_file_field(request, field="file", sink=writer.write, max_bytes=target.max_bytes)
            else:
                await read_body(request, sink=writer.write, max_bytes=target.max_bytes)
            return await to_thread.run_sync(writer.commit)
        except BodyTooLarge as exc:
            if exc.max_bytes != target.max_bytes:
                raise  # the body around the file, not the file, is too large
            raise InvalidInput(
                f"file: larger than the {target.max_bytes} bytes the media's totalBytes leaves for it"
            ) from None
        finally:
            await to_thread.run_sync(writer.abort)

    @router.post(
        "/media/{mediaId}/uploads",
        responses={**CHANGE_ERRORS, 200: {"model": UploadStarted}, 201: {"model": UploadProgress}},
        openapi_extra=_UPLOAD_BODY,
        summary="Upload Media",
    )
    async def upload_media(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        mediaId: MediaId,
        uploadType: Annotated[Literal["singlepart", "multipart"], Query()] = "singlepart",
        chunkTotal: Annotated[int | None, Query()] = None,
        deviceid: DeviceId = None,
        clientTimestamp: Annotated[str | None, Header(alias="clienttimestamp")] = None,
    ) -> Response:
        device = device_context(deviceid, clientTimestamp)
        where: dict[str, Any] = {
            "application_id": applicationId,
            "session_id": sessionId,
            "media_id": mediaId,
        }
        if uploadType == "multipart":
            if chunkTotal is None:
                raise InvalidInput("chunkTotal: is required when uploadType is multipart")
            total = chunkTotal
            (upload_id, media), _ = await authorised_step(
                request, applicationId, device, lambda s: s.start_multipart(**where, chunk_total=total)
            )
            return json_response({"uploadId": str(upload_id)}, headers=_etag_header(media.etag))
        target, caller = await authorised_step(
            request, applicationId, device, lambda s: s.prepare_singlepart(**where)
        )
        stored = await stream_file(request, target)
        media = await step_as(caller, device, lambda s: s.finish_singlepart(**where, stored=stored))
        progress = {"uploadedBytes": media.uploaded_bytes, "totalBytes": media.total_bytes}
        return json_response(progress, status_code=201, headers=_etag_header(media.etag))

    @router.put(
        "/media/{mediaId}/uploads/{uploadId}",
        responses={**CHANGE_ERRORS, 200: {"model": UploadProgress}, 201: {"model": UploadProgress}},
        openapi_extra=_UPLOAD_BODY,
        summary="Upload Media Multipart Chunk",
    )
    async def upload_chunk(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        mediaId: MediaId,
        uploadId: Annotated[uuid.UUID, Path()],
        chunkTotal: Annotated[int, Query()],
        chunkIndex: Annotated[int, Query()],
        deviceid: DeviceId = None,
        devicetimestamp: DeviceTimestamp = None,
    ) -> Response:
        device = device_context(deviceid, devicetimestamp)
        where: dict[str, Any] = {
            "application_id": applicationId,
            "session_id": sessionId,
            "media_id": mediaId,
            "upload_id": uploadId,
            "chunk_total": chunkTotal,
            "chunk_index": chunkIndex,
        }
        target, caller = await authorised_step(
            request, applicationId, device, lambda s: s.prepare_chunk(**where)
        )
        stored = await stream_file(request, target)
        outcome: ChunkOutcome = await step_as(
            caller, device, lambda s: s.record_chunk(**where, stored=stored)
        )
        if outcome.problem:
            # The chunk is kept (committed above): the client re-sends the wrong ones.
            raise InvalidInput(outcome.problem)
        progress: dict[str, Any] = {
            "uploadedBytes": outcome.uploaded_bytes,
            "totalBytes": outcome.total_bytes,
        }
        if outcome.etag is not None:
            return json_response(progress, status_code=201, headers=_etag_header(outcome.etag))
        return json_response({**progress, "done": outcome.done})

    @router.get(
        "/media/{mediaId}/content",
        responses={
            **CHANGE_ERRORS,
            **_BINARY,
            206: {"description": "Partial Content"},
            304: {"description": "Not Modified"},
            416: {"description": "Range Not Satisfiable"},
        },
        response_class=Response,
        summary="Get Media by ID",
    )
    def get_content(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        mediaId: MediaId,
        if_none_match: Annotated[str | None, Header(alias="if-none-match")] = None,
        range_header: Annotated[str | None, Header(alias="range")] = None,
        if_range: Annotated[str | None, Header(alias="if-range")] = None,
    ) -> Response:
        with media_service(context, request, applicationId, write=False) as service:
            media = service.complete_media(
                application_id=applicationId, session_id=sessionId, media_id=mediaId
            )
            assert media.etag is not None
            size = media.total_bytes
            headers = {
                "ETag": quoted_etag(media.etag),
                "Accept-Ranges": "bytes",
                "Content-Disposition": content_disposition(media.filename),
                "Cache-Control": "private, no-cache",
                **SAFE_CONTENT_HEADERS,
            }
            if etag_matches(if_none_match, media.etag):
                return Response(status_code=304, headers=headers)
            try:
                wanted = requested_range(range_header, size=size, if_range=if_range, md5=media.etag)
            except RangeNotSatisfiable:
                return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
            if wanted is None:
                chunks = service.read_content(media)
                headers["Content-Length"] = str(size)
                status = 200
            else:
                chunks = service.read_content(media, start=wanted.start, end=wanted.end)
                headers["Content-Length"] = str(wanted.end - wanted.start)
                headers["Content-Range"] = wanted.content_range(size)
                status = 206
        return StreamingResponse(chunks, status_code=status, media_type=media.content_type, headers=headers)

    @router.get(
        "/media/{mediaId}/thumbnail",
        responses={
            **CHANGE_ERRORS,
            **_BINARY,
            422: {"model": ErrorBody, "description": "The content could not be decoded"},
        },
        response_class=Response,
        summary="Get Media Thumbnail",
    )
    def get_thumbnail(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        mediaId: MediaId,
        type: Annotated[Literal["image", "preview"], Query()] = "image",
    ) -> Response:
        with media_service(context, request, applicationId, write=False) as service:
            media, chunks = service.open_thumbnail(
                application_id=applicationId, session_id=sessionId, media_id=mediaId, kind=type
            )
        stem = media.filename.rsplit(".", 1)[0] or "thumbnail"
        name, content_type = (
            (f"{stem}.jpg", "image/jpeg") if type == "image" else (f"{stem}.gif", "image/gif")
        )
        headers = {"Content-Disposition": content_disposition(name), **SAFE_CONTENT_HEADERS}
        return StreamingResponse(chunks, media_type=content_type, headers=headers)

    return router
