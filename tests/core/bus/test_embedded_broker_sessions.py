"""Persistent sessions, bounded offline queues, token expiry and client-id take-over."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker_support import Harness, User, connected, running_broker, signing_key

from fieldhub.core.identity.keys import SigningKey


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return signing_key(tmp_path_factory.mktemp("key"))


@pytest.fixture
def hub(tmp_path: Path, key: SigningKey) -> Iterator[Harness]:
    with running_broker(tmp_path, key, mqtt_max_queued_messages=5) as harness:
        yield harness


def _subscribe_then_leave(hub: Harness, alice: User) -> None:
    with connected(hub.client(alice, clean_session=False)) as client:
        assert client.subscribe(alice.topic("#")) == [1]
    hub.wait_until_offline(alice.client_id)


def test_a_persistent_session_receives_what_was_published_while_away(hub: Harness) -> None:
    alice = hub.user()
    _subscribe_then_leave(hub, alice)
    for number in range(3):
        hub.publish(alice.topic(f"s1/E{number}"), f"event {number}".encode())
    hub.wait_until_idle()
    # Reconnecting takes the same client id and a fresh, still-valid token.
    returning = User(
        realm=alice.realm, sub=alice.sub, token=hub.user(sub=uuid.UUID(alice.sub)).token, digits=alice.digits
    )
    with connected(hub.client(returning, clean_session=False)) as client:
        messages = client.wait_for_messages(3)
        assert client.session_present
    assert [message.payload for message in messages] == [b"event 0", b"event 1", b"event 2"]
    assert {(message.qos, message.retain) for message in messages} == {(1, False)}


def test_the_offline_queue_keeps_only_the_newest_messages(hub: Harness) -> None:
    alice = hub.user()
    _subscribe_then_leave(hub, alice)
    for number in range(12):
        hub.publish(alice.topic(), f"event {number}".encode())
    hub.wait_until_idle()
    with connected(hub.client(alice, clean_session=False)) as client:
        client.wait_for_messages(5)
        time.sleep(0.3)  # nothing beyond the bound may trickle in
        payloads = client.payloads()
    assert payloads == [f"event {number}".encode() for number in range(7, 12)]


def test_a_clean_session_forgets_its_subscriptions(hub: Harness) -> None:
    alice = hub.user()
    with connected(hub.client(alice)) as client:
        client.subscribe(alice.topic("#"))
    hub.publish(alice.topic(), b"while away")
    with connected(hub.client(alice)) as client:
        time.sleep(0.3)
        assert client.payloads() == []
        assert not client.session_present


def test_the_connection_is_closed_when_its_token_expires(tmp_path: Path, key: SigningKey) -> None:
    with running_broker(tmp_path, key, ttl_seconds=2) as hub:
        alice = hub.user()
        issued = time.time()
        client = hub.client(alice)
        try:
            assert not client.connect().is_failure
            client.subscribe(alice.topic("#"))
            assert client.disconnected.wait(5), "still connected after the token expired"
            closed_after = time.time() - issued
        finally:
            client.close()
    # exp has whole-second resolution, so the close comes between 1 and 2 s after issue (+ scheduling).
    assert 1.0 <= closed_after < 3.0


def test_a_refused_connect_with_a_victims_client_id_leaves_the_victim_alone(hub: Harness) -> None:
    alice, mallory = hub.user(), hub.user()
    with connected(hub.client(alice, clean_session=False)) as victim:
        victim.subscribe(alice.topic("#"))
        for clean in (True, False):
            intruder = hub.client(client_id=alice.client_id, username=alice.username, password=mallory.token)
            intruder.paho._clean_session = clean
            try:
                assert intruder.connect().value == 135
            finally:
                intruder.close()
        hub.publish(alice.topic(), b"still here")
        assert [message.payload for message in victim.wait_for_messages(1)] == [b"still here"]
        assert not victim.disconnected.is_set()


def test_reconnecting_with_the_same_client_id_takes_over(hub: Harness) -> None:
    alice = hub.user()
    first = hub.client(alice, clean_session=False)
    try:
        assert not first.connect().is_failure
        first.subscribe(alice.topic("#"))
        with connected(hub.client(alice, clean_session=False)) as second:
            assert first.disconnected.wait(5), "the older connection must be closed"
            hub.publish(alice.topic(), b"to the new connection")
            assert [message.payload for message in second.wait_for_messages(1)] == [b"to the new connection"]
    finally:
        first.close()
