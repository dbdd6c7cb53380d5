"""Connecting to the embedded broker exactly as Skylight's spec says, and every way of being refused."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker_support import (
    Harness,
    User,
    connect_packet,
    connected,
    raw_socket,
    running_broker,
    signing_key,
    user_topic,
)

from fieldhub.core.bus.mqtt_auth import MqttIdentity
from fieldhub.core.identity.keys import SigningKey
from fieldhub.core.identity.tokens import AccessTokenCodec

NOT_AUTHORISED = 135  # paho's reason code for the MQTT 3.1.1 CONNACK return code 5
REFUSED = 0x80


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return signing_key(tmp_path_factory.mktemp("key"))


@pytest.fixture
def hub(tmp_path: Path, key: SigningKey) -> Iterator[Harness]:
    with running_broker(tmp_path, key) as harness:
        yield harness


@pytest.mark.parametrize("transport", ["tcp", "tls", "ws"])
def test_a_client_connecting_as_the_spec_says_receives_its_events(hub: Harness, transport: str) -> None:
    alice = hub.user()
    with connected(hub.client(alice, transport=transport)) as client:
        assert client.subscribe(f"v1/realms/demo/users/{alice.sub}/session/#") == [1]
        hub.publish(alice.topic("s1/SessionUpdated"), b'{"eventType":"SessionUpdated"}')
        [message] = client.wait_for_messages(1)
    assert (message.topic, message.payload, message.qos) == (
        alice.topic("s1/SessionUpdated"),
        b'{"eventType":"SessionUpdated"}',
        1,
    )


def _unsigned(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _refusals(hub: Harness, key_dir: Path) -> dict[str, tuple[str, str, str]]:
    """(client id, username, password) per way of being refused."""
    alice, bob = hub.user(), hub.user()
    stranger = hub.user("other")
    forger = AccessTokenCodec(key=signing_key(key_dir), issuer=hub.codec._issuer, ttl_seconds=600)
    forged = hub.user(sub=uuid.UUID(alice.sub), codec=forger)
    expired = hub.codec.issue(
        user_id=uuid.UUID(alice.sub),
        realm="demo",
        roles=[],
        now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
    )
    now = int(dt.datetime.now(dt.UTC).timestamp())
    unsigned = _unsigned(
        {
            "iss": hub.codec._issuer,
            "sub": alice.sub,
            "realm": "demo",
            "iat": now,
            "exp": now + 600,
            "jti": "x",
        }
    )
    own = (alice.client_id, alice.username)
    return {
        "username of another subject": (alice.client_id, bob.username, alice.token),
        "client id of another subject": (bob.client_id, alice.username, alice.token),
        "token of another subject": (*own, bob.token),
        "token of another realm": (
            f"demo-{stranger.sub}-12345678",
            f"demo/{stranger.sub}",
            stranger.token,
        ),
        "token signed by another key": (*own, forged.token),
        "alg none": (*own, unsigned),
        "expired token": (*own, expired),
        "garbage token": (*own, "not.a.jwt"),
        "no password": (*own, ""),
        "client id with 7 digits": (f"demo-{alice.sub}-1234567", alice.username, alice.token),
        "client id with letters": (f"demo-{alice.sub}-1234567a", alice.username, alice.token),
        "client id without digits": (f"demo-{alice.sub}", alice.username, alice.token),
        "username without realm": (alice.client_id, alice.sub, alice.token),
    }


def test_connack_not_authorised_for_every_bad_credential(hub: Harness, tmp_path: Path) -> None:
    outcomes = {}
    for case, (client_id, username, password) in _refusals(hub, tmp_path / "forger").items():
        client = hub.client(client_id=client_id, username=username, password=password or None)
        try:
            outcomes[case] = client.connect().value
        finally:
            client.close()
    assert outcomes == dict.fromkeys(outcomes, NOT_AUTHORISED)
    assert hub.sessions() == 0, "a refused CONNECT must not leave a session behind"


def test_the_still_valid_token_of_a_removed_user_is_refused(hub: Harness) -> None:
    alice = hub.user()
    with connected(hub.client(alice)):
        pass  # the same credentials were good a moment ago
    hub.removed_users.add(alice.sub)
    client = hub.client(alice)
    try:
        assert client.connect().value == NOT_AUTHORISED
    finally:
        client.close()


def test_refusal_is_the_plain_mqtt_311_connack(hub: Harness) -> None:
    alice, bob = hub.user(), hub.user()
    with raw_socket(hub.settings.mqtt_port) as sock:
        sock.sendall(connect_packet(alice.client_id, alice.username, bob.token))
        assert sock.recv(4) == bytes([0x20, 0x02, 0x00, 0x05])


def test_subscriptions_outside_the_own_session_topic_are_refused(hub: Harness) -> None:
    alice, bob = hub.user(), hub.user()
    own = f"v1/realms/demo/users/{alice.sub}/session"
    cases = {
        f"{own}/#": 1,
        f"{own}/s1/#": 1,
        f"{own}/+/SessionUpdated": 1,
        f"{own}/s1/SessionUpdated": 1,
        own: 1,
        f"v1/realms/demo/users/{bob.sub}/session/#": REFUSED,
        "#": REFUSED,
        "+/#": REFUSED,
        "$SYS/#": REFUSED,
        f"v1/realms/+/users/{alice.sub}/session/#": REFUSED,
        "v1/realms/demo/users/+/session/#": REFUSED,
        f"v1/realms/demo/users/{alice.sub}/#": REFUSED,
        f"v1/realms/demo/users/{alice.sub}/+/#": REFUSED,
        f"v1/realms/other/users/{alice.sub}/session/#": REFUSED,
    }
    with connected(hub.client(alice)) as client:
        assert dict(zip(cases, client.subscribe(*cases), strict=True)) == cases
        hub.publish(bob.topic(), b"for bob only")
        hub.publish(alice.topic(), b"for alice")
        messages = client.wait_for_messages(1)
    # Overlapping granted filters may each deliver a copy (MQTT 3.1.1 allows it); what matters
    # is that Bob's message, published first, never arrives.
    assert messages
    assert {message.payload for message in messages} == {b"for alice"}


def test_a_token_user_publishes_nothing(hub: Harness) -> None:
    alice = hub.user()
    seen: list[str] = []

    async def collect(topic: str, _payload: bytes) -> None:
        seen.append(topic)

    hub.run(hub.broker.subscribe("v1/#", collect))
    with (
        connected(hub.client(alice)) as client,
        connected(hub.client(alice, client_id=f"demo-{alice.sub}-00000001")) as peer,
    ):
        peer.subscribe(alice.topic("#"))
        info = client.paho.publish(alice.topic("s1/Spoofed"), b"spoof", qos=1)
        info.wait_for_publish(5)
        hub.publish(alice.topic("s1/Real"), b"real")
        messages = peer.wait_for_messages(1)
    assert [message.payload for message in messages] == [b"real"]
    assert seen == [alice.topic("s1/Real")], "only the server's own publish reaches in-process subscribers"


def test_a_will_on_a_topic_the_user_may_not_publish_is_refused(hub: Harness) -> None:
    alice, bob = hub.user(), hub.user()
    client = hub.client(alice)
    client.paho.will_set(bob.topic("s1/SessionClosed"), b"forged", qos=1)
    try:
        assert client.connect().value == NOT_AUTHORISED
    finally:
        client.close()


class GatewayAuthenticator:
    """Devices that publish readings: the case the in-process subscription exists for."""

    async def authenticate(
        self, *, client_id: str, username: str | None, password: str | None
    ) -> MqttIdentity | None:
        if username == "gateway" and password == "secret":
            return MqttIdentity(realm="demo", subject="g1", client_id=client_id, expires_at=2**40)
        return None

    def may_subscribe(self, identity: MqttIdentity, topic_filter: str) -> bool:
        return False

    def may_publish(self, identity: MqttIdentity, topic: str) -> bool:
        return topic.startswith(f"v1/gateways/{identity.subject}/")


def test_in_process_subscribers_receive_what_clients_may_publish(tmp_path: Path, key: SigningKey) -> None:
    received: list[tuple[str, bytes]] = []
    done = threading.Event()

    async def ingest(topic: str, payload: bytes) -> None:
        received.append((topic, payload))
        if len(received) == 2:
            done.set()

    with running_broker(tmp_path, key, authenticator=lambda _codec: GatewayAuthenticator()) as hub:
        hub.run(hub.broker.subscribe("v1/gateways/+/scans", ingest))
        with connected(hub.client(client_id="gw-1", username="gateway", password="secret")) as gateway:
            for topic, payload in [
                ("v1/gateways/g1/scans", b"one"),
                ("v1/gateways/g2/scans", b"not its own"),
                ("v1/gateways/g1/other", b"unsubscribed"),
                ("v1/gateways/g1/scans", b"two"),
            ]:
                gateway.paho.publish(topic, payload, qos=1).wait_for_publish(5)
            assert done.wait(5)
    assert received == [("v1/gateways/g1/scans", b"one"), ("v1/gateways/g1/scans", b"two")]


def test_user_topic_helper_matches_the_spec() -> None:
    assert user_topic("demo", "abc", "s/x") == "v1/realms/demo/users/abc/session/s/x"
    assert User(realm="demo", sub="abc", token="t", digits="01234567").client_id == "demo-abc-01234567"
