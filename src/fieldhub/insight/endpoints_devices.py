"""Scanners (``/devices``) and device configs: parse, authorise, call the service, shape the response."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from fieldhub.core.blobs.protocol import StoredBlob
from fieldhub.core.db import utcnow
from fieldhub.core.web import json_response
from fieldhub.insight.repository import SCANNER_ORDER
from fieldhub.insight.schemas import Device, DeviceConfig, DeviceConfigs, DevicePage, DeviceUpdate, ErrorBody
from fieldhub.insight.service_devices import (
    DeviceService,
    check_config_id,
    check_file_name,
    config_blob_key,
)
from fieldhub.insight.views import config_json, listing, scanner_json
from fieldhub.insight.web import InsightContext, page_limit, parse_next_token

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 403, 404)}
_UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {**_ERRORS, 413: {"model": ErrorBody}}
FileName = Annotated[str | None, Header(alias="File-Name", max_length=1024)]


def _download_headers(file_name: str) -> dict[str, str]:
    # The stored name is the client's: it is only ever sent percent-encoded (RFC 6266/5987), and
    # the content type is fixed, so a config can never be rendered by a browser as a page.
    return {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(file_name, safe='')}",
        "X-Content-Type-Options": "nosniff",
    }


def build_router(context: InsightContext) -> APIRouter:
    router = APIRouter(prefix="/{customer_id}")
    runtime = context.runtime

    @router.get(
        "/devices", response_model=DevicePage, responses=_ERRORS, tags=["devices"], summary="List of scanners"
    )
    def list_devices(
        request: Request,
        customer_id: str,
        next_token: Annotated[str | None, Query(max_length=2048)] = None,
        limit: Annotated[str | None, Query(max_length=8)] = None,
    ) -> Response:
        size = page_limit(limit)
        with context.work(request, customer_id, write=False, permission="devices.read") as (uow, caller):
            cursor = parse_next_token(next_token, sort=SCANNER_ORDER, realm_id=caller.realm_id)
            page = DeviceService(session=uow.session, realm_id=caller.realm_id).scanner_page(
                limit=size, cursor=cursor
            )
            items = [scanner_json(row) for row in page.rows]
        return json_response(
            listing(request, items, next_token=page.next_cursor, description="Scanners", limit=size)
        )

    @router.put(
        "/devices/{device_id}",
        response_model=Device,
        responses=_ERRORS,
        tags=["devices"],
        summary="Update scanner device data",
    )
    def update_device(request: Request, customer_id: str, device_id: str, body: DeviceUpdate) -> Response:
        with context.work(request, customer_id, write=True, permission="devices.update") as (uow, caller):
            scanner = DeviceService(session=uow.session, realm_id=caller.realm_id).set_scanner_status(
                serial=device_id, status=body.status, now=utcnow()
            )
            return json_response(scanner_json(scanner))

    @router.get(
        "/device-configs",
        response_model=DeviceConfigs,
        responses=_ERRORS,
        tags=["device configs"],
        summary="Get lists of device configs metadata",
    )
    def list_configs(request: Request, customer_id: str) -> Response:
        with context.work(request, customer_id, write=False, permission="device_configs.read") as (
            uow,
            caller,
        ):
            configs = DeviceService(session=uow.session, realm_id=caller.realm_id).configs()
            return json_response({"configs": [config_json(row) for row in configs]})

    def authorise_upload(
        request: Request, customer_id: str, config_id: str, file_name: str | None
    ) -> uuid.UUID:
        with context.work(request, customer_id, write=False, permission="device_configs.write") as (
            _,
            caller,
        ):
            check_config_id(config_id)
            check_file_name(file_name)
            return caller.realm_id

    def record_upload(
        request: Request, customer_id: str, config_id: str, file_name: str, stored: StoredBlob
    ) -> tuple[dict[str, Any], str | None]:
        with context.work(request, customer_id, write=True, permission="device_configs.write") as (
            uow,
            caller,
        ):
            result = DeviceService(session=uow.session, realm_id=caller.realm_id).store_config(
                config_id=config_id, file_name=file_name, blob_key=stored.key, size=stored.size, now=utcnow()
            )
            shaped = config_json(result.config)
        return shaped, result.replaced_key

    @router.put(
        "/device-configs/{device_config_id}",
        response_model=DeviceConfig,
        responses=_UPLOAD_ERRORS,
        tags=["device configs"],
        summary="Create or update a device config file (streamed body)",
        openapi_extra={
            "requestBody": {
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
            }
        },
    )
    async def put_config(
        request: Request, customer_id: str, device_config_id: str, file_name: FileName = None
    ) -> Response:
        # Authorised before a byte is stored; the size limit is enforced as the body streams in.
        realm_id = await run_in_threadpool(
            authorise_upload, request, customer_id, device_config_id, file_name
        )
        writer = runtime.blobs.writer(config_blob_key(realm_id))
        try:
            async for chunk in request.stream():
                if chunk:
                    await run_in_threadpool(writer.write, chunk)
            stored = await run_in_threadpool(writer.commit)
        except BaseException:
            await run_in_threadpool(writer.abort)
            raise
        try:
            shaped, replaced = await run_in_threadpool(
                record_upload, request, customer_id, device_config_id, str(file_name), stored
            )
        except BaseException:
            await run_in_threadpool(runtime.blobs.delete, stored.key)
            raise
        if replaced is not None:
            await run_in_threadpool(runtime.blobs.delete, replaced)
        return json_response(shaped)

    @router.get(
        "/device-configs/{device_config_id}",
        responses=_ERRORS,
        tags=["device configs"],
        summary="Get a device config file",
        response_class=StreamingResponse,
    )
    def get_config(request: Request, customer_id: str, device_config_id: str) -> Response:
        with context.work(request, customer_id, write=False, permission="device_configs.read") as (
            uow,
            caller,
        ):
            config = DeviceService(session=uow.session, realm_id=caller.realm_id).config(
                config_id=device_config_id
            )
            key, name, size = config.blob_key, config.name, config.size
        return StreamingResponse(
            runtime.blobs.read(key),
            media_type="application/octet-stream",
            headers={**_download_headers(name), "Content-Length": str(size)},
        )

    @router.delete(
        "/device-configs/{device_config_id}",
        status_code=204,
        responses=_ERRORS,
        tags=["device configs"],
        summary="Delete a device configuration",
    )
    def delete_config(request: Request, customer_id: str, device_config_id: str) -> Response:
        with context.work(request, customer_id, write=True, permission="device_configs.delete") as (
            uow,
            caller,
        ):
            key = DeviceService(session=uow.session, realm_id=caller.realm_id).delete_config(
                config_id=device_config_id
            )
        runtime.blobs.delete(key)
        return Response(status_code=204)

    return router
