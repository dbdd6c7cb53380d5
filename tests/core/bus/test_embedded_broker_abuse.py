"""Bad input and idle sockets: each is dropped while the broker keeps serving everyone else."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker_support import (
    Harness,
    closed_by_peer,
    connect_packet,
    connected,
    raw_socket,
    remaining_length,
    running_broker,
    signing_key,
)

from fieldhub.core.identity.keys import SigningKey


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return signing_key(tmp_path_factory.mktemp("key"))


@pytest.fixture
def hub(tmp_path: Path, key: SigningKey) -> Iterator[Harness]:
    with running_broker(
        tmp_path, key, mqtt_max_packet_bytes=4096, mqtt_connect_timeout_seconds=1.0
    ) as harness:
        yield harness


def assert_still_serving(hub: Harness) -> None:
    alice = hub.user()
    with connected(hub.client(alice)) as client:
        client.subscribe(alice.topic("#"))
        hub.publish(alice.topic(), b"still serving")
        assert [message.payload for message in client.wait_for_messages(1)] == [b"still serving"]


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"\x10\x05\x00\x04MQ", id="truncated"),
        pytest.param(b"\x10\xff\xff\xff\xff\x7f", id="bad remaining length"),
        pytest.param(b"\x30\x02\x00\x00", id="publish before connect"),
        pytest.param(
            connect_packet("x")[:4] + b"\x00\x04QTTM" + connect_packet("x")[10:], id="wrong protocol"
        ),
        pytest.param(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\xff\xff", id="client id longer than packet"),
        pytest.param(b"\x10\x0c\x00\x04MQTT\x04\x03\x00\x3c\x00\x00", id="reserved flag"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", id="http"),
    ],
)
def test_a_malformed_connect_is_dropped(hub: Harness, garbage: bytes) -> None:
    with raw_socket(hub.settings.mqtt_port) as sock:
        sock.sendall(garbage)
        assert closed_by_peer(sock, 3)
    assert hub.sessions() == 0
    assert_still_serving(hub)


def test_an_oversized_packet_closes_the_connection(hub: Harness) -> None:
    alice = hub.user()
    with connected(hub.client(alice)) as client:
        client.paho.publish(alice.topic(), b"x" * 10_000, qos=0)
        assert client.disconnected.wait(3)
    with raw_socket(hub.settings.mqtt_port) as sock:  # a CONNECT announcing 200 MB is refused unread
        sock.sendall(b"\x10" + remaining_length(200_000_000) + b"\x00\x04MQTT")
        assert closed_by_peer(sock, 3)
    assert_still_serving(hub)


def test_a_socket_that_never_sends_connect_is_closed_after_the_timeout(hub: Harness) -> None:
    for port in (hub.settings.mqtt_port, hub.settings.mqtts_port, hub.settings.mqtt_ws_port):
        with raw_socket(port) as sock:
            started = time.monotonic()
            assert closed_by_peer(sock, 4), f"port {port} kept an idle socket"
            assert time.monotonic() - started < 3
    assert_still_serving(hub)


def test_a_silent_client_is_dropped_after_one_and_a_half_keep_alives(hub: Harness) -> None:
    alice = hub.user()
    with raw_socket(hub.settings.mqtt_port) as sock:
        sock.sendall(connect_packet(alice.client_id, alice.username, alice.token, keepalive=1))
        assert sock.recv(4) == bytes([0x20, 0x02, 0x00, 0x00])
        started = time.monotonic()
        assert closed_by_peer(sock, 5)
        silent_for = time.monotonic() - started
    assert 1.4 <= silent_for < 3.0


def test_thousands_of_half_open_connections_leave_the_broker_serving(hub: Harness) -> None:
    idle: list[socket.socket] = []
    try:
        for index in range(2000):
            sock = raw_socket(hub.settings.mqtt_port)
            if index % 2:
                sock.sendall(b"\x10\x40\x00\x04MQTT")  # half a CONNECT, never finished
            idle.append(sock)
        # A raw client: paho's select() loop cannot watch a socket numbered above 1024, which
        # this process (broker and 4,000 socket ends) is well past.
        alice = hub.user()
        with raw_socket(hub.settings.mqtt_port) as sock:
            sock.sendall(connect_packet(alice.client_id, alice.username, alice.token))
            assert sock.recv(4) == bytes([0x20, 0x02, 0x00, 0x00])
        assert all(closed_by_peer(sock, 3) for sock in idle)
    finally:
        for sock in idle:
            sock.close()
    assert_still_serving(hub)


def test_connections_beyond_the_limit_are_refused_not_queued(tmp_path: Path, key: SigningKey) -> None:
    with running_broker(tmp_path, key, mqtt_max_connections=20) as hub:
        held = [raw_socket(hub.settings.mqtt_port) for _ in range(20)]
        try:
            time.sleep(0.2)
            with raw_socket(hub.settings.mqtt_port) as extra:
                started = time.monotonic()
                assert closed_by_peer(extra, 1)
                assert time.monotonic() - started < 0.5
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        assert_still_serving(hub)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_offers_nothing_below_tls_1_2(hub: Harness) -> None:
    context = ssl.create_default_context(cafile=str(hub.ca_file))
    with (
        raw_socket(hub.settings.mqtts_port) as sock,
        context.wrap_socket(sock, server_hostname="localhost") as tls,
    ):
        assert tls.version() in {"TLSv1.2", "TLSv1.3"}
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(str(hub.ca_file))
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with raw_socket(hub.settings.mqtts_port) as sock, pytest.raises(ssl.SSLError):
        old.wrap_socket(sock, server_hostname="localhost")
