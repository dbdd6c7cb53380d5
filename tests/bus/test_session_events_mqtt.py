"""Session events end to end: a real ``fieldhub serve``, real MQTT clients, the spec's connection rules.

The embedded broker is checked over TLS (with the CA from ``/ca.pem``) and plain MQTT; the
external backend through the Mosquitto server on 127.0.0.1:1883, including an outage between
fieldhub and the broker.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mqtt_support import SUBACK_FAILURE, Subscriber, reachable, session_filter, token_subject

from server.serve_process import ServerProcess, fieldhub_cli, free_port

pytestmark = pytest.mark.slow

PASSWORD = "correct-horse-battery-staple"
#: paho's reason code for the MQTT 3.1.1 CONNACK return code 5, "not authorised".
CONNACK_NOT_AUTHORISED = 135
REALM = "demo"
MOSQUITTO = ("127.0.0.1", 1883)
needs_mosquitto = pytest.mark.skipif(
    not reachable(*MOSQUITTO), reason=f"no MQTT broker (Mosquitto) listening on {MOSQUITTO[0]}:{MOSQUITTO[1]}"
)


@dataclass
class Hub:
    """A running server with its bootstrap admin and its first application."""

    server: ServerProcess
    app_id: str
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, root: Path, **env: str) -> Hub:
        server = ServerProcess(root / "data", root / "logs", FIELDHUB_ADMIN_PASSWORD=PASSWORD, **env)
        applications = fieldhub_cli(server.data_dir, "app", "list", "--realm", REALM)["applications"]
        return cls(server=server, app_id=applications[0]["id"], env=env)

    def user(self, username: str) -> str:
        """A new user with the ``user`` role in the application; returns their access token."""
        data_dir = self.server.data_dir
        fieldhub_cli(
            data_dir, "user", "create", "--realm", REALM, "--username", username, "--password", PASSWORD
        )
        grant = ("app", "grant", "--realm", REALM, "--app", self.app_id, "--username", username)
        fieldhub_cli(data_dir, *grant, "--role", "user")
        return self.token(username)

    def token(self, username: str = "admin") -> str:
        return str(self.server.login(PASSWORD, username=username, realm=REALM)["access_token"])

    def call(self, method: str, token: str, suffix: str = "", body: Any = None) -> Any:
        response = self.server.client.request(
            method,
            f"/v1/application/applications/{self.app_id}/sessions{suffix}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def create_session(self, token: str, participants: tuple[str, ...] = ()) -> str:
        users = [{"type": "user", "id": token_subject(t)} for t in participants]
        return str(self.call("POST", token, "", {"version": 1, "participants": users})["sessionId"])

    def patch_data(self, token: str, session_id: str, data: dict[str, Any]) -> str:
        return str(self.call("PATCH", token, f"/{session_id}/data", {"data": data, "version": 1})["eventId"])

    def subscriber(self, token: str, **options: Any) -> Subscriber:
        """A client of the plain listener, connected as the spec says."""
        port = int(self.env["FIELDHUB_MQTT_PORT"])
        return Subscriber(host="127.0.0.1", port=port, realm=REALM, access_token=token, **options)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    ports = {
        name: str(free_port())
        for name in ("FIELDHUB_MQTT_PORT", "FIELDHUB_MQTTS_PORT", "FIELDHUB_MQTT_WS_PORT")
    }
    started = Hub.start(tmp_path_factory.mktemp("embedded"), **ports)
    yield started
    assert started.server.terminate() == 0


def test_a_tls_subscriber_receives_the_events_of_a_patch_with_the_returned_event_id(
    hub: Hub, tmp_path: Path
) -> None:
    response = hub.server.client.get("/ca.pem")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-pem-file"
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(response.content)
    token = hub.token()
    listener = Subscriber(
        host="localhost",
        port=int(hub.env["FIELDHUB_MQTTS_PORT"]),
        realm=REALM,
        access_token=token,
        ca_file=ca_file,
    )
    try:
        assert listener.connect_result == 0
        assert listener.subscribe(session_filter(REALM, token_subject(token))) == 1
        session_id = hub.create_session(token)
        topic, created = listener.next_of("SessionCreated")
        assert topic == f"v1/realms/{REALM}/users/{token_subject(token)}/session/{session_id}/SessionCreated"
        assert created["sessionId"] == session_id
        hub.call("PATCH", token, f"/{session_id}", {"name": "Pump inspection"})
        _, updated = listener.next_of("SessionUpdated")
        assert updated["changes"] == {"name": "Pump inspection"}
        event_id = hub.patch_data(token, session_id, {"pressure": 4.2})
        _, data_updated = listener.next_of("SessionDataUpdated")
        assert data_updated["eventId"] == event_id
        assert data_updated["data"] == {"pressure": 4.2}
        assert data_updated["applicationId"] == hub.app_id
    finally:
        listener.close()


def test_an_added_participant_hears_later_events_and_a_removed_one_stops(hub: Hub) -> None:
    admin = hub.token()
    leaving, joining = hub.user("leaving"), hub.user("joining")
    session_id = hub.create_session(admin, (leaving,))
    leaving_client, joining_client = hub.subscriber(leaving), hub.subscriber(joining)
    try:
        for client, token in ((leaving_client, leaving), (joining_client, joining)):
            assert client.subscribe(session_filter(REALM, token_subject(token))) == 1
        hub.call("POST", admin, f"/{session_id}/participants", {"type": "user", "id": token_subject(joining)})
        assert joining_client.next_of("SessionParticipantAdded")[1]["sessionId"] == session_id
        hub.call("DELETE", admin, f"/{session_id}/participants/{token_subject(leaving)}")
        assert leaving_client.next_of("SessionParticipantRemoved")[1]["changes"]["participant"]["id"] == (
            token_subject(leaving)
        )
        hub.call("PATCH", admin, f"/{session_id}", {"name": "after the removal"})
        assert joining_client.next_of("SessionUpdated")[1]["changes"] == {"name": "after the removal"}
        assert leaving_client.drain(1.0) == []
    finally:
        leaving_client.close()
        joining_client.close()


def test_subscriptions_beyond_the_users_own_topic_are_refused(hub: Hub) -> None:
    mine, theirs = hub.token(), hub.user("neighbour")
    client = hub.subscriber(mine)
    try:
        assert client.subscribe(session_filter(REALM, token_subject(theirs))) == SUBACK_FAILURE
        assert client.subscribe("#") == SUBACK_FAILURE
        assert client.subscribe(f"v1/realms/{REALM}/users/+/session/#") == SUBACK_FAILURE
        assert client.subscribe(session_filter(REALM, token_subject(mine))) == 1
        session_id = hub.create_session(theirs)
        hub.patch_data(theirs, session_id, {"secret": True})
        assert client.drain(1.0) == []
    finally:
        client.close()


def test_a_persistent_session_receives_what_was_published_while_it_was_away(hub: Hub) -> None:
    token = hub.user("returning")
    digits = "12345678"
    first = hub.subscriber(token, digits=digits, clean_session=False)
    assert first.subscribe(session_filter(REALM, token_subject(token))) == 1
    first.close()
    session_id = hub.create_session(token)
    event_id = hub.patch_data(token, session_id, {"while": "away"})
    back = hub.subscriber(token, digits=digits, clean_session=False)
    try:
        assert back.session_present
        assert back.next_of("SessionDataUpdated")[1]["eventId"] == event_id
    finally:
        back.close()


def test_the_unexpired_token_of_a_deleted_user_no_longer_connects(hub: Hub) -> None:
    token = hub.user("deleted")
    hub.subscriber(token).close()  # the same token connected while its user existed
    with sqlite3.connect(hub.server.data_dir / "fieldhub.db") as database:
        database.execute("PRAGMA foreign_keys = ON")
        assert database.execute("DELETE FROM users WHERE username = 'deleted'").rowcount == 1
    refused = hub.subscriber(token)
    try:
        assert refused.connect_result == CONNACK_NOT_AUTHORISED
    finally:
        refused.close()
    response = hub.server.client.get(
        f"/v1/application/applications/{hub.app_id}/sessions", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401, "HTTP refuses the same token"


class Gate:
    """A TCP forwarder to Mosquitto that can be opened late: the broker as fieldhub sees it."""

    def __init__(self) -> None:
        self.port = free_port()
        self._listener: socket.socket | None = None

    def open(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                inbound, _ = listener.accept()
            except OSError:
                return
            outbound = socket.create_connection(MOSQUITTO)
            for source, target in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, target):
            end.close()


@needs_mosquitto
def test_the_external_backend_delivers_the_same_events_through_mosquitto(tmp_path: Path) -> None:
    hub = Hub.start(tmp_path, FIELDHUB_MQTT_URL=f"mqtt://{MOSQUITTO[0]}:{MOSQUITTO[1]}")
    token = hub.token()
    client = Subscriber(host=MOSQUITTO[0], port=MOSQUITTO[1])
    try:
        assert client.subscribe(session_filter(REALM, token_subject(token))) == 1
        session_id = hub.create_session(token)
        event_id = hub.patch_data(token, session_id, {"pressure": 4.2})
        topic, payload = client.next_of("SessionDataUpdated")
        assert topic.endswith(f"/session/{session_id}/SessionDataUpdated")
        assert payload["eventId"] == event_id
    finally:
        client.close()
        assert hub.server.terminate() == 0


@needs_mosquitto
def test_events_made_while_the_external_broker_is_unreachable_arrive_once_it_is_back(tmp_path: Path) -> None:
    gate = Gate()
    hub = Hub.start(tmp_path, FIELDHUB_MQTT_URL=f"mqtt://127.0.0.1:{gate.port}")
    token = hub.token()
    client = Subscriber(host=MOSQUITTO[0], port=MOSQUITTO[1])
    try:
        assert client.subscribe(session_filter(REALM, token_subject(token))) == 1
        session_id = hub.create_session(token)
        event_ids = [hub.patch_data(token, session_id, {"n": n}) for n in range(3)]
        assert client.drain(0.5) == []
        gate.open()
        received = [client.next_of("SessionDataUpdated", timeout=30)[1]["eventId"] for _ in event_ids]
        assert received == event_ids
    finally:
        client.close()
        gate.close()
        assert hub.server.terminate() == 0
