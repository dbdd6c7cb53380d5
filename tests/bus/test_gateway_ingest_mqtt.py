"""Insight gateways publish scan events over MQTT with mutual TLS (issue 6, part 1).

The app runs as ``fieldhub serve`` composes it, with its embedded broker; each gateway is
provisioned through the Insight HTTP API and connects with paho-mqtt and its PKCS#12 alone.  Every
realm's gateway CA is created after the broker started: the listener trusts it at once.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
from gateway_mqtt_support import (
    NOT_AUTHORISED,
    SUBACK_FAILURE,
    Customer,
    Device,
    DeviceClient,
    Hub,
    running_hub,
)

from fieldhub.core.config import Settings
from fieldhub.core.db import utcnow
from fieldhub.core.pki import CertificateAuthority


def now_millis() -> int:
    return int(utcnow().timestamp() * 1000)


def scan(**fields: Any) -> dict[str, Any]:
    """A scan event in the gateway message format (docs/insight-events.md)."""
    return {
        "id": str(uuid.uuid4()),
        "type": "scan",
        "created": now_millis(),
        "scan_code": "4006381333931",
        "scan_duration": 0.42,
        "scan_decode_symbology": "EAN_13",
        "device_id": "M2MR141204452",
        "device_battery": 87,
        "device_firmware": "1.2.3",
        "device_temperature": 30.5,
        "metrics_worker_steps": 12,
        **fields,
    }


def message(*events: dict[str, Any]) -> bytes:
    return orjson.dumps(events[0] if len(events) == 1 else list(events))


@pytest.fixture
def hub(settings: Settings, tmp_path: Path) -> Iterator[Hub]:
    work_dir = tmp_path / "gateways"
    work_dir.mkdir()
    with running_hub(settings, work_dir) as running:
        yield running


@pytest.fixture
def customer(hub: Hub) -> Customer:
    return Customer.build(hub.api)


@pytest.fixture
def gateway(hub: Hub, customer: Customer) -> Device:
    return hub.provision(customer)


@pytest.fixture
def client(hub: Hub, gateway: Device) -> Iterator[DeviceClient]:
    connected = hub.client(gateway)
    reason = connected.connect()
    assert reason is not None
    assert not reason.is_failure, reason
    yield connected
    connected.close()


def events_of(customer: Customer, **params: Any) -> list[dict[str, Any]]:
    response = customer.get("/events", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def rejected_count(hub: Hub) -> float:
    body = hub.api.client.get("/metrics").text
    found = re.search(r'^fieldhub_insight_scan_events_total\{outcome="rejected"\} (\S+)$', body, re.M)
    return float(found.group(1)) if found else 0.0


def test_published_scans_are_listed_once_acknowledged(
    hub: Hub, customer: Customer, gateway: Device, client: DeviceClient
) -> None:
    single = scan()
    batch = [scan(scan_code=f"code-{index}") for index in range(3)]

    first = client.publish(message(single))
    assert client.acknowledged(first)
    # The PUBACK comes after the commit: the event is listed the moment it is acknowledged.
    listed = events_of(customer)
    assert [item["id"] for item in listed] == [single["id"]]
    item = listed[0]
    assert item["gateway_id"] == gateway.device_id
    assert item["gateway_usecase"] == "Picking"
    assert item["gateway_station"] == "S1"
    for name in ("created", "scan_code", "scan_duration", "device_id", "device_battery", "device_firmware"):
        assert item[name] == single[name]

    assert client.acknowledged(client.publish(message(*batch)))
    assert {item["id"] for item in events_of(customer)} == {single["id"], *(event["id"] for event in batch)}

    # The gateway shows as connected, and its scanner is known.
    shown = customer.get(f"/gateways/{gateway.device_id}").json()
    assert shown["connectivity_status"] == "ACTIVE"
    devices = customer.get("/devices").json()["items"]
    assert [(device["id"], device["battery"]) for device in devices] == [("M2MR141204452", 87)]


def test_mqtt_scans_reach_an_export_file_and_a_job_analysis(
    hub: Hub, customer: Customer, gateway: Device, client: DeviceClient
) -> None:
    """Issue 6's "done when": nothing but the PKCS#12 and paho-mqtt, then the three read paths."""
    start = now_millis() - 60_000
    scans = [
        scan(scan_code="JOB-START-7", created=start),
        scan(scan_code="4006381333931", created=start + 1_000),
        scan(scan_code="JOB-END-7", created=start + 2_000),
    ]
    assert client.acknowledged(client.publish(message(*scans)))

    exported = customer.get("/events/export", params={"start_time_millis": start - 1})
    assert exported.status_code == 201, exported.text
    link = urlsplit(exported.json()["download_link"])
    downloaded = hub.api.client.get(link.path, params=dict(parse_qsl(link.query)))
    assert downloaded.status_code == 200, downloaded.text
    rows = list(csv.DictReader(io.StringIO(downloaded.text)))
    assert [(row["id"], row["scan_code"], row["gateway_id"]) for row in rows] == [
        (event["id"], event["scan_code"], gateway.device_id) for event in scans
    ]

    config = customer.post(
        "/job-configs",
        {
            "job_name": "Picking",
            "start_barcode": "JOB-START",
            "end_barcode": "JOB-END",
            "gateway_ids": [gateway.device_id],
        },
    )
    assert config.status_code == 201, config.text
    analysis = customer.post(
        "/job-analysis",
        {"job_config_id": config.json()["job_config_id"], "start_time": start - 1, "end_time": now_millis()},
    )
    assert analysis.status_code == 200, analysis.text
    [result] = analysis.json()["results"]
    assert result["gateway_id"] == gateway.device_id
    assert result["jobs"] == [
        {
            "start_time": start,
            "end_time": start + 2_000,
            "start_event_id": scans[0]["id"],
            "end_event_id": scans[2]["id"],
        }
    ]


def test_qos1_redelivery_of_an_event_creates_no_duplicate(customer: Customer, client: DeviceClient) -> None:
    event = scan()
    assert client.acknowledged(client.publish(message(event)))
    # A resend (after a lost PUBACK, say) carries the same event id: acknowledged, not stored twice.
    assert client.acknowledged(client.publish(message(event)))
    assert client.acknowledged(client.publish(message(event, scan())))
    ids = [item["id"] for item in events_of(customer)]
    assert ids.count(event["id"]) == 1
    assert len(ids) == 2


def test_malformed_message_is_rejected_counted_and_the_next_one_ingested(
    hub: Hub, customer: Customer, client: DeviceClient
) -> None:
    before = rejected_count(hub)
    bad = client.publish(b'{"id": "not closed"')
    good_event = scan()
    good = client.publish(message(good_event))
    # The broken message is acknowledged too (after its batch committed), or it would come back forever.
    assert client.acknowledged(bad)
    assert client.acknowledged(good)
    assert [item["id"] for item in events_of(customer)] == [good_event["id"]]
    assert rejected_count(hub) == before + 1
    assert not client.disconnected.is_set()


def test_qos0_messages_are_ingested_too(customer: Customer, client: DeviceClient) -> None:
    event = scan()
    client.publish(message(event), qos=0)
    # A QoS 1 message behind it is committed after it (one batch at a time, in arrival order).
    assert client.acknowledged(client.publish(message(scan())))
    assert event["id"] in {item["id"] for item in events_of(customer)}


def test_publishing_on_another_gateways_topic_closes_the_connection(
    hub: Hub, customer: Customer, client: DeviceClient
) -> None:
    other = hub.provision(customer)
    refused = client.publish(message(scan()), topic=other.topic)
    assert not client.acknowledged(refused)
    assert client.disconnected.is_set()
    assert events_of(customer) == []


def test_a_gateway_may_subscribe_to_nothing(client: DeviceClient, gateway: Device) -> None:
    assert client.subscribe(gateway.topic) == [SUBACK_FAILURE]
    assert client.subscribe("#") == [SUBACK_FAILURE]
    assert client.subscribe("v1/realms/+/users/+/session/#") == [SUBACK_FAILURE]


def test_client_id_must_be_the_certificates_common_name(hub: Hub, gateway: Device) -> None:
    impostor = hub.client(gateway, client_id="gw-" + uuid.uuid4().hex)
    reason = impostor.connect()
    impostor.close()
    assert reason is not None
    assert reason.value == NOT_AUTHORISED


def test_a_certificate_from_another_realms_ca_is_refused(
    hub: Hub, customer: Customer, gateway: Device
) -> None:
    other = Customer.build(hub.api)
    own_gateway_there = hub.provision(other)
    # Signed by the other realm's CA, naming this realm's gateway: that realm has no such gateway.
    forged = hub.forged(hub.realm_authority(other), like=gateway)
    impostor = hub.client(forged)
    reason = impostor.connect()
    impostor.close()
    assert reason is not None
    assert reason.value == NOT_AUTHORISED

    # The other realm's genuine gateway connects, but may not publish on this realm's topic.
    foreign = hub.client(own_gateway_there)
    connected = foreign.connect()
    assert connected is not None
    assert not connected.is_failure
    assert not foreign.acknowledged(foreign.publish(message(scan()), topic=gateway.topic))
    foreign.close()
    assert events_of(customer) == []


def test_a_certificate_from_an_unknown_ca_is_refused(
    hub: Hub, customer: Customer, gateway: Device, tmp_path: Path
) -> None:
    stranger = CertificateAuthority.load_or_create(
        tmp_path / "elsewhere", name="stranger", common_name=f"fieldhub Insight gateways {customer.realm.id}"
    )
    impostor = hub.client(hub.forged(stranger, like=gateway))
    reason = impostor.connect()
    if reason is not None:  # TLS 1.3: the client may finish its handshake before the server refuses
        assert reason.is_failure
    impostor.close()
    assert events_of(customer) == []
