"""Users, roles, ``/me`` and consents: parse, authorise, call the service, shape the response."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from fieldhub.core.db import utcnow
from fieldhub.core.errors import InvalidInput
from fieldhub.core.pagination import Cursor, encode_cursor
from fieldhub.core.web import json_response
from fieldhub.insight import mail
from fieldhub.insight.permissions import ROLES
from fieldhub.insight.repository import USER_ORDER
from fieldhub.insight.schemas import (
    CONSENT_TYPES,
    Consents,
    ConsentsGiven,
    ErrorBody,
    RolePage,
    User,
    UserCreate,
    UserPage,
    UserPatch,
)
from fieldhub.insight.service_users import CONSENT_KEYS, UserChanges, UserService, new_password_link
from fieldhub.insight.views import listing, millis, user_json
from fieldhub.insight.web import InsightContext, parse_next_token, parse_uuid

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 403, 404)}
_CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {**_ERRORS, 409: {"model": ErrorBody}}
PAGE_SIZE = 100
NextToken = Annotated[str | None, Query(max_length=2048)]


def build_router(context: InsightContext) -> APIRouter:
    router = APIRouter(prefix="/{customer_id}", tags=["users"])
    settings = context.runtime.settings

    @router.get("/users", response_model=UserPage, responses=_ERRORS, summary="List of users")
    def list_users(
        request: Request, customer_id: str, next_token: NextToken = None, next_key: NextToken = None
    ) -> Response:
        with context.work(request, customer_id, write=False, permission="users.read") as (uow, caller):
            cursor = parse_next_token(next_token or next_key, sort=USER_ORDER, realm_id=caller.realm_id)
            views, last = UserService(session=uow.session, realm_id=caller.realm_id).page(
                after=cursor.value if cursor else None, limit=PAGE_SIZE
            )
            items = [user_json(view) for view in views]
        token = None
        if last is not None:
            token = encode_cursor(
                Cursor(sort=USER_ORDER.name, value=last, key=0, backwards=False, scope=str(caller.realm_id))
            )
        return json_response(listing(request, items, next_token=token, description="Users of the customer"))

    @router.post("/users", response_model=User, responses=_CHANGE_ERRORS, summary="Creates a new user")
    def create_user(request: Request, customer_id: str, body: UserCreate) -> Response:
        now = utcnow()
        with context.work(request, customer_id, write=True, permission="users.create") as (uow, caller):
            view = UserService(session=uow.session, realm_id=caller.realm_id).create(
                first_name=body.first_name,
                last_name=body.last_name,
                email=body.email,
                is_admin=body.role == "ADMIN_ROLE",
                now=now,
            )
            token = new_password_link(
                uow.session, user=view.user, now=now, ttl_seconds=settings.insight_set_password_ttl_seconds
            )
            if settings.smtp_url:
                link = f"{settings.issuer}{settings.insight_prefix}/set-password#token={token}"
                message = mail.set_password_message(
                    sender=settings.smtp_from, recipient=body.email, link=link
                )
                uow.after_commit(lambda: mail.send(settings.smtp_url, message))
            created = user_json(view)
        return json_response(created)

    @router.get("/users/{user_id}", response_model=User, responses=_ERRORS, summary="Gets the user's details")
    def get_user(request: Request, customer_id: str, user_id: str) -> Response:
        with context.work(request, customer_id, write=False, permission="users.read") as (uow, caller):
            found = UserService(session=uow.session, realm_id=caller.realm_id).get(
                user_id=parse_uuid(user_id, field="user_id")
            )
            return json_response(user_json(found))

    @router.patch("/users/{user_id}", status_code=204, responses=_CHANGE_ERRORS, summary="Update user")
    def patch_user(request: Request, customer_id: str, user_id: str, body: UserPatch) -> Response:
        with context.work(request, customer_id, write=True, permission="users.update") as (uow, caller):
            UserService(session=uow.session, realm_id=caller.realm_id).change(
                user_id=parse_uuid(user_id, field="user_id"),
                changes=UserChanges(
                    first_name=body.first_name,
                    last_name=body.last_name,
                    is_admin=None if body.role is None else body.role == "ADMIN_ROLE",
                    language=body.language,
                ),
                caller_id=caller.principal.user_id,
                now=utcnow(),
            )
        return Response(status_code=204)

    @router.delete("/users/{user_id}", status_code=204, responses=_CHANGE_ERRORS, summary="Deletes user")
    def delete_user(request: Request, customer_id: str, user_id: str) -> Response:
        with context.work(request, customer_id, write=True, permission="users.delete") as (uow, caller):
            UserService(session=uow.session, realm_id=caller.realm_id).delete(
                user_id=parse_uuid(user_id, field="user_id"), caller_id=caller.principal.user_id
            )
        return Response(status_code=204)

    @router.get("/me", response_model=User, responses=_ERRORS, summary="logged-in user info")
    def me(request: Request, customer_id: str) -> Response:
        with context.work(request, customer_id, write=False) as (uow, caller):
            found = UserService(session=uow.session, realm_id=caller.realm_id).get(
                user_id=caller.principal.user_id
            )
            return json_response(user_json(found))

    @router.get("/roles", response_model=RolePage, responses=_ERRORS, summary="Get information about roles")
    def roles(
        request: Request, customer_id: str, next_token: NextToken = None, next_key: NextToken = None
    ) -> Response:
        with context.work(request, customer_id, write=False, permission="roles.read"):
            items = [
                {"name": role.name, "description": role.description, "permissions": list(role.permissions)}
                for role in ROLES
            ]
        # Two roles fit one page: a next_token can only come from a client's own bookkeeping.
        return json_response(listing(request, items, next_token=None, description="Roles"))

    @router.get(
        "/me/consents", response_model=Consents, responses=_ERRORS, summary="Lists all given consents"
    )
    def consents(
        request: Request, customer_id: str, type: Annotated[str | None, Query(max_length=64)] = None
    ) -> Response:
        if type is not None and type not in CONSENT_TYPES:
            raise InvalidInput(f"type: must be one of {', '.join(CONSENT_TYPES)}")
        kinds = [type] if type else list(CONSENT_TYPES)
        with context.work(request, customer_id, write=False) as (uow, caller):
            given = UserService(session=uow.session, realm_id=caller.realm_id).consents(
                user_id=caller.principal.user_id, types=kinds
            )
            body = {
                CONSENT_KEYS[kind][1]: {
                    "versions": [{"version": row.version, "agreed_on": millis(row.agreed_at)} for row in rows]
                }
                for kind, rows in given.items()
            }
        return json_response(body)

    @router.post("/me/consents", status_code=204, responses=_ERRORS, summary="Gives consents")
    def give_consents(request: Request, customer_id: str, body: ConsentsGiven) -> Response:
        given = body.model_dump()
        versions = {kind: given[keys[0]] for kind, keys in CONSENT_KEYS.items() if given[keys[0]] is not None}
        with context.work(request, customer_id, write=True) as (uow, caller):
            UserService(session=uow.session, realm_id=caller.realm_id).give_consents(
                user_id=caller.principal.user_id, versions=versions, now=utcnow()
            )
        return Response(status_code=204)

    return router
