"""fieldhub's amqtt plugins: CONNECT authentication, topic authorisation and closing at token expiry.

amqtt instantiates plugins itself from dotted class names and a config dict, so it cannot hand
them a Python object.  :class:`EmbeddedBroker` therefore registers its authenticator and broker
under a fresh binding id (:func:`bind`) and names that id in each plugin's config.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from amqtt.contexts import Action  # type: ignore[import-untyped]
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin  # type: ignore[import-untyped]
from amqtt.session import Session  # type: ignore[import-untyped]

from fieldhub.core.bus.amqtt_patches import GuardedBroker
from fieldhub.core.bus.mqtt_auth import MqttAuthenticator, MqttIdentity

#: Session attribute holding the connection's :class:`MqttIdentity`.
IDENTITY = "fieldhub.identity"


@dataclass(slots=True)
class Binding:
    authenticator: MqttAuthenticator
    #: Set once amqtt, which creates the plugins while it is being constructed, has been built.
    broker: GuardedBroker | None = None

    def running_broker(self) -> GuardedBroker:
        if self.broker is None:
            raise RuntimeError("the broker of this plugin binding is not running")
        return self.broker


_bindings: dict[str, Binding] = {}


def bind(binding: Binding) -> str:
    binding_id = uuid.uuid4().hex
    _bindings[binding_id] = binding
    return binding_id


def unbind(binding_id: str) -> None:
    _bindings.pop(binding_id, None)


def identity_of(session: Session | None) -> MqttIdentity | None:
    identity = session.attributes.get(IDENTITY) if session is not None else None
    return identity if isinstance(identity, MqttIdentity) else None


@dataclass
class BindingConfig:
    binding: str


@dataclass(frozen=True, slots=True)
class _Expiry:
    handler: Any
    timer: asyncio.TimerHandle


class AuthenticatorPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Verifies CONNECT credentials once and closes each connection when its credentials expire."""

    Config = BindingConfig

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._binding = _bindings[self.config.binding]
        self._expiries: dict[str, _Expiry] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def authenticate(self, *, session: Session) -> bool:
        authenticator = self._binding.authenticator
        identity = await authenticator.authenticate(
            client_id=session.client_id or "", username=session.username, password=session.password
        )
        if identity is None:
            return False
        # amqtt publishes a will without consulting the topic plugins, so it is checked here.
        if session.will_flag and not authenticator.may_publish(identity, session.will_topic or ""):
            return False
        session.attributes[IDENTITY] = identity
        return True

    async def on_broker_client_connected(self, *, client_id: str, client_session: Session) -> None:
        identity = identity_of(client_session)
        _, handler = self._binding.running_broker().sessions.get(client_id, (None, None))
        if identity is None or handler is None:
            return
        self._cancel(client_id)
        delay = max(0.0, identity.expires_at - time.time())
        timer = asyncio.get_running_loop().call_later(delay, self._expire, client_id, handler)
        self._expiries[client_id] = _Expiry(handler=handler, timer=timer)

    async def on_broker_client_disconnected(self, *, client_id: str, client_session: Session) -> None:
        expiry = self._expiries.get(client_id)
        session, current = self._binding.running_broker().sessions.get(client_id, (None, None))
        # The timer may already belong to a newer connection of the same client id: keep that one.
        serving = current is not None and session.transitions.state == "connected"
        if expiry is not None and not (serving and expiry.handler is current):
            self._cancel(client_id)

    async def close(self) -> None:
        for client_id in list(self._expiries):
            self._cancel(client_id)

    def _cancel(self, client_id: str) -> None:
        expiry = self._expiries.pop(client_id, None)
        if expiry is not None:
            expiry.timer.cancel()

    def _expire(self, client_id: str, handler: Any) -> None:
        if (expiry := self._expiries.get(client_id)) is not None and expiry.handler is handler:
            del self._expiries[client_id]
        task = asyncio.ensure_future(self._binding.running_broker().disconnect(client_id, handler))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


class TopicAuthorisationPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """Applies the authenticator's rules to every subscription, publish and delivery."""

    Config = BindingConfig

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._authenticator = _bindings[self.config.binding].authenticator

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool:
        identity = identity_of(session)
        if identity is None or topic is None:
            return False
        if action == Action.PUBLISH:
            return self._authenticator.may_publish(identity, topic)
        # A delivery is checked like a subscription to exactly its topic: retained messages and
        # queued ones thus never reach a session that could not have subscribed to them.
        return self._authenticator.may_subscribe(identity, topic)
