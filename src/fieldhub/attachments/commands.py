"""``fieldhub apiuser ...``: the API users that sign attachment requests.

The commands follow the conventions of ``fieldhub.cli`` (``--json`` prints one object, failures
one line on stderr and a non-zero exit) by using its own unit-of-work and output helpers, which
``cli.py`` passes in when it adds this sub-app.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated, Any

import typer

from fieldhub.attachments.credentials import ApiUserService
from fieldhub.attachments.models import ApiUser
from fieldhub.core.config import load_settings
from fieldhub.core.identity.sealing import SecretSealer
from fieldhub.core.identity.service import IdentityService

#: ``cli._identity``: an identity service in a unit of work that commits when the command succeeds.
OpenIdentity = Callable[[], AbstractContextManager[IdentityService]]
#: ``cli._emit(as_json, payload, human)``.
Emit = Callable[[bool, dict[str, Any], str], None]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
RealmOption = Annotated[str, typer.Option("--realm", help="Realm name.")]
UsernameOption = Annotated[str, typer.Option("--username", help="The realm user the API user acts as.")]


def api_user_json(row: ApiUser) -> dict[str, Any]:
    return {"username": row.username, "userId": str(row.user_id), "createdAt": row.created_at.isoformat()}


def _api_users(identity: IdentityService) -> ApiUserService:
    # The settings loaded fine a moment ago (the unit of work is open), so this cannot fail.
    sealer = SecretSealer.load_or_create(load_settings().data_dir)
    return ApiUserService(session=identity.repo.session, sealer=sealer)


def build_apiuser_app(*, open_identity: OpenIdentity, emit: Emit) -> typer.Typer:
    apiuser_app = typer.Typer(
        help="API users of the attachments API (HMAC-signed requests).", no_args_is_help=True
    )

    @apiuser_app.command("create")
    def apiuser_create(realm: RealmOption, username: UsernameOption, as_json: JsonFlag = False) -> None:
        """Create an API user and print its secret, once; a missing realm user is created too."""
        with open_identity() as identity:
            created = _api_users(identity).create(realm=identity.realm(name=realm), username=username)
        # The secret is shown here only: the database keeps it sealed, and nothing logs it.
        emit(
            as_json,
            {"username": created.username, "secret": created.secret},
            f"Created API user {created.username}; its secret (shown only now): {created.secret}",
        )

    @apiuser_app.command("list")
    def apiuser_list(realm: RealmOption, as_json: JsonFlag = False) -> None:
        """List the API users of a realm (never their secrets)."""
        with open_identity() as identity:
            rows = [
                api_user_json(row) for row in _api_users(identity).api_users(realm=identity.realm(name=realm))
            ]
        emit(as_json, {"apiUsers": rows}, "\n".join(f"{r['username']}\t{r['userId']}" for r in rows))

    @apiuser_app.command("delete")
    def apiuser_delete(realm: RealmOption, username: UsernameOption, as_json: JsonFlag = False) -> None:
        """Delete an API user (its secret stops working; the realm user stays)."""
        with open_identity() as identity:
            _api_users(identity).delete(realm=identity.realm(name=realm), username=username)
        emit(as_json, {"username": username, "deleted": True}, f"Deleted API user {username}")

    return apiuser_app
