"""Bulk seeding of sessions straight into a migrated fieldhub database, before its server starts.

Rows look like the ones SessionService.create writes: a ``sessions`` row with its JSON properties,
one ``session_properties`` row per property (the text form the ``prop.*`` filters look up) and
the participants in ``session_participants``.  Inserting through SQLAlchemy Core in large batches
makes 100,000 sessions a matter of seconds instead of 100,000 HTTP calls.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, insert, text

from bench.servers import ADMIN_PASSWORD, ADMIN_USERNAME, FieldhubSetup
from fieldhub.core.config import Settings
from fieldhub.core.db import Base, Database, make_engine, utcnow
from fieldhub.core.identity.bootstrap import bootstrap_if_empty
from fieldhub.core.identity.models import Realm, User
from fieldhub.core.identity.passwords import hash_password
from fieldhub.core.identity.service import IdentityService
from fieldhub.migrations import upgrade_to_head
from fieldhub.skylight.models import SessionParticipant, SessionProperty, WorkSession
from fieldhub.skylight.repository import property_text

DEPARTMENTS = tuple("ABCDEFGHIJ")
DEVICE_TYPES = ("HUD", "phone")
OPEN_SHARE = 0.75
PARTICIPANT_USERS = 8
MAX_PARTICIPANTS = 3
BATCH_SIZE = 5_000
RANDOM_SEED = 20_240_601

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Tenant:
    """The bootstrapped realm, its application and the users that take part in sessions."""

    realm_id: uuid.UUID
    application_id: str
    admin_id: uuid.UUID
    user_ids: tuple[uuid.UUID, ...]
    #: The usernames of ``user_ids``, in the same order.
    usernames: tuple[str, ...] = ()


def username(index: int) -> str:
    return f"tech{index:02d}"


@contextmanager
def migrated_database(setup: FieldhubSetup) -> Iterator[Database]:
    """The fieldhub database of ``setup``, migrated to head, opened with fieldhub's own engine settings."""
    setup.data_dir.mkdir(parents=True, exist_ok=True)
    url = Settings(data_dir=setup.data_dir, database_url=setup.database_url).resolved_database_url
    upgrade_to_head(url)
    database = Database(make_engine(url))
    try:
        yield database
    finally:
        database.dispose()


def bootstrap_tenant(
    database: Database, setup: FieldhubSetup, *, users: int = PARTICIPANT_USERS, password: str | None = None
) -> Tenant:
    """What ``fieldhub serve`` does on an empty database, plus ``users`` users to take part in sessions.

    With a ``password`` the users can log in.  It is hashed once and the hash shared, because
    argon2 deliberately takes about 0.1 s per hash.
    """
    password_hash = hash_password(password) if password is not None else None
    with database.unit_of_work() as uow:
        identity = IdentityService(session=uow.session)
        result = bootstrap_if_empty(identity, data_dir=setup.data_dir, admin_password=ADMIN_PASSWORD)
        if result is None:
            raise RuntimeError(f"the database of {setup.data_dir} is not empty")
        realm = identity.realm(name=result.realm)
        admin = identity.user_by_username(realm=realm, username=ADMIN_USERNAME)
        created = [_user(identity, realm, username(index), password_hash) for index in range(users)]
        return Tenant(
            realm_id=realm.id,
            application_id=result.application_id,
            admin_id=admin.id,
            user_ids=tuple(user.id for user in created),
            usernames=tuple(user.username for user in created),
        )


def _user(identity: IdentityService, realm: Realm, name: str, password_hash: str | None) -> User:
    user = identity.create_user(realm=realm, username=name, password=None)
    user.password_hash = password_hash
    return user


def insert_sessions(engine: Engine, tenant: Tenant, count: int, *, progress: Progress, analyze: bool) -> None:
    """Inserts ``count`` sessions in batches, oldest first, then prepares the planner statistics."""
    rng = random.Random(RANDOM_SEED)
    first_created = utcnow() - dt.timedelta(seconds=count, days=1)
    for start in range(0, count, BATCH_SIZE):
        size = min(BATCH_SIZE, count - start)
        batch = _Batch()
        for pk in range(start + 1, start + size + 1):
            batch.add(pk, tenant, rng, first_created + dt.timedelta(seconds=pk))
        with engine.begin() as connection:
            connection.execute(insert(_table(WorkSession)), batch.sessions)
            connection.execute(insert(_table(SessionProperty)), batch.properties)
            connection.execute(insert(_table(SessionParticipant)), batch.participants)
        progress(size)
    _finish(engine, analyze=analyze)


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


class _Batch:
    """The rows of a batch of sessions, for the three tables a session spans."""

    def __init__(self) -> None:
        self.sessions: list[dict[str, Any]] = []
        self.properties: list[dict[str, Any]] = []
        self.participants: list[dict[str, Any]] = []

    def add(self, pk: int, tenant: Tenant, rng: random.Random, created_at: dt.datetime) -> None:
        properties: dict[str, Any] = {
            "department": rng.choice(DEPARTMENTS),
            "deviceType": rng.choice(DEVICE_TYPES),
            "orderId": 100_000 + pk,
        }
        self.sessions.append(
            {
                "pk": pk,
                "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "realm_id": tenant.realm_id,
                "application_id": tenant.application_id,
                "version": 1,
                "name": f"Inspection {pk:06d}",
                "description": f"Inspection of line {pk % 40} for order {properties['orderId']}",
                "status": "open" if rng.random() < OPEN_SHARE else "closed",
                "properties": properties,
                "data": {},
                "is_draft": False,
                "created_by": tenant.admin_id,
                "created_at": created_at,
                "modified_by": tenant.admin_id,
                "modified_at": created_at + dt.timedelta(seconds=rng.randint(0, 3_600)),
            }
        )
        self.properties.extend(
            {"session_pk": pk, "key": key, "value": property_text(value)} for key, value in properties.items()
        )
        chosen = rng.sample(tenant.user_ids, rng.randint(1, MAX_PARTICIPANTS))
        self.participants.extend(
            {
                "session_pk": pk,
                "participant_id": user_id,
                "type": "user",
                "is_guest": False,
                "position": index,
            }
            for index, user_id in enumerate(chosen)
        )


def _finish(engine: Engine, *, analyze: bool) -> None:
    """Points PostgreSQL's key sequence past the explicit keys and brings planner statistics up to date.

    PostgreSQL gets VACUUM ANALYZE, which autovacuum would run within a minute of a bulk load (it
    also fills the visibility map that index-only scans need).  SQLite is analysed only when asked,
    because fieldhub itself never runs ANALYZE or ``PRAGMA optimize``.
    """
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('sessions', 'pk'), (SELECT max(pk) FROM sessions))"
                )
            )
    if postgres or analyze:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE" if postgres else "ANALYZE"))
