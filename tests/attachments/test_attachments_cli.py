"""``fieldhub apiuser``: create (secret shown once, sealed at rest), list, delete; CLI conventions."""

from __future__ import annotations

import json
import stat
from typing import Any

import pytest
from attachments_support import Project, assert_envelope_error, signed_headers
from sqlalchemy import text
from typer.testing import CliRunner

from conftest import Api
from fieldhub.cli import app
from fieldhub.core.config import Settings


class Cli:
    """Runs ``fieldhub`` in-process against the test's database and data directory."""

    def __init__(self, settings: Settings) -> None:
        self.env = {
            "FIELDHUB_DATA_DIR": str(settings.data_dir),
            "FIELDHUB_DATABASE_URL": settings.database_url,
            "FIELDHUB_CONFIG_FILE": None,
        }
        self.runner = CliRunner()

    def run(self, *args: str) -> Any:
        return self.runner.invoke(app, list(args), env=self.env, catch_exceptions=False)

    def json(self, *args: str) -> dict[str, Any]:
        result = self.run(*args, "--json")
        assert result.exit_code == 0, (result.stdout, result.stderr)
        lines = result.stdout.splitlines()
        assert len(lines) == 1, result.stdout
        payload = json.loads(lines[0])
        assert isinstance(payload, dict)
        return payload

    def fails(self, *args: str) -> str:
        result = self.run(*args, "--json")
        assert result.exit_code != 0, result.stdout
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
        return str(lines[0])


@pytest.fixture
def cli(settings: Settings) -> Cli:
    return Cli(settings)


def sealed_secrets(api: Api) -> list[str]:
    with api.runtime.db.unit_of_work(write=False) as uow:
        return [
            str(value)
            for value in uow.session.scalars(text("SELECT sealed_secret FROM attachment_api_users"))
        ]


def test_create_prints_a_working_secret_once_and_stores_it_sealed(api: Api, cli: Cli) -> None:
    project = Project.build(api)
    sid = project.session()
    created = cli.json("apiuser", "create", "--realm", project.realm.name, "--username", "scanner")
    assert set(created) == {"username", "secret"}
    assert created["username"] == "scanner"
    assert len(created["secret"]) >= 40
    # The new realm user has no role yet: authenticated, then refused by the role rules.
    headers = signed_headers("scanner", created["secret"])
    assert_envelope_error(project.get(sid, "photo", headers), 403, "forbidden", "no role")
    sealed = sealed_secrets(api)
    assert len(sealed) == 2  # the project's own API user, and this one
    assert all(created["secret"] not in value for value in sealed)
    key_file = project.api.runtime.settings.data_dir / "keys" / "secrets.fernet"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    listed = cli.json("apiuser", "list", "--realm", project.realm.name)
    names = [row["username"] for row in listed["apiUsers"]]
    assert names == sorted([project.admin.username, "scanner"])
    assert "secret" not in json.dumps(listed)
    human = cli.run("apiuser", "create", "--realm", project.realm.name, "--username", "human")
    assert human.exit_code == 0
    assert human.stdout.count("\n") == 1


def test_an_existing_user_keeps_its_roles(api: Api, cli: Cli) -> None:
    project = Project.build(api)
    sid = project.session()
    user, _ = project.member("manager")
    created = cli.json("apiuser", "create", "--realm", project.realm.name, "--username", user.username)
    response = project.put_raw(sid, "photo", b"x", headers=signed_headers(user.username, created["secret"]))
    assert response.status_code == 200, response.text


def test_delete_revokes_the_secret(api: Api, cli: Cli) -> None:
    project = Project.build(api)
    sid = project.session()
    assert cli.json(
        "apiuser", "delete", "--realm", project.realm.name, "--username", project.admin.username
    ) == {
        "username": project.admin.username,
        "deleted": True,
    }
    assert_envelope_error(project.get(sid, "photo"), 403, "forbidden", "Invalid API credentials")
    assert cli.json("apiuser", "list", "--realm", project.realm.name) == {"apiUsers": []}
    # The realm user stays: its bearer token still works.
    assert_envelope_error(project.get(sid, "photo", project.headers), 404, "not found", "No attachment")


def test_failures_are_one_line(api: Api, cli: Cli) -> None:
    project = Project.build(api)
    other = api.realm()
    realm = project.realm.name
    assert "already exists" in cli.fails(
        "apiuser", "create", "--realm", realm, "--username", project.admin.username
    )
    # Names are unique across realms: the signed login names no realm.
    assert "unique across realms" in cli.fails(
        "apiuser", "create", "--realm", other.name, "--username", project.admin.username
    )
    assert "unknown realm" in cli.fails("apiuser", "create", "--realm", "nope", "--username", "x")
    assert "username" in cli.fails("apiuser", "create", "--realm", realm, "--username", "bad name!")
    assert "unknown API user" in cli.fails("apiuser", "delete", "--realm", realm, "--username", "ghost")
    assert "unknown API user" in cli.fails(
        "apiuser", "delete", "--realm", other.name, "--username", project.admin.username
    )
    assert len(sealed_secrets(api)) == 1
