"""Background tasks: a durable queue in the database, run by a :class:`TaskRunner` in each process.

A task is enqueued inside the unit of work whose change it follows up, so it exists only if that
change commits (the same outbox idea as events).  Handlers run in worker threads and open their
own unit of work; a crash mid-task leaves a lease that lapses, after which the task runs again,
so handlers must be idempotent.
"""

from fieldhub.core.tasks.queue import TaskHandler, enqueue
from fieldhub.core.tasks.runner import TaskRunner

__all__ = ["TaskHandler", "TaskRunner", "enqueue"]
