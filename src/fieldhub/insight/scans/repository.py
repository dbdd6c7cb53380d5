"""Every query of scan events, exports and job configs, each scoped to the customer's realm."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Integer,
    String,
    func,
    literal,
    or_,
    select,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fieldhub.core.errors import InvalidInput
from fieldhub.core.pagination import Cursor, Page, SortKey, encode_cursor
from fieldhub.insight.models import Gateway, Scanner
from fieldhub.insight.scans.models import EventExport, JobConfig, ScanEvent

#: Oldest first; events of the same millisecond in the order they were stored.
EVENT_ORDER = SortKey("created", ScanEvent.created, "int", descending=False)
#: Rows fetched per round trip when streaming (exports, job analysis): bounded memory.
STREAM_BATCH = 2_000
#: An event's columns in the order of the spec's fields (``class`` is a constant).  The gateway id
#: comes as the driver gives it (a UUID on PostgreSQL, 32 hex digits on SQLite): converting it once
#: per gateway instead of once per row is a third of an export's time.
EXPORT_COLUMNS = (
    ScanEvent.event_id,
    literal("event", String).label("class"),
    ScanEvent.type,
    ScanEvent.created,
    ScanEvent.scan_code,
    ScanEvent.scan_duration,
    ScanEvent.scan_decode_symbology,
    ScanEvent.device_id,
    ScanEvent.device_battery,
    ScanEvent.device_firmware,
    ScanEvent.device_temperature,
    type_coerce(ScanEvent.gateway_id, String).label("gateway_id"),
    ScanEvent.gateway_usecase,
    ScanEvent.gateway_station,
    ScanEvent.metrics_worker_steps,
)


#: The spec's default window: the last 24 hours.
DEFAULT_WINDOW_MILLIS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """``start <= created < end``, in milliseconds since the epoch."""

    start: int
    end: int

    @classmethod
    def resolve(
        cls, *, start: int | None, end: int | None, now: dt.datetime, names: tuple[str, str]
    ) -> TimeWindow:
        """As the spec says: the end defaults to now, the start to a day before now."""
        now_millis = int(now.timestamp() * 1000)
        resolved_end = end if end is not None else now_millis
        resolved_start = start if start is not None else max(0, now_millis - DEFAULT_WINDOW_MILLIS)
        if resolved_start >= resolved_end:
            raise InvalidInput(f"{names[0]}: must be before {names[1]}")
        return cls(resolved_start, resolved_end)


def _insert(session: Session, table: FromClause) -> Any:
    """The dialect's INSERT, which has ON CONFLICT on both engines.  On the table, not the mapped
    class: the ORM's bulk path inspects every parameter dict, a third of a batch's time."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


#: CSV injection: text a spreadsheet would run as a formula gets a leading apostrophe.
_NEUTRAL = "CASE WHEN left({0}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') THEN '''' || {0} ELSE {0} END"
#: The export's columns in the order of the spec's fields; aliases become the header row.
_COPY_COLUMNS = (
    _NEUTRAL.format("event_id"),
    "'event'",
    "type",
    "created",
    _NEUTRAL.format("scan_code"),
    "scan_duration",
    _NEUTRAL.format("scan_decode_symbology"),
    _NEUTRAL.format("device_id"),
    "device_battery",
    _NEUTRAL.format("device_firmware"),
    "device_temperature",
    "gateway_id::text",
    _NEUTRAL.format("gateway_usecase"),
    _NEUTRAL.format("gateway_station"),
    "metrics_worker_steps",
)


def _copy_chunks(
    driver: Any, *, window: TimeWindow, realm_id: uuid.UUID, header: Sequence[str]
) -> Iterator[bytes]:
    columns = ", ".join(
        f'{expression} AS "{name}"' for expression, name in zip(_COPY_COLUMNS, header, strict=True)
    )
    statement = (
        f"COPY (SELECT {columns} FROM insight_scan_events "  # noqa: S608 - constant text; values are parameters
        "WHERE realm_id = %s AND created >= %s AND created < %s ORDER BY created, seq) "
        "TO STDOUT WITH (FORMAT csv, HEADER)"
    )
    with driver.cursor() as cursor, cursor.copy(statement, (realm_id, window.start, window.end)) as copy:
        for chunk in copy:
            yield bytes(chunk)


def _starts_with(column: Any, prefix: str) -> ColumnElement[bool]:
    # substr rather than LIKE: LIKE ignores ASCII case on SQLite and treats % and _ as wildcards.
    return func.substr(column, 1, len(prefix)) == prefix


class ScanRepository:
    def __init__(self, session: Session, *, realm_id: uuid.UUID) -> None:
        self.session = session
        self.realm_id = realm_id

    # gateways and scanners (part 1's tables) ------------------------------------------------
    def gateway(self, gateway_id: uuid.UUID) -> Gateway | None:
        return self.session.scalars(
            select(Gateway).where(Gateway.realm_id == self.realm_id, Gateway.id == gateway_id)
        ).one_or_none()

    def existing_gateway_ids(self, gateway_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        query = select(Gateway.id).where(Gateway.realm_id == self.realm_id, Gateway.id.in_(gateway_ids))
        return set(self.session.scalars(query))

    def touch_gateway(self, gateway_id: uuid.UUID, now: dt.datetime) -> None:
        """Sets the last-seen time (connectivity) without touching the gateway's ETag version,
        so that ingest never makes an administrator's concurrent PATCH fail."""
        self.session.execute(
            update(Gateway)
            .where(
                Gateway.realm_id == self.realm_id,
                Gateway.id == gateway_id,
                or_(Gateway.last_seen_at.is_(None), Gateway.last_seen_at < now),
            )
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )

    def upsert_scanners(self, rows: Sequence[dict[str, Any]]) -> None:
        """One row per serial; an older report (out-of-order delivery) never overwrites a newer one."""
        if not rows:
            return
        table = Scanner.__table__
        statement = _insert(self.session, table)
        new, old = statement.excluded, table.c
        statement = statement.on_conflict_do_update(
            index_elements=[old.realm_id, old.serial],
            set_={
                "battery": func.coalesce(new.battery, old.battery),
                "firmware": func.coalesce(new.firmware, old.firmware),
                "last_gateway_id": new.last_gateway_id,
                "last_activity_at": new.last_activity_at,
                "updated_at": new.updated_at,
            },
            where=or_(old.last_activity_at.is_(None), old.last_activity_at <= new.last_activity_at),
        )
        self.session.connection().execute(statement, [{**row, "realm_id": self.realm_id} for row in rows])

    # events -------------------------------------------------------------------------------
    def insert_events(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Inserts the events whose id is new to the realm; returns the ids actually inserted."""
        if not rows:
            return set()
        columns = ScanEvent.__table__.c
        statement = (
            _insert(self.session, ScanEvent.__table__)
            .on_conflict_do_nothing(index_elements=[columns.realm_id, columns.event_id])
            .returning(columns.event_id)
        )
        result = self.session.connection().execute(
            statement, [{**row, "realm_id": self.realm_id} for row in rows]
        )
        return set(result.scalars())

    def _window(self, window: TimeWindow, gateway_id: uuid.UUID | None) -> list[ColumnElement[bool]]:
        conditions = [
            ScanEvent.realm_id == self.realm_id,
            ScanEvent.created >= window.start,
            ScanEvent.created < window.end,
        ]
        if gateway_id is not None:
            conditions.append(ScanEvent.gateway_id == gateway_id)
        return conditions

    def event_page(
        self,
        *,
        window: TimeWindow,
        gateway_id: uuid.UUID | None,
        limit: int,
        cursor: Cursor | None,
        scope: str,
    ) -> Page:
        """One forward page of ``EXPORT_COLUMNS`` rows after ``cursor``, keyset on (created, seq).

        Core's ``keyset_page`` reads ORM objects, which cost more than the rest of a 500-event page
        together; this reads plain rows with the same row-value comparison on the same index.
        """
        query = select(*EXPORT_COLUMNS, ScanEvent.seq).where(*self._window(window, gateway_id))
        if cursor is not None:
            query = query.where(tuple_(ScanEvent.created, ScanEvent.seq) > (cursor.value, cursor.key))
        query = query.order_by(ScanEvent.created, ScanEvent.seq).limit(limit + 1)
        rows = self.session.connection().execute(query).all()
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            position = Cursor(
                sort=EVENT_ORDER.name, value=last.created, key=last.seq, backwards=False, scope=scope
            )
            next_cursor = encode_cursor(position)
        return Page(rows=rows, next_cursor=next_cursor, prev_cursor=None)

    def stream_events(self, window: TimeWindow) -> Iterator[Sequence[Any]]:
        """The window's events in order as ``EXPORT_COLUMNS`` tuples, fetched in batches (a
        server-side cursor on PostgreSQL), past the ORM: plain rows are what an export needs."""
        query = (
            select(*EXPORT_COLUMNS)
            .where(*self._window(window, None))
            .order_by(ScanEvent.created, ScanEvent.seq)
        )
        connection = self.session.connection().execution_options(yield_per=STREAM_BATCH)
        yield from connection.execute(query)

    def copy_events_csv(self, window: TimeWindow, *, header: Sequence[str]) -> Iterator[bytes] | None:
        """PostgreSQL only (None elsewhere): the export's CSV written by the server itself with
        ``COPY ... TO STDOUT``, several times faster than rows through Python.  The same columns and
        formula neutralisation as the Python writer; floats in PostgreSQL's shortest form, as
        Python prints them."""
        if self.session.get_bind().dialect.name != "postgresql":
            return None
        driver = self.session.connection().connection.driver_connection
        if driver is None:
            return None
        return _copy_chunks(driver, window=window, realm_id=self.realm_id, header=header)

    def stream_job_marks(
        self, *, gateway_id: uuid.UUID, window: TimeWindow, start_prefix: str, end_prefix: str
    ) -> Iterator[Any]:
        """(created, event_id, is_start, is_end) of the gateway's scans that start or end a job."""
        is_start, is_end = (
            _starts_with(ScanEvent.scan_code, start_prefix),
            _starts_with(ScanEvent.scan_code, end_prefix),
        )
        # Flags as the engine gives them (0/1 or false/true): a boolean conversion per row and the
        # ORM's row handling were most of the analysis' time.
        query = (
            select(
                ScanEvent.created,
                ScanEvent.event_id,
                type_coerce(is_start, Integer).label("is_start"),
                type_coerce(is_end, Integer).label("is_end"),
            )
            .where(*self._window(window, gateway_id), or_(is_start, is_end))
            .order_by(ScanEvent.created, ScanEvent.seq)
        )
        connection = self.session.connection().execution_options(yield_per=STREAM_BATCH)
        yield from connection.execute(query)

    # exports ------------------------------------------------------------------------------
    def export(self, export_id: uuid.UUID) -> EventExport | None:
        return self.session.scalars(
            select(EventExport).where(EventExport.realm_id == self.realm_id, EventExport.id == export_id)
        ).one_or_none()

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    # job configs --------------------------------------------------------------------------
    def job_configs(self) -> Sequence[JobConfig]:
        return self.session.scalars(
            select(JobConfig).where(JobConfig.realm_id == self.realm_id).order_by(JobConfig.seq)
        ).all()

    def job_config(self, config_id: uuid.UUID) -> JobConfig | None:
        return self.session.scalars(
            select(JobConfig).where(JobConfig.realm_id == self.realm_id, JobConfig.id == config_id)
        ).one_or_none()

    def job_name_taken(self, job_name: str, *, other_than: uuid.UUID | None = None) -> bool:
        query = select(JobConfig.id).where(
            JobConfig.realm_id == self.realm_id, JobConfig.job_name == job_name
        )
        if other_than is not None:
            query = query.where(JobConfig.id != other_than)
        return self.session.scalars(query.limit(1)).first() is not None

    def delete(self, row: object) -> None:
        self.session.delete(row)
        self.session.flush()
