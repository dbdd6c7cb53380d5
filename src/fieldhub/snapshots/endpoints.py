"""Snapshot routes: parse, authorise, call the service, shape the response."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from anyio import to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.responses import Response, StreamingResponse

from fieldhub.core.db import UnitOfWork, utcnow
from fieldhub.core.errors import InvalidInput, NotFound
from fieldhub.core.http.streaming_multipart import read_file_field
from fieldhub.core.web import json_response, validation_message
from fieldhub.snapshots.events import snapshot_location
from fieldhub.snapshots.images import StagedImage
from fieldhub.snapshots.models import Snapshot
from fieldhub.snapshots.repository import signed_snapshot
from fieldhub.snapshots.schemas import (
    CreateSnapshotSignedURLWebCommand,
    ErrorBody,
    OpaqueId,
    SignedUrl,
    SnapshotAcquireForm,
    SnapshotApproveWebCommand,
    SnapshotCameraRequestRespondWebCommand,
    SnapshotCameraRequestWebCommand,
    SnapshotDiscardWebCommand,
    SnapshotRequestResult0,
    SnapshotRequestWebCommand,
    SnapshotState,
    SnapshotUploadForm,
    SnapshotUploadResult,
    rfc3339,
)
from fieldhub.snapshots.schemas import Snapshot as SnapshotSchema
from fieldhub.snapshots.service import Caller, ImageFields, SnapshotService, UploadFields
from fieldhub.snapshots.signing import UrlSigner
from fieldhub.snapshots.web import SnapshotContext

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 403, 404)}
_CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {**_ERRORS, 409: {"model": ErrorBody}}
_IMAGE_ERRORS: dict[int | str, dict[str, Any]] = {**_CHANGE_ERRORS, 413: {"model": ErrorBody}}
_MULTIPART_BODY = {
    "requestBody": {
        "content": {"multipart/form-data": {"schema": {"type": "object", "required": ["image"]}}},
        "required": True,
    }
}
_Form = TypeVar("_Form", bound=BaseModel)


def snapshot_json(row: Snapshot) -> dict[str, Any]:
    requested = row.snapshot_acquired is not None
    return {
        "applicationId": {"id": row.application_id} if row.application_id else None,
        "approvalProcessingResult": (
            {"additionalInformation": None, "succeeded": row.approval_succeeded}
            if row.approval_succeeded is not None
            else None
        ),
        "approved": row.approved,
        "createdAt": rfc3339(row.created_at),
        "id": str(row.id),
        "interactionId": row.interaction_id,
        "mimeType": row.mime_type,
        "organizationId": str(row.realm_id),
        "path": snapshot_location(row),
        "relatedSnapshotId": str(row.related_snapshot_id) if row.related_snapshot_id else None,
        "requestProcessingResult": (
            {"error": None, "snapshotAcquired": row.snapshot_acquired} if requested else None
        ),
        "requesterUserEndpointId": row.requester_endpoint_id,
        "requesterUserId": str(row.requester_user_id),
        "sessionId": row.session_id,
        "sessionType": row.session_type,
        # The spec's enum has no value for a snapshot still waiting for its image.
        "state": None if row.state == SnapshotState.REQUESTED else row.state,
        "suffix": row.suffix,
        "timestamp": rfc3339(row.updated_at),
        "type": row.type,
        "userEndpointId": row.user_endpoint_id,
        "userId": str(row.user_id),
        "version": row.version,
    }


def _parse_form(model: type[_Form], fields: dict[str, str]) -> _Form:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInput(validation_message(RequestValidationError(exc.errors()))) from None


def _path_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("Snapshot not found") from None


def build_router(context: SnapshotContext) -> APIRouter:
    router = APIRouter()
    runtime = context.runtime
    settings = runtime.settings
    signer = UrlSigner.load_or_create(settings.data_dir)

    def service(uow: UnitOfWork, caller: Caller) -> SnapshotService:
        return SnapshotService(
            uow=uow, caller=caller, blobs=runtime.blobs, allowed_mime_types=settings.snapshot_mime_types
        )

    def change(request: Request, action: Callable[[SnapshotService], Any]) -> Any:
        with context.work(request, write=True) as (uow, caller):
            return action(service(uow, caller))

    async def with_image(
        request: Request, model: type[_Form], action: Callable[[SnapshotService, _Form, StagedImage], Any]
    ) -> Any:
        """Authenticates, streams the image into the blob store, then runs ``action`` in one unit of
        work; on any failure the image is removed again."""
        await to_thread.run_sync(context.caller, request)
        staged = await to_thread.run_sync(StagedImage, runtime.blobs)
        try:
            upload = await read_file_field(
                request, field="image", sink=staged.write, max_bytes=settings.snapshot_max_bytes
            )
            form = _parse_form(model, upload.fields)
            return await to_thread.run_sync(
                lambda: change(request, lambda snapshots: action(snapshots, form, staged))
            )
        except BaseException:
            await to_thread.run_sync(staged.discard)
            raise

    # reading -----------------------------------------------------------------------------
    @router.get("/", summary="retrieve snapshots", response_model=list[SnapshotSchema], responses=_ERRORS)
    def list_snapshots(request: Request, interactionId: Annotated[OpaqueId, Query()]) -> Response:
        with context.work(request, write=False) as (uow, caller):
            rows = service(uow, caller).interaction(interaction_id=interactionId)
            return json_response([snapshot_json(row) for row in rows])

    @router.get(
        "/signed/{snapshotId}/{expiration}",
        summary="get a builtin signed url",
        response_class=Response,
        responses={**_ERRORS, 200: {"content": {"image/*": {}}}},
    )
    def signed_image(snapshotId: str, expiration: str, signature: Annotated[str, Query()]) -> Response:
        snapshot_id = signer.verify(
            snapshot_id=snapshotId, expiration=expiration, signature=signature, now=int(utcnow().timestamp())
        )
        with runtime.db.unit_of_work(write=False) as uow:
            snapshot = signed_snapshot(uow.session, snapshot_id)
        if snapshot is None or snapshot.blob_key is None or snapshot.mime_type is None:
            raise NotFound("Snapshot has no image")
        key = snapshot.blob_key
        size = runtime.blobs.size(key)
        return StreamingResponse(
            runtime.blobs.read(key),
            media_type=snapshot.mime_type,
            headers={
                "Content-Length": str(size),
                "Cache-Control": "private, max-age=60",
                "X-Content-Type-Options": "nosniff",
                "Content-Disposition": f'inline; filename="{snapshot.id}.{snapshot.suffix}"',
            },
        )

    @router.get(
        "/{snapshotId}",
        summary="retrieve specific snapshot",
        response_model=SnapshotSchema,
        responses=_ERRORS,
    )
    def get_snapshot(request: Request, snapshotId: str) -> Response:
        with context.work(request, write=False) as (uow, caller):
            return json_response(snapshot_json(service(uow, caller).get(snapshot_id=_path_id(snapshotId))))

    # the workflow ------------------------------------------------------------------------
    @router.post(
        "/request",
        summary="Creates a new snapshot request",
        response_model=SnapshotRequestResult0,
        responses=_ERRORS,
    )
    def request_snapshot(request: Request, command: SnapshotRequestWebCommand) -> Response:
        snapshot = change(request, lambda snapshots: snapshots.request(command))
        return json_response({"snapshotId": str(snapshot.id)})

    @router.post(
        "/acquire",
        summary="Acquire a snapshot",
        status_code=204,
        responses=_IMAGE_ERRORS,
        openapi_extra=_MULTIPART_BODY,
    )
    async def acquire(request: Request) -> Response:
        def act(snapshots: SnapshotService, form: SnapshotAcquireForm, image: StagedImage) -> None:
            snapshots.acquire(
                snapshot_id=form.snapshotId,
                endpoint_id=form.userEndpointId,
                fields=_image_fields(form),
                image=image,
            )

        await with_image(request, SnapshotAcquireForm, act)
        return Response(status_code=204)

    @router.post(
        "/upload",
        summary="Upload a snapshot",
        response_model=SnapshotUploadResult,
        responses=_IMAGE_ERRORS,
        openapi_extra=_MULTIPART_BODY,
    )
    async def upload(request: Request) -> Response:
        def act(snapshots: SnapshotService, form: SnapshotUploadForm, image: StagedImage) -> Snapshot:
            fields = UploadFields(
                application_id=form.applicationId,
                interaction_id=form.interactionId,
                related_snapshot_id=form.relatedSnapshotId,
                target_user_id=form.targetUserId,
                target_endpoint_id=form.targetUserEndpointId,
                endpoint_id=form.userEndpointId,
            )
            return snapshots.upload(upload=fields, fields=_image_fields(form), image=image)

        snapshot: Snapshot = await with_image(request, SnapshotUploadForm, act)
        return json_response({"snapshotId": str(snapshot.id)})

    @router.post("/approve", summary="Approve a snapshot", status_code=204, responses=_CHANGE_ERRORS)
    def approve(request: Request, command: SnapshotApproveWebCommand) -> Response:
        change(request, lambda snapshots: snapshots.approve(command))
        return Response(status_code=204)

    @router.post("/discard", summary="Discard a snapshot", status_code=204, responses=_CHANGE_ERRORS)
    def discard(request: Request, command: SnapshotDiscardWebCommand) -> Response:
        change(request, lambda snapshots: snapshots.discard(command))
        return Response(status_code=204)

    # camera requests ---------------------------------------------------------------------
    @router.post(
        "/cameraRequest", summary="Creates a new camera request", response_model=str, responses=_ERRORS
    )
    def camera_request(request: Request, command: SnapshotCameraRequestWebCommand) -> Response:
        created = change(request, lambda snapshots: snapshots.camera_request(command))
        return json_response(str(created.id))

    @router.post(
        "/cameraRequestRespond",
        summary="Responds to a camera request",
        status_code=204,
        responses=_CHANGE_ERRORS,
    )
    def camera_request_respond(request: Request, command: SnapshotCameraRequestRespondWebCommand) -> Response:
        change(request, lambda snapshots: snapshots.camera_request_respond(command))
        return Response(status_code=204)

    # signed URLs -------------------------------------------------------------------------
    @router.post(
        "/signedUrl",
        summary="Create a signed url for a snapshot",
        response_model=SignedUrl,
        responses=_CHANGE_ERRORS,
    )
    def signed_url(
        request: Request,
        command: CreateSnapshotSignedURLWebCommand,
        referer: Annotated[str | None, Header()] = None,
    ) -> Response:
        with context.work(request, write=False) as (uow, caller):
            if not referer:
                raise InvalidInput("Referer: header is required")
            snapshot = service(uow, caller).with_image(snapshot_id=command.snapshotId)
        ttl = settings.snapshot_signed_url_ttl_seconds
        valid_until = utcnow().replace(microsecond=0) + dt.timedelta(seconds=ttl)
        url = None
        if not command.createInternalSignedUrl and snapshot.blob_key and snapshot.mime_type:
            url = runtime.blobs.presigned_url(
                snapshot.blob_key, expires_seconds=ttl, content_type=snapshot.mime_type
            )
        if url is None:
            url = internal_url(request, snapshot.id, int(valid_until.timestamp()))
        return json_response({"url": url, "validUntil": rfc3339(valid_until)})

    def internal_url(request: Request, snapshot_id: uuid.UUID, expiration: int) -> str:
        origin = settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
        mount = str(request.scope.get("root_path", "")).removeprefix(
            str(request.scope.get("app_root_path", ""))
        )
        signature = signer.signature(str(snapshot_id), str(expiration))
        return f"{origin}{mount}/signed/{snapshot_id}/{expiration}?signature={signature}"

    return router


def _image_fields(form: SnapshotAcquireForm | SnapshotUploadForm) -> ImageFields:
    return ImageFields(mime_type=form.mime_type, suffix=form.suffix, snapshot_type=form.snapshotType)
