"""Failed-login throttling per user and per client address.

Only failures count, so an integration that logs in often and correctly is never locked out.
Counts live in the database so that every API process sees the same numbers.
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import case, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from fieldhub.core.db import UTCDateTime
from fieldhub.core.errors import RateLimited
from fieldhub.core.identity.models import LoginFailureWindow


class LoginThrottle:
    def __init__(self, *, session: Session, limit: int, window_seconds: int) -> None:
        self._session = session
        self._limit = limit
        self._window = dt.timedelta(seconds=window_seconds)

    @staticmethod
    def _keys(*, realm: str, username: str, client_address: str) -> tuple[str, str]:
        return f"user:{realm}:{username.lower()}"[:300], f"addr:{client_address}"[:300]

    def check(self, *, realm: str, username: str, client_address: str, now: dt.datetime) -> None:
        for key in self._keys(realm=realm, username=username, client_address=client_address):
            row = self._session.get(LoginFailureWindow, key)
            if row is None or row.failures < self._limit:
                continue
            remaining = (row.window_start + self._window - now).total_seconds()
            if remaining > 0:
                raise RateLimited(
                    "Too many failed login attempts; try again later",
                    retry_after_seconds=max(1, math.ceil(remaining)),
                )

    def record_failure(self, *, realm: str, username: str, client_address: str, now: dt.datetime) -> None:
        """Counts one failure for the user and for the address.

        One atomic upsert per key: concurrent first failures of the same key would otherwise both
        try to INSERT it, and the loser's unique violation would surface as a 500.
        """
        insert = postgresql.insert if self._session.get_bind().dialect.name == "postgresql" else sqlite.insert
        row = LoginFailureWindow
        # Typed as the column is, so each engine compares in its own representation.
        expired = row.window_start <= literal(now - self._window, UTCDateTime())
        for key in self._keys(realm=realm, username=username, client_address=client_address):
            statement = insert(row).values(key=key, window_start=now, failures=1)
            self._session.execute(
                statement.on_conflict_do_update(
                    index_elements=[row.key],
                    set_={
                        "window_start": case(
                            (expired, statement.excluded.window_start), else_=row.window_start
                        ),
                        "failures": case((expired, 1), else_=row.failures + 1),
                    },
                )
            )
            # The ORM copy loaded by check() is stale now; the next read must see the new count.
            stale = self._session.identity_map.get(identity_key(LoginFailureWindow, key))
            if stale is not None:
                self._session.expire(stale)

    def record_success(self, *, realm: str, username: str) -> None:
        user_key, _ = self._keys(realm=realm, username=username, client_address="")
        row = self._session.get(LoginFailureWindow, user_key)
        if row is not None:
            self._session.delete(row)
