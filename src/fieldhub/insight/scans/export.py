"""Event exports: a window's events streamed into a file in the blob store, at once or as a task.

Rows come from the database in batches and leave in ~1 MiB chunks through a blob writer, so the
memory an export needs does not grow with the number of events.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson

from fieldhub.core.blobs.protocol import BlobStore, StoredBlob
from fieldhub.core.db import Database, utcnow
from fieldhub.core.errors import InvalidInput, NotFound
from fieldhub.core.tasks import enqueue
from fieldhub.insight.scans.models import EventExport
from fieldhub.insight.scans.repository import ScanRepository, TimeWindow
from fieldhub.insight.scans.tokens import ExportFile
from fieldhub.insight.scans.views import EVENT_FIELDS, event_values

log = logging.getLogger(__name__)

EXPORT_TASK = "insight.events.export"
PENDING, SUCCESSFUL, FAILED = "PENDING", "SUCCESSFUL", "FAILED"
#: How often a failing export task is tried before it is reported FAILED.
EXPORT_ATTEMPTS = 3
CHUNK_BYTES = 1024 * 1024
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
#: Cells starting with these are formulas to a spreadsheet (CSV injection); such text cells get a
#: leading apostrophe in CSV files (JSON Lines keep the values exactly).
_FORMULA_FIRST = frozenset("=+-@\t\r")
#: The free-text fields, by position in ``EVENT_FIELDS``.
_TEXT_POSITIONS = tuple(
    EVENT_FIELDS.index(name)
    for name in (
        "id",
        "scan_code",
        "scan_decode_symbology",
        "device_id",
        "device_firmware",
        "gateway_usecase",
        "gateway_station",
    )
)


def check_format(value: str) -> str:
    if value in MEDIA_TYPES:
        return value
    if value == "parquet":
        raise InvalidInput("format: unsupported format 'parquet' (this server writes csv and jsonl)")
    raise InvalidInput("format: must be csv or jsonl")


def export_key(file: ExportFile) -> str:
    return f"insight/{file.realm_id}/event-exports/{file.export_id}.{file.format}"


def _csv_chunks(rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EVENT_FIELDS)
    for values in event_values(rows):
        for position in _TEXT_POSITIONS:
            text = values[position]
            if text and text[0] in _FORMULA_FIRST:
                values[position] = "'" + text
        writer.writerow(values)
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _jsonl_chunks(rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    buffer = bytearray()
    for values in event_values(rows):
        buffer += orjson.dumps(dict(zip(EVENT_FIELDS, values, strict=True)))
        buffer += b"\n"
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    yield bytes(buffer)


def write_export(
    repo: ScanRepository, blobs: BlobStore, *, window: TimeWindow, file: ExportFile
) -> StoredBlob:
    """Writes the window's events to the file's blob; nothing is visible under the key unless all
    of it was written."""
    chunks = repo.copy_events_csv(window, header=EVENT_FIELDS) if file.format == "csv" else None
    if chunks is None:
        rows = repo.stream_events(window)
        chunks = _csv_chunks(rows) if file.format == "csv" else _jsonl_chunks(rows)
    with blobs.writer(export_key(file)) as writer:
        for chunk in chunks:
            if chunk:
                writer.write(chunk)
        return writer.commit()


class ExportService:
    def __init__(self, repo: ScanRepository) -> None:
        self.repo = repo

    def request(self, *, window: TimeWindow, file_format: str, now: dt.datetime) -> EventExport:
        """Records a PENDING export and its task, both committed with the caller's unit of work."""
        export = EventExport(
            id=uuid.uuid4(),
            realm_id=self.repo.realm_id,
            status=PENDING,
            format=check_format(file_format),
            start_millis=window.start,
            end_millis=window.end,
            requested_at=now,
        )
        self.repo.add(export)
        enqueue(
            self.repo.session,
            kind=EXPORT_TASK,
            payload={"export_id": str(export.id), "realm_id": str(self.repo.realm_id)},
        )
        return export

    def get(self, *, export_id: uuid.UUID) -> EventExport:
        """Another realm's task does not exist for this caller."""
        found = self.repo.export(export_id)
        if found is None:
            raise NotFound("Export task not found")
        return found


def run_export_task(db: Database, blobs: BlobStore, payload: dict[str, Any]) -> None:
    """The background half of ``POST /events/export/tasks``.

    Idempotent: a task run again (a process died mid-way, its lease lapsed) rewrites the same blob
    key. A failure is retried by raising, and recorded as FAILED after ``EXPORT_ATTEMPTS``.
    """
    realm_id, export_id = uuid.UUID(payload["realm_id"]), uuid.UUID(payload["export_id"])
    outcome = _attempt(db, blobs, realm_id, export_id)
    if outcome is None:
        return
    status = _record(db, realm_id, export_id, outcome)
    if status == PENDING:
        raise RuntimeError(f"export {export_id} failed; it will be retried")


def _attempt(
    db: Database, blobs: BlobStore, realm_id: uuid.UUID, export_id: uuid.UUID
) -> StoredBlob | str | None:
    """The stored file, or the error that stopped it; None when there is nothing (left) to do."""
    with db.unit_of_work(write=False) as uow:
        repo = ScanRepository(uow.session, realm_id=realm_id)
        export = repo.export(export_id)
        if export is None or export.status != PENDING:
            return None  # its realm was deleted, or an earlier run finished it
        file = ExportFile(realm_id=realm_id, export_id=export_id, format=export.format)
        try:
            return write_export(
                repo, blobs, window=TimeWindow(export.start_millis, export.end_millis), file=file
            )
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"


def _record(db: Database, realm_id: uuid.UUID, export_id: uuid.UUID, outcome: StoredBlob | str) -> str | None:
    """Marks the export SUCCESSFUL, or counts the failed attempt (FAILED at the last); its status."""
    with db.unit_of_work() as uow:
        export = ScanRepository(uow.session, realm_id=realm_id).export(export_id)
        if export is None:
            return None
        if isinstance(outcome, StoredBlob):
            export.status, export.blob_key, export.finished_at = SUCCESSFUL, outcome.key, utcnow()
            return export.status
        export.attempts += 1
        export.error = outcome[:1000]
        if export.attempts >= EXPORT_ATTEMPTS:
            export.status, export.finished_at = FAILED, utcnow()
        status, attempts = export.status, export.attempts
    log.warning("export %s failed (attempt %d): %s", export_id, attempts, outcome)
    return status
