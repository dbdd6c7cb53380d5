"""The issue's "done when": two parties, each an MQTT subscriber and an HTTP client, complete
request -> acquire -> approve against a running ``fieldhub serve``.

The embedded broker authenticates them with their access tokens (the session events' scheme) and
lets each subscribe to its own user's topics only; the external backend is checked through the
Mosquitto server on 127.0.0.1:1883 (anonymous there, as that broker is configured).
"""

from __future__ import annotations

import io
import queue
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bus.mqtt_support import SUBACK_FAILURE, Subscriber, reachable, token_subject
from server.serve_process import ServerProcess, fieldhub_cli, free_port

pytestmark = pytest.mark.slow

PASSWORD = "correct-horse-battery-staple"
REALM = "demo"
PREFIX = "/rtc-api/snapshots"
MOSQUITTO = ("127.0.0.1", 1883)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Party:
    """One side of the call: an HTTP client with its token and an MQTT subscriber on its topics."""

    server: ServerProcess
    token: str
    endpoint: str
    mqtt: Subscriber

    @property
    def user_id(self) -> str:
        return token_subject(self.token)

    @property
    def topic(self) -> str:
        return f"user/{self.user_id}/{self.endpoint}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        response = self.server.client.request(method, f"{PREFIX}{path}", headers=headers, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def event(self, event_type: str) -> tuple[str, dict[str, Any]]:
        """The next event of ``event_type`` on this party's subscription, skipping others."""
        while True:
            try:
                topic, payload = self.mqtt.next()
            except queue.Empty:
                raise AssertionError(f"{self.endpoint} heard no {event_type}") from None
            if payload.get("type") == event_type:
                return topic, payload


def start(root: Path, **env: str) -> ServerProcess:
    return ServerProcess(root / "data", root / "logs", FIELDHUB_ADMIN_PASSWORD=PASSWORD, **env)


def login(server: ServerProcess, username: str) -> str:
    fieldhub_cli(
        server.data_dir, "user", "create", "--realm", REALM, "--username", username, "--password", PASSWORD
    )
    return str(server.login(PASSWORD, username=username, realm=REALM)["access_token"])


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, int]]:
    port = free_port()
    server = start(tmp_path_factory.mktemp("snapshots-e2e"), FIELDHUB_MQTT_PORT=str(port))
    yield server, port
    assert server.terminate() == 0


def run_workflow(server: ServerProcess, agent: Party, customer: Party) -> None:
    """request -> acquire -> approve, each step heard by the other party over MQTT."""
    application = fieldhub_cli(server.data_dir, "app", "list", "--realm", REALM)["applications"][0]["id"]
    interaction = f"call-{agent.endpoint}"
    snapshot_id = agent.call(
        "POST",
        "/request",
        json={
            "applicationId": {"id": application},
            "interactionId": interaction,
            "sessionType": "CALL",
            "snapshotType": "meter-reading",
            "targetUserId": customer.user_id,
            "targetUserEndpointId": customer.endpoint,
            "userEndpointId": agent.endpoint,
        },
    )["snapshotId"]

    topic, requested = customer.event("SnapshotRequestedEvent")
    assert topic == customer.topic
    assert (requested["snapshotId"], requested["userId"]) == (snapshot_id, agent.user_id)

    fields = {
        "snapshotId": requested["snapshotId"],
        "snapshotMimeType": "image/png",
        "snapshotSuffix": "png",
        "snapshotType": "meter-reading",
        "userEndpointId": customer.endpoint,
    }
    image = png()
    customer.call("POST", "/acquire", data=fields, files={"image": ("frame.png", image, "image/png")})

    topic, acquired = agent.event("SnapshotAcquiredEvent")
    assert topic == agent.topic
    assert acquired["snapshotId"] == snapshot_id
    assert acquired["snapshotLocation"] == f"interactions/{interaction}/{snapshot_id}.png"
    assert agent.call("GET", f"/{snapshot_id}")["state"] == "UPLOADED"

    agent.call("POST", "/approve", json={"snapshotId": snapshot_id, "userEndpointId": agent.endpoint})
    topic, approved = customer.event("SnapshotApprovedEvent")
    assert topic == customer.topic
    assert approved["snapshotId"] == snapshot_id
    assert agent.event("SnapshotApprovedEvent")[1]["id"] == approved["id"]

    [listed] = customer.call("GET", "", params={"interactionId": interaction})
    assert (listed["id"], listed["state"], listed["approved"]) == (snapshot_id, "APPROVED", True)
    signed = agent.call(
        "POST",
        "/signedUrl",
        json={"snapshotId": snapshot_id, "createInternalSignedUrl": True},
        headers={"Referer": server.base_url},
    )
    download = server.client.get(signed["url"])
    assert (download.status_code, download.content) == (200, image)


def test_two_parties_complete_the_workflow_through_the_embedded_broker(
    embedded: tuple[ServerProcess, int],
) -> None:
    server, port = embedded
    parties = []
    for username, endpoint in (("agent", "agent-desk"), ("customer", "customer-phone")):
        token = login(server, username)
        mqtt = Subscriber(host="127.0.0.1", port=port, realm=REALM, access_token=token)
        assert mqtt.connect_result == 0
        assert mqtt.subscribe(f"user/{token_subject(token)}/#") == 1
        parties.append(Party(server=server, token=token, endpoint=endpoint, mqtt=mqtt))
    agent, customer = parties
    try:
        # An endpoint may listen only to its own user's topics.
        assert customer.mqtt.subscribe(f"user/{agent.user_id}/#") == SUBACK_FAILURE
        assert customer.mqtt.subscribe("user/#") == SUBACK_FAILURE
        run_workflow(server, agent, customer)
    finally:
        agent.mqtt.close()
        customer.mqtt.close()


def test_an_oauth_client_requests_a_snapshot_and_hears_it_acquired_on_its_own_topic(
    embedded: tuple[ServerProcess, int],
) -> None:
    server, port = embedded
    created = fieldhub_cli(server.data_dir, "client", "create", "--realm", REALM, "--name", "crm")
    response = server.client.post(
        f"{PREFIX}/security/oauth/token",
        params={"grant_type": "client_credentials"},
        auth=(created["client_id"], created["client_secret"]),
    )
    assert response.status_code == 200, response.text
    client_token = response.json()["access_token"]
    assert token_subject(client_token) == created["client_id"]
    customer_token = login(server, "customer2")
    backend = Party(
        server=server,
        token=client_token,
        endpoint="crm-backend",
        mqtt=Subscriber(host="127.0.0.1", port=port, realm=REALM, access_token=client_token),
    )
    customer = Party(
        server=server,
        token=customer_token,
        endpoint="customer2-phone",
        mqtt=Subscriber(host="127.0.0.1", port=port, realm=REALM, access_token=customer_token),
    )
    try:
        assert backend.mqtt.subscribe(f"user/{created['client_id']}/#") == 1
        assert customer.mqtt.subscribe(f"user/{customer.user_id}/#") == 1
        run_workflow(server, backend, customer)
    finally:
        backend.mqtt.close()
        customer.mqtt.close()


@pytest.mark.skipif(not reachable(*MOSQUITTO), reason="no MQTT broker (Mosquitto) on 127.0.0.1:1883")
def test_two_parties_complete_the_workflow_through_mosquitto(tmp_path: Path) -> None:
    server = start(tmp_path, FIELDHUB_MQTT_URL=f"mqtt://{MOSQUITTO[0]}:{MOSQUITTO[1]}")
    parties = []
    try:
        for username, endpoint in (("agent", "agent-desk-m"), ("customer", "customer-phone-m")):
            token = login(server, username)
            mqtt = Subscriber(host=MOSQUITTO[0], port=MOSQUITTO[1])
            assert mqtt.subscribe(f"user/{token_subject(token)}/#") == 1
            parties.append(Party(server=server, token=token, endpoint=endpoint, mqtt=mqtt))
        run_workflow(server, *parties)
    finally:
        for party in parties:
            party.mqtt.close()
        assert server.terminate() == 0
