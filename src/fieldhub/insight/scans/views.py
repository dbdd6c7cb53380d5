"""The spec's JSON shapes of events and job configs (times in milliseconds since the epoch)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from fieldhub.insight.scans.models import JobConfig
from fieldhub.insight.views import millis

#: The spec's event fields, in its order: the export's columns as well.
EVENT_FIELDS = (
    "id",
    "class",
    "type",
    "created",
    "scan_code",
    "scan_duration",
    "scan_decode_symbology",
    "device_id",
    "device_battery",
    "device_firmware",
    "device_temperature",
    "gateway_id",
    "gateway_usecase",
    "gateway_station",
    "metrics_worker_steps",
)


_GATEWAY_POSITION = EVENT_FIELDS.index("gateway_id")


def event_values(rows: Iterable[Sequence[Any]]) -> Iterator[list[Any]]:
    """The values of ``EVENT_FIELDS`` of each row read with the repository's ``EXPORT_COLUMNS``,
    the gateway id in its canonical form (converted once per gateway, not once per row)."""
    canonical: dict[Any, str] = {}
    for row in rows:
        values = list(row[: len(EVENT_FIELDS)])
        raw = values[_GATEWAY_POSITION]
        known = canonical.get(raw)
        if known is None:
            known = canonical[raw] = str(uuid.UUID(str(raw)))
        values[_GATEWAY_POSITION] = known
        yield values


def event_items(rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(EVENT_FIELDS, values, strict=True)) for values in event_values(rows)]


def job_config_json(config: JobConfig) -> dict[str, Any]:
    return {
        "job_config_id": str(config.id),
        "job_name": config.job_name,
        "created": millis(config.created_at),
        "last_updated": millis(config.updated_at),
        "start_barcode": config.start_barcode,
        "end_barcode": config.end_barcode,
        "gateway_ids": list(config.gateway_ids),
        "class": "jobconfig",
        "version": config.version,
    }
