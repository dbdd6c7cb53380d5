"""Which subscribers a message reaches: the broker's indexed lookup against MQTT's matching rules."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker_support import Client, Harness, connected, running_broker, signing_key

from fieldhub.core.bus.mqtt_auth import MqttIdentity
from fieldhub.core.bus.topics import topic_matches, well_formed_filter
from fieldhub.core.identity.keys import SigningKey

#: Filters of every shape: exact, '+' at each depth, '#' at the root and below, and overlaps.
FILTERS = [
    "a/b/c",
    "a/b",
    "a/+/c",
    "a/+",
    "+/b/c",
    "+/+/+",
    "a/#",
    "a/b/#",
    "#",
    "+",
    "+/#",
    "$SYS/x",
    "$SYS/#",
    "a//c",
    "a/+/+/d",
]
TOPICS = ["a/b/c", "a/b", "a", "a/x/c", "a/b/c/d", "a/q/r/d", "b/b/c", "x", "a//c", "$SYS/x", "$SYS/y/z"]


class OpenAuthenticator:
    """Lets anyone in and subscribe to any well-formed filter, so every filter shape can be tried."""

    async def authenticate(
        self, *, client_id: str, username: str | None, password: str | None
    ) -> MqttIdentity | None:
        return MqttIdentity(realm="test", subject=client_id, client_id=client_id, expires_at=2**40)

    def may_subscribe(self, identity: MqttIdentity, topic_filter: str) -> bool:
        return well_formed_filter(topic_filter)

    def may_publish(self, identity: MqttIdentity, topic: str) -> bool:
        return False


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return signing_key(tmp_path_factory.mktemp("key"))


@pytest.fixture
def hub(tmp_path: Path, key: SigningKey) -> Iterator[Harness]:
    with running_broker(tmp_path, key, mqtts_port=0, mqtt_ws_port=0) as harness:
        yield harness


@pytest.fixture
def open_hub(tmp_path: Path, key: SigningKey) -> Iterator[Harness]:
    with running_broker(
        tmp_path, key, mqtts_port=0, mqtt_ws_port=0, authenticator=lambda _codec: OpenAuthenticator()
    ) as harness:
        yield harness


def _topics(client: Client) -> list[str]:
    return sorted(message.topic for message in client.messages)


def test_each_filter_receives_exactly_the_topics_it_matches(open_hub: Harness) -> None:
    clients = [open_hub.client(client_id=f"filter-{index}") for index in range(len(FILTERS))]
    for client, topic_filter in zip(clients, FILTERS, strict=True):
        assert not client.connect().is_failure
        assert client.subscribe(topic_filter) == [1]
    try:
        for topic in TOPICS:
            open_hub.publish(topic, topic.encode())
        open_hub.wait_until_idle()
        received = {
            topic_filter: _topics(client) for client, topic_filter in zip(clients, FILTERS, strict=True)
        }
    finally:
        for client in clients:
            client.close()
    expected = {
        topic_filter: sorted(topic for topic in TOPICS if topic_matches(topic_filter, topic))
        for topic_filter in FILTERS
    }
    assert received == expected
    # Spot checks of the rules themselves, so the expectation cannot drift with topic_matches.
    assert received["a/#"] == sorted(["a", "a/b", "a/b/c", "a/b/c/d", "a/q/r/d", "a/x/c", "a//c"])
    assert received["#"] == sorted(topic for topic in TOPICS if not topic.startswith("$"))
    assert received["$SYS/#"] == ["$SYS/x", "$SYS/y/z"]
    assert received["+/+/+"] == sorted(["a/b/c", "a/x/c", "b/b/c", "a//c"])


def test_a_token_user_receives_through_exact_plus_and_hash_filters_and_nothing_else(hub: Harness) -> None:
    alice, bob = hub.user(), hub.user()
    exact, plus, hash_ = (hub.client(alice, client_id=f"{alice.client_id[:-8]}{n:08d}") for n in (1, 2, 3))
    with connected(exact), connected(plus), connected(hash_), connected(hub.client(bob)) as other:
        assert exact.subscribe(alice.topic("s1/SessionUpdated")) == [1]
        assert plus.subscribe(alice.topic("+/SessionUpdated")) == [1]
        assert hash_.subscribe(alice.topic("#")) == [1]
        assert other.subscribe(bob.topic("#")) == [1]
        rests = ("s1/SessionUpdated", "s2/SessionUpdated", "s1/SessionClosed", "s1/x/SessionUpdated")
        for rest in rests:
            hub.publish(alice.topic(rest), rest.encode())
        hub.publish(bob.topic("s9/SessionCreated"), b"for bob")
        hub.wait_until_idle()
        assert _topics(exact) == [alice.topic("s1/SessionUpdated")]
        assert _topics(plus) == sorted([alice.topic("s1/SessionUpdated"), alice.topic("s2/SessionUpdated")])
        assert _topics(hash_) == sorted(alice.topic(rest) for rest in rests)
        assert _topics(other) == [bob.topic("s9/SessionCreated")]


def test_unsubscribing_stops_delivery(hub: Harness) -> None:
    alice = hub.user()
    with connected(hub.client(alice)) as client:
        assert client.subscribe(alice.topic("#")) == [1]
        hub.publish(alice.topic("s1/First"), b"first")
        assert [message.payload for message in client.wait_for_messages(1)] == [b"first"]
        unsubscribed = threading.Event()
        client.paho.on_unsubscribe = lambda *_args: unsubscribed.set()
        client.paho.unsubscribe(alice.topic("#"))
        assert unsubscribed.wait(5), "no UNSUBACK"
        hub.publish(alice.topic("s1/Second"), b"second")
        hub.wait_until_idle()
        assert client.payloads() == [b"first"]


def test_a_filter_dropped_with_its_clean_session_can_be_taken_again(hub: Harness) -> None:
    alice = hub.user()
    # The second CONNECT deletes the first clean session and, with it, the filter's only subscriber.
    for round_ in range(2):
        with connected(hub.client(alice)) as client:
            assert client.subscribe(alice.topic("s1/#")) == [1]
            hub.publish(alice.topic("s1/E"), f"round {round_}".encode())
            assert [message.payload for message in client.wait_for_messages(1)] == [
                f"round {round_}".encode()
            ]
        hub.wait_until_offline(alice.client_id)


def test_a_session_that_ends_takes_only_its_own_subscriptions_along(open_hub: Harness) -> None:
    leaving, staying = open_hub.client(client_id="leaving"), open_hub.client(client_id="staying")
    with connected(staying):
        assert staying.subscribe("shared/#") == [1]
        with connected(leaving):
            assert leaving.subscribe("shared/#", "mine/#") == [1, 1]
        open_hub.wait_until_offline("leaving")
        # The same client id, clean again: the ended session's subscriptions must not serve it.
        with connected(open_hub.client(client_id="leaving")) as returned:
            open_hub.publish("shared/x", b"shared")
            open_hub.publish("mine/x", b"mine")
            assert [message.payload for message in staying.wait_for_messages(1)] == [b"shared"]
            open_hub.wait_until_idle()
            assert returned.payloads() == []
            assert returned.subscribe("mine/#") == [1]
            open_hub.publish("mine/y", b"mine again")
            assert [message.payload for message in returned.wait_for_messages(1)] == [b"mine again"]
    assert staying.payloads() == [b"shared"]


#: Distinct filters that all match ``STEADY_TOPIC``, so one broadcast walks many table entries.
STEADY_FILTERS = ["t/x/y", "t/x/+", "t/+/y", "+/x/y", "t/+/+", "+/x/+", "+/+/y", "+/+/+", "t/#", "t/x/#"]
STEADY_TOPIC = "t/x/y"


def test_subscribers_changing_during_broadcasts_lose_no_message(open_hub: Harness) -> None:
    """Regression: amqtt lost a broadcast when a client subscribed while it was delivered (defect 11)."""
    steady = [open_hub.client(client_id=f"steady-{index}") for index in range(len(STEADY_FILTERS))]
    for client, topic_filter in zip(steady, STEADY_FILTERS, strict=True):
        assert not client.connect().is_failure
        assert client.subscribe(topic_filter) == [1]

    def churn(name: str) -> None:
        for cycle in range(30):  # each SUBSCRIBE adds a filter to the table
            with connected(open_hub.client(client_id=f"{name}-{cycle}")) as client:
                assert client.subscribe(f"churn/{name}/{cycle}") == [1]

    churners = [threading.Thread(target=churn, args=(f"churner{n}",)) for n in range(2)]
    for thread in churners:
        thread.start()
    published = 0
    try:
        while any(thread.is_alive() for thread in churners) and published < 5_000:
            open_hub.publish(STEADY_TOPIC, str(published).encode())
            published += 1
    finally:
        for thread in churners:
            thread.join(30)
    open_hub.wait_until_idle()
    try:
        for client in steady:
            assert len(client.wait_for_messages(published)) == published
    finally:
        for client in steady:
            client.close()


def test_a_qos_2_message_queued_while_away_arrives_at_qos_2(open_hub: Harness) -> None:
    with connected(open_hub.client(client_id="away", clean_session=False)) as client:
        assert client.subscribe("q/#", qos=2) == [2]
    open_hub.wait_until_offline("away")
    open_hub.publish("q/x", b"exactly once", qos=2)
    open_hub.publish("q/y", b"at least once", qos=1)
    with connected(open_hub.client(client_id="away", clean_session=False)) as client:
        messages = client.wait_for_messages(2)
    # MQTT orders messages within one QoS only: a QoS 2 delivery may arrive after a later QoS 1.
    assert sorted((message.payload, message.qos) for message in messages) == [
        (b"at least once", 1),
        (b"exactly once", 2),
    ]
