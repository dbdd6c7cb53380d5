"""Job configurations and the job analysis over stored scan events (docs/insight-events.md).

A job starts at a scan whose code begins with ``start_barcode`` and ends at the next scan of the
same gateway whose code begins with ``end_barcode``.  Scans are taken in time order, events of
the same millisecond in the order they were stored.  The edge cases:

* a second start before an end restarts the job (the abandoned start is dropped);
* an end without an open job is ignored (also when its start lies before the window);
* a job still open at the window's end is reported with ``end_time`` and ``end_event_id`` null;
* a scan matching both prefixes ends an open job, and otherwise starts one.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from fieldhub.core.errors import Conflict, InvalidInput, NotFound
from fieldhub.insight.scans.models import JobConfig
from fieldhub.insight.scans.repository import ScanRepository, TimeWindow


@dataclass(frozen=True, slots=True)
class JobFields:
    job_name: str
    start_barcode: str
    end_barcode: str
    gateway_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class JobChanges:
    job_name: str | None = None
    start_barcode: str | None = None
    end_barcode: str | None = None
    gateway_ids: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class Job:
    start_time: int
    start_event_id: str
    end_time: int | None
    end_event_id: str | None


@dataclass(frozen=True, slots=True)
class GatewayJobs:
    gateway_id: str
    jobs: list[Job]


def find_jobs(marks: Iterable[Any]) -> list[Job]:
    """Pairs starts and ends; ``marks`` are (created, event_id, is_start, is_end) in time order."""
    jobs: list[Job] = []
    opened: tuple[int, str] | None = None
    for created, event_id, is_start, is_end in marks:
        if is_end and opened is not None:
            jobs.append(Job(opened[0], opened[1], created, event_id))
            opened = None
        elif is_start:
            opened = (created, event_id)
    if opened is not None:
        jobs.append(Job(opened[0], opened[1], None, None))
    return jobs


def list_etag(configs: Sequence[JobConfig]) -> str:
    """Changes whenever a config is created, changed or deleted (the spec types it an integer)."""
    fingerprint = ";".join(f"{config.id}:{config.version}" for config in configs)
    return str(zlib.crc32(fingerprint.encode()))


def parse_config_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput("job_config_id: must be a UUID") from None


class JobService:
    def __init__(self, repo: ScanRepository) -> None:
        self.repo = repo

    def configs(self) -> Sequence[JobConfig]:
        return self.repo.job_configs()

    def get(self, *, config_id: str) -> JobConfig:
        found = self.repo.job_config(parse_config_id(config_id))
        if found is None:
            raise NotFound("Job config not found")
        return found

    def _gateway_ids(self, values: Sequence[str]) -> list[str]:
        """The realm's gateways, as canonical UUID strings in the order given."""
        try:
            parsed = [uuid.UUID(value) for value in values]
        except ValueError:
            raise InvalidInput("gateway_ids: each must be a gateway id (a UUID)") from None
        if len(set(parsed)) != len(parsed):
            raise InvalidInput("gateway_ids: a gateway is named more than once")
        existing = self.repo.existing_gateway_ids(parsed)
        unknown = [value for value in parsed if value not in existing]
        if unknown:
            raise InvalidInput(f"gateway_ids: no gateway {unknown[0]} in this customer")
        return [str(value) for value in parsed]

    def create(self, *, fields: JobFields, now: dt.datetime) -> JobConfig:
        if self.repo.job_name_taken(fields.job_name):
            raise Conflict(f"A job config named {fields.job_name!r} already exists")
        config = JobConfig(
            id=uuid.uuid4(),
            realm_id=self.repo.realm_id,
            job_name=fields.job_name,
            start_barcode=fields.start_barcode,
            end_barcode=fields.end_barcode,
            gateway_ids=self._gateway_ids(fields.gateway_ids),
            created_at=now,
            updated_at=now,
        )
        try:
            with self.repo.session.begin_nested():
                self.repo.add(config)
        except IntegrityError:
            raise Conflict(f"A job config named {fields.job_name!r} already exists") from None
        return config

    def change(
        self, *, config_id: str, changes: JobChanges, expected_version: int | None, now: dt.datetime
    ) -> JobConfig:
        """Applies ``changes`` (version + 1) unless the config changed meanwhile (409)."""
        config = self.get(config_id=config_id)
        if expected_version is not None and expected_version != config.version:
            raise Conflict("The job config was modified concurrently; read it again")
        updates: dict[str, Any] = {key: value for key, value in asdict(changes).items() if value is not None}
        if "gateway_ids" in updates:
            updates["gateway_ids"] = self._gateway_ids(updates["gateway_ids"])
        name = updates.get("job_name")
        if (
            name is not None
            and name != config.job_name
            and self.repo.job_name_taken(name, other_than=config.id)
        ):
            raise Conflict(f"A job config named {name!r} already exists")
        if all(getattr(config, key) == value for key, value in updates.items()):
            return config
        for key, value in updates.items():
            setattr(config, key, value)
        config.updated_at = now
        try:
            with self.repo.session.begin_nested():
                self.repo.session.flush()
        except StaleDataError:
            raise Conflict("The job config was modified concurrently; read it again") from None
        except IntegrityError:
            raise Conflict(f"A job config named {name!r} already exists") from None
        return config

    def delete(self, *, config_id: str) -> None:
        self.repo.delete(self.get(config_id=config_id))

    def analyse(self, *, config_id: str, window: TimeWindow) -> list[GatewayJobs]:
        """Per gateway of the config, the jobs of the window, streamed from the database."""
        config = self.get(config_id=config_id)
        results = []
        for gateway_id in config.gateway_ids:
            marks = self.repo.stream_job_marks(
                gateway_id=uuid.UUID(gateway_id),
                window=window,
                start_prefix=config.start_barcode,
                end_prefix=config.end_barcode,
            )
            results.append(GatewayJobs(gateway_id=gateway_id, jobs=find_jobs(marks)))
        return results
