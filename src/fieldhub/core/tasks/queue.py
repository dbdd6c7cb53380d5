"""Enqueueing, claiming and settling tasks: every query of the task table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from fieldhub.core.db import utcnow
from fieldhub.core.tasks.models import BackgroundTask

#: Runs one task's work; raising makes the task retry (with back-off) up to the attempt limit.
TaskHandler = Callable[[dict[str, Any]], None]
_ERROR_CHARS = 2_000
#: ``Session.info`` key set by :func:`enqueue`, so that only a commit that enqueued wakes the runner.
_ENQUEUED = "fieldhub.tasks.enqueued"


def enqueue(session: Session, *, kind: str, payload: dict[str, Any]) -> None:
    """Adds a task to the caller's unit of work: it runs once that commits, never if it rolls back."""
    session.add(BackgroundTask(kind=kind, payload=payload))
    session.info[_ENQUEUED] = True


def enqueued_in(session: Session) -> bool:
    """Whether :func:`enqueue` added a task to ``session`` (committed or not)."""
    return bool(session.info.get(_ENQUEUED))


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


def _due(now: dt.datetime) -> ColumnElement[bool]:
    return or_(
        and_(BackgroundTask.status == "pending", BackgroundTask.run_after <= now),
        and_(BackgroundTask.status == "running", BackgroundTask.lease_expires_at < now),
    )


def any_due(session: Session) -> bool:
    """A read-only look, so that an idle poll never takes SQLite's write lock."""
    return session.scalar(select(BackgroundTask.id).where(_due(utcnow())).limit(1)) is not None


def claim_next(session: Session, *, lease_seconds: float) -> ClaimedTask | None:
    """Takes the oldest due task (or one whose runner's lease lapsed) and marks it running.

    PostgreSQL runners skip rows another runner holds; SQLite serialises writers, so the
    select-then-update happens inside one write transaction there.
    """
    now = utcnow()
    query = select(BackgroundTask).where(_due(now)).order_by(BackgroundTask.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    task = session.scalars(query).first()
    if task is None:
        return None
    task.status = "running"
    task.attempts += 1
    task.lease_expires_at = now + dt.timedelta(seconds=lease_seconds)
    return ClaimedTask(id=task.id, kind=task.kind, payload=dict(task.payload), attempts=task.attempts)


def mark_done(session: Session, *, task_id: int) -> None:
    session.execute(
        update(BackgroundTask)
        .where(BackgroundTask.id == task_id)
        .values(status="done", finished_at=utcnow(), lease_expires_at=None, last_error=None)
    )


def mark_failed_attempt(session: Session, *, task: ClaimedTask, error: str, max_attempts: int) -> None:
    """Schedules a retry after an exponential back-off, or gives up after ``max_attempts``."""
    final = task.attempts >= max_attempts
    values: dict[str, Any] = {"last_error": error[:_ERROR_CHARS], "lease_expires_at": None}
    if final:
        values |= {"status": "failed", "finished_at": utcnow()}
    else:
        delay = min(2 ** (task.attempts - 1), 300)
        values |= {"status": "pending", "run_after": utcnow() + dt.timedelta(seconds=delay)}
    session.execute(update(BackgroundTask).where(BackgroundTask.id == task.id).values(**values))
