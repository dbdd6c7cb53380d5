"""Runs due tasks in worker threads, woken by commits and by a poll for other processes' tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.orm import Session

from fieldhub.core.db import Database
from fieldhub.core.tasks.queue import (
    ClaimedTask,
    TaskHandler,
    any_due,
    claim_next,
    enqueued_in,
    mark_done,
    mark_failed_attempt,
)

log = logging.getLogger(__name__)


class TaskRunner:
    def __init__(
        self,
        *,
        db: Database,
        workers: int = 2,
        poll_interval_seconds: float = 1.0,
        lease_seconds: float = 600.0,
        max_attempts: int = 5,
    ) -> None:
        self._db = db
        self._workers = workers
        self._poll_interval = poll_interval_seconds
        self._lease_seconds = lease_seconds
        self._max_attempts = max_attempts
        self._handlers: dict[str, TaskHandler] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def register(self, kind: str, handler: TaskHandler) -> None:
        if kind in self._handlers:
            raise ValueError(f"a handler for task kind {kind!r} is already registered")
        self._handlers[kind] = handler

    def wake(self) -> None:
        """Asks for a look at the queue now; safe from any thread, a no-op while not running."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed under a late commit
            loop.call_soon_threadsafe(self._set_wakeup)

    def wake_if_enqueued(self, session: Session) -> None:
        """Wakes the runner if the unit of work of ``session`` enqueued a task; for after-commit
        hooks, since a look at the queue after every commit costs a query each."""
        if enqueued_in(session):
            self.wake()

    def _set_wakeup(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._work(), name=f"task-runner-{number}") for number in range(self._workers)
        ]

    async def stop(self) -> None:
        """Cancels the loops; a task cut off mid-run is run again once its lease lapses."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks, self._loop = [], None

    async def _work(self) -> None:
        assert self._wakeup is not None
        while True:
            try:
                ran = await asyncio.to_thread(self.run_one)
            except Exception:
                log.warning("the task queue could not be read; retrying", exc_info=True)
                ran = False
            if ran:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)
            self._wakeup.clear()

    def run_one(self) -> bool:
        """Claims and runs one due task; ``False`` when none is due."""
        with self._db.unit_of_work(write=False) as uow:
            if not any_due(uow.session):
                return False
        with self._db.unit_of_work() as uow:
            task = claim_next(uow.session, lease_seconds=self._lease_seconds)
        if task is None:
            return False
        error = self._execute(task)
        with self._db.unit_of_work() as uow:
            if error is None:
                mark_done(uow.session, task_id=task.id)
            else:
                mark_failed_attempt(uow.session, task=task, error=error, max_attempts=self._max_attempts)
        return True

    def _execute(self, task: ClaimedTask) -> str | None:
        handler = self._handlers.get(task.kind)
        if handler is None:
            return f"no handler is registered for task kind {task.kind!r}"
        try:
            handler(task.payload)
        except Exception as exc:
            log.warning("task %s (%s) attempt %d failed", task.id, task.kind, task.attempts, exc_info=True)
            return f"{type(exc).__name__}: {exc}"
        return None
