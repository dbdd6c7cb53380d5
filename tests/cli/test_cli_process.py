"""The installed ``fieldhub`` executable: stdout discipline, configuration errors, unreachable databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIELDHUB = str(Path(sys.executable).with_name("fieldhub"))
UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:1/nowhere"


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FIELDHUB_")}
    base["FIELDHUB_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [FIELDHUB, *args], env={**base, **env}, capture_output=True, text=True, timeout=60, check=False
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_json_output_is_exactly_one_object_on_stdout(tmp_path: Path) -> None:
    result = run(tmp_path, "realm", "create", "acme", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.count("\n") == 1
    created = json.loads(result.stdout)
    assert created["name"] == "acme"
    app = run(tmp_path, "app", "create", "--realm", "acme", "--name", "Demo", "--json")
    assert json.loads(app.stdout)["number"] == 1
    assert (tmp_path / "data" / "fieldhub.db").exists()


@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        ({"FIELDHUB_PORT": "abc"}, ("FIELDHUB_PORT", "abc")),
        ({"FIELDHUB_DATABASE_URL": "mysql://x"}, ("FIELDHUB_DATABASE_URL", "sqlite")),
        ({"FIELDHUB_DATABASE_URL": UNREACHABLE_PG}, ("database error", "127.0.0.1")),
    ],
    ids=["port", "database-scheme", "database-unreachable"],
)
@pytest.mark.parametrize("command", [("realm", "list", "--json"), ("serve",)])
def test_bad_configuration_is_a_one_line_error(
    tmp_path: Path, env: dict[str, str], fragments: tuple[str, ...], command: tuple[str, ...]
) -> None:
    assert_one_line_failure(run(tmp_path, *command, **env), *fragments)


def test_toml_file_is_used_and_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "fieldhub.toml"
    config.write_text(f'[fieldhub]\ndata_dir = "{tmp_path / "from-toml"}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDHUB_")}
    env["FIELDHUB_CONFIG_FILE"] = str(config)
    result = subprocess.run(
        [FIELDHUB, "realm", "create", "acme", "--json"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "from-toml" / "fieldhub.db").exists()
    # FIELDHUB_DATA_DIR (set by run()) overrides the file's data_dir.
    overridden = run(tmp_path, "realm", "list", "--json", FIELDHUB_CONFIG_FILE=str(config))
    assert json.loads(overridden.stdout) == {"realms": []}


def test_bad_toml_is_a_one_line_error(tmp_path: Path) -> None:
    config = tmp_path / "fieldhub.toml"
    config.write_text("[fieldhub]\nport = 'abc'\n", encoding="utf-8")
    assert_one_line_failure(run(tmp_path, "realm", "list", FIELDHUB_CONFIG_FILE=str(config)), "FIELDHUB_PORT")


def test_a_short_admin_password_stops_serve_with_a_reason(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", FIELDHUB_ADMIN_PASSWORD="short", FIELDHUB_PORT="0")
    assert_one_line_failure(result, "FIELDHUB_ADMIN_PASSWORD")
