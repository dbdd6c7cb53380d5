"""The ``fieldhub`` admin CLI contract: names, ``--json`` output, one-line failures (both backends)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import Api
from fieldhub.cli import app
from fieldhub.core.config import Settings

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEX24_RE = re.compile(r"^[0-9a-f]{24}$")
PASSWORD = "cli-password-123"


class Cli:
    """Runs ``fieldhub`` in-process against the test's database and data directory."""

    def __init__(self, settings: Settings) -> None:
        self.env = {
            "FIELDHUB_DATA_DIR": str(settings.data_dir),
            "FIELDHUB_DATABASE_URL": settings.database_url,
            "FIELDHUB_CONFIG_FILE": None,
        }
        self.runner = CliRunner()

    def run(self, *args: str, env: dict[str, str | None] | None = None) -> Any:
        return self.runner.invoke(app, list(args), env={**self.env, **(env or {})}, catch_exceptions=False)

    def json(self, *args: str, env: dict[str, str | None] | None = None) -> dict[str, Any]:
        result = self.run(*args, "--json", env=env)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        lines = result.stdout.splitlines()
        assert len(lines) == 1, result.stdout
        payload = json.loads(lines[0])
        assert isinstance(payload, dict)
        return payload

    def fails(self, *args: str, env: dict[str, str | None] | None = None) -> str:
        """Runs a command that must fail; returns its one-line reason."""
        result = self.run(*args, "--json", env=env)
        assert result.exit_code != 0, result.stdout
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
        return str(lines[0])


@pytest.fixture
def cli(settings: Settings) -> Cli:
    return Cli(settings)


def test_realm_create_and_list(cli: Cli) -> None:
    created = cli.json("realm", "create", "acme")
    assert UUID_RE.match(created["id"])
    assert created["name"] == "acme"
    cli.json("realm", "create", "beta")
    listed = cli.json("realm", "list")
    assert [realm["name"] for realm in listed["realms"]] == ["acme", "beta"]
    assert listed["realms"][0]["id"] == created["id"]


def test_realm_failures(cli: Cli) -> None:
    cli.json("realm", "create", "acme")
    assert "already exists" in cli.fails("realm", "create", "acme")
    assert "realm name" in cli.fails("realm", "create", "Not A Slug!")


def test_user_create_with_every_option(cli: Cli) -> None:
    cli.json("realm", "create", "acme")
    user = cli.json(
        "user", "create", "--realm", "acme", "--username", "ada", "--password", PASSWORD,
        "--email", "ada@example.com", "--first-name", "Ada", "--last-name", "Lovelace", "--admin",
    )  # fmt: skip
    assert UUID_RE.match(user["id"])
    assert user["username"] == "ada"
    assert user["email"] == "ada@example.com"
    assert (user["firstName"], user["lastName"]) == ("Ada", "Lovelace")
    assert user["admin"] is True
    assert "password" not in json.dumps(user).lower()
    plain = cli.json("user", "create", "--realm", "acme", "--username", "bob", "--password", PASSWORD)
    assert plain["admin"] is False
    assert plain["email"] is None
    listed = cli.json("user", "list", "--realm", "acme")
    assert [u["username"] for u in listed["users"]] == ["ada", "bob"]


def test_user_failures(cli: Cli) -> None:
    cli.json("realm", "create", "acme")
    user = ("--username", "ada", "--password", PASSWORD)
    assert "unknown realm" in cli.fails("user", "create", "--realm", "nope", *user)
    cli.json("user", "create", "--realm", "acme", *user)
    assert "already exists" in cli.fails("user", "create", "--realm", "acme", *user)
    assert "password" in cli.fails(
        "user", "create", "--realm", "acme", "--username", "c", "--password", "short"
    )
    assert "username" in cli.fails(
        "user", "create", "--realm", "acme", "--username", "a b", "--password", PASSWORD
    )
    assert "unknown user" in cli.fails(
        "user", "set-password", "--realm", "acme", "--username", "ghost", "--password", PASSWORD
    )
    assert "unknown realm" in cli.fails("user", "list", "--realm", "nope")


def test_a_user_created_with_the_cli_logs_in_over_http(cli: Cli, api: Api) -> None:
    cli.json("realm", "create", "acme")
    created = cli.json("user", "create", "--realm", "acme", "--username", "ada", "--password", PASSWORD)
    login_url = "/v1/authentication/login/realms/acme"
    response = api.client.post(login_url, json={"username": "ada", "password": PASSWORD, "realm": "acme"})
    assert response.status_code == 200, response.text

    changed = cli.json(
        "user", "set-password", "--realm", "acme", "--username", "ada", "--password", "a-new-password"
    )
    assert changed["id"] == created["id"]
    old = api.client.post(login_url, json={"username": "ada", "password": PASSWORD, "realm": "acme"})
    assert old.status_code == 401
    new = api.client.post(login_url, json={"username": "ada", "password": "a-new-password", "realm": "acme"})
    assert new.status_code == 200


def test_groups(cli: Cli) -> None:
    cli.json("realm", "create", "acme")
    cli.json("user", "create", "--realm", "acme", "--username", "ada", "--password", PASSWORD)
    group = cli.json("group", "create", "--realm", "acme", "--name", "crew")
    assert UUID_RE.match(group["id"])
    assert group["name"] == "crew"
    added = cli.json("group", "add-member", "--realm", "acme", "--group", "crew", "--username", "ada")
    assert added["id"] == group["id"]
    assert "already" in cli.fails(
        "group", "add-member", "--realm", "acme", "--group", "crew", "--username", "ada"
    )
    assert "unknown user" in cli.fails(
        "group", "add-member", "--realm", "acme", "--group", "crew", "--username", "ghost"
    )
    assert "unknown group" in cli.fails(
        "group", "add-member", "--realm", "acme", "--group", "nope", "--username", "ada"
    )
    assert "already exists" in cli.fails("group", "create", "--realm", "acme", "--name", "crew")


def test_applications_are_numbered_per_realm(cli: Cli) -> None:
    cli.json("realm", "create", "acme")
    cli.json("realm", "create", "beta")
    created = [cli.json("app", "create", "--realm", "acme", "--name", f"App {n}") for n in range(3)]
    assert [a["number"] for a in created] == [1, 2, 3]
    assert all(HEX24_RE.match(a["id"]) for a in created)
    assert len({a["id"] for a in created}) == 3
    assert created[0]["name"] == "App 0"
    assert cli.json("app", "create", "--realm", "beta", "--name", "Other")["number"] == 1
    listed = cli.json("app", "list", "--realm", "acme")
    assert [(a["id"], a["number"]) for a in listed["applications"]] == [
        (a["id"], a["number"]) for a in created
    ]


def test_app_grant(cli: Cli) -> None:
    cli.json("realm", "create", "acme")
    cli.json("user", "create", "--realm", "acme", "--username", "ada", "--password", PASSWORD)
    cli.json("group", "create", "--realm", "acme", "--name", "crew")
    app_id = cli.json("app", "create", "--realm", "acme", "--name", "Demo")["id"]
    by_user = cli.json(
        "app", "grant", "--realm", "acme", "--app", app_id, "--username", "ada", "--role", "manager"
    )
    assert by_user["role"] == "manager"
    assert by_user["application"] == app_id
    by_group = cli.json(
        "app", "grant", "--realm", "acme", "--app", app_id, "--group", "crew", "--role", "user"
    )
    assert by_group["group"] == "crew"
    assert UUID_RE.match(by_group["id"])


def test_app_grant_failures(cli: Cli) -> None:
    cli.json("realm", "create", "acme")
    cli.json("realm", "create", "beta")
    cli.json("user", "create", "--realm", "acme", "--username", "ada", "--password", PASSWORD)
    app_id = cli.json("app", "create", "--realm", "acme", "--name", "Demo")["id"]
    other_realm_app = cli.json("app", "create", "--realm", "beta", "--name", "Theirs")["id"]
    grant = ("app", "grant", "--realm", "acme")
    assert "role" in cli.fails(*grant, "--app", app_id, "--username", "ada", "--role", "owner")
    assert "unknown application" in cli.fails(
        *grant, "--app", "f" * 24, "--username", "ada", "--role", "user"
    )
    # Another realm's application does not exist as far as this realm is concerned.
    assert "unknown application" in cli.fails(
        *grant, "--app", other_realm_app, "--username", "ada", "--role", "user"
    )
    assert "exactly one" in cli.fails(*grant, "--app", app_id, "--role", "user")
    assert "exactly one" in cli.fails(
        *grant, "--app", app_id, "--username", "ada", "--group", "g", "--role", "user"
    )
    assert "unknown user" in cli.fails(*grant, "--app", app_id, "--username", "ghost", "--role", "user")
    assert "unknown group" in cli.fails(*grant, "--app", app_id, "--group", "ghosts", "--role", "user")
    cli.json(*grant, "--app", app_id, "--username", "ada", "--role", "user")
    assert "already granted" in cli.fails(*grant, "--app", app_id, "--username", "ada", "--role", "user")


def test_without_json_the_output_is_human_text(cli: Cli) -> None:
    result = cli.run("realm", "create", "acme")
    assert result.exit_code == 0
    assert result.stdout.startswith("Created realm acme")
    failed = cli.run("realm", "create", "acme")
    assert failed.exit_code == 1
    assert failed.stdout == ""
    assert failed.stderr == "error: realm 'acme' already exists\n"


def test_migrate(cli: Cli) -> None:
    assert cli.json("migrate") == {"migrated": True}
    # Idempotent.
    assert cli.run("migrate").exit_code == 0


def test_long_reasons_stay_on_one_line(cli: Cli) -> None:
    long_name = "r" + "x" * 200
    reason = cli.fails("user", "list", "--realm", long_name)
    assert long_name in reason


def test_realms_are_isolated_in_the_cli_too(cli: Cli) -> None:
    cli.json("realm", "create", "acme")
    cli.json("realm", "create", "beta")
    cli.json("user", "create", "--realm", "acme", "--username", "ada", "--password", PASSWORD)
    # The same username in another realm is a different user.
    other = cli.json("user", "create", "--realm", "beta", "--username", "ada", "--password", PASSWORD)
    assert uuid.UUID(other["id"])
    assert [u["username"] for u in cli.json("user", "list", "--realm", "beta")["users"]] == ["ada"]
    # Groups are per realm as well.
    cli.json("group", "create", "--realm", "acme", "--name", "crew")
    assert "unknown group" in cli.fails(
        "group", "add-member", "--realm", "beta", "--group", "crew", "--username", "ada"
    )
