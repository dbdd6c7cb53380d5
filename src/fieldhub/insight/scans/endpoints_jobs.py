"""Job configs and job analysis: parse, authorise, call the service, shape the response."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from starlette.responses import Response

from fieldhub.core.db import utcnow
from fieldhub.core.errors import InvalidInput
from fieldhub.core.web import json_response
from fieldhub.insight.scans.jobs import Job, JobChanges, JobFields, JobService, list_etag
from fieldhub.insight.scans.repository import ScanRepository, TimeWindow
from fieldhub.insight.scans.schemas import (
    JobAnalysis,
    JobAnalysisRequest,
    JobConfig,
    JobConfigCreate,
    JobConfigPage,
    JobConfigPatch,
)
from fieldhub.insight.scans.views import job_config_json
from fieldhub.insight.schemas import ErrorBody
from fieldhub.insight.web import InsightContext

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 403, 404)}
_CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {**_ERRORS, 409: {"model": ErrorBody}}
_ETAG = re.compile(r'^\s*(?:W/)?"?(?P<version>\d{1,9})"?\s*$')


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    match = _ETAG.match(if_match)
    if match is None:
        raise InvalidInput('If-Match: must be the ETag of the job config, e.g. "3"')
    return int(match.group("version"))


def _job_json(job: Job) -> dict[str, Any]:
    # Built by hand: dataclasses.asdict deep-copies, which costs seconds for a million jobs.
    return {
        "start_time": job.start_time,
        "end_time": job.end_time,
        "start_event_id": job.start_event_id,
        "end_event_id": job.end_event_id,
    }


def build_router(context: InsightContext) -> APIRouter:
    router = APIRouter(prefix="/{customer_id}", tags=["job configs"])

    @router.get(
        "/job-configs", response_model=JobConfigPage, responses=_ERRORS, summary="List of job configurations"
    )
    def list_configs(request: Request, customer_id: str) -> Response:
        with context.work(request, customer_id, write=False, permission="job_configs.read") as (uow, caller):
            configs = JobService(ScanRepository(uow.session, realm_id=caller.realm_id)).configs()
            items = [job_config_json(config) for config in configs]
            etag = list_etag(configs)
        body = {
            "items": items,
            "links": {"next": None},
            "metadata": {"description": "Job configurations", "size": len(items), "filters": []},
        }
        return json_response(body, headers={"ETag": etag})

    @router.post(
        "/job-configs",
        status_code=201,
        response_model=JobConfig,
        responses=_CHANGE_ERRORS,
        summary="Creates a new job configuration",
    )
    def create_config(request: Request, customer_id: str, body: JobConfigCreate) -> Response:
        with context.work(request, customer_id, write=True, permission="job_configs.write") as (uow, caller):
            config = JobService(ScanRepository(uow.session, realm_id=caller.realm_id)).create(
                fields=JobFields(**body.model_dump()), now=utcnow()
            )
            shaped = job_config_json(config)
        return json_response(shaped, status_code=201, headers={"ETag": f'"{shaped["version"]}"'})

    @router.get(
        "/job-configs/{job_config_id}",
        response_model=JobConfig,
        responses=_ERRORS,
        summary="Get the details of a specific job configuration",
    )
    def get_config(request: Request, customer_id: str, job_config_id: str) -> Response:
        with context.work(request, customer_id, write=False, permission="job_configs.read") as (uow, caller):
            config = JobService(ScanRepository(uow.session, realm_id=caller.realm_id)).get(
                config_id=job_config_id
            )
            shaped = job_config_json(config)
        return json_response(shaped, headers={"ETag": f'"{shaped["version"]}"'})

    @router.patch(
        "/job-configs/{job_config_id}",
        response_model=JobConfig,
        responses=_CHANGE_ERRORS,
        summary="Changes a job configuration (not in the spec; If-Match: its ETag, optional)",
    )
    def change_config(
        request: Request,
        customer_id: str,
        job_config_id: str,
        body: JobConfigPatch,
        if_match: Annotated[str | None, Header(max_length=64)] = None,
    ) -> Response:
        expected = _expected_version(if_match)
        changes = JobChanges(**body.model_dump(exclude_none=True))
        if not any(value is not None for value in asdict(changes).values()):
            raise InvalidInput("body: give at least one field to change")
        with context.work(request, customer_id, write=True, permission="job_configs.write") as (uow, caller):
            config = JobService(ScanRepository(uow.session, realm_id=caller.realm_id)).change(
                config_id=job_config_id, changes=changes, expected_version=expected, now=utcnow()
            )
            shaped = job_config_json(config)
        return json_response(shaped, headers={"ETag": f'"{shaped["version"]}"'})

    @router.delete(
        "/job-configs/{job_config_id}",
        status_code=204,
        responses=_ERRORS,
        summary="Delete a job configuration",
    )
    def delete_config(request: Request, customer_id: str, job_config_id: str) -> Response:
        with context.work(request, customer_id, write=True, permission="job_configs.write") as (uow, caller):
            JobService(ScanRepository(uow.session, realm_id=caller.realm_id)).delete(config_id=job_config_id)
        return Response(status_code=204)

    @router.post(
        "/job-analysis", response_model=JobAnalysis, responses=_ERRORS, summary="Executes a job analysis"
    )
    def analyse(request: Request, customer_id: str, body: JobAnalysisRequest) -> Response:
        if body.start_time >= body.end_time:
            raise InvalidInput("start_time: must be before end_time")
        with context.work(request, customer_id, write=False, permission="job_configs.read") as (uow, caller):
            results = JobService(ScanRepository(uow.session, realm_id=caller.realm_id)).analyse(
                config_id=body.job_config_id, window=TimeWindow(body.start_time, body.end_time)
            )
            shaped = [
                {"gateway_id": result.gateway_id, "jobs": [_job_json(job) for job in result.jobs]}
                for result in results
            ]
        return json_response({"results": shaped})

    return router
