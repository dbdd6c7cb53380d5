"""The stream adapters of the embedded broker's connections (defects 4 and 10 of ``amqtt_patches``).

amqtt reads and writes a connection through its ``ReaderAdapter`` and ``WriterAdapter``; these
wrap amqtt's own adapters for TCP and TLS so that a peer can neither send an oversized packet nor
stall the broker by not reading.
"""

from __future__ import annotations

import asyncio

from amqtt.adapters import ReaderAdapter, StreamWriterAdapter  # type: ignore[import-untyped]
from amqtt.errors import AMQTTError  # type: ignore[import-untyped]

#: A peer that accepts none of our bytes for this long is gone; its writes abort the connection.
WRITE_STALL_SECONDS = 30.0
#: The longest MQTT fixed header: one type byte and four remaining-length bytes.
MAX_FIXED_HEADER = 5


class PacketTooLarge(AMQTTError):  # type: ignore[misc]
    """Deliberately not an ``MQTTError``: amqtt's reader loop skips those and would desynchronise."""


class FramedReader(ReaderAdapter):  # type: ignore[misc]
    """Passes reads through while following the MQTT framing, refusing oversized packets (defect 4).

    It tracks the stream itself rather than trusting amqtt's read pattern, so the check holds
    however amqtt splits its reads.
    """

    def __init__(self, inner: ReaderAdapter, *, max_packet_bytes: int) -> None:
        self._inner = inner
        self._max = max_packet_bytes
        self._body_left = 0
        self._in_length = False
        self._length = 0
        self._multiplier = 1

    async def read(self, n: int = -1) -> bytes:
        data: bytes = await self._inner.read(n)
        self._follow(data)
        return data

    def feed_eof(self) -> None:
        self._inner.feed_eof()

    def _follow(self, data: bytes) -> None:
        index = 0
        while index < len(data):
            if self._body_left:
                step = min(self._body_left, len(data) - index)
                self._body_left -= step
                index += step
            elif not self._in_length:  # the packet type byte
                self._in_length, self._length, self._multiplier = True, 0, 1
                index += 1
            else:
                byte = data[index]
                index += 1
                self._length += (byte & 0x7F) * self._multiplier
                self._multiplier *= 128
                if byte & 0x80:
                    continue
                self._in_length = False
                if self._length > self._max:
                    raise PacketTooLarge(f"packet of {self._length} bytes exceeds {self._max}")
                self._body_left = self._length


class GuardedStreamWriter(StreamWriterAdapter):  # type: ignore[misc]
    """A TCP writer whose drain and close give up on a peer that stopped reading (defect 10)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        super().__init__(writer)
        self._transport = writer.transport

    async def drain(self) -> None:
        try:
            await asyncio.wait_for(super().drain(), WRITE_STALL_SECONDS)
        except TimeoutError:
            self._transport.abort()
            raise ConnectionResetError("peer stopped reading") from None

    async def close(self) -> None:
        try:
            await asyncio.wait_for(super().close(), WRITE_STALL_SECONDS)
        except (TimeoutError, ConnectionError):
            self._transport.abort()

    def abort(self) -> None:
        """Drops the connection and whatever it has not sent yet, at once."""
        self.is_closed = True
        self._transport.abort()

    def backlogged(self, *, max_unsent_bytes: int) -> bool:
        """Whether more than ``max_unsent_bytes`` written to the peer are still unsent: what a
        writer that never waits for ``drain`` checks instead."""
        return bool(self._transport.get_write_buffer_size() > max_unsent_bytes)
