"""``GET /{customer_id}/events``: the window, the filters, and walking ``next_token``."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from scans_support import PREFIX, ScanCustomer, assert_error, event, now_millis

from conftest import Api

DAY = 24 * 3600 * 1000


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["next_token"][0]


def test_the_default_window_is_the_last_24_hours(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    now = now_millis()
    recent, old = event(created=now - DAY + 60_000), event(created=now - DAY - 60_000)
    future = event(created=now + 60_000)
    customer.ingest(gateway_id, [recent, old, future])
    body = customer.customer.get("/events", admin=False).json()
    assert [item["id"] for item in body["items"]] == [recent["id"]]
    filters = {item["name"]: item["value"] for item in body["metadata"]["filters"]}
    assert filters["end_time_millis"] - filters["start_time_millis"] == DAY
    assert filters["end_time_millis"] >= now
    assert body["metadata"]["size"] == 1
    assert body["links"]["next"] is None


def test_an_explicit_window_includes_its_start_and_excludes_its_end(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    events = [event(created=1_000 * n) for n in range(1, 6)]
    customer.ingest(gateway_id, events)
    body = customer.customer.get(
        "/events", params={"start_time_millis": 2000, "end_time_millis": 4000}
    ).json()
    assert [item["created"] for item in body["items"]] == [2000, 3000]
    assert body["metadata"]["filters"] == [
        {"name": "start_time_millis", "value": 2000},
        {"name": "end_time_millis", "value": 4000},
    ]


def test_events_of_the_same_millisecond_come_in_the_order_they_arrived(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    same = [event(created=5000, id=f"e{n}") for n in (3, 1, 2)]
    customer.ingest(gateway_id, same)
    listed = customer.walk(start_time_millis=0, end_time_millis=10_000, limit="1")
    assert [item["id"] for item in listed] == ["e3", "e1", "e2"]


def test_walking_next_token_yields_every_event_once_while_events_arrive(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    start = now_millis() - 100_000
    first = [event(created=start + 1000 * n, id=f"first-{n}") for n in range(7)]
    customer.ingest(gateway_id, first)
    end = start + 50_000
    params = {"start_time_millis": start, "end_time_millis": end, "limit": "3"}
    response = customer.customer.get("/events", params=params)
    seen: list[str] = []
    arrivals = 0
    while True:
        body = response.json()
        assert len(body["items"]) <= 3
        seen.extend(item["id"] for item in body["items"])
        # Between pages: events before and after the walk's position, inside and outside the window.
        arrivals += 1
        customer.ingest(
            gateway_id,
            [
                event(created=start + 500, id=f"late-early-{arrivals}"),
                event(created=start + 45_000, id=f"late-ahead-{arrivals}"),
                event(created=end + 10, id=f"outside-{arrivals}"),
            ],
        )
        if body["links"]["next"] is None:
            break
        assert "limit=3" in body["links"]["next"]
        response = api.client.get(body["links"]["next"], headers=customer.customer.admin_headers)
        assert response.status_code == 200, response.text
    assert len(seen) == len(set(seen))
    assert [name for name in seen if name.startswith("first-")] == [f"first-{n}" for n in range(7)]
    assert not any(name.startswith(("late-early", "outside")) for name in seen)


def test_next_token_alone_continues_the_same_walk(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    customer.ingest(gateway_id, [event(created=now_millis() - n) for n in range(4)])
    first = customer.customer.get("/events", params={"limit": "2"}).json()
    token = _token(first["links"]["next"])
    second = customer.customer.get("/events", params={"next_token": token, "limit": "2"}).json()
    deprecated = customer.customer.get("/events", params={"next_key": token, "limit": "2"}).json()
    assert second["items"] == deprecated["items"]
    ids = [item["id"] for item in first["items"] + second["items"]]
    assert len(set(ids)) == 4
    assert second["metadata"]["filters"] == first["metadata"]["filters"]


def test_the_gateway_filter(api: Api) -> None:
    customer = ScanCustomer.build(api)
    one, two = customer.gateway(), customer.gateway()
    customer.ingest(one, [event(), event()])
    customer.ingest(two, [event()])
    listed = customer.walk(gateway_id=two)
    assert [item["gateway_id"] for item in listed] == [two]
    page = customer.customer.get("/events", params={"gateway_id": one, "limit": "1"}).json()
    assert {"name": "gateway_id", "value": one} in page["metadata"]["filters"]
    assert f"gateway_id={one}" in page["links"]["next"]
    assert len(customer.walk(gateway_id=one, limit="1")) == 2
    unknown = "00000000-0000-0000-0000-000000000000"
    assert customer.customer.get("/events", params={"gateway_id": unknown}).json()["items"] == []


def test_customers_see_only_their_own_events(api: Api) -> None:
    one, two = ScanCustomer.build(api), ScanCustomer.build(api)
    one.ingest(one.gateway(), [event()])
    theirs = two.gateway()
    two.ingest(theirs, [event()])
    assert len(one.walk()) == 1
    assert one.walk(gateway_id=theirs) == []
    foreign = api.client.get(f"{PREFIX}/{two.customer.realm.id}/events", headers=one.customer.admin_headers)
    assert_error(foreign, 403)
    page = two.customer.get("/events", params={"limit": "1"})
    two.ingest(theirs, [event()])
    token = _token(two.customer.get("/events", params={"limit": "1"}).json()["links"]["next"])
    assert page.status_code == 200
    assert_error(one.customer.get("/events", params={"next_token": token}), 400, "next_token")


@pytest.mark.parametrize(
    ("params", "details"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"start_time_millis": "-1"}, "start_time_millis"),
        ({"start_time_millis": "yesterday"}, "start_time_millis"),
        ({"end_time_millis": "99999999999999999999"}, "end_time_millis"),
        ({"start_time_millis": "5000", "end_time_millis": "5000"}, "start_time_millis: must be before"),
        ({"end_time_millis": "1000"}, "start_time_millis: must be before"),
        ({"gateway_id": "gw-1"}, "gateway_id"),
        ({"next_token": "garbage"}, "next_token"),
        ({"next_token": "a", "next_key": "b"}, "next_key"),
    ],
)
def test_bad_parameters_are_a_400(api: Api, params: dict[str, str], details: str) -> None:
    customer = ScanCustomer.build(api)
    assert_error(customer.customer.get("/events", params=params), 400, details)


def test_a_token_cannot_be_reused_with_other_filters_or_forged(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    customer.ingest(gateway_id, [event(), event()])
    token = _token(customer.customer.get("/events", params={"limit": "1"}).json()["links"]["next"])
    assert_error(
        customer.customer.get("/events", params={"next_token": token, "gateway_id": gateway_id}), 400
    )
    assert_error(customer.customer.get("/events", params={"next_token": token, "end_time_millis": 5}), 400)
    fields = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    fields["f"] = fields["f"].rsplit("|", 3)[0] + "|0|99999999999999999999999|"
    forged = base64.urlsafe_b64encode(orjson.dumps(fields)).rstrip(b"=").decode()
    assert_error(customer.customer.get("/events", params={"next_token": forged}), 400, "next_token")


def test_reading_events_needs_a_token_of_the_customer(api: Api) -> None:
    customer = ScanCustomer.build(api)
    url = f"{PREFIX}/{customer.customer.realm.id}/events"
    assert_error(api.client.get(url), 401)
    assert_error(api.client.get(url, headers={"Authorization": "nonsense"}), 401)
    assert_error(api.client.get(f"{PREFIX}/not-a-uuid/events", headers=customer.customer.admin_headers), 400)


def test_a_page_holds_at_most_500_events(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    start = now_millis() - 10_000
    for batch in range(3):
        customer.ingest(gateway_id, [event(created=start + batch * 200 + n) for n in range(200)])
    body = customer.customer.get("/events").json()
    assert len(body["items"]) == 500
    rest = api.client.get(body["links"]["next"], headers=customer.customer.admin_headers).json()
    assert len(rest["items"]) == 100
    assert rest["links"]["next"] is None


def test_the_openapi_document_describes_events_exports_and_jobs(api: Api) -> None:
    document = api.client.get(f"{PREFIX}/openapi.json").json()
    paths = document["paths"]
    for path in (
        "/{customer_id}/events",
        "/{customer_id}/events/export",
        "/{customer_id}/events/export/tasks",
        "/{customer_id}/events/export/tasks/{task}",
        "/{customer_id}/job-configs",
        "/{customer_id}/job-configs/{job_config_id}",
        "/{customer_id}/job-analysis",
        "/{customer_id}/gateways/{gateway_id}/ingest-token",
    ):
        assert paths[path], path
    assert paths["/{customer_id}/events"]["get"]["security"] == [{"EndpointAuthorizer": []}]
    assert "422" not in paths["/{customer_id}/job-configs"]["post"]["responses"]
    # The gateway authenticates with its own token, not a user's IdToken.
    assert "security" not in paths["/gateway-ingest/{gateway_id}"]["post"]
