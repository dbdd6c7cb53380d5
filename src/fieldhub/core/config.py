"""Settings from ``FIELDHUB_*`` environment variables and an optional TOML file.

Precedence: environment variables, then the TOML file named by ``FIELDHUB_CONFIG_FILE``,
then the defaults below.  A bad value stops start-up with a one-line reason.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class ConfigError(Exception):
    """A configuration value is invalid; the message is one line meant for an operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIELDHUB_", extra="ignore", frozen=True)

    data_dir: Path = Path("./var")
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = ""
    admin_password: str = Field(default="", repr=False)
    log_level: str = "info"

    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=60)
    max_json_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    login_failure_limit: int = Field(default=10, ge=1)
    login_failure_window_seconds: int = Field(default=300, ge=1)
    shutdown_grace_seconds: int = Field(default=30, ge=0)
    sqlite_busy_timeout_ms: int = Field(default=5_000, ge=0)
    workers: int = Field(default=1, ge=1, le=64)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value.lower()

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL, defaulting to SQLite in the data dir and psycopg 3 for PostgreSQL."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'fieldhub.db').resolve()}"
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url

    @property
    def issuer(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFileSource(settings_cls))


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the ``[fieldhub]`` table (or the top level) of ``FIELDHUB_CONFIG_FILE``."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("FIELDHUB_CONFIG_FILE")
        if not path:
            return {}
        try:
            document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"FIELDHUB_CONFIG_FILE {path}: {exc}") from exc
        table = document.get("fieldhub", document)
        return {key: value for key, value in table.items() if key in self.settings_cls.model_fields}


def load_settings(**overrides: Any) -> Settings:
    """Builds the settings, turning any invalid value into a one-line :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"invalid setting FIELDHUB_{field.upper()}: {first['msg']}") from None
