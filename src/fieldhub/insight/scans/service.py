"""Ingest of gateway messages: validate, store idempotently, refresh gateway and scanners.

Called by the HTTPS ingest route and by the broker's mutual-TLS ingest alike; it knows nothing of
either transport.  One unit of work per batch, committed before :meth:`ScanIngest.ingest`
returns, so a caller acknowledges a message only once it is stored.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from fieldhub.core.db import Database, utcnow
from fieldhub.core.errors import NotFound
from fieldhub.insight.models import Gateway
from fieldhub.insight.scans.metrics import SCAN_EVENTS
from fieldhub.insight.scans.repository import ScanRepository
from fieldhub.insight.scans.schemas import GatewayScanEvent

log = logging.getLogger(__name__)

#: More events than this in one message is refused whole (a message is one database batch).
MAX_EVENTS_PER_MESSAGE = 1_000


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why one message (``event`` None) or one event of a message's array was refused."""

    message: int
    event: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int
    duplicates: int
    rejected: tuple[Rejected, ...]


@dataclass(slots=True)
class ParsedMessages:
    """The valid events of a batch, in arrival order, and the refusals."""

    events: list[GatewayScanEvent] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def _reason(error: ValidationError) -> str:
    """The first problem, named by field; never the offending value (it may be anything)."""
    first = error.errors(include_input=False, include_url=False)[0]
    location = ".".join(str(part) for part in first.get("loc", ())) or "event"
    return f"{location}: {first.get('msg', 'is invalid')}"


def _validate(message_index: int, event_index: int | None, document: Any, into: ParsedMessages) -> None:
    if not isinstance(document, dict):
        into.rejected.append(Rejected(message_index, event_index, "an event must be a JSON object"))
        return
    try:
        into.events.append(GatewayScanEvent.model_validate(document))
    except ValidationError as error:
        into.rejected.append(Rejected(message_index, event_index, _reason(error)))


def parse_messages(messages: Sequence[bytes | dict[str, Any]]) -> ParsedMessages:
    """Each message is one event object or an array of them; a bad event refuses only itself."""
    parsed = ParsedMessages()
    for index, message in enumerate(messages):
        if isinstance(message, dict):
            _validate(index, None, message, parsed)
            continue
        try:
            document = orjson.loads(message)
        except orjson.JSONDecodeError:
            parsed.rejected.append(Rejected(index, None, "the message is not JSON"))
            continue
        if isinstance(document, list):
            if not 1 <= len(document) <= MAX_EVENTS_PER_MESSAGE:
                reason = f"an array must hold 1 to {MAX_EVENTS_PER_MESSAGE} events"
                parsed.rejected.append(Rejected(index, None, reason))
                continue
            for event_index, item in enumerate(document):
                _validate(index, event_index, item, parsed)
        else:
            _validate(index, None, document, parsed)
    return parsed


def _millis_to_datetime(millis: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)


def _event_row(event: GatewayScanEvent, gateway: Gateway, now: dt.datetime) -> dict[str, Any]:
    return {
        **event.model_dump(exclude={"id"}),
        "event_id": event.id,
        "gateway_id": gateway.id,
        "gateway_usecase": gateway.usecase,
        "gateway_station": gateway.station,
        "received_at": now,
    }


def _scanner_rows(
    events: Sequence[GatewayScanEvent], gateway_id: uuid.UUID, now: dt.datetime
) -> list[dict[str, Any]]:
    """One row per scanner, from its latest event (by time, then by arrival)."""
    latest: dict[str, GatewayScanEvent] = {}
    for event in events:
        known = latest.get(event.device_id)
        if known is None or event.created >= known.created:
            latest[event.device_id] = event
    rows = []
    # In serial order: concurrent batches lock the scanner rows in the same order (no deadlock).
    for serial, event in sorted(latest.items()):
        seen = _millis_to_datetime(event.created)
        rows.append(
            {
                "serial": serial,
                "status": "ACTIVE",
                "battery": event.device_battery,
                "firmware": event.device_firmware,
                "last_gateway_id": gateway_id,
                "last_activity_at": seen,
                "created_at": seen,
                "updated_at": now,
            }
        )
    return rows


def _first_of_each_id(events: Sequence[GatewayScanEvent]) -> list[GatewayScanEvent]:
    """A resend inside one batch counts as a duplicate, like a resend of a stored event."""
    seen: set[str] = set()
    unique = []
    for event in events:
        if event.id not in seen:
            seen.add(event.id)
            unique.append(event)
    return unique


@dataclass(frozen=True, slots=True)
class GatewayMessages:
    """The messages one gateway sent, as a broker collects them for one batch."""

    realm_id: uuid.UUID
    gateway_id: uuid.UUID
    messages: Sequence[bytes | dict[str, Any]]


class ScanIngest:
    def __init__(self, *, db: Database, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._db = db
        self._clock = clock

    def ingest(
        self, *, realm_id: uuid.UUID, gateway_id: uuid.UUID, messages: Sequence[bytes | dict[str, Any]]
    ) -> IngestResult:
        """Stores the valid events of ``messages`` (already-stored ids are duplicates, not errors)
        and commits; a gateway unknown to the realm is :class:`NotFound` and stores nothing."""
        result = self.ingest_many([GatewayMessages(realm_id, gateway_id, messages)])[0]
        if result is None:
            raise NotFound("Gateway not found")
        return result

    def ingest_many(self, batches: Sequence[GatewayMessages]) -> list[IngestResult | None]:
        """Several gateways' messages in one unit of work (one commit: what bounds the rate of
        small messages); per batch its result, or None for a gateway the realm does not have
        (whose messages are dropped without affecting the others)."""
        parsed = [parse_messages(batch.messages) for batch in batches]
        now = self._clock()
        with self._db.unit_of_work() as uow:
            results = [
                self._store(
                    ScanRepository(uow.session, realm_id=batch.realm_id), batch.gateway_id, found, now
                )
                for batch, found in zip(batches, parsed, strict=True)
            ]
        for batch, result in zip(batches, results, strict=True):
            if result is not None:
                self._count(result, batch.gateway_id)
        return results

    @staticmethod
    def _store(
        repo: ScanRepository, gateway_id: uuid.UUID, parsed: ParsedMessages, now: dt.datetime
    ) -> IngestResult | None:
        gateway = repo.gateway(gateway_id)
        if gateway is None:
            return None
        unique = _first_of_each_id(parsed.events)
        inserted = repo.insert_events([_event_row(event, gateway, now) for event in unique])
        stored = [event for event in unique if event.id in inserted]
        repo.upsert_scanners(_scanner_rows(stored, gateway_id, now))
        # Any message, even a refused one, shows that the gateway is connected.
        repo.touch_gateway(gateway_id, now)
        return IngestResult(
            accepted=len(stored),
            duplicates=len(parsed.events) - len(stored),
            rejected=tuple(parsed.rejected),
        )

    @staticmethod
    def _count(result: IngestResult, gateway_id: uuid.UUID) -> None:
        SCAN_EVENTS.labels("accepted").inc(result.accepted)
        SCAN_EVENTS.labels("duplicate").inc(result.duplicates)
        if result.rejected:
            SCAN_EVENTS.labels("rejected").inc(len(result.rejected))
            first = result.rejected[0]
            # The reason names a field and a rule, never a value: payloads stay out of the logs.
            log.warning(
                "refused %d message(s)/event(s) from gateway %s; first: message %d, event %s: %s",
                len(result.rejected),
                gateway_id,
                first.message,
                first.event,
                first.reason,
            )
