"""Failed-login throttling per user and per client address.

Only failures count, so an integration that logs in often and correctly is never locked out.
Counts live in the database so that every API process sees the same numbers.
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy.orm import Session

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
        for key in self._keys(realm=realm, username=username, client_address=client_address):
            row = self._session.get(LoginFailureWindow, key, with_for_update=True)
            if row is None:
                self._session.add(LoginFailureWindow(key=key, window_start=now, failures=1))
            elif row.window_start + self._window <= now:
                row.window_start, row.failures = now, 1
            else:
                row.failures += 1
        self._session.flush()

    def record_success(self, *, realm: str, username: str) -> None:
        user_key, _ = self._keys(realm=realm, username=username, client_address="")
        row = self._session.get(LoginFailureWindow, user_key)
        if row is not None:
            self._session.delete(row)
