"""Media metadata routes: parse, authorise, call the service, shape the response."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from fieldhub.core.errors import InvalidInput, NotFound
from fieldhub.core.web import RequestContext, json_response
from fieldhub.skylight.endpoints import (
    AuditQuery,
    DeviceId,
    DeviceTimestamp,
    device_context,
    property_filters,
    query_text,
    requested_cursor,
)
from fieldhub.skylight.events import DeviceContext
from fieldhub.skylight.media.models import Media
from fieldhub.skylight.media.repository import SORTABLE, Archived, MediaFilter, sort_key
from fieldhub.skylight.media.schemas import (
    Annotation,
    AnnotationRef,
    MediaCreate,
    MediaOut,
    MediaPage,
    MediaPatch,
    MediaRef,
    media_json,
)
from fieldhub.skylight.media.service import MediaService
from fieldhub.skylight.models import WorkSession
from fieldhub.skylight.schemas import ErrorBody, text_problem

ApplicationId = Annotated[str, Path(description="ID for this Application", max_length=64)]
SessionId = Annotated[uuid.UUID, Path(description="ID for this Session")]
MediaId = Annotated[uuid.UUID, Path(description="ID for this Media")]
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 403, 404)}
CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {**ERRORS, 409: {"model": ErrorBody}}
PREFIX = "/application/applications/{applicationId}/sessions/{sessionId}"


@contextmanager
def media_service(
    context: RequestContext,
    request: Request,
    application_id: str,
    *,
    write: bool,
    device: DeviceContext | None = None,
    kind: type[MediaService] = MediaService,
) -> Iterator[Any]:
    """The request's unit of work with a media service (``kind`` picks the upload steps)."""
    with context.work(request, write=write) as (uow, caller):
        if text_problem(application_id):
            raise NotFound("Application not found")
        yield kind(session=uow.session, blobs=context.runtime.blobs, caller=caller, device=device)


def _ref(work_session: WorkSession, media: Media) -> dict[str, Any]:
    return {
        "applicationId": media.application_id,
        "mediaId": str(media.id),
        "etag": media.etag,
        "sessionId": str(work_session.id),
    }


def _filters(
    request: Request,
    *,
    archived: Archived,
    content_type: str | None,
    labels: str | None,
    exclude_labels: str | None,
    audit: AuditQuery,
) -> MediaFilter:
    return MediaFilter(
        properties=property_filters(request),
        archived=archived,
        content_types=_text_list(content_type, field="contentType"),
        labels=_text_list(labels, field="labels"),
        exclude_labels=_text_list(exclude_labels, field="excludeLabels"),
        **audit.filter_fields(),
    )


def _text_list(value: str | None, *, field: str) -> list[str]:
    query_text(value, field=field)
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def build_router(context: RequestContext) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["media"])

    @router.get("/media", response_model=MediaPage, responses=ERRORS, summary="Get Media List")
    def list_media(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        audit: Annotated[AuditQuery, Depends()],
        archived: Annotated[Archived, Query()] = "exclude",
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        sort: Annotated[
            str | None, Query(description="filename, createdAt, modifiedAt; '-' descends")
        ] = None,
        nextCursor: Annotated[str | None, Query(max_length=2048)] = None,
        prevCursor: Annotated[str | None, Query(max_length=2048)] = None,
        contentType: Annotated[str | None, Query()] = None,
        labels: Annotated[str | None, Query()] = None,
        excludeLabels: Annotated[str | None, Query()] = None,
    ) -> Response:
        if sort and sort.removeprefix("-") not in SORTABLE:
            raise InvalidInput(
                "sort: must be one of filename, createdAt, modifiedAt (or _id, the creation order),"
                " optionally prefixed with '-'"
            )
        order = sort_key(sort)
        cursor = requested_cursor(next_cursor=nextCursor, prev_cursor=prevCursor, sort=order)
        filters = _filters(
            request,
            archived=archived,
            content_type=contentType,
            labels=labels,
            exclude_labels=excludeLabels,
            audit=audit,
        )
        with media_service(context, request, applicationId, write=False) as service:
            work_session, listing = service.find(
                application_id=applicationId,
                session_id=sessionId,
                filters=filters,
                sort=order,
                limit=limit,
                cursor=cursor,
            )
            data = [media_json(row, session_id=work_session.id) for row in listing.page.rows]
        page = {
            "count": len(data),
            "limit": limit,
            "total": listing.total,
            "prevCursor": listing.page.prev_cursor,
            "nextCursor": listing.page.next_cursor,
        }
        return json_response({"data": data, "page": page})

    @router.post(
        "/media",
        status_code=201,
        response_model=MediaOut,
        responses=CHANGE_ERRORS,
        summary="Create Media Metadata",
    )
    def create_media(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        body: MediaCreate,
        deviceid: DeviceId = None,
        devicetimestamp: DeviceTimestamp = None,
    ) -> Response:
        device = device_context(deviceid, devicetimestamp)
        with media_service(context, request, applicationId, write=True, device=device) as service:
            media = service.create(application_id=applicationId, session_id=sessionId, body=body)
            created = media_json(media, session_id=sessionId)
        return json_response(created, status_code=201)

    @router.get(
        "/media/{mediaId}", response_model=MediaOut, responses=ERRORS, summary="Get Media Metadata by ID"
    )
    def get_media(
        request: Request, applicationId: ApplicationId, sessionId: SessionId, mediaId: MediaId
    ) -> Response:
        with media_service(context, request, applicationId, write=False) as service:
            media = service.get(application_id=applicationId, session_id=sessionId, media_id=mediaId)
            found = media_json(media, session_id=sessionId)
        return json_response(found)

    @router.patch(
        "/media/{mediaId}", response_model=MediaOut, responses=CHANGE_ERRORS, summary="Update Media Metadata"
    )
    def patch_media(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        mediaId: MediaId,
        body: MediaPatch,
        deviceid: DeviceId = None,
        devicetimestamp: DeviceTimestamp = None,
    ) -> Response:
        device = device_context(deviceid, devicetimestamp)
        with media_service(context, request, applicationId, write=True, device=device) as service:
            media = service.patch(
                application_id=applicationId, session_id=sessionId, media_id=mediaId, body=body
            )
            patched = media_json(media, session_id=sessionId)
        return json_response(patched)

    @router.delete(
        "/media/{mediaId}", response_model=MediaRef, responses=CHANGE_ERRORS, summary="Archive Media by ID"
    )
    def archive_media(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        mediaId: MediaId,
        deviceid: DeviceId = None,
        devicetimestamp: DeviceTimestamp = None,
    ) -> Response:
        device = device_context(deviceid, devicetimestamp)
        with media_service(context, request, applicationId, write=True, device=device) as service:
            ref = _ref(*service.archive(application_id=applicationId, session_id=sessionId, media_id=mediaId))
        return json_response(ref)

    @router.post(
        "/media/{mediaId}/unarchive",
        response_model=MediaRef,
        responses=CHANGE_ERRORS,
        summary="Unarchive Media by ID",
    )
    def unarchive_media(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        mediaId: MediaId,
        deviceid: DeviceId = None,
        devicetimestamp: DeviceTimestamp = None,
    ) -> Response:
        device = device_context(deviceid, devicetimestamp)
        with media_service(context, request, applicationId, write=True, device=device) as service:
            ref = _ref(
                *service.unarchive(application_id=applicationId, session_id=sessionId, media_id=mediaId)
            )
        return json_response(ref)

    @router.post(
        "/media/{mediaId}/annotations",
        status_code=201,
        response_model=AnnotationRef,
        responses=CHANGE_ERRORS,
        summary="Add Annotation to Media",
    )
    def add_annotation(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        mediaId: MediaId,
        body: Annotation,
        deviceid: DeviceId = None,
        devicetimestamp: DeviceTimestamp = None,
    ) -> Response:
        device = device_context(deviceid, devicetimestamp)
        with media_service(context, request, applicationId, write=True, device=device) as service:
            service.add_annotation(
                application_id=applicationId, session_id=sessionId, media_id=mediaId, annotation=body
            )
        return json_response({"annotationId": body.annotationId}, status_code=201)

    @router.delete(
        "/media/{mediaId}/annotations/{annotationId}",
        response_model=AnnotationRef,
        responses=CHANGE_ERRORS,
        summary="Delete Annotation from Media",
    )
    def delete_annotation(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        mediaId: MediaId,
        annotationId: Annotated[uuid.UUID, Path()],
        deviceid: DeviceId = None,
        devicetimestamp: DeviceTimestamp = None,
    ) -> Response:
        device = device_context(deviceid, devicetimestamp)
        with media_service(context, request, applicationId, write=True, device=device) as service:
            service.delete_annotation(
                application_id=applicationId,
                session_id=sessionId,
                media_id=mediaId,
                annotation_id=annotationId,
            )
        return json_response({"annotationId": str(annotationId)})

    @router.get("/mediaLabels", response_model=list[str], responses=ERRORS, summary="Get Media Labels")
    def media_labels(request: Request, applicationId: ApplicationId, sessionId: SessionId) -> Response:
        with media_service(context, request, applicationId, write=False) as service:
            labels = service.labels(application_id=applicationId, session_id=sessionId)
        return json_response(labels)

    return router
