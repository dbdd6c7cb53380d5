"""An in-process event bus: the test double for code that publishes or subscribes."""

from __future__ import annotations

from collections.abc import Sequence

from fieldhub.core.bus.protocol import MessageHandler
from fieldhub.core.bus.topics import topic_matches


class MemoryBus:
    """Delivers each publish to the matching subscriptions before ``publish`` returns."""

    def __init__(self) -> None:
        self._subscriptions: list[tuple[str, MessageHandler]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        for topic_filter, handler in list(self._subscriptions):
            if topic_matches(topic_filter, topic):
                await handler(topic, payload)

    async def publish_each(self, topics: Sequence[str], payload: bytes, *, qos: int = 1) -> None:
        for topic in topics:
            await self.publish(topic, payload, qos=qos)

    async def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        self._subscriptions.append((topic_filter, handler))
