"""The event bus port: what every backend (embedded broker, external broker, in-memory fake) offers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

#: Called for every message received on a subscription: ``(topic, payload)``.
MessageHandler = Callable[[str, bytes], Awaitable[None]]


class EventBus(Protocol):
    async def start(self) -> None:
        """Connects or starts listening; returns once the bus can publish."""

    async def stop(self) -> None:
        """Stops after delivering what was already handed over, as far as the backend allows."""

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        """Hands one message over; returns once the backend has taken responsibility for it."""

    async def publish_each(self, topics: Sequence[str], payload: bytes, *, qos: int = 1) -> None:
        """Hands ``payload`` over once on each topic (an event's copy for each user it concerns)."""

    async def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        """Calls ``handler`` for every message published on topics matching ``topic_filter``."""
