"""Unauthenticated calls: login discovery (``/auth-information``) and the set-password link."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import HTMLResponse, Response

from fieldhub.core.db import utcnow
from fieldhub.core.errors import NotFound
from fieldhub.core.identity.models import Realm
from fieldhub.core.identity.service import REALM_NAME
from fieldhub.core.web import json_response
from fieldhub.insight.repository import UnscopedInsightRepository
from fieldhub.insight.schemas import AuthInformation, ErrorBody, SetPasswordRequest
from fieldhub.insight.service_users import set_password_with_link
from fieldhub.insight.web import InsightContext

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 404)}

# The token stays in the URL's fragment, which browsers never send: it reaches the server only in
# the body of the POST below, so no access log or proxy ever records it.
SET_PAGE_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Set your password</title></head>
<body><h1>Set your password</h1>
<form id="f"><input id="p" type="password" minlength="8" required autocomplete="new-password">
<button>Save</button></form><p id="r"></p>
<script>
document.getElementById("f").onsubmit = async (e) => {
  e.preventDefault();
  const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
  const answer = await fetch(location.pathname, {method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({token: token, password: document.getElementById("p").value})});
  document.getElementById("r").textContent = answer.ok ? "Saved. You can log in now." :
    (await answer.json()).details;
};
</script></body></html>
"""


def user_pool_client_id(realm: Realm) -> str:
    """The ``ClientId`` a Cognito-style login names the realm by (see cognito.py)."""
    return realm.id.hex


def build_router(context: InsightContext) -> APIRouter:
    router = APIRouter(tags=["authentication"])
    runtime = context.runtime
    settings = runtime.settings

    @router.get(
        "/auth-information",
        response_model=AuthInformation,
        responses=_ERRORS,
        summary="Gets login information",
    )
    def auth_information(id: Annotated[str, Query(min_length=1, max_length=64)]) -> Response:
        with runtime.db.unit_of_work(write=False) as uow:
            repo = UnscopedInsightRepository(uow.session)
            try:
                realm = repo.realm(uuid.UUID(id))
            except ValueError:
                realm = repo.realm_by_name(id) if REALM_NAME.match(id) else None
        if realm is None:
            raise NotFound("Customer details not found")
        return json_response(
            {
                "region": settings.insight_region,
                "customer_id": str(realm.id),
                "user_pool_client_id": user_pool_client_id(realm),
                "user_pool_id": f"{settings.insight_region}_{realm.id.hex}",
            }
        )

    @router.get("/set-password", include_in_schema=False)
    def set_password_page() -> Response:
        return HTMLResponse(SET_PAGE_HTML, headers={"Referrer-Policy": "no-referrer"})

    @router.post(
        "/set-password",
        status_code=204,
        responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}},
        summary="Sets a password with a one-time link (fieldhub extension)",
    )
    def set_password(body: SetPasswordRequest) -> Response:
        with runtime.db.unit_of_work() as uow:
            set_password_with_link(uow.session, token=body.token, password=body.password, now=utcnow())
        return Response(status_code=204)

    return router
