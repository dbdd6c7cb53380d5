"""Opaque cursors and keyset pagination.

A page is read with ``WHERE (sort_value, pk) > (last_value, last_pk)`` on an index, never with an
offset, so walking ``nextCursor`` returns every row that existed when the walk started exactly
once, in order, even while rows are being inserted.  Ties on the sort value are broken by the
row's insertion key.  A cursor records the sort it was made for; using it with another sort is a
400 rather than a silently wrong page.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import Session

from fieldhub.core.errors import InvalidInput

ValueKind = Literal["str", "datetime", "int"]


@dataclass(frozen=True, slots=True)
class SortKey:
    """What to order by: a column, its kind (to rebuild cursor values) and its direction."""

    name: str
    column: Any
    kind: ValueKind
    descending: bool


@dataclass(frozen=True, slots=True)
class Cursor:
    sort: str
    value: Any
    key: int
    backwards: bool


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[Any]
    next_cursor: str | None
    prev_cursor: str | None


def encode_cursor(cursor: Cursor) -> str:
    value = cursor.value.isoformat() if isinstance(cursor.value, dt.datetime) else cursor.value
    raw = orjson.dumps({"s": cursor.sort, "v": value, "k": cursor.key, "b": cursor.backwards})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(text: str, *, field: str, sort: SortKey) -> Cursor:
    """Parses a cursor made by :func:`encode_cursor` for the same sort; anything else is a 400."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = orjson.loads(raw)
        key = data["k"]
        if not isinstance(key, int) or isinstance(key, bool) or not isinstance(data["b"], bool):
            raise TypeError
        value = _parse_value(data["v"], sort.kind)
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise InvalidInput(f"{field}: not a valid cursor") from None
    if data.get("s") != sort.name:
        raise InvalidInput(f"{field}: the cursor was made for another sort order")
    return Cursor(sort=sort.name, value=value, key=key, backwards=data["b"])


def _parse_value(value: Any, kind: ValueKind) -> Any:
    if kind == "datetime":
        if not isinstance(value, str):
            raise TypeError
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError
        return parsed
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError
        return value
    if not isinstance(value, str):
        raise TypeError
    return value


def _after(sort: SortKey, tiebreak: Any, cursor: Cursor, forward: bool) -> ColumnElement[bool]:
    """Rows strictly after the cursor in the walking direction."""
    ascending = forward != sort.descending
    if ascending:
        return or_(sort.column > cursor.value, and_(sort.column == cursor.value, tiebreak > cursor.key))
    return or_(sort.column < cursor.value, and_(sort.column == cursor.value, tiebreak < cursor.key))


def keyset_page(
    session: Session,
    query: Select[Any],
    *,
    sort: SortKey,
    tiebreak: Any,
    limit: int,
    cursor: Cursor | None,
    row_value: Any,
    row_key: Any,
) -> Page:
    """Reads one page of ``query``; ``row_value``/``row_key`` extract the sort value and key of a row."""
    forward = cursor is None or not cursor.backwards
    ascending = forward != sort.descending
    order = (sort.column.asc(), tiebreak.asc()) if ascending else (sort.column.desc(), tiebreak.desc())
    if cursor is not None:
        query = query.where(_after(sort, tiebreak, cursor, forward))
    rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not forward:
        rows.reverse()

    def make(row: Any, backwards: bool) -> str:
        return encode_cursor(
            Cursor(sort=sort.name, value=row_value(row), key=row_key(row), backwards=backwards)
        )

    if not rows:
        return Page(rows=rows, next_cursor=None, prev_cursor=None)
    more_after = has_more if forward else True
    more_before = cursor is not None if forward else has_more
    return Page(
        rows=rows,
        next_cursor=make(rows[-1], False) if more_after else None,
        prev_cursor=make(rows[0], True) if more_before else None,
    )
