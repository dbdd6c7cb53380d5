"""``fieldhub client ...``: the OAuth clients a realm's server-side integrations use.

The commands run inside cli.py's unit of work and print through its ``--json`` conventions; both
are handed in by :func:`build_client_app`, so that this family never imports the composition.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated, Any

import typer

from fieldhub.core.identity.clients import ClientService, OAuthClient
from fieldhub.core.identity.service import IdentityService

#: ``cli._identity``: an identity service in a unit of work that commits when the command succeeds.
OpenIdentity = Callable[[], AbstractContextManager[IdentityService]]
#: ``cli._emit(as_json, payload, human)``.
Emit = Callable[[bool, dict[str, Any], str], None]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
RealmOption = Annotated[str, typer.Option("--realm", help="Realm name.")]


def client_json(client: OAuthClient) -> dict[str, Any]:
    return {"client_id": str(client.id), "name": client.name, "createdAt": client.created_at.isoformat()}


def build_client_app(*, open_identity: OpenIdentity, emit: Emit) -> typer.Typer:
    clients_app = typer.Typer(
        help="OAuth 2.0 clients of a realm (client credentials, for the Snapshot API).", no_args_is_help=True
    )

    @clients_app.command("create")
    def create(
        realm: RealmOption, name: Annotated[str, typer.Option("--name")], as_json: JsonFlag = False
    ) -> None:
        """Create a client; its secret is printed this once and cannot be shown again."""
        with open_identity() as identity:
            clients = ClientService(session=identity.repo.session)
            created = clients.create(realm=identity.realm(name=realm), name=name)
            payload = {**client_json(created.client), "client_secret": created.secret}
        emit(
            as_json,
            payload,
            f"Created client {payload['name']}\nclient_id: {payload['client_id']}\n"
            f"client_secret: {created.secret}\n(the secret is shown only now)",
        )

    @clients_app.command("list")
    def list_clients(realm: RealmOption, as_json: JsonFlag = False) -> None:
        """List a realm's clients (never their secrets)."""
        with open_identity() as identity:
            clients = ClientService(session=identity.repo.session)
            found = [client_json(client) for client in clients.clients(realm=identity.realm(name=realm))]
        emit(as_json, {"clients": found}, "\n".join(f"{c['client_id']}\t{c['name']}" for c in found))

    @clients_app.command("delete")
    def delete(
        realm: RealmOption,
        client_id: Annotated[str, typer.Option("--client-id")],
        as_json: JsonFlag = False,
    ) -> None:
        """Delete a client; its tokens stop working at once."""
        with open_identity() as identity:
            clients = ClientService(session=identity.repo.session)
            payload = {
                **client_json(clients.delete(realm=identity.realm(name=realm), client_id=client_id)),
                "deleted": True,
            }
        emit(as_json, payload, f"Deleted client {payload['client_id']}")

    return clients_app
