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
from sqlalchemy import ColumnElement, Select, tuple_
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
    #: The number of matching rows, counted when the walk began (counting every page is the
    #: most expensive part of a page; a walk reports one total throughout).
    total: int | None = None
    #: A fingerprint of the query (filters, caller) the walk belongs to, so that a cursor, and the
    #: total it carries, cannot be carried over to another query.
    scope: str = ""


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[Any]
    next_cursor: str | None
    prev_cursor: str | None


def encode_cursor(cursor: Cursor) -> str:
    value = cursor.value.isoformat() if isinstance(cursor.value, dt.datetime) else cursor.value
    fields = {"s": cursor.sort, "v": value, "k": cursor.key, "b": cursor.backwards}
    if cursor.total is not None:
        fields["t"] = cursor.total
    if cursor.scope:
        fields["f"] = cursor.scope
    raw = orjson.dumps(fields)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


#: Keys and integer values must fit the signed 64-bit columns they are compared with.
_INT64 = range(-(2**63), 2**63)


def decode_cursor(text: str, *, field: str, sort: SortKey, backwards: bool | None = None) -> Cursor:
    """Parses a cursor made by :func:`encode_cursor` for the same sort; anything else is a 400.

    ``backwards``, when given, is the direction the caller asked for (``prevCursor`` is True); a
    cursor made for the other direction is refused rather than silently walked the wrong way.
    """
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise TypeError
        key, made_backwards, made_for = data["k"], data["b"], data["s"]
        total = data.get("t")
        if not _is_int64(key) or not isinstance(made_backwards, bool) or not isinstance(made_for, str):
            raise TypeError
        if total is not None and not (_is_int64(total) and total >= 0):
            raise TypeError
        scope = data.get("f", "")
        if not isinstance(scope, str):
            raise TypeError
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise InvalidInput(f"{field}: not a valid cursor") from None
    if made_for != sort.name:
        raise InvalidInput(f"{field}: the cursor was made for another sort order")
    if backwards is not None and made_backwards != backwards:
        raise InvalidInput(f"{field}: the cursor was made for walking the other way")
    try:
        value = _parse_value(data.get("v"), sort.kind)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"{field}: not a valid cursor") from None
    return Cursor(sort=sort.name, value=value, key=key, backwards=made_backwards, total=total, scope=scope)


def _is_int64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in _INT64


def _parse_value(value: Any, kind: ValueKind) -> Any:
    if kind == "datetime":
        if not isinstance(value, str):
            raise TypeError
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError
        return parsed.astimezone(dt.UTC)  # OverflowError at the ends of the calendar
    if kind == "int":
        if not _is_int64(value):
            raise TypeError
        return value
    if not isinstance(value, str) or "\x00" in value:
        raise TypeError
    value.encode("utf-8")  # UnicodeEncodeError (a ValueError) for lone surrogates
    return value


def _after(sort: SortKey, tiebreak: Any, cursor: Cursor, forward: bool) -> ColumnElement[bool]:
    """Rows strictly after the cursor in the walking direction.

    A row-value comparison, which both engines answer with one range scan of the sort index
    (the OR-expanded form cannot use it: a deep page cost 15 ms instead of 0.3 ms).
    """
    position = tuple_(sort.column, tiebreak)
    bound = (cursor.value, cursor.key)
    return position > bound if forward != sort.descending else position < bound


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
    total: int | None = None,
    scope: str = "",
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
            Cursor(
                sort=sort.name,
                value=row_value(row),
                key=row_key(row),
                backwards=backwards,
                total=total,
                scope=scope,
            )
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
