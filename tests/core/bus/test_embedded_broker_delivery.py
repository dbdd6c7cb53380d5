"""How the server's own messages reach subscribers: acknowledged, resent, and bounded per subscriber."""

from __future__ import annotations

import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker_support import (
    WAIT,
    Harness,
    User,
    closed_by_peer,
    connect_packet,
    connected,
    remaining_length,
    running_broker,
    signing_key,
)

#: The hub's bound on what one subscriber may leave unacknowledged, and on its offline queue.
BOUND = 5


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Harness]:
    limits = {"mqtt_max_queued_messages": BOUND, "mqtt_max_unacknowledged_messages": BOUND}
    with running_broker(tmp_path, signing_key(tmp_path / "key"), **limits) as harness:
        yield harness


def _returning(hub: Harness, user: User) -> User:
    """The same user and client id with a fresh token, as a client reconnecting after a while."""
    token = hub.user(sub=uuid.UUID(user.sub)).token
    return User(realm=user.realm, sub=user.sub, token=token, digits=user.digits)


def test_a_subscriber_that_acknowledges_keeps_receiving_past_the_bound(hub: Harness) -> None:
    alice = hub.user()
    with connected(hub.client(alice)) as client:
        assert client.subscribe(alice.topic("#")) == [1]
        for number in range(4 * BOUND):
            hub.publish(alice.topic(), f"event {number}".encode())
            assert len(client.wait_for_messages(number + 1)) == number + 1
        assert not client.disconnected.is_set()
    assert client.payloads() == [f"event {number}".encode() for number in range(4 * BOUND)]


def test_a_message_unacknowledged_when_the_connection_drops_is_resent_on_return(hub: Harness) -> None:
    alice = hub.user()
    with connected(hub.client(alice, clean_session=False, manual_ack=True)) as client:
        assert client.subscribe(alice.topic("#")) == [1]
        hub.publish(alice.topic(), b"never acknowledged")
        assert client.wait_for_messages(1)
    hub.wait_until_offline(alice.client_id)
    hub.publish(alice.topic(), b"sent while away")
    with connected(hub.client(_returning(hub, alice), clean_session=False)) as client:
        messages = client.wait_for_messages(2)
    assert [message.payload for message in messages] == [b"never acknowledged", b"sent while away"]
    assert messages[0].dup


def test_a_subscriber_has_at_most_the_window_unacknowledged_and_the_rest_follows_its_pubacks(
    hub: Harness,
) -> None:
    alice = hub.user()
    with connected(hub.client(alice, manual_ack=True)) as client:
        assert client.subscribe(alice.topic("#")) == [1]
        for number in range(BOUND + 3):
            hub.publish(alice.topic(), f"event {number}".encode())
        first = client.wait_for_messages(BOUND)
        time.sleep(0.3)  # nothing beyond the window may arrive before a PUBACK
        assert len(client.payloads()) == BOUND
        for message in first:
            client.paho.ack(message.mid, message.qos)
        assert len(client.wait_for_messages(BOUND + 3)) == BOUND + 3
        assert not client.disconnected.is_set()
    assert client.payloads() == [f"event {number}".encode() for number in range(BOUND + 3)]


def test_a_subscriber_past_its_window_and_queue_is_disconnected_and_its_session_keeps_the_newest(
    hub: Harness,
) -> None:
    alice, bob = hub.user(), hub.user()
    published = 2 * BOUND + 1  # a full window, a full queue and one more
    with (
        connected(hub.client(alice, clean_session=False, manual_ack=True)) as stalled,
        connected(hub.client(bob)) as healthy,
    ):
        assert stalled.subscribe(alice.topic("#")) == [1]
        assert healthy.subscribe(bob.topic("#")) == [1]
        for number in range(published):
            hub.publish(alice.topic(), f"event {number}".encode())
            hub.publish(bob.topic(), f"event {number}".encode())
        assert stalled.disconnected.wait(WAIT), "the broker kept a subscriber that acknowledges nothing"
        assert len(healthy.wait_for_messages(published)) == published
        assert not healthy.disconnected.is_set()
    hub.wait_until_offline(alice.client_id)
    with connected(hub.client(_returning(hub, alice), clean_session=False)) as client:
        client.wait_for_messages(2 * BOUND)
        time.sleep(0.3)
        payloads = client.payloads()
    # The window is resent; of the queue, the newest BOUND are kept.
    kept = [*range(BOUND), *range(published - BOUND, published)]
    assert payloads == [f"event {number}".encode() for number in kept]


def _subscribe_packet(topic_filter: str) -> bytes:
    encoded = topic_filter.encode()
    body = struct.pack("!H", 1) + struct.pack("!H", len(encoded)) + encoded + bytes([1])
    return bytes([0x82]) + remaining_length(len(body)) + body


def test_a_subscriber_that_stops_reading_is_cut_off_and_the_others_keep_receiving(tmp_path: Path) -> None:
    key = signing_key(tmp_path / "key")
    with running_broker(tmp_path, key, mqtt_max_unacknowledged_messages=10_000) as hub:
        alice, bob = hub.user(), hub.user()
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.settimeout(WAIT)
        reader.connect(("127.0.0.1", hub.settings.mqtt_port))
        reader.sendall(connect_packet(alice.client_id, alice.username, alice.token))
        assert reader.recv(4) == b"\x20\x02\x00\x00"  # CONNACK, accepted
        reader.sendall(_subscribe_packet(alice.topic("#")))
        assert reader.recv(5) == b"\x90\x03\x00\x01\x01"  # SUBACK, QoS 1 granted
        payload = bytes(256 * 1024)
        with connected(hub.client(bob)) as healthy:
            assert healthy.subscribe(bob.topic("#")) == [1]
            # The first client reads nothing from here on: 16 MiB is far more than the loopback
            # buffers and the broker's bound on unread bytes hold together.
            for number in range(64):
                hub.publish(alice.topic(), payload)
                if number % 8 == 0:
                    hub.publish(bob.topic(), f"event {number}".encode())
            assert len(healthy.wait_for_messages(8, timeout=3 * WAIT)) == 8
            assert not healthy.disconnected.is_set()
        assert closed_by_peer(reader, within=WAIT)
        reader.close()


def test_a_persistent_session_reconnecting_while_events_flow_gets_each_once_per_connection(
    tmp_path: Path,
) -> None:
    """What was in flight is resent once when a session returns; what is published meanwhile is
    not sent a second time with it."""
    with running_broker(tmp_path, signing_key(tmp_path / "key"), mqtt_max_queued_messages=1_000) as hub:
        connections = _reconnect_while_publishing(hub, times=15)
    for payloads in connections:
        assert len(payloads) == len(set(payloads)), "a message arrived twice on one connection"


def _reconnect_while_publishing(hub: Harness, *, times: int) -> list[list[bytes]]:
    alice = hub.user()
    with connected(hub.client(alice, clean_session=False)) as client:
        assert client.subscribe(alice.topic("#")) == [1]
    publishing = threading.Event()
    publishing.set()

    def publish_continuously() -> None:
        number = 0
        while publishing.is_set():
            hub.publish(alice.topic(), f"event {number}".encode())
            number += 1

    publisher = threading.Thread(target=publish_continuously)
    publisher.start()
    connections = []
    try:
        for _ in range(times):
            with connected(hub.client(_returning(hub, alice), clean_session=False)) as client:
                client.wait_for_messages(3)
            connections.append(client.payloads())
            hub.wait_until_offline(alice.client_id)
    finally:
        publishing.clear()
        publisher.join()
    return connections
