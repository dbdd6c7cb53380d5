"""Gateway routes and provisioning: parse, authorise, call the service, shape the response."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response, StreamingResponse

from fieldhub.core.db import utcnow
from fieldhub.core.errors import InvalidInput, PermissionDenied
from fieldhub.core.identity.throttle import LoginThrottle
from fieldhub.core.web import client_address, json_response
from fieldhub.insight.events import gateway_topic_prefix, mqtt_endpoint
from fieldhub.insight.provisioning import (
    package_key,
    package_zip,
    sign_package_download,
    verify_package_download,
)
from fieldhub.insight.repository import GATEWAY_ORDER
from fieldhub.insight.schemas import (
    ErrorBody,
    Gateway,
    GatewayBulkCreate,
    GatewayCreate,
    GatewayPage,
    GatewayPatch,
    Provisioning,
    ProvisioningPackageRequest,
    ProvisioningPackages,
    ProvisioningPreparation,
    ProvisioningRequest,
)
from fieldhub.insight.service_gateways import (
    GatewayChanges,
    GatewayFields,
    GatewayService,
    ProvisioningService,
    Refused,
)
from fieldhub.insight.views import gateway_json, listing
from fieldhub.insight.web import InsightContext, page_limit, parse_next_token, parse_uuid

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 403, 404)}
_CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {**_ERRORS, 409: {"model": ErrorBody}}
_ETAG = re.compile(r'^\s*(?:W/)?"?(?P<version>\d{1,9})"?\s*$')


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    match = _ETAG.match(if_match)
    if match is None:
        raise InvalidInput('If-Match: must be the ETag of the gateway, e.g. "3"')
    return int(match.group("version"))


def build_router(context: InsightContext) -> APIRouter:
    router = APIRouter(tags=["gateways"])
    runtime = context.runtime
    settings = runtime.settings
    active = settings.insight_gateway_active_seconds
    registration_path = f"{settings.insight_prefix}/provisioning"

    def shaped(row: Any) -> dict[str, Any]:
        return gateway_json(row, now=utcnow(), active_seconds=active)

    @router.get(
        "/{customer_id}/gateways", response_model=GatewayPage, responses=_ERRORS, summary="List of gateways"
    )
    def list_gateways(
        request: Request,
        customer_id: str,
        next_token: Annotated[str | None, Query(max_length=2048)] = None,
        limit: Annotated[str | None, Query(max_length=8)] = None,
    ) -> Response:
        size = page_limit(limit)
        with context.work(request, customer_id, write=False, permission="gateways.read") as (uow, caller):
            cursor = parse_next_token(next_token, sort=GATEWAY_ORDER, realm_id=caller.realm_id)
            page = GatewayService(session=uow.session, realm_id=caller.realm_id).page(
                limit=size, cursor=cursor
            )
            items = [shaped(row) for row in page.rows]
        body = listing(request, items, next_token=page.next_cursor, description="Gateways", limit=size)
        return json_response(body)

    @router.post(
        "/{customer_id}/gateways",
        status_code=201,
        response_model=Gateway,
        responses=_CHANGE_ERRORS,
        summary="Creates a new gateway",
    )
    def create_gateway(request: Request, customer_id: str, body: GatewayCreate) -> Response:
        with context.work(request, customer_id, write=True, permission="gateways.create") as (uow, caller):
            (created,) = GatewayService(session=uow.session, realm_id=caller.realm_id).create(
                gateways=[GatewayFields(name=body.name, usecase=body.usecase, station=body.station)],
                now=utcnow(),
            )
            return json_response(shaped(created), status_code=201, headers={"ETag": f'"{created.version}"'})

    @router.post(
        "/{customer_id}/gateways/bulk-create",
        status_code=201,
        response_model=list[Gateway],
        responses=_CHANGE_ERRORS,
        summary="Create a set of gateways (all or nothing)",
    )
    def bulk_create(request: Request, customer_id: str, body: GatewayBulkCreate) -> Response:
        fields = [GatewayFields(name=g.name, usecase=g.usecase, station=g.station) for g in body.gateways]
        with context.work(request, customer_id, write=True, permission="gateways.create") as (uow, caller):
            created = GatewayService(session=uow.session, realm_id=caller.realm_id).create(
                gateways=fields, now=utcnow()
            )
            return json_response([shaped(row) for row in created], status_code=201)

    @router.get(
        "/{customer_id}/gateways/{gateway_id}",
        response_model=Gateway,
        responses=_ERRORS,
        summary="Single gateway's details (by id or thing name)",
    )
    def get_gateway(request: Request, customer_id: str, gateway_id: str) -> Response:
        with context.work(request, customer_id, write=False, permission="gateways.read") as (uow, caller):
            found = GatewayService(session=uow.session, realm_id=caller.realm_id).get(reference=gateway_id)
            return json_response(shaped(found), headers={"ETag": f'"{found.version}"'})

    @router.patch(
        "/{customer_id}/gateways/{gateway_id}",
        response_model=Gateway,
        responses=_CHANGE_ERRORS,
        summary="Updates a gateway's attributes (If-Match: its ETag, optional)",
    )
    def patch_gateway(
        request: Request,
        customer_id: str,
        gateway_id: str,
        body: GatewayPatch,
        if_match: Annotated[str | None, Header(alias="If-Match", max_length=64)] = None,
    ) -> Response:
        changes = GatewayChanges(name=body.name, usecase=body.usecase, station=body.station)
        with context.work(request, customer_id, write=True, permission="gateways.update") as (uow, caller):
            changed = GatewayService(session=uow.session, realm_id=caller.realm_id).change(
                reference=gateway_id,
                changes=changes,
                expected_version=_expected_version(if_match),
                now=utcnow(),
            )
            return json_response(shaped(changed), headers={"ETag": f'"{changed.version}"'})

    @router.post(
        "/{customer_id}/gateways/{gateway_id}/prepare-provisioning",
        response_model=ProvisioningPreparation,
        responses=_CHANGE_ERRORS,
        summary="Prepare a gateway's setup (once)",
    )
    def prepare_provisioning(request: Request, customer_id: str, gateway_id: str) -> Response:
        with context.work(request, customer_id, write=True, permission="gateways.provision") as (uow, caller):
            gateways = GatewayService(session=uow.session, realm_id=caller.realm_id)
            gateway = gateways.get(reference=str(parse_uuid(gateway_id, field="gateway_id")))
            prepared = gateways.prepare_provisioning(
                gateway=gateway, now=utcnow(), ttl_seconds=settings.insight_provisioning_token_ttl_seconds
            )
        return json_response({"registration_path": registration_path, "token": prepared.token})

    @router.post(
        "/provisioning",
        response_model=Provisioning,
        responses={code: {"model": ErrorBody} for code in (400, 403, 429)},
        summary="Finishes connecting the gateway: its certificate, once",
    )
    def provision(request: Request, body: ProvisioningRequest) -> Response:
        now, address = utcnow(), client_address(request)
        # Committed even when refused: the failure count is what rate-limits guessing.
        with runtime.db.unit_of_work() as uow:
            throttle = LoginThrottle(
                session=uow.session,
                limit=settings.login_failure_limit,
                window_seconds=settings.login_failure_window_seconds,
            )
            outcome = ProvisioningService(
                session=uow.session,
                throttle=throttle,
                data_dir=settings.data_dir,
                certificate_days=settings.insight_gateway_certificate_days,
            ).provision(token=body.token, client_address=address, now=now)
            if not isinstance(outcome, Refused):
                gateway = outcome.gateway
                answer = {
                    "mqtt_endpoint": mqtt_endpoint(settings),
                    "mqtt_topic_prefix": gateway_topic_prefix(gateway.realm_id),
                    "certificate_common_name": gateway.thing_name,
                    "gateway": shaped(gateway),
                    "pkcs12": base64.b64encode(outcome.pkcs12).decode(),
                }
        if isinstance(outcome, Refused):
            raise PermissionDenied(outcome.reason)
        return json_response(answer, headers={"Cache-Control": "no-store"})

    @router.post(
        "/{customer_id}/create-provisioning-package",
        response_model=ProvisioningPackages,
        responses=_CHANGE_ERRORS,
        summary="Prepares several gateways and links their provisioning packages",
    )
    def create_packages(request: Request, customer_id: str, body: ProvisioningPackageRequest) -> Response:
        now = utcnow()
        wifi = body.wifi.model_dump(exclude_none=True) if body.wifi else None
        base = f"{settings.issuer}{settings.insight_prefix}"
        registration_url = f"{settings.issuer}{registration_path}"
        written: list[str] = []
        try:
            with context.work(request, customer_id, write=True, permission="gateways.provision") as (
                uow,
                caller,
            ):
                gateways = GatewayService(session=uow.session, realm_id=caller.realm_id)
                targets = [
                    gateways.resolve(gateway_id=g.gateway_id, gateway_name=g.gateway_name)
                    for g in body.gateways
                ]
                if len({target.id for target in targets}) != len(targets):
                    raise InvalidInput("gateways: a gateway is named more than once")
                links = []
                for gateway in targets:
                    prepared = gateways.prepare_provisioning(
                        gateway=gateway, now=now, ttl_seconds=settings.insight_provisioning_token_ttl_seconds
                    )
                    package_id = uuid.uuid4()
                    key = package_key(caller.realm_id, package_id)
                    archive = package_zip(
                        gateway_id=gateway.id,
                        name=gateway.name,
                        token=prepared.token,
                        registration_url=registration_url,
                        expires_at=prepared.expires_at,
                        wifi=wifi,
                    )
                    runtime.blobs.put(key, [archive])
                    written.append(key)
                    signature = sign_package_download(
                        runtime.signing_key,
                        issuer=settings.issuer,
                        realm_id=caller.realm_id,
                        package_id=package_id,
                        now=now,
                        ttl_seconds=settings.insight_package_url_ttl_seconds,
                    )
                    url = f"{base}/provisioning-packages/{package_id}?signature={signature}"
                    links.append({"gateway_id": str(gateway.id), "package_url": url})
        except BaseException:
            # The tokens inside these packages were never committed; the files go with them.
            for key in written:
                runtime.blobs.delete(key)
            raise
        return json_response({"gateways": links})

    @router.get("/provisioning-packages/{package_id}", include_in_schema=False)
    def download_package(package_id: str, signature: Annotated[str, Query(max_length=4096)]) -> Response:
        key = verify_package_download(
            runtime.signing_key, issuer=settings.issuer, package_id=package_id, signature=signature
        )
        runtime.blobs.size(key)  # a 404 before the response starts, should the package be gone
        return StreamingResponse(
            runtime.blobs.read(key),
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="provisioning-{package_id}.zip"',
                "Cache-Control": "no-store",
            },
        )

    return router
