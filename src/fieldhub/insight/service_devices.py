"""Scanners (the spec's ``/devices``) and device configuration files."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fieldhub.core.errors import Conflict, InvalidInput, NotFound
from fieldhub.core.pagination import Cursor, Page
from fieldhub.insight.models import DeviceConfig, Scanner
from fieldhub.insight.repository import InsightRepository

#: Config ids are chosen by the client; they become part of URLs, never of file paths.
CONFIG_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
MAX_FILE_NAME = 255
#: What a scanner serial can be; anything else cannot name a scanner (and is not looked up).
SERIAL = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def check_config_id(config_id: str) -> str:
    if not CONFIG_ID.match(config_id) or config_id in {".", ".."}:
        raise InvalidInput("device_config_id: must be 1-128 characters of letters, digits, '.', '_' and '-'")
    return config_id


def check_file_name(file_name: str | None) -> str:
    """The ``File-Name`` header: kept as metadata only (blob keys are made by the service)."""
    if file_name is None or not file_name.strip():
        raise InvalidInput("File-Name: the header is required")
    if len(file_name) > MAX_FILE_NAME or any(ord(char) < 32 or ord(char) == 127 for char in file_name):
        raise InvalidInput(
            f"File-Name: must be at most {MAX_FILE_NAME} characters without control characters"
        )
    return file_name


def config_blob_key(realm_id: uuid.UUID) -> str:
    # A new key per upload: a reader of the old version keeps reading whole bytes until it is done.
    return f"insight/{realm_id}/device-configs/{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class StoredConfig:
    config: DeviceConfig
    #: The blob the new upload replaced, to be deleted once the change committed.
    replaced_key: str | None


class DeviceService:
    def __init__(self, *, session: Session, realm_id: uuid.UUID) -> None:
        self.repo = InsightRepository(session, realm_id=realm_id)
        self.realm_id = realm_id

    # scanners -----------------------------------------------------------------------------
    def scanner_page(self, *, limit: int, cursor: Cursor | None) -> Page:
        return self.repo.scanner_page(limit=limit, cursor=cursor)

    def set_scanner_status(self, *, serial: str, status: str, now: dt.datetime) -> Scanner:
        scanner = self.repo.scanner(serial) if SERIAL.match(serial) else None
        if scanner is None:
            raise NotFound("Device not found")
        if scanner.status != status:
            scanner.status = status
            scanner.updated_at = now
            self.repo.session.flush()
        return scanner

    # device configs -----------------------------------------------------------------------
    def configs(self) -> Sequence[DeviceConfig]:
        return self.repo.device_configs()

    def config(self, *, config_id: str) -> DeviceConfig:
        found = self.repo.device_config(check_config_id(config_id))
        if found is None:
            raise NotFound("No device config file found")
        return found

    def store_config(
        self, *, config_id: str, file_name: str, blob_key: str, size: int, now: dt.datetime
    ) -> StoredConfig:
        """Points the config at its newly uploaded blob, creating the config on first upload."""
        existing = self.repo.device_config(config_id)
        if existing is not None:
            replaced = existing.blob_key
            existing.name, existing.blob_key, existing.size, existing.updated_at = (
                file_name,
                blob_key,
                size,
                now,
            )
            self.repo.session.flush()
            return StoredConfig(config=existing, replaced_key=replaced)
        created = DeviceConfig(
            realm_id=self.realm_id,
            config_id=config_id,
            name=file_name,
            blob_key=blob_key,
            size=size,
            created_at=now,
            updated_at=now,
        )
        try:
            with self.repo.session.begin_nested():
                self.repo.add(created)
        except IntegrityError:
            raise Conflict("The device config was created concurrently; try again") from None
        return StoredConfig(config=created, replaced_key=None)

    def delete_config(self, *, config_id: str) -> str:
        """Deletes the metadata; returns the blob key to delete once that committed."""
        found = self.config(config_id=config_id)
        self.repo.session.delete(found)
        self.repo.session.flush()
        return found.blob_key
