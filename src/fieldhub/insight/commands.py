"""Insight's admin commands, registered on the ``fieldhub user`` group by cli.py."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated, Any

import typer

from fieldhub.core.config import Settings
from fieldhub.core.db import utcnow
from fieldhub.core.identity.service import IdentityService
from fieldhub.insight.service_users import new_password_link


def register(
    user_app: typer.Typer,
    *,
    settings: Callable[[], Settings],
    identity: Callable[[], AbstractContextManager[IdentityService]],
    emit: Callable[[bool, dict[str, Any], str], None],
) -> None:
    @user_app.command("set-password-link")
    def set_password_link(
        realm: Annotated[str, typer.Option("--realm", help="Realm name.")],
        username: Annotated[str, typer.Option("--username")],
        as_json: Annotated[
            bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")
        ] = False,
    ) -> None:
        """Make a new one-time set-password link for a user (earlier links stop working)."""
        configured = settings()
        now = utcnow()
        with identity() as service:
            user = service.user_by_username(realm=service.realm(name=realm), username=username)
            token = new_password_link(
                service.repo.session,
                user=user,
                now=now,
                ttl_seconds=configured.insight_set_password_ttl_seconds,
            )
        link = f"{configured.issuer}{configured.insight_prefix}/set-password#token={token}"
        emit(as_json, {"username": username, "link": link}, link)
