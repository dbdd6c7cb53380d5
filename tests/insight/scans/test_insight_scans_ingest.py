"""Ingest of gateway messages: the HTTPS route, the ingest service the broker calls, their effects."""

from __future__ import annotations

import datetime as dt
import uuid

import orjson
import pytest
from scans_support import PREFIX, ScanCustomer, assert_error, custom_api, event, now_millis

from conftest import Api
from fieldhub.core.config import Settings
from fieldhub.core.errors import NotFound
from fieldhub.insight.scans.service import MAX_EVENTS_PER_MESSAGE, GatewayMessages, ScanIngest


def test_a_gateway_posts_one_event_and_an_array(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    single = event(scan_code="A-1")
    answer = customer.send(gateway_id, single)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert customer.ingest(gateway_id, [event(), event()]) == {"accepted": 2, "duplicates": 0, "rejected": []}

    listed = customer.walk()
    assert len(listed) == 3
    first = listed[0]
    assert first == {
        **single,
        "class": "event",
        "gateway_id": gateway_id,
        "gateway_usecase": "Picking",
        "gateway_station": "S1",
    }


def test_a_resent_event_is_stored_once(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    sent = [event(), event()]
    customer.ingest(gateway_id, sent)
    again = customer.ingest(gateway_id, [sent[1], event(), sent[1]])
    assert again == {"accepted": 1, "duplicates": 2, "rejected": []}
    assert api.count("insight_scan_events") == 3


def test_the_same_event_id_in_two_customers_is_two_events(api: Api) -> None:
    one, two = ScanCustomer.build(api), ScanCustomer.build(api)
    shared = event()
    one.ingest(one.gateway(), [shared])
    assert two.ingest(two.gateway(), [shared])["accepted"] == 1


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "1 to 1000 events"),
        (b'"a string"', "must be a JSON object"),
        (orjson.dumps([1, 2]), "must be a JSON object"),
        (orjson.dumps({k: v for k, v in event().items() if k != "id"}), "id: Field required"),
        (orjson.dumps(event(created="1557220259000")), "created: Input should be a valid integer"),
        (orjson.dumps(event(created=-1)), "created"),
        (orjson.dumps(event(device_battery=101)), "device_battery"),
        (orjson.dumps(event(device_battery=True)), "device_battery"),
        (orjson.dumps(event(type="click")), "type"),
        (orjson.dumps(event(scan_code="")), "scan_code"),
        (orjson.dumps(event(scan_code="a\x00b")), "NUL"),
        (orjson.dumps(event(device_id="x" * 65)), "device_id"),
        (orjson.dumps(event(id="bad\nid")), "control characters"),
        (orjson.dumps([event() for _ in range(MAX_EVENTS_PER_MESSAGE + 1)]), "1 to 1000 events"),
    ],
)
def test_a_malformed_message_is_refused_and_changes_nothing(api: Api, message: bytes, reason: str) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    assert_error(customer.send(gateway_id, message), 400, reason)
    assert api.count("insight_scan_events") == 0
    assert api.count("insight_scanners") == 0


def test_bad_events_in_an_array_refuse_only_themselves(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    good = event()
    answer = customer.ingest(gateway_id, [event(device_battery="full"), good, "nope"])
    assert answer["accepted"] == 1
    assert answer["rejected"] == [
        {"message": 0, "event": 0, "reason": "device_battery: Input should be a valid integer"},
        {"message": 0, "event": 2, "reason": "an event must be a JSON object"},
    ]
    assert [item["id"] for item in customer.walk()] == [good["id"]]


def test_refusals_are_counted_in_the_metrics(api: Api) -> None:
    def rejected() -> float:
        for line in api.client.get("/metrics").text.splitlines():
            if line.startswith('fieldhub_insight_scan_events_total{outcome="rejected"}'):
                return float(line.split()[-1])
        return 0.0

    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    before = rejected()
    customer.send(gateway_id, b"garbage")
    customer.ingest(gateway_id, [event(), {"id": "x"}])
    assert rejected() == before + 2


def test_messages_make_the_gateway_active_and_register_its_scanners(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    assert customer.customer.get(f"/gateways/{gateway_id}").json()["connectivity_status"] == "NOT_REGISTERED"
    earlier = now_millis() - 60_000
    customer.ingest(
        gateway_id,
        [
            event(device_id="SCANNER-1", created=earlier, device_battery=80, device_firmware="1.0.0"),
            event(device_id="SCANNER-1", created=earlier + 1000, device_battery=79, device_firmware="1.0.1"),
            event(device_id="SCANNER-2", created=earlier, device_battery=None, device_firmware=None),
        ],
    )
    assert customer.customer.get(f"/gateways/{gateway_id}").json()["connectivity_status"] == "ACTIVE"
    scanners = {item["id"]: item for item in customer.customer.get("/devices").json()["items"]}
    assert set(scanners) == {"SCANNER-1", "SCANNER-2"}
    assert (scanners["SCANNER-1"]["battery"], scanners["SCANNER-1"]["firmware"]) == (79, "1.0.1")
    assert scanners["SCANNER-1"]["last_activity_time"] == earlier + 1000
    assert scanners["SCANNER-1"]["created"] == earlier + 1000
    assert scanners["SCANNER-2"]["battery"] is None

    # An older report, delivered late, does not overwrite the newer state; a newer one does.
    customer.ingest(gateway_id, [event(device_id="SCANNER-1", created=earlier - 5000, device_battery=99)])
    assert customer.customer.get("/devices").json()["items"][0]["battery"] == 79
    customer.ingest(gateway_id, [event(device_id="SCANNER-2", created=earlier + 5000, device_battery=50)])
    scanner_2 = [
        item for item in customer.customer.get("/devices").json()["items"] if item["id"] == "SCANNER-2"
    ]
    assert (scanner_2[0]["battery"], scanner_2[0]["last_activity_time"]) == (50, earlier + 5000)
    assert api.count("insight_scanners") == 2


def test_a_scanner_keeps_its_battery_when_an_event_omits_it(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    customer.ingest(gateway_id, [event(device_id="S", device_battery=40)])
    customer.ingest(gateway_id, [event(device_id="S", device_battery=None)])
    assert customer.customer.get("/devices").json()["items"][0]["battery"] == 40


def test_the_ingest_service_takes_bytes_and_objects_and_commits_before_answering(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = uuid.UUID(customer.gateway())
    realm_id = customer.customer.realm.id
    ingest = ScanIngest(db=api.runtime.db)
    result = ingest.ingest(
        realm_id=realm_id,
        gateway_id=gateway_id,
        messages=[orjson.dumps(event()), orjson.dumps([event(), event()]), event(), b"\xff"],
    )
    assert (result.accepted, result.duplicates) == (4, 0)
    assert [(item.message, item.event, item.reason) for item in result.rejected] == [
        (3, None, "the message is not JSON")
    ]
    assert api.count("insight_scan_events") == 4


def test_the_ingest_service_refuses_a_gateway_of_another_customer(api: Api) -> None:
    one, two = ScanCustomer.build(api), ScanCustomer.build(api)
    theirs = uuid.UUID(two.gateway())
    with pytest.raises(NotFound):
        ScanIngest(db=api.runtime.db).ingest(
            realm_id=one.customer.realm.id, gateway_id=theirs, messages=[orjson.dumps(event())]
        )
    assert api.count("insight_scan_events") == 0


def test_the_ingest_route_needs_the_gateways_own_token(api: Api) -> None:
    customer, other = ScanCustomer.build(api), ScanCustomer.build(api)
    mine, second = customer.gateway(), customer.gateway()
    theirs = other.gateway()
    url = f"{PREFIX}/gateway-ingest/{mine}"
    assert_error(api.client.post(url, json=event()), 401)
    assert_error(api.client.post(url, json=event(), headers={"Authorization": "Bearer not.a.token"}), 401)
    assert_error(customer.send(mine, event(), token=customer.tokens[second]), 401)
    assert_error(customer.send(mine, event(), token=other.tokens[theirs]), 401)
    # A user's token is no gateway token, and a gateway token opens no user route.
    assert_error(api.client.post(url, json=event(), headers=customer.customer.admin_headers), 401)
    headers = {"Authorization": customer.tokens[mine]}
    assert_error(api.client.get(f"{PREFIX}/{customer.customer.realm.id}/events", headers=headers), 401)
    assert_error(customer.send("not-a-uuid", event(), token=customer.tokens[mine]), 401)
    assert api.count("insight_scan_events") == 0


def test_only_admins_issue_ingest_tokens_for_their_own_gateways(api: Api) -> None:
    customer, other = ScanCustomer.build(api), ScanCustomer.build(api)
    gateway_id = customer.gateway()
    theirs = other.gateway()
    path = f"/gateways/{gateway_id}/ingest-token"
    assert_error(customer.customer.post(path, admin=False), 403, "gateways.provision")
    assert_error(customer.customer.post(f"/gateways/{theirs}/ingest-token"), 404)
    assert_error(customer.customer.post("/gateways/nope/ingest-token"), 400, "gateway_id")
    issued = customer.customer.post(path).json()
    assert issued["gateway_id"] == gateway_id
    assert issued["ingest_path"] == f"{PREFIX}/gateway-ingest/{gateway_id}"


def test_a_message_is_limited_in_size(settings: Settings) -> None:
    with custom_api(settings, max_json_body_bytes=100_000) as api:
        customer = ScanCustomer.build(api)
        gateway_id = customer.gateway()
        huge = orjson.dumps([event(scan_code="x" * 4096) for _ in range(25)])
        assert_error(customer.send(gateway_id, huge), 413)
        assert api.count("insight_scan_events") == 0


def test_old_events_keep_their_own_time(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    old = int(dt.datetime(2020, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
    customer.ingest(gateway_id, [event(created=old)])
    listed = customer.walk(start_time_millis=old, end_time_millis=old + 1)
    assert [item["created"] for item in listed] == [old]


def test_one_commit_can_carry_several_gateways_messages(api: Api) -> None:
    one, two = ScanCustomer.build(api), ScanCustomer.build(api)
    mine, theirs = uuid.UUID(one.gateway()), uuid.UUID(two.gateway())
    results = ScanIngest(db=api.runtime.db).ingest_many(
        [
            GatewayMessages(one.customer.realm.id, mine, [orjson.dumps(event()), orjson.dumps(event())]),
            GatewayMessages(two.customer.realm.id, theirs, [orjson.dumps([event(), event(), event()])]),
            # A gateway of another realm (or none) drops its own messages and nothing else.
            GatewayMessages(one.customer.realm.id, theirs, [orjson.dumps(event())]),
        ]
    )
    assert [result.accepted if result else None for result in results] == [2, 3, None]
    assert (len(one.walk()), len(two.walk())) == (2, 3)
    assert one.customer.get(f"/gateways/{mine}").json()["connectivity_status"] == "ACTIVE"
