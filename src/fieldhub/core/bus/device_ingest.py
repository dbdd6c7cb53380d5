"""What devices publish, batched into an injected sink that commits before the broker acknowledges.

:class:`IngestQueue` collects the messages of every device connection (bounded: a full queue makes
the connections stop reading, see ``amqtt_device_patches``), hands them to the sink in batches
(up to ``batch_size`` messages, or what arrived within ``batch_delay`` seconds) in a worker thread,
one batch at a time and in arrival order, and tells each message's publisher whether its batch
was committed.  A batch the sink raises on is retried message by message, so one message that
breaks the sink fails alone and never holds up the messages behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fieldhub.core.bus.device_auth import DeviceResolver, TrustedDeviceCas
from fieldhub.core.bus.mqtt_auth import DeviceIdentity

logger = logging.getLogger(__name__)

DEFAULT_CAPACITY = 10_000
DEFAULT_BATCH_SIZE = 100
#: How long a batch that is not full waits for more messages (seconds).
DEFAULT_BATCH_DELAY = 0.02
#: How long stopping waits for queued messages to be committed (and so acknowledged).
STOP_DRAIN_SECONDS = 5.0
_STOP_POLL_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class DeviceMessage:
    device: DeviceIdentity
    payload: bytes


#: Stores a batch and commits before returning (raising means: nothing of it is committed).
#: Blocking, so it runs in a worker thread.  A message the sink rejects as malformed still counts
#: as handled: it is acknowledged, or the device would send it again forever.
DeviceIngestSink = Callable[[Sequence[DeviceMessage]], None]


@dataclass(frozen=True, slots=True)
class DeviceAccess:
    """What the embedded broker needs from the application to serve devices."""

    trusted_cas: TrustedDeviceCas
    resolve: DeviceResolver
    ingest: DeviceIngestSink
    #: Messages received but not yet committed, beyond which device connections stop being read.
    queue_capacity: int = DEFAULT_CAPACITY
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_delay: float = DEFAULT_BATCH_DELAY


@dataclass(frozen=True, slots=True)
class _Pending:
    message: DeviceMessage
    committed: asyncio.Future[bool]


class IngestQueue:
    def __init__(
        self,
        sink: DeviceIngestSink,
        *,
        capacity: int = DEFAULT_CAPACITY,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_delay: float = DEFAULT_BATCH_DELAY,
    ) -> None:
        self._sink = sink
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(capacity)
        self._batch_size = batch_size
        self._batch_delay = batch_delay
        self._room = asyncio.Condition()
        self._committing = False
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="device-ingest")

    async def stop(self) -> None:
        """Commits what is queued (for a while), then stops; the rest is not acknowledged."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        for _ in range(int(STOP_DRAIN_SECONDS / _STOP_POLL_SECONDS)):
            if self._queue.empty() and not self._committing:
                break
            await asyncio.sleep(_STOP_POLL_SECONDS)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        while not self._queue.empty():
            self._settle(self._queue.get_nowait(), committed=False)

    def full(self) -> bool:
        return self._queue.full()

    async def wait_for_room(self) -> None:
        if self._queue.full():
            async with self._room:
                await self._room.wait_for(lambda: not self._queue.full())

    async def submit(self, message: DeviceMessage) -> bool:
        """Whether ``message`` was committed by the sink (False: it was not, do not acknowledge)."""
        committed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(message, committed))
        return await committed

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            self._take(batch)
            if len(batch) < self._batch_size and self._batch_delay > 0:
                await asyncio.sleep(self._batch_delay)
                self._take(batch)
            async with self._room:
                self._room.notify_all()
            self._committing = True
            try:
                await self._commit(batch)
            finally:
                self._committing = False

    def _take(self, batch: list[_Pending]) -> None:
        while len(batch) < self._batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            await asyncio.to_thread(self._sink, [pending.message for pending in batch])
        except Exception:
            logger.exception("device ingest failed for a batch of %d; retrying one by one", len(batch))
        else:
            for pending in batch:
                self._settle(pending, committed=True)
            return
        for pending in batch:
            try:
                await asyncio.to_thread(self._sink, [pending.message])
            except Exception:
                device = pending.message.device
                logger.exception("device ingest failed for a message of device %s", device.device_id)
                self._settle(pending, committed=False)
            else:
                self._settle(pending, committed=True)

    @staticmethod
    def _settle(pending: _Pending, *, committed: bool) -> None:
        # The publisher may be gone (connection closed): its future is then cancelled.
        if not pending.committed.done():
            pending.committed.set_result(committed)
