"""Settings: defaults, environment variables, the TOML file, precedence and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldhub.core.config import ConfigError, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("FIELDHUB_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.port == 8080
    assert settings.host == "127.0.0.1"
    assert settings.data_dir == Path("./var")
    assert settings.max_json_body_bytes == 10 * 1024 * 1024
    assert settings.resolved_database_url == f"sqlite:///{Path('./var/fieldhub.db').resolve()}"


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FIELDHUB_PORT", "9090")
    monkeypatch.setenv("FIELDHUB_HOST", "10.9.8.7")
    monkeypatch.setenv("FIELDHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FIELDHUB_LOG_LEVEL", "DEBUG")
    settings = load_settings()
    assert (settings.port, settings.host, settings.data_dir, settings.log_level) == (
        9090,
        "10.9.8.7",
        tmp_path,
        "debug",
    )
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'fieldhub.db'}"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("FIELDHUB_PORT", "abc", "invalid setting FIELDHUB_PORT='abc': Input should be a valid integer"),
        ("FIELDHUB_PORT", "70000", "invalid setting FIELDHUB_PORT='70000'"),
        ("FIELDHUB_DATABASE_URL", "mysql://x", "invalid setting FIELDHUB_DATABASE_URL: must be a sqlite"),
        ("FIELDHUB_DATABASE_URL", "localhost:5432", "invalid setting FIELDHUB_DATABASE_URL"),
        ("FIELDHUB_LOG_LEVEL", "loud", "invalid setting FIELDHUB_LOG_LEVEL='loud': must be one of"),
        ("FIELDHUB_WORKERS", "0", "invalid setting FIELDHUB_WORKERS='0'"),
        ("FIELDHUB_ACCESS_TOKEN_TTL_SECONDS", "5", "invalid setting FIELDHUB_ACCESS_TOKEN_TTL_SECONDS='5'"),
    ],
)
def test_bad_values_are_one_line_errors(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(expected), message
    assert "\n" not in message
    assert "Value error" not in message


def test_a_database_url_with_a_password_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDHUB_DATABASE_URL", "oracle://scott:tiger-secret@db/x")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "tiger-secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "resolved"),
    [
        ("postgresql://u:p@db:5432/app", "postgresql+psycopg://u:p@db:5432/app?connect_timeout=10"),
        ("postgres://u@db/app", "postgresql+psycopg://u@db/app?connect_timeout=10"),
        (
            "postgresql+psycopg://u@db/app?connect_timeout=3",
            "postgresql+psycopg://u@db/app?connect_timeout=3",
        ),
        ("postgresql://u:p%40ss@db/app", "postgresql+psycopg://u:p%40ss@db/app?connect_timeout=10"),
        ("sqlite:////srv/fieldhub.db", "sqlite:////srv/fieldhub.db"),
    ],
)
def test_database_urls_resolve_to_sqlalchemy_urls(url: str, resolved: str) -> None:
    assert Settings(database_url=url).resolved_database_url == resolved


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fieldhub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_toml(
        tmp_path, f'[fieldhub]\nport = 9191\ndata_dir = "{tmp_path}/d"\nlogin_failure_limit = 3\n'
    )
    monkeypatch.setenv("FIELDHUB_CONFIG_FILE", str(path))
    settings = load_settings()
    assert (settings.port, settings.data_dir, settings.login_failure_limit) == (9191, tmp_path / "d", 3)


def test_top_level_toml_keys_work_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FIELDHUB_CONFIG_FILE", str(write_toml(tmp_path, "port = 9292\n")))
    assert load_settings().port == 9292


def test_environment_overrides_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[fieldhub]\nport = 9191\nhost = "10.1.1.1"\n')
    monkeypatch.setenv("FIELDHUB_CONFIG_FILE", str(path))
    monkeypatch.setenv("FIELDHUB_PORT", "9393")
    settings = load_settings()
    assert settings.port == 9393
    assert settings.host == "10.1.1.1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[fieldhub]\nport = 'abc'\n", "invalid setting FIELDHUB_PORT='abc'"),
        ("[fieldhub]\nprot = 9191\n", "unknown setting 'prot'"),
        ("[fieldhub\nport = 1\n", "FIELDHUB_CONFIG_FILE"),
        ("fieldhub = 3\n", "[fieldhub] must be a table"),
    ],
)
def test_bad_toml_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, expected: str
) -> None:
    monkeypatch.setenv("FIELDHUB_CONFIG_FILE", str(write_toml(tmp_path, text)))
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_toml_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FIELDHUB_CONFIG_FILE", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match=r"absent\.toml"):
        load_settings()


def test_the_admin_password_is_not_in_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDHUB_ADMIN_PASSWORD", "sup3r-secret-pw")
    settings = load_settings()
    assert settings.admin_password == "sup3r-secret-pw"
    assert "sup3r-secret-pw" not in repr(settings)


def test_issuer_follows_public_url_or_host_and_port() -> None:
    assert Settings(port=9000).issuer == "http://127.0.0.1:9000"
    assert Settings(public_url="https://fieldhub.example/").issuer == "https://fieldhub.example"
