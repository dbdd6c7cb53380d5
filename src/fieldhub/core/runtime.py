"""The process-wide resources every family works with, built once from the settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from fieldhub.core.blobs.factory import blob_store_from_settings
from fieldhub.core.blobs.protocol import BlobStore
from fieldhub.core.bus.publisher import OutboxPublisher
from fieldhub.core.config import Settings
from fieldhub.core.db import Database, make_engine
from fieldhub.core.identity.auth import AuthService
from fieldhub.core.identity.keys import SigningKey
from fieldhub.core.identity.service import IdentityService
from fieldhub.core.identity.throttle import LoginThrottle
from fieldhub.core.identity.tokens import AccessTokenCodec
from fieldhub.core.tasks import TaskRunner


@dataclass
class Runtime:
    settings: Settings
    db: Database
    signing_key: SigningKey
    tokens: AccessTokenCodec
    #: Drains the outbox onto the event bus once the app's lifespan has started it.
    publisher: OutboxPublisher
    blobs: BlobStore
    #: Runs background tasks once the app's lifespan has started it; families register handlers.
    tasks: TaskRunner

    @classmethod
    def build(cls, settings: Settings, *, subscription_templates: Sequence[str] = ()) -> Runtime:
        """``subscription_templates``: the MQTT topic filters the families let a user subscribe to."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(
            settings.resolved_database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
        key = SigningKey.load_or_create(settings.data_dir)
        db = Database(engine)
        return cls(
            settings=settings,
            db=db,
            signing_key=key,
            tokens=AccessTokenCodec(
                key=key,
                issuer=settings.issuer,
                ttl_seconds=settings.access_token_ttl_seconds,
                subscription_templates=subscription_templates,
            ),
            publisher=OutboxPublisher(db=db, retention=settings.outbox_retention),
            blobs=blob_store_from_settings(settings),
            tasks=TaskRunner(db=db),
        )

    def identity(self, session: Session) -> IdentityService:
        return IdentityService(session=session)

    def auth(self, session: Session) -> AuthService:
        return AuthService(
            session=session,
            tokens=self.tokens,
            refresh_ttl_seconds=self.settings.refresh_token_ttl_seconds,
            throttle=LoginThrottle(
                session=session,
                limit=self.settings.login_failure_limit,
                window_seconds=self.settings.login_failure_window_seconds,
            ),
        )

    def close(self) -> None:
        self.db.dispose()
