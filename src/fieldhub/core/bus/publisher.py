"""Drains the outbox onto the event bus: every committed event, in commit order per aggregate.

The request path only writes outbox rows; this task publishes them.  It wakes as soon as a unit
of work commits (:meth:`OutboxPublisher.wake`, thread-safe) and also polls, for rows written by
other processes or left over from before a restart.  A broker that is down or slow only delays
events: a failed batch stays unpublished and is retried with exponential backoff.

Delivery is at least once (a batch that failed half-way is published again from its start), so
consumers deduplicate by ``eventId``.  A batch that was published but could not be marked (SQLite's
"database is locked" under a burst of writes) is not published again: marking it is retried.
Order: rows are published in ``seq`` order, which is the commit order of each aggregate because a
family serialises changes to one aggregate (the session row lock); across publishers see
:func:`fieldhub.core.bus.outbox.claim_unpublished`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from functools import partial

import orjson
from sqlalchemy.orm import Session

from fieldhub.core.bus.outbox import PendingEvent, claim_unpublished, delete_published_before, mark_published
from fieldhub.core.bus.protocol import EventBus
from fieldhub.core.db import Database, utcnow

log = logging.getLogger(__name__)

#: The first wait before marking a published batch again; it doubles up to the maximum backoff.
_MARK_RETRY_SECONDS = 0.05
#: Old published events are deleted this many at a time, each batch in its own short transaction.
_PRUNE_BATCH = 1_000


class OutboxPublisher:
    def __init__(
        self,
        *,
        db: Database,
        batch_size: int = 200,
        poll_interval_seconds: float = 1.0,
        publish_timeout_seconds: float = 10.0,
        max_backoff_seconds: float = 30.0,
        retention: dt.timedelta | None = None,
        prune_interval_seconds: float = 60.0,
    ) -> None:
        """``retention``: how long published events are kept (None: for ever); the publisher
        deletes older ones every ``prune_interval_seconds`` while it is idle."""
        self._db = db
        self._retention = retention
        self._prune_interval = prune_interval_seconds
        self._next_prune = 0.0
        self._batch_size = batch_size
        self._poll_interval = poll_interval_seconds
        #: How long the bus may take to accept all copies of one event before the batch fails.
        self._publish_timeout = publish_timeout_seconds
        self._max_backoff = max_backoff_seconds
        self._bus: EventBus | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Asks for a drain now; safe from any thread, a no-op while the publisher is not running."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed under a late commit
            loop.call_soon_threadsafe(self._set_wakeup)

    def _set_wakeup(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    async def start(self, *, bus: EventBus) -> None:
        self._bus = bus
        self._loop = asyncio.get_running_loop()
        # Made here, not in __init__: an event belongs to the loop that first waits on it.
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-publisher")

    async def stop(self, *, flush_timeout_seconds: float = 5.0) -> None:
        """Publishes what is pending (for up to ``flush_timeout_seconds``), then stops."""
        if self._task is None:
            return
        self._stopping = True
        self._set_wakeup()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), flush_timeout_seconds)
        except TimeoutError:
            log.warning("outbox publisher stopped with events still unpublished")
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task, self._loop = None, None

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            try:
                published = await self._drain_once()
            except Exception:
                # The rows stay unpublished: nothing is lost, only delayed.
                backoff = min(max(backoff * 2, 0.1), self._max_backoff)
                log.warning("publishing outbox events failed; retrying in %.1fs", backoff, exc_info=True)
                if self._stopping:
                    return
                # Commits do not cut a backoff short: against a broker that is down every commit
                # would otherwise cost a failed attempt.
                await self._sleep(backoff, until_stop_only=True)
                continue
            backoff = 0.0
            if published >= self._batch_size:
                continue  # more are probably waiting
            if self._stopping:
                return
            await self._prune_if_due()
            await self._sleep(self._poll_interval)

    async def _sleep(self, seconds: float, *, until_stop_only: bool = False) -> None:
        """Waits ``seconds``, or less when woken (by a commit, or by :meth:`stop` alone)."""
        assert self._wakeup is not None
        deadline = asyncio.get_running_loop().time() + seconds
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            self._wakeup.clear()
            if self._stopping or not until_stop_only:
                return

    async def _prune_if_due(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._retention is None or now < self._next_prune:
            return
        self._next_prune = now + self._prune_interval
        try:
            await asyncio.to_thread(self._prune, utcnow() - self._retention)
        except Exception:
            # Old events only take space until the next round.
            log.warning("deleting old published outbox events failed", exc_info=True)

    def _prune(self, cutoff: dt.datetime) -> None:
        while not self._stopping:
            with self._db.unit_of_work() as uow:
                deleted = delete_published_before(uow.session, cutoff=cutoff, limit=_PRUNE_BATCH)
            if deleted < _PRUNE_BATCH:
                return

    async def _drain_once(self) -> int:
        """Publishes one batch; returns how many events it claimed (0 when the outbox is empty)."""
        assert self._bus is not None, "start() first"
        # The database calls run in a thread because the database layer is synchronous.
        session = self._db.session()
        try:
            events = await asyncio.to_thread(self._claim, session)
            if events:
                await _publish(self._bus, events, event_timeout=self._publish_timeout)
                await self._mark_until_done(session, events)
            return len(events)
        finally:
            await asyncio.to_thread(session.close)

    def _claim(self, session: Session) -> list[PendingEvent]:
        events = claim_unpublished(session, limit=self._batch_size)
        if not _holds_row_locks(session) or not events:
            # Nothing to keep: on SQLite the claim is a plain read, and an open read transaction
            # would only hold back WAL checkpoints while the broker is slow.
            session.rollback()
        return events

    async def _mark_until_done(self, session: Session, events: list[PendingEvent]) -> None:
        """Marks a published batch, retrying with backoff until it works or the publisher stops.

        Giving up would publish the whole batch again, which doubles the fan-out exactly when the
        database (and so, usually, everything else) is overloaded.
        """
        mark: Callable[[list[PendingEvent]], None] = partial(self._mark, session)
        delay = _MARK_RETRY_SECONDS
        while True:
            try:
                await asyncio.to_thread(mark, events)
                return
            except Exception:
                if self._stopping:
                    raise
                log.warning(
                    "marking %d published outbox events failed; retrying in %.2fs",
                    len(events),
                    delay,
                    exc_info=True,
                )
            # The failed transaction (and, on PostgreSQL, its row locks) is over: mark on its own.
            await asyncio.to_thread(session.rollback)
            mark = self._mark_in_own_transaction
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)

    def _mark(self, session: Session, events: list[PendingEvent]) -> None:
        if _holds_row_locks(session):
            # PostgreSQL: the same transaction that locked the rows marks them, so no other
            # publisher could take them in between.
            mark_published(session, seqs=[event.seq for event in events], now=utcnow())
            session.commit()
            return
        # SQLite takes its write lock only for this short update, never across the publishing
        # (which would stall every API write behind the broker).
        self._mark_in_own_transaction(events)

    def _mark_in_own_transaction(self, events: list[PendingEvent]) -> None:
        with self._db.unit_of_work() as uow:
            mark_published(uow.session, seqs=[event.seq for event in events], now=utcnow())


def _holds_row_locks(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def _publish(bus: EventBus, events: list[PendingEvent], *, event_timeout: float) -> None:
    """Publishes each aggregate's events one after the other, and aggregates side by side.

    An event is handed over only once the bus took the previous event of its aggregate, which
    keeps the per-aggregate order whatever the backend does with concurrent publishes; the copies
    of one event (one topic per concerned user) and different aggregates go out concurrently.

    The timeout bounds each event, not the batch: a batch of events to many users can take longer
    than any fixed bound on a broker that is slow but working, and a batch that timed out would be
    published again from its start, forever.
    """
    by_aggregate: dict[str, list[PendingEvent]] = {}
    for event in events:
        by_aggregate.setdefault(event.aggregate_id, []).append(event)

    async def in_order(stream: list[PendingEvent]) -> None:
        for event in stream:
            payload = orjson.dumps(event.payload)
            async with asyncio.timeout(event_timeout):
                await bus.publish_each(event.topics, payload, qos=1)

    await asyncio.gather(*(in_order(stream) for stream in by_aggregate.values()))
