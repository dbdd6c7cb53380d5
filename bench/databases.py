"""The database backends a benchmark runs on: SQLite in the data dir, or a throwaway PostgreSQL database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

BACKENDS = ("sqlite", "postgresql")
DEFAULT_PG_ADMIN_DSN = os.environ.get(
    "FIELDHUB_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BENCH_DATABASE = "fieldhub_bench"
CONNECT_TIMEOUT_SECONDS = 3


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    #: The value of FIELDHUB_DATABASE_URL; empty means fieldhub's default SQLite file in the data dir.
    database_url: str


def postgres_unavailable_reason(admin_dsn: str) -> str | None:
    try:
        with psycopg.connect(admin_dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS):
            return None
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL at {admin_dsn} is not reachable: {first_line}"


def _drop_and_create(admin_dsn: str, *, create: bool, database: str = BENCH_DATABASE) -> None:
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if create:
            admin.execute(f'CREATE DATABASE "{database}"')


@contextmanager
def provisioned(
    name: str, *, pg_admin_dsn: str = DEFAULT_PG_ADMIN_DSN, database: str = BENCH_DATABASE
) -> Iterator[Backend]:
    """A fresh, empty database of the named backend, dropped afterwards (PostgreSQL).

    Benchmarks that may run at the same time as others pass a ``database`` name of their own.
    """
    if name == "sqlite":
        yield Backend(name="sqlite", database_url="")
        return
    if name != "postgresql":
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    _drop_and_create(pg_admin_dsn, create=True, database=database)
    try:
        yield Backend(name="postgresql", database_url=f"{pg_admin_dsn.rsplit('/', 1)[0]}/{database}")
    finally:
        _drop_and_create(pg_admin_dsn, create=False, database=database)
