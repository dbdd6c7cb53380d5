"""Listing events: the time window, the gateway filter and the walk of ``next_token`` pages.

A ``next_token`` carries the filters of the walk it belongs to (the resolved window, not "the
last 24 hours"), so that every page of one walk reads the same events in the same order: each
event of the window comes exactly once, whatever is ingested meanwhile.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from fieldhub.core.errors import InvalidInput
from fieldhub.core.pagination import Cursor, Page, decode_cursor
from fieldhub.insight.scans.repository import EVENT_ORDER, ScanRepository, TimeWindow
from fieldhub.insight.scans.schemas import MAX_MILLIS

WINDOW_NAMES = ("start_time_millis", "end_time_millis")


@dataclass(frozen=True, slots=True)
class EventFilters:
    window: TimeWindow
    gateway_id: uuid.UUID | None

    def scope(self, realm_id: uuid.UUID) -> str:
        gateway = str(self.gateway_id) if self.gateway_id else ""
        return f"{realm_id}|{self.window.start}|{self.window.end}|{gateway}"


@dataclass(frozen=True, slots=True)
class EventQuery:
    """What the client asked; None where a parameter was not given."""

    start: int | None
    end: int | None
    gateway_id: str | None
    next_token: str | None


def parse_gateway_id(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput("gateway_id: must be a UUID") from None


def choose_token(next_token: str | None, next_key: str | None) -> str | None:
    """``next_key`` is the spec's deprecated name of ``next_token``."""
    if next_token is not None and next_key is not None and next_token != next_key:
        raise InvalidInput("next_key: give either next_token or the deprecated next_key")
    return next_token if next_token is not None else next_key


def _walk(token: str, realm_id: uuid.UUID) -> tuple[Cursor, EventFilters]:
    cursor = decode_cursor(token, field="next_token", sort=EVENT_ORDER, backwards=False)
    parts = cursor.scope.split("|")
    try:
        if len(parts) != 4 or parts[0] != str(realm_id):
            raise ValueError
        window = TimeWindow(int(parts[1]), int(parts[2]))
        if not 0 <= window.start < window.end <= MAX_MILLIS:
            raise ValueError
        gateway_id = uuid.UUID(parts[3]) if parts[3] else None
    except ValueError:
        raise InvalidInput("next_token: not a valid cursor") from None
    return cursor, EventFilters(window=window, gateway_id=gateway_id)


def _same(given: object, walked: object) -> bool:
    return given is None or given == walked


class EventQueries:
    def __init__(self, repo: ScanRepository) -> None:
        self.repo = repo

    def page(self, *, query: EventQuery, limit: int, now: dt.datetime) -> tuple[Page, EventFilters]:
        gateway_id = parse_gateway_id(query.gateway_id)
        cursor: Cursor | None = None
        if query.next_token is None:
            window = TimeWindow.resolve(start=query.start, end=query.end, now=now, names=WINDOW_NAMES)
            filters = EventFilters(window=window, gateway_id=gateway_id)
        else:
            cursor, filters = _walk(query.next_token, self.repo.realm_id)
            given = (query.start, query.end, gateway_id)
            walked = (filters.window.start, filters.window.end, filters.gateway_id)
            if not all(_same(a, b) for a, b in zip(given, walked, strict=True)):
                raise InvalidInput("next_token: the token belongs to other filters")
        page = self.repo.event_page(
            window=filters.window,
            gateway_id=filters.gateway_id,
            limit=limit,
            cursor=cursor,
            scope=filters.scope(self.repo.realm_id),
        )
        return page, filters
