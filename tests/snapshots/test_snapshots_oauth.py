"""OAuth 2.0 client credentials: the `fieldhub client` CLI, the token endpoint, and what a client may do."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import jwt
import pytest
from snapshots_support import PREFIX, Inbox, World, assert_error
from typer.testing import CliRunner

from conftest import Api
from fieldhub.cli import app as cli_app
from fieldhub.core.config import Settings
from fieldhub.core.identity.models import Realm

TOKEN_URL = f"{PREFIX}/security/oauth/token"


class ClientCli:
    """``fieldhub client ...`` in-process, on the test's database and data directory."""

    def __init__(self, settings: Settings) -> None:
        self.env: dict[str, str | None] = {
            "FIELDHUB_DATA_DIR": str(settings.data_dir),
            "FIELDHUB_DATABASE_URL": settings.database_url,
            "FIELDHUB_CONFIG_FILE": None,
        }
        self.runner = CliRunner()

    def run(self, *args: str) -> Any:
        return self.runner.invoke(cli_app, ["client", *args], env=self.env, catch_exceptions=False)

    def json(self, *args: str) -> dict[str, Any]:
        result = self.run(*args, "--json")
        assert result.exit_code == 0, (result.stdout, result.stderr)
        [line] = result.stdout.splitlines()
        payload: dict[str, Any] = json.loads(line)
        return payload

    def fails(self, *args: str) -> str:
        result = self.run(*args, "--json")
        assert result.exit_code == 1
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith("error: ")
        return str(line)

    def create(self, realm: Realm, name: str = "crm") -> tuple[str, str]:
        created = self.json("create", "--realm", realm.name, "--name", name)
        return created["client_id"], created["client_secret"]


@pytest.fixture
def cli(settings: Settings) -> ClientCli:
    return ClientCli(settings)


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def token(api: Api, client_id: str, secret: str) -> str:
    response = api.client.post(
        TOKEN_URL, params={"grant_type": "client_credentials"}, headers=basic(client_id, secret)
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert body["error_description"]
    assert response.headers["cache-control"] == "no-store"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


# the CLI -------------------------------------------------------------------------------------
def test_create_shows_the_secret_once_and_list_never(api: Api, cli: ClientCli) -> None:
    realm = api.realm()
    created = cli.json("create", "--realm", realm.name, "--name", "CRM integration")
    assert uuid.UUID(created["client_id"])
    assert len(created["client_secret"]) >= 40
    assert created["name"] == "CRM integration"
    listed = cli.json("list", "--realm", realm.name)["clients"]
    assert [c["client_id"] for c in listed] == [created["client_id"]]
    assert created["client_secret"] not in json.dumps(listed)
    with api.runtime.db.unit_of_work(write=False) as uow:
        from sqlalchemy import text

        stored = uow.session.scalar(text("SELECT secret_hash FROM oauth_clients"))
    assert str(stored).startswith("$argon2id$")
    human = cli.run("list", "--realm", realm.name)
    assert human.stdout.strip() == f"{created['client_id']}\tCRM integration"


def test_delete_removes_the_client_and_its_tokens_stop_working(api: Api, cli: ClientCli) -> None:
    world = World.build(api)
    client_id, secret = cli.create(world.realm)
    headers = {"Authorization": f"Bearer {token(api, client_id, secret)}"}
    assert world.get("", headers, params={"interactionId": "x"}).status_code == 200
    deleted = cli.json("delete", "--realm", world.realm.name, "--client-id", client_id)
    assert (deleted["client_id"], deleted["deleted"]) == (client_id, True)
    assert cli.json("list", "--realm", world.realm.name) == {"clients": []}
    assert_error(world.get("", headers, params={"interactionId": "x"}), 401, "Invalid access token")
    response = api.client.post(
        TOKEN_URL, params={"grant_type": "client_credentials"}, headers=basic(client_id, secret)
    )
    assert_oauth_error(response, 401, "invalid_client")


def test_cli_failures_are_one_line(api: Api, cli: ClientCli) -> None:
    realm, other = api.realm(), api.realm()
    client_id, _ = cli.create(realm)
    assert "unknown realm" in cli.fails("create", "--realm", "nowhere", "--name", "x")
    assert "client name" in cli.fails("create", "--realm", realm.name, "--name", " ")
    assert "unknown client" in cli.fails("delete", "--realm", other.name, "--client-id", client_id)
    assert "must be a UUID" in cli.fails("delete", "--realm", realm.name, "--client-id", "nope")
    assert len(cli.json("list", "--realm", realm.name)["clients"]) == 1


# the token endpoint --------------------------------------------------------------------------
def test_basic_authentication_gets_a_bearer_token(api: Api, cli: ClientCli) -> None:
    realm = api.realm()
    client_id, secret = cli.create(realm)
    response = api.client.post(
        TOKEN_URL, params={"grant_type": "client_credentials"}, headers=basic(client_id, secret)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == (
        "bearer",
        api.runtime.settings.access_token_ttl_seconds,
    )
    assert response.headers["cache-control"] == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["realm"], claims["roles"]) == (client_id, realm.name, ["client"])


def test_form_fields_and_a_form_grant_type_work_too(api: Api, cli: ClientCli) -> None:
    client_id, secret = cli.create(api.realm())
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    response = api.client.post(TOKEN_URL, data=form)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"


@pytest.mark.parametrize(
    ("params", "data", "status", "error"),
    [
        ({}, None, 400, "invalid_request"),
        ({"grant_type": "password"}, None, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, None, 400, "unsupported_grant_type"),
    ],
)
def test_a_bad_grant_type_is_refused(
    api: Api, cli: ClientCli, params: dict[str, str], data: Any, status: int, error: str
) -> None:
    client_id, secret = cli.create(api.realm())
    response = api.client.post(TOKEN_URL, params=params, data=data, headers=basic(client_id, secret))
    assert_oauth_error(response, status, error)


def test_bad_client_credentials_are_refused(api: Api, cli: ClientCli) -> None:
    client_id, secret = cli.create(api.realm())
    grant = {"grant_type": "client_credentials"}
    refused = [
        api.client.post(TOKEN_URL, params=grant),
        api.client.post(TOKEN_URL, params=grant, headers=basic(client_id, secret + "x")),
        api.client.post(TOKEN_URL, params=grant, headers=basic(str(uuid.uuid4()), secret)),
        api.client.post(TOKEN_URL, params=grant, headers=basic("not-a-uuid", secret)),
        api.client.post(TOKEN_URL, params=grant, headers={"Authorization": "Basic !!!"}),
        api.client.post(TOKEN_URL, params=grant, headers={"Authorization": f"Bearer {secret}"}),
        api.client.post(TOKEN_URL, params=grant, data={"client_id": client_id}),
    ]
    for response in refused:
        assert_oauth_error(response, 401, "invalid_client")
    both = api.client.post(
        TOKEN_URL,
        params=grant,
        data={"client_id": client_id, "client_secret": secret},
        headers=basic(client_id, secret),
    )
    assert_oauth_error(both, 400, "invalid_request")


# what a client may do ------------------------------------------------------------------------
def test_a_client_acts_as_a_realm_admin_in_the_snapshot_api(api: Api, cli: ClientCli) -> None:
    inbox = Inbox(api)
    world = World.build(api)
    client_id, secret = cli.create(world.realm)
    headers = {"Authorization": f"Bearer {token(api, client_id, secret)}"}
    # It reads and decides the users' snapshots...
    snapshot_id = world.acquired()
    assert world.get(f"/{snapshot_id}", headers).json()["id"] == snapshot_id
    assert world.post("/approve", headers, {"snapshotId": snapshot_id}).status_code == 204
    # ...and requests its own, heard on its own topic.
    body = world.request_body(userEndpointId="crm-backend")
    requested = world.post("/request", headers, body).json()["snapshotId"]
    assert world.snapshot(requested, world.target)["requesterUserId"] == client_id
    world.acquire(requested)

    def acquired_event(_: str, payload: dict[str, Any]) -> bool:
        return payload["type"] == "SnapshotAcquiredEvent" and payload["snapshotId"] == requested

    acquired = [t for t, p in inbox.wait_until(acquired_event) if acquired_event(t, p)]
    assert acquired == [f"user/{client_id}/crm-backend"]


def test_a_client_token_is_no_user_token_elsewhere(api: Api, cli: ClientCli) -> None:
    realm = api.realm()
    application = api.application(realm)
    client_id, secret = cli.create(realm)
    headers = {"Authorization": f"Bearer {token(api, client_id, secret)}"}
    response = api.client.get(f"/v1/application/applications/{application.id}/sessions", headers=headers)
    assert response.status_code == 401


def test_a_client_sees_nothing_of_another_realm(api: Api, cli: ClientCli) -> None:
    world = World.build(api)
    snapshot_id = world.acquired()
    client_id, secret = cli.create(api.realm())
    headers = {"Authorization": f"Bearer {token(api, client_id, secret)}"}
    assert_error(world.get(f"/{snapshot_id}", headers), 404, "Snapshot not found")
    assert world.get("", headers, params={"interactionId": world.interaction}).json() == []
