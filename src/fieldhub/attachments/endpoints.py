"""Attachment routes: parse, authorise, call the service, shape the response.

A PUT is done in three steps so that no database transaction (on SQLite: the write lock) stays
open while a client takes its time sending a large file:

1. a short read unit of work authenticates the caller and checks that the session exists, may be
   changed by them and is open (so a refused request is answered before its body is read);
2. the body is streamed, in bounded memory, to the blob key of the media item to be (blob writes
   in worker threads, in batches of about 1 MiB);
3. a short write unit of work creates the media item around that blob, sets the data point and
   deletes the attachment it replaces.  Should anything fail, the blob is deleted.
"""

from __future__ import annotations

import mimetypes
import re
import time
import uuid
from functools import partial
from typing import Annotated, Any

from anyio import CancelScope, to_thread
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response, StreamingResponse

from fieldhub.attachments.schemas import (
    DeleteEnvelope,
    ErrorEnvelope,
    TimeEnvelope,
    UploadEnvelope,
    checked_filename,
    point_name,
    project_number,
    session_uuid,
)
from fieldhub.attachments.service import AttachmentService, StagedContent, new_content_location
from fieldhub.attachments.web import AttachmentsContext, success
from fieldhub.core.blobs.protocol import BlobStore
from fieldhub.core.db import UnitOfWork
from fieldhub.core.errors import InvalidInput
from fieldhub.core.http.streaming_multipart import BodyTooLarge, read_body, read_file_field
from fieldhub.core.identity.service import Principal
from fieldhub.skylight.media.content import content_disposition, quoted_etag
from fieldhub.skylight.media.service import MediaService

PATH = "/v1/project/{project_id}/sessions/{session_id}/attachments/{id}"
#: The multipart form field that carries the file (the spec's name).
FORM_FIELD = "attachment"
#: The largest attachment accepted (a long video); larger uploads are refused with a 413.
MAX_ATTACHMENT_BYTES = 5 * 1024**3
ProjectId = Annotated[str, Path(description="The project ID number (the application's number)")]
SessionId = Annotated[str, Path(description="The session UUID")]
PointId = Annotated[str, Path(alias="id", description="The name of the point (case-insensitive)")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope} for code in (400, 401, 403, 404, 409)
}
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {FORM_FIELD: {"type": "string", "format": "binary"}},
                    "required": [FORM_FIELD],
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _media(context: AttachmentsContext, uow: UnitOfWork, caller: Principal) -> MediaService:
    return MediaService(session=uow.session, blobs=context.runtime.blobs, caller=caller)


def _attachments(
    context: AttachmentsContext, uow: UnitOfWork, caller: Principal, project_id: str
) -> AttachmentService:
    return AttachmentService(
        db=uow.session,
        identity=context.runtime.identity(uow.session),
        media=_media(context, uow, caller),
        caller=caller,
        project=project_number(project_id),
    )


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else None


def _content_type(filename: str, declared: str | None) -> str:
    """The part's own type when it names one; otherwise a guess from the name."""
    media_type = (declared or "").split(";", 1)[0].strip().lower()
    if _MEDIA_TYPE.fullmatch(media_type) and media_type != "application/octet-stream":
        return media_type
    return mimetypes.guess_type(filename, strict=True)[0] or "application/octet-stream"


async def _stage(
    blobs: BlobStore, request: Request, *, realm_id: uuid.UUID, raw_filename: str | None
) -> StagedContent:
    """Streams the upload into the blob store; raises InvalidInput (400) or BodyTooLarge (413)."""
    media_id, key = new_content_location(realm_id)
    writer = await to_thread.run_sync(blobs.writer, key)
    try:
        if raw_filename is not None:
            await read_body(request, sink=writer.write, max_bytes=MAX_ATTACHMENT_BYTES)
            filename, declared_type = raw_filename, None
        else:
            form = await read_file_field(
                request, field=FORM_FIELD, sink=writer.write, max_bytes=MAX_ATTACHMENT_BYTES
            )
            filename = _form_filename(form.file.filename, request.query_params.get("filename"))
            declared_type = form.file.content_type
        stored = await to_thread.run_sync(writer.commit)
    except BaseException:
        with CancelScope(shield=True):
            await to_thread.run_sync(writer.abort)
        raise
    return StagedContent(
        media_id=media_id, filename=filename, content_type=_content_type(filename, declared_type), blob=stored
    )


def _form_filename(part_filename: str | None, query_filename: str | None) -> str:
    if part_filename is None and query_filename is None:
        raise InvalidInput(f"{FORM_FIELD}: the part has no filename (and no ?filename= was given)")
    return checked_filename(part_filename if part_filename is not None else query_filename)


def build_router(context: AttachmentsContext) -> APIRouter:
    router = APIRouter(tags=["attachments"])
    blobs = context.runtime.blobs

    @router.get("/v1/time", response_model=TimeEnvelope, summary="Server time (no authentication)")
    def server_time() -> Response:
        return success(int(time.time()))

    @router.get(
        PATH,
        responses={200: {"content": {"application/octet-stream": {}}}, **_ERRORS},
        summary="Fetch the raw data of a file attached to a session",
    )
    def get_attachment(
        request: Request, project_id: ProjectId, session_id: SessionId, point: PointId
    ) -> Response:
        with context.work(request, write=False) as (uow, caller):
            service = _attachments(context, uow, caller, project_id)
            content = service.content(session_id=session_uuid(session_id), point=point_name(point))
        return StreamingResponse(
            content.chunks,
            media_type="application/octet-stream",
            headers={
                "Content-Length": str(content.size),
                "Content-Disposition": content_disposition(content.filename),
                "ETag": quoted_etag(content.md5),
            },
        )

    def writable(request: Request, project_id: str, session_id: str, point: str) -> Principal:
        with context.work(request, write=False) as (uow, caller):
            point_name(point)
            service = _attachments(context, uow, caller, project_id)
            service.writable_session(session_id=session_uuid(session_id))
        return caller

    def attach(
        caller: Principal, project_id: str, session_id: str, point: str, staged: StagedContent
    ) -> dict[str, Any]:
        with context.runtime.db.unit_of_work() as uow:
            service = _attachments(context, uow, caller, project_id)
            # The caller was authenticated before the upload; a signed request's timestamp may
            # well be over 5 minutes old by the time a large file has arrived.
            uow.after_commit(context.runtime.publisher.wake)
            stored = service.attach(
                session_id=session_uuid(session_id), point=point_name(point), content=staged
            )
        return {"length": stored.length, "md5": stored.md5}

    @router.put(
        PATH,
        response_model=UploadEnvelope,
        responses={**_ERRORS, 413: {"model": ErrorEnvelope}},
        openapi_extra=_UPLOAD_BODY,
        summary="Upload a new file and store it as an attachment to a session",
    )
    async def put_attachment(
        request: Request,
        project_id: ProjectId,
        session_id: SessionId,
        point: PointId,
        filename: Annotated[str | None, Query(description="The file's name, for a raw upload")] = None,
    ) -> Response:
        caller = await to_thread.run_sync(writable, request, project_id, session_id, point)
        media_type = _media_type(request)
        if media_type not in {"multipart/form-data", "application/octet-stream"}:
            raise InvalidInput("content-type: must be multipart/form-data or application/octet-stream")
        raw_filename = checked_filename(filename) if media_type == "application/octet-stream" else None
        declared = _declared_length(request)
        if declared is not None and declared > MAX_ATTACHMENT_BYTES:
            raise BodyTooLarge(
                f"request body: larger than {MAX_ATTACHMENT_BYTES} bytes", max_bytes=MAX_ATTACHMENT_BYTES
            )
        staged = await _stage(blobs, request, realm_id=caller.realm_id, raw_filename=raw_filename)
        try:
            result = await to_thread.run_sync(partial(attach, caller, project_id, session_id, point, staged))
        except BaseException:
            # Nothing refers to the blob: the unit of work that would have adopted it rolled back.
            with CancelScope(shield=True):
                await to_thread.run_sync(blobs.delete, staged.blob.key)
            raise
        return success(result)

    @router.delete(
        PATH,
        response_model=DeleteEnvelope,
        responses={**_ERRORS},
        summary="Delete an attached file from a session",
    )
    def delete_attachment(
        request: Request, project_id: ProjectId, session_id: SessionId, point: PointId
    ) -> Response:
        with context.work(request, write=True) as (uow, caller):
            service = _attachments(context, uow, caller, project_id)
            service.detach(session_id=session_uuid(session_id), point=point_name(point))
        return success(True)

    return router
