"""Settings from ``FIELDHUB_*`` environment variables and an optional TOML file.

Precedence: environment variables, then the TOML file named by ``FIELDHUB_CONFIG_FILE``,
then the defaults below.  A bad value stops start-up with a one-line reason.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

#: URL schemes FIELDHUB_DATABASE_URL may use; ``postgres://`` is the common alias of ``postgresql://``.
_SUPPORTED_SCHEMES = frozenset({"sqlite", "sqlite+pysqlite", "postgres", "postgresql", "postgresql+psycopg"})
PG_CONNECT_TIMEOUT_SECONDS = 10
#: Settings whose value is never echoed in an error message.
_SECRET_FIELDS = frozenset(
    {
        "admin_password",
        "database_url",
        "mqtt_url",
        "blob_s3_access_key_id",
        "blob_s3_secret_access_key",
        "smtp_url",
    }
)


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
    request_threads: int = Field(default=4, ge=1, le=256)

    # Event bus: the embedded MQTT broker's listeners (0 disables one), or an external broker.
    mqtts_port: int = Field(default=8883, ge=0, le=65535)
    mqtt_port: int = Field(default=1884, ge=0, le=65535)
    mqtt_ws_port: int = Field(default=8884, ge=0, le=65535)
    mqtt_bind_host: str = "127.0.0.1"
    mqtt_tls_bind_host: str = "0.0.0.0"  # noqa: S104 - TLS listener is meant to be reachable
    mqtt_hostnames: list[str] = Field(default_factory=lambda: ["localhost", "127.0.0.1"])
    mqtt_url: str = ""
    mqtt_tls_ca_file: str = ""
    mqtt_tls_cert_file: str = ""
    mqtt_tls_key_file: str = ""
    mqtt_max_connections: int = Field(default=10_000, ge=1)
    mqtt_max_queued_messages: int = Field(default=1_000, ge=0)
    mqtt_max_unacknowledged_messages: int = Field(default=1_000, ge=1)
    mqtt_max_packet_bytes: int = Field(default=256 * 1024, ge=1024)
    mqtt_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    mqtt_session_expiry_seconds: int = Field(default=86_400, ge=60)
    #: Published events are deleted after this long; 0 keeps them for ever.
    outbox_retention_hours: float = Field(default=24.0, ge=0)

    # Blob store: files under the data dir by default, or an S3-compatible bucket.
    blob_url: str = ""
    blob_s3_endpoint_url: str = ""
    blob_s3_region: str = "us-east-1"
    blob_s3_access_key_id: str = Field(default="", repr=False)
    blob_s3_secret_access_key: str = Field(default="", repr=False)
    blob_s3_part_bytes: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024)

    # Insight family (docs/insight.md).
    insight_prefix: str = Field(default="/insight", pattern=r"^/[A-Za-z0-9/_-]*[A-Za-z0-9_-]$")
    insight_region: str = "eu-west-1"
    insight_cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    insight_gateway_active_seconds: int = Field(default=2 * 3600, ge=1)
    insight_provisioning_token_ttl_seconds: int = Field(default=86_400, ge=60)
    insight_package_url_ttl_seconds: int = Field(default=900, ge=30)
    insight_gateway_certificate_days: int = Field(default=825, ge=1, le=3650)
    insight_device_config_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    insight_set_password_ttl_seconds: int = Field(default=72 * 3600, ge=300)
    # Outgoing mail (set-password links): smtp://[USER:PASSWORD@]HOST[:PORT] or smtps://...
    smtp_url: str = Field(default="", repr=False)
    smtp_from: str = "fieldhub@localhost"

    # Snapshots family: the largest image accepted, the image types accepted, signed-URL lifetime.
    snapshot_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    snapshot_mime_types: list[str] = Field(default_factory=lambda: ["image/jpeg", "image/png", "image/webp"])
    snapshot_signed_url_ttl_seconds: int = Field(default=300, ge=10, le=7 * 86_400)

    @field_validator("blob_url")
    @classmethod
    def _blob_location(cls, value: str) -> str:
        if not value:
            return value
        scheme, separator, rest = value.partition("://")
        if scheme == "file" and separator and rest.startswith("/"):
            return value
        if scheme == "s3" and separator and rest.split("/", 1)[0]:
            return value
        raise ValueError("must be s3://BUCKET[/PREFIX] or file:///ABSOLUTE/PATH")

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value.lower()

    @field_validator("mqtt_url")
    @classmethod
    def _external_broker(cls, value: str, info: ValidationInfo) -> str:
        if value:
            scheme, separator, rest = value.partition("://")
            if scheme not in {"mqtt", "mqtts"} or not separator or not rest.strip("/"):
                raise ValueError("must be mqtt://HOST:PORT or mqtts://HOST:PORT")
            return value
        ports = (info.data.get(name, 0) for name in ("mqtts_port", "mqtt_port", "mqtt_ws_port"))
        if info.data.get("workers", 1) > 1 and any(ports):
            # Every worker would start its own embedded broker on the same ports, and a client
            # would only hear the events of the worker it happened to connect to.
            raise ValueError(
                "must name an external broker when FIELDHUB_WORKERS > 1 (or set the three"
                " FIELDHUB_MQTT*_PORT to 0)"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value:
            return value
        scheme = value.partition("://")[0]
        if "://" not in value or scheme not in _SUPPORTED_SCHEMES:
            raise ValueError("must be a sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE URL")
        try:
            make_url(value)
        except ArgumentError:
            raise ValueError("is not a valid database URL") from None
        return value

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL, defaulting to SQLite in the data dir and psycopg 3 for PostgreSQL.

        PostgreSQL connections get a connect timeout unless the URL sets one, so that a database
        that stops answering turns ``/healthz`` into a prompt 503 rather than a hung request.
        """
        if not self.database_url:
            return f"sqlite:///{(self.data_dir / 'fieldhub.db').resolve()}"
        url = make_url(self.database_url)
        if url.drivername in {"postgres", "postgresql"}:
            url = url.set(drivername="postgresql+psycopg")
        if url.drivername.startswith("postgresql") and "connect_timeout" not in url.query:
            url = url.update_query_dict({"connect_timeout": str(PG_CONNECT_TIMEOUT_SECONDS)})
        return url.render_as_string(hide_password=False)

    @property
    def outbox_retention(self) -> dt.timedelta | None:
        return dt.timedelta(hours=self.outbox_retention_hours) if self.outbox_retention_hours else None

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
        if not isinstance(table, dict):
            raise ConfigError(f"FIELDHUB_CONFIG_FILE {path}: [fieldhub] must be a table")
        known = self.settings_cls.model_fields
        unknown = sorted(
            key for key, value in table.items() if key not in known and not isinstance(value, dict)
        )
        if unknown:
            # A misspelt key would otherwise be ignored and its default used without a word.
            raise ConfigError(f"FIELDHUB_CONFIG_FILE {path}: unknown setting {unknown[0]!r}")
        return {key: value for key, value in table.items() if key in known}


def load_settings(**overrides: Any) -> Settings:
    """Builds the settings, turning any invalid value into a one-line :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        shown = "" if field in _SECRET_FIELDS else f"={first.get('input')!r}"
        line = f"invalid setting FIELDHUB_{field.upper()}{shown}: {message}"
        raise ConfigError(" ".join(line.split())) from None
