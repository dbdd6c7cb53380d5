"""The core task runner on SQLite and PostgreSQL: runs committed tasks once, retries, recovers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from fieldhub.core.db import Database, make_engine
from fieldhub.core.tasks import TaskRunner, enqueue
from fieldhub.core.tasks.models import BackgroundTask


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(make_engine(database_url))
    yield database
    database.dispose()


def _tasks(db: Database) -> list[BackgroundTask]:
    with db.unit_of_work(write=False) as uow:
        rows = list(uow.session.scalars(select(BackgroundTask).order_by(BackgroundTask.id)))
        uow.session.expunge_all()
        return rows


def test_a_committed_task_runs_once_with_its_payload(db: Database) -> None:
    seen: list[dict[str, Any]] = []
    runner = TaskRunner(db=db)
    runner.register("demo", seen.append)
    with db.unit_of_work() as uow:
        enqueue(uow.session, kind="demo", payload={"mediaId": "m1"})
    assert runner.run_one() is True
    assert runner.run_one() is False
    assert seen == [{"mediaId": "m1"}]
    [task] = _tasks(db)
    assert (task.status, task.attempts, task.finished_at is not None) == ("done", 1, True)


def test_a_task_of_a_rolled_back_change_never_runs(db: Database) -> None:
    runner = TaskRunner(db=db)
    runner.register("demo", lambda payload: pytest.fail("must not run"))

    def failing_request() -> None:
        with db.unit_of_work() as uow:
            enqueue(uow.session, kind="demo", payload={})
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    assert runner.run_one() is False
    assert _tasks(db) == []


def test_a_failing_task_backs_off_then_fails_with_its_error(db: Database) -> None:
    calls = 0

    def flaky(payload: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("thumbnail decoder broke")

    runner = TaskRunner(db=db, max_attempts=2)
    runner.register("demo", flaky)
    with db.unit_of_work() as uow:
        enqueue(uow.session, kind="demo", payload={})
    assert runner.run_one() is True
    [task] = _tasks(db)
    assert task.status == "pending"
    assert task.run_after > task.created_at  # backed off: not due again at once
    assert runner.run_one() is False
    time.sleep(1.1)
    assert runner.run_one() is True
    [task] = _tasks(db)
    assert (task.status, task.attempts, calls) == ("failed", 2, 2)
    assert task.last_error == "ValueError: thumbnail decoder broke"


def test_a_task_whose_runner_died_runs_again_after_its_lease(db: Database) -> None:
    seen: list[int] = []
    dying = TaskRunner(db=db, lease_seconds=0.5)
    dying.register("demo", lambda payload: (_ for _ in ()).throw(SystemExit("killed")))
    with db.unit_of_work() as uow:
        enqueue(uow.session, kind="demo", payload={"n": 1})
    with pytest.raises(SystemExit):
        dying.run_one()  # the process "dies" mid-task: nothing settles the task
    survivor = TaskRunner(db=db)
    survivor.register("demo", lambda payload: seen.append(payload["n"]))
    assert survivor.run_one() is False  # still leased to the dead runner
    time.sleep(0.6)
    assert survivor.run_one() is True
    assert seen == [1]
    assert _tasks(db)[0].status == "done"


def test_a_task_of_an_unknown_kind_fails_visibly(db: Database) -> None:
    runner = TaskRunner(db=db, max_attempts=1)
    with db.unit_of_work() as uow:
        enqueue(uow.session, kind="nobody.handles.this", payload={})
    assert runner.run_one() is True
    [task] = _tasks(db)
    assert task.status == "failed"
    assert "no handler" in (task.last_error or "")


def test_concurrent_runners_run_each_task_exactly_once(db: Database) -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def record(payload: dict[str, Any]) -> None:
        with lock:
            seen.append(payload["n"])

    runners = [TaskRunner(db=db) for _ in range(4)]
    for runner in runners:
        runner.register("demo", record)
    with db.unit_of_work() as uow:
        for n in range(40):
            enqueue(uow.session, kind="demo", payload={"n": n})

    def drain(runner: TaskRunner) -> None:
        while runner.run_one():
            pass

    threads = [threading.Thread(target=drain, args=(runner,)) for runner in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(40))


def test_a_started_runner_is_woken_by_a_commit(db: Database) -> None:
    async def scenario() -> None:
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        runner = TaskRunner(db=db, poll_interval_seconds=60)
        runner.register("demo", lambda payload: loop.call_soon_threadsafe(done.set))
        await runner.start()
        try:
            with db.unit_of_work() as uow:
                uow.after_commit(runner.wake)
                enqueue(uow.session, kind="demo", payload={})
            await asyncio.wait_for(done.wait(), 10)
        finally:
            await runner.stop()

    asyncio.run(scenario())
