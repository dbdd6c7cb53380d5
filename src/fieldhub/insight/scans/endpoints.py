"""Events, exports and the HTTPS gateway ingest: parse, authorise, call the service, shape the response."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from fieldhub.core.db import utcnow
from fieldhub.core.errors import NotFound, Unauthenticated
from fieldhub.core.web import json_response
from fieldhub.insight.scans import endpoints_jobs
from fieldhub.insight.scans.export import (
    EXPORT_TASK,
    MEDIA_TYPES,
    PENDING,
    SUCCESSFUL,
    ExportService,
    check_format,
    export_key,
    run_export_task,
    write_export,
)
from fieldhub.insight.scans.queries import WINDOW_NAMES, EventFilters, EventQueries, EventQuery, choose_token
from fieldhub.insight.scans.repository import ScanRepository, TimeWindow
from fieldhub.insight.scans.schemas import (
    MAX_MILLIS,
    DownloadLink,
    EventPage,
    ExportTask,
    ExportTaskAccepted,
    IngestResult,
    IngestToken,
)
from fieldhub.insight.scans.service import ScanIngest
from fieldhub.insight.scans.tokens import (
    ExportFile,
    GatewayIdentity,
    sign_download,
    sign_ingest_token,
    verify_download,
    verify_ingest_token,
)
from fieldhub.insight.scans.views import event_items
from fieldhub.insight.schemas import ErrorBody
from fieldhub.insight.views import listing
from fieldhub.insight.web import InsightContext, error_response, page_limit, parse_uuid

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 403, 404)}
_BEARER = re.compile(r"^\s*(?:Bearer\s+)?(?P<token>[A-Za-z0-9_.=-]+)\s*$", re.IGNORECASE)
Millis = Annotated[int | None, Query(ge=0, le=MAX_MILLIS, description="Milliseconds since the epoch.")]
Token = Annotated[str | None, Query(max_length=2048)]
Format = Annotated[str, Query(max_length=16, description="csv (default) or jsonl; parquet is not served.")]


def _filters_json(filters: EventFilters) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = [
        {"name": "start_time_millis", "value": filters.window.start},
        {"name": "end_time_millis", "value": filters.window.end},
    ]
    if filters.gateway_id is not None:
        shown.append({"name": "gateway_id", "value": str(filters.gateway_id)})
    return shown


def _gateway_token(request: Request) -> str:
    match = _BEARER.match(request.headers.get("authorization", ""))
    if match is None:
        raise Unauthenticated("Send the gateway's ingest token as 'Authorization: Bearer <token>'")
    return match.group("token")


def build_router(context: InsightContext) -> APIRouter:
    router = APIRouter(tags=["events"])
    runtime = context.runtime
    settings = runtime.settings
    base_url = f"{settings.issuer}{settings.insight_prefix}"
    runtime.tasks.register(EXPORT_TASK, lambda payload: run_export_task(runtime.db, runtime.blobs, payload))

    def download_link(file: ExportFile) -> str:
        signature = sign_download(runtime.signing_key, issuer=settings.issuer, file=file, now=utcnow())
        return f"{base_url}/event-exports/{file.export_id}?signature={signature}"

    @router.get(
        "/{customer_id}/events", response_model=EventPage, responses=_ERRORS, summary="List of Events"
    )
    def list_events(
        request: Request,
        customer_id: str,
        start_time_millis: Millis = None,
        end_time_millis: Millis = None,
        next_token: Token = None,
        next_key: Token = None,
        limit: Annotated[str | None, Query(max_length=8)] = None,
        gateway_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        size = page_limit(limit)
        with context.work(request, customer_id, write=False, permission="event.read") as (uow, caller):
            query = EventQuery(
                start=start_time_millis,
                end=end_time_millis,
                gateway_id=gateway_id,
                next_token=choose_token(next_token, next_key),
            )
            page, filters = EventQueries(ScanRepository(uow.session, realm_id=caller.realm_id)).page(
                query=query, limit=size, now=utcnow()
            )
            items = event_items(page.rows)
        shown = _filters_json(filters)
        # links.next repeats the resolved filters, so the next page reads the same window.
        again = {item["name"]: item["value"] for item in shown}
        body = listing(request, items, next_token=page.next_cursor, description="Events", **again, limit=size)
        body["metadata"]["filters"] = shown
        return json_response(body)

    @router.get(
        "/{customer_id}/events/export",
        status_code=201,
        response_model=DownloadLink,
        responses=_ERRORS,
        summary="Export events to file",
    )
    def export_events(
        request: Request,
        customer_id: str,
        start_time_millis: Millis = None,
        end_time_millis: Millis = None,
        format: Format = "csv",
    ) -> Response:
        with context.work(request, customer_id, write=False, permission="event.read") as (uow, caller):
            window = TimeWindow.resolve(
                start=start_time_millis, end=end_time_millis, now=utcnow(), names=WINDOW_NAMES
            )
            file = ExportFile(realm_id=caller.realm_id, export_id=uuid.uuid4(), format=check_format(format))
            repo = ScanRepository(uow.session, realm_id=caller.realm_id)
            write_export(repo, runtime.blobs, window=window, file=file)
        return json_response({"download_link": download_link(file)}, status_code=201)

    @router.post(
        "/{customer_id}/events/export/tasks",
        status_code=202,
        response_model=ExportTaskAccepted,
        responses=_ERRORS,
        summary="Trigger an asynchronous export of events",
    )
    def request_export(
        request: Request,
        customer_id: str,
        start_time_millis: Millis = None,
        end_time_millis: Millis = None,
        format: Format = "csv",
    ) -> Response:
        now = utcnow()
        with context.work(request, customer_id, write=True, permission="event.read") as (uow, caller):
            window = TimeWindow.resolve(
                start=start_time_millis, end=end_time_millis, now=now, names=WINDOW_NAMES
            )
            service = ExportService(ScanRepository(uow.session, realm_id=caller.realm_id))
            export = service.request(window=window, file_format=format, now=now)
            answer = {"task": str(export.id), "requested": export.requested_at.isoformat()}
        return json_response(answer, status_code=202)

    @router.get(
        "/{customer_id}/events/export/tasks/{task}",
        response_model=ExportTask,
        responses=_ERRORS,
        summary="Retrieve previously triggered event export results",
    )
    def export_status(request: Request, customer_id: str, task: str) -> Response:
        with context.work(request, customer_id, write=False, permission="event.read") as (uow, caller):
            service = ExportService(ScanRepository(uow.session, realm_id=caller.realm_id))
            export = service.get(export_id=parse_uuid(task, field="task"))
            answer: dict[str, Any] = {
                "task": str(export.id),
                "completed": export.status != PENDING,
                "status": export.status,
            }
            if export.status == SUCCESSFUL:
                file = ExportFile(realm_id=caller.realm_id, export_id=export.id, format=export.format)
                answer["download_link"] = download_link(file)
        return json_response(answer)

    @router.get("/event-exports/{export_id}", include_in_schema=False)
    def download_export(export_id: str, signature: Annotated[str, Query(max_length=4096)]) -> Response:
        file = verify_download(
            runtime.signing_key, issuer=settings.issuer, export_id=export_id, signature=signature
        )
        key = export_key(file)
        size = runtime.blobs.size(key)  # a 404 before the response starts, should the file be gone
        return StreamingResponse(
            runtime.blobs.read(key),
            media_type=MEDIA_TYPES[file.format],
            headers={
                "Content-Disposition": f'attachment; filename="events-{file.export_id}.{file.format}"',
                "Content-Length": str(size),
                "Cache-Control": "no-store",
            },
        )

    @router.post(
        "/{customer_id}/gateways/{gateway_id}/ingest-token",
        response_model=IngestToken,
        responses=_ERRORS,
        tags=["gateways"],
        summary="Issues a gateway's token for the HTTPS ingest (for gateways without MQTT)",
    )
    def issue_ingest_token(request: Request, customer_id: str, gateway_id: str) -> Response:
        with context.work(request, customer_id, write=False, permission="gateways.provision") as (
            uow,
            caller,
        ):
            gateway = ScanRepository(uow.session, realm_id=caller.realm_id).gateway(
                parse_uuid(gateway_id, field="gateway_id")
            )
            if gateway is None:
                raise NotFound("Gateway not found")
            identity = GatewayIdentity(realm_id=caller.realm_id, gateway_id=gateway.id)
        token = sign_ingest_token(runtime.signing_key, issuer=settings.issuer, gateway=identity, now=utcnow())
        path = f"{settings.insight_prefix}/gateway-ingest/{identity.gateway_id}"
        return json_response({"gateway_id": str(identity.gateway_id), "token": token, "ingest_path": path})

    def ingest(gateway_id: str, token: str, body: bytes) -> Response:
        identity = verify_ingest_token(
            runtime.signing_key, issuer=settings.issuer, gateway_id=gateway_id, token=token
        )
        try:
            result = ScanIngest(db=runtime.db).ingest(
                realm_id=identity.realm_id, gateway_id=identity.gateway_id, messages=[body]
            )
        except NotFound:
            raise Unauthenticated("The gateway of this token no longer exists") from None
        if result.rejected and not (result.accepted or result.duplicates):
            first = result.rejected[0]
            where = f"event {first.event}: " if first.event is not None else ""
            return error_response(400, f"The message was refused: {where}{first.reason}")
        return json_response(
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": [
                    {"message": item.message, "event": item.event, "reason": item.reason}
                    for item in result.rejected
                ],
            }
        )

    @router.post(
        "/gateway-ingest/{gateway_id}",
        response_model=IngestResult,
        responses=_ERRORS,
        tags=["gateways"],
        summary="Scan events from a gateway that cannot speak MQTT (the gateway's ingest token)",
        openapi_extra={
            "requestBody": {
                "content": {
                    "application/json": {"schema": {"description": "An event object or an array of them"}}
                }
            }
        },
    )
    async def gateway_ingest(request: Request, gateway_id: str) -> Response:
        token = _gateway_token(request)
        body = await request.body()
        return await run_in_threadpool(ingest, gateway_id, token, body)

    router.include_router(endpoints_jobs.build_router(context))
    return router
