"""Session routes under ``/application``: parse, authorise, call the service, shape the response."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from starlette.responses import Response

from fieldhub.core.errors import InvalidInput, NotFound
from fieldhub.core.pagination import Cursor, SortKey, decode_cursor
from fieldhub.core.web import RequestContext, json_response
from fieldhub.skylight.events import DeviceContext
from fieldhub.skylight.models import SessionParticipant, WorkSession
from fieldhub.skylight.repository import SORTABLE, SessionFilter, sort_key
from fieldhub.skylight.schemas import (
    ErrorBody,
    EventIdResponse,
    Participant,
    Session,
    SessionCreate,
    SessionDataPatch,
    SessionPage,
    SessionPatch,
    parse_rfc3339,
    rfc3339,
    text_problem,
)
from fieldhub.skylight.service import SessionService

ApplicationId = Annotated[str, Path(description="ID for this Application", max_length=64)]
SessionId = Annotated[uuid.UUID, Path(description="ID for the session")]
DeviceId = Annotated[str | None, Header(alias="deviceid", max_length=255)]
DeviceTimestamp = Annotated[
    str | None, Header(alias="devicetimestamp", description="RFC 3339 client timestamp")
]
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 403, 404)}
#: Changes to an existing session also answer 409 when the session is closed.
_CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {**_ERRORS, 409: {"model": ErrorBody}}
_LIST_DESCRIPTION = (
    "Filter on properties with `prop.KEY=A,B` (values OR-ed within a key, keys AND-ed), e.g. "
    "`?prop.department=A,B&prop.deviceType=HUD`; numbers and booleans match their text "
    "(`prop.orderId=123456`). The spec's `{prop.*}=prop.KEY=A,B` form is accepted too. "
    "Pages are keyset-paginated: pass `nextCursor` or `prevCursor` from the last page (with the "
    "same sort); with both, prevCursor is ignored."
)


def requested_cursor(*, next_cursor: str | None, prev_cursor: str | None, sort: SortKey) -> Cursor | None:
    """The page a list request asks for; as the spec says, with both cursors prevCursor is ignored."""
    if next_cursor:
        return decode_cursor(next_cursor, field="nextCursor", sort=sort, backwards=False)
    if prev_cursor:
        return decode_cursor(prev_cursor, field="prevCursor", sort=sort, backwards=True)
    return None


def participant_json(row: SessionParticipant) -> dict[str, Any]:
    return {"id": str(row.participant_id), "type": row.type, "isGuest": row.is_guest}


def session_json(row: WorkSession) -> dict[str, Any]:
    return {
        "sessionId": str(row.id),
        "applicationId": row.application_id,
        "version": row.version,
        "name": row.name,
        "description": row.description,
        "participants": [participant_json(p) for p in row.participants],
        "status": row.status,
        "properties": row.properties,
        "createdBy": str(row.created_by),
        "createdAt": rfc3339(row.created_at),
        "modifiedBy": str(row.modified_by),
        "modifiedAt": rfc3339(row.modified_at),
        "isDraft": row.is_draft,
    }


def device_context(device_id: str | None, device_timestamp: str | None) -> DeviceContext:
    query_text(device_id, field="deviceid")
    try:
        parsed = parse_rfc3339(device_timestamp, field="devicetimestamp") if device_timestamp else None
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return DeviceContext(device_id=device_id, device_timestamp=parsed)


def id_list(value: str | None, *, field: str) -> list[uuid.UUID]:
    if not value:
        return []
    try:
        return [uuid.UUID(part.strip()) for part in value.split(",") if part.strip()]
    except ValueError:
        raise InvalidInput(f"{field}: must be a comma-separated list of UUIDs") from None


def time_query(value: str | None, *, field: str) -> Any:
    if value is None:
        return None
    try:
        return parse_rfc3339(value, field=field)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


class AuditQuery:
    """The query parameters the session and media lists share: who created or changed an item,
    and when (a dependency, so both routes declare them once)."""

    def __init__(
        self,
        createdBy: Annotated[str | None, Query()] = None,
        modifiedBy: Annotated[str | None, Query()] = None,
        createdFrom: Annotated[str | None, Query()] = None,
        createdTo: Annotated[str | None, Query()] = None,
        modifiedFrom: Annotated[str | None, Query()] = None,
        modifiedTo: Annotated[str | None, Query()] = None,
    ) -> None:
        self._ids = {"created_by": ("createdBy", createdBy), "modified_by": ("modifiedBy", modifiedBy)}
        self._times = {
            "created_from": ("createdFrom", createdFrom),
            "created_to": ("createdTo", createdTo),
            "modified_from": ("modifiedFrom", modifiedFrom),
            "modified_to": ("modifiedTo", modifiedTo),
        }

    def filter_fields(self) -> dict[str, Any]:
        """The parsed values, as keyword arguments of an ``AuditedFilter``; 400 names a bad one."""
        fields: dict[str, Any] = {key: id_list(raw, field=name) for key, (name, raw) in self._ids.items()}
        fields.update({key: time_query(raw, field=name) for key, (name, raw) in self._times.items()})
        return fields


def query_text(value: str | None, *, field: str) -> str | None:
    problem = text_problem(value) if value is not None else None
    if problem:
        raise InvalidInput(f"{field}: {problem}")
    return value


# The spec's example URL sends its filters the way its Swagger page renders them:
# ``?%7Bprop.%2A%7D=prop.department%3DA%2CB``, i.e. ``{prop.*}=prop.department=A,B``.
_SWAGGER_PROPERTY_PARAMETER = "{prop.*}"


def property_filters(request: Request) -> dict[str, list[str]]:
    """``prop.KEY=A,B`` parameters: values OR-ed within a key, keys AND-ed."""
    filters: dict[str, list[str]] = {}
    for parameter, value in request.query_params.multi_items():
        key, values = parameter, value
        if parameter == _SWAGGER_PROPERTY_PARAMETER:
            key, separator, values = value.partition("=")
            if not separator or not key.startswith("prop."):
                raise InvalidInput(f"{parameter}: must look like prop.KEY=VALUE[,VALUE...]")
        if key.startswith("prop.") and len(key) > len("prop."):
            query_text(key, field=key[:80])
            query_text(values, field=key[:80])
            filters.setdefault(key.removeprefix("prop."), []).extend(
                part for part in values.split(",") if part
            )
    return filters


@contextmanager
def _sessions(
    context: RequestContext, request: Request, application_id: str, *, write: bool
) -> Iterator[SessionService]:
    with context.work(request, write=write) as (uow, caller):
        if text_problem(application_id):
            raise NotFound("Application not found")  # and could not be looked up on PostgreSQL
        yield SessionService(
            db=uow.session,
            identity=context.runtime.identity(uow.session),
            caller=caller,
            application_id=application_id,
        )


def build_router(context: RequestContext) -> APIRouter:
    router = APIRouter(prefix="/application/applications/{applicationId}/sessions", tags=["sessions"])

    @router.get(
        "",
        response_model=SessionPage,
        responses=_ERRORS,
        summary="Get Sessions",
        description=_LIST_DESCRIPTION,
    )
    def list_sessions(
        request: Request,
        applicationId: ApplicationId,
        audit: Annotated[AuditQuery, Depends()],
        status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
        participants: Annotated[str | None, Query()] = None,
        name: Annotated[str | None, Query(max_length=255)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        sort: Annotated[
            str | None, Query(description="name, createdAt or modifiedAt; '-' for descending")
        ] = None,
        nextCursor: Annotated[str | None, Query(max_length=2048)] = None,
        prevCursor: Annotated[str | None, Query(max_length=2048)] = None,
    ) -> Response:
        if sort and sort.removeprefix("-") not in SORTABLE:
            raise InvalidInput(
                "sort: must be one of name, createdAt, modifiedAt (or _id, the creation order),"
                " optionally prefixed with '-'"
            )
        order = sort_key(sort)
        cursor = requested_cursor(next_cursor=nextCursor, prev_cursor=prevCursor, sort=order)
        filters = SessionFilter(
            properties=property_filters(request),
            status=status,
            participants=id_list(participants, field="participants"),
            name=query_text(name, field="name"),
            **audit.filter_fields(),
        )
        with _sessions(context, request, applicationId, write=False) as service:
            listing = service.find(filters=filters, sort=order, limit=limit, cursor=cursor)
            data = [session_json(row) for row in listing.page.rows]
        page = {
            "count": len(data),
            "limit": limit,
            "total": listing.total,
            "prevCursor": listing.page.prev_cursor,
            "nextCursor": listing.page.next_cursor,
        }
        return json_response({"data": data, "page": page})

    @router.post("", status_code=201, response_model=Session, responses=_ERRORS, summary="Create New Session")
    def create_session(
        request: Request,
        applicationId: ApplicationId,
        body: SessionCreate,
        deviceid: DeviceId = None,
        devicetimestamp: DeviceTimestamp = None,
    ) -> Response:
        device = device_context(deviceid, devicetimestamp)
        with _sessions(context, request, applicationId, write=True) as service:
            created = session_json(service.create(body=body, device=device))
        return json_response(created, status_code=201)

    @router.get("/{sessionId}", response_model=Session, responses=_ERRORS, summary="Get Session by ID")
    def get_session(request: Request, applicationId: ApplicationId, sessionId: SessionId) -> Response:
        with _sessions(context, request, applicationId, write=False) as service:
            found = session_json(service.get(session_id=sessionId))
        return json_response(found)

    @router.patch("/{sessionId}", response_model=Session, responses=_CHANGE_ERRORS, summary="Update Session")
    def patch_session(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        body: SessionPatch,
        deviceid: DeviceId = None,
        devicetimestamp: DeviceTimestamp = None,
    ) -> Response:
        device = device_context(deviceid, devicetimestamp)
        with _sessions(context, request, applicationId, write=True) as service:
            patched = session_json(service.patch(session_id=sessionId, body=body, device=device))
        return json_response(patched)

    @router.get(
        "/{sessionId}/participants",
        response_model=list[Participant],
        responses=_ERRORS,
        summary="Get Participants",
    )
    def get_participants(request: Request, applicationId: ApplicationId, sessionId: SessionId) -> Response:
        with _sessions(context, request, applicationId, write=False) as service:
            rows = [participant_json(p) for p in service.participants(session_id=sessionId)]
        return json_response(rows)

    @router.post(
        "/{sessionId}/participants", status_code=204, responses=_CHANGE_ERRORS, summary="Add a Participant"
    )
    def add_participant(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        body: Participant,
        deviceid: DeviceId = None,
        devicetimestamp: DeviceTimestamp = None,
    ) -> Response:
        device = device_context(deviceid, devicetimestamp)
        with _sessions(context, request, applicationId, write=True) as service:
            service.add_participant(session_id=sessionId, participant=body, device=device)
        return Response(status_code=204)

    @router.delete(
        "/{sessionId}/participants/{participantId}",
        status_code=204,
        responses=_CHANGE_ERRORS,
        summary="Remove a Participant",
    )
    def remove_participant(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        participantId: Annotated[uuid.UUID, Path()],
        deviceid: DeviceId = None,
        devicetimestamp: DeviceTimestamp = None,
    ) -> Response:
        device = device_context(deviceid, devicetimestamp)
        with _sessions(context, request, applicationId, write=True) as service:
            service.remove_participant(session_id=sessionId, participant_id=participantId, device=device)
        return Response(status_code=204)

    @router.get(
        "/{sessionId}/data", response_model=dict[str, Any], responses=_ERRORS, summary="Get Session Data"
    )
    def get_data(request: Request, applicationId: ApplicationId, sessionId: SessionId) -> Response:
        with _sessions(context, request, applicationId, write=False) as service:
            data = service.data(session_id=sessionId)
        return json_response(data)

    @router.patch(
        "/{sessionId}/data",
        response_model=EventIdResponse,
        responses=_CHANGE_ERRORS,
        summary="Update Session Data",
    )
    def patch_data(
        request: Request,
        applicationId: ApplicationId,
        sessionId: SessionId,
        body: SessionDataPatch,
        deviceid: DeviceId = None,
        devicetimestamp: DeviceTimestamp = None,
    ) -> Response:
        device = device_context(deviceid, devicetimestamp)
        with _sessions(context, request, applicationId, write=True) as service:
            event_id = service.patch_data(session_id=sessionId, body=body, device=device)
        return json_response({"eventId": str(event_id)})

    return router
