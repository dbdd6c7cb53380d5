"""Every list filter, the limit, the sorts and the page object of ``GET .../sessions``."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sessions_support import World, assert_error, group_ref, user_ref

from conftest import Api


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["sessionId"] for row in rows]


def test_property_filters_or_within_a_key_and_across_keys(api: Api) -> None:
    world = World.build(api)
    a_hud = world.create(properties={"department": "A", "deviceType": "HUD"})["sessionId"]
    b_hud = world.create(properties={"department": "B", "deviceType": "HUD"})["sessionId"]
    c_hud = world.create(properties={"department": "C", "deviceType": "HUD"})["sessionId"]
    a_tab = world.create(properties={"department": "A", "deviceType": "Tablet"})["sessionId"]
    world.create(properties={"deviceType": "HUD"})
    world.create()

    assert world.ids(**{"prop.department": "A"}) == [a_hud, a_tab]
    assert world.ids(**{"prop.department": "A,B"}) == [a_hud, b_hud, a_tab]
    assert world.ids(**{"prop.department": "A,B", "prop.deviceType": "HUD"}) == [a_hud, b_hud]
    assert world.ids(**{"prop.department": "C", "prop.deviceType": "Tablet"}) == []
    assert world.ids(**{"prop.department": "Z"}) == []
    assert world.ids(**{"prop.nosuchkey": "A"}) == []
    # Repeating a key is the same as listing its values.
    response = api.client.get(f"{world.base}?prop.department=A&prop.department=C", headers=world.headers)
    assert _ids(response.json()["data"]) == [a_hud, c_hud, a_tab]
    assert world.page(**{"prop.department": "A,B"})["page"]["total"] == 3


def test_property_filters_match_numbers_and_booleans_by_their_text(api: Api) -> None:
    world = World.build(api)
    order = world.create(properties={"productId": "ABC-123", "orderId": 123456})["sessionId"]
    other = world.create(properties={"productId": "ABC-124", "orderId": 7})["sessionId"]
    flagged = world.create(properties={"urgent": True, "weight": 2.5})["sessionId"]
    assert world.ids(**{"prop.orderId": "123456"}) == [order]
    assert world.ids(**{"prop.orderId": "123456,7"}) == [order, other]
    assert world.ids(**{"prop.orderId": "123456", "prop.productId": "ABC-123"}) == [order]
    assert world.ids(**{"prop.orderId": "123456", "prop.productId": "ABC-124"}) == []
    assert world.ids(**{"prop.urgent": "true"}) == [flagged]
    assert world.ids(**{"prop.weight": "2.5"}) == [flagged]


def test_the_spec_example_url_form_of_property_filters(api: Api) -> None:
    world = World.build(api)
    a = world.create(properties={"department": "A"})["sessionId"]
    b = world.create(properties={"department": "B"})["sessionId"]
    world.create(properties={"department": "C"})
    # Verbatim from the spec: ?%7Bprop.%2A%7D=prop.department%3DA%2CB&limit=50&sort=_id
    response = api.client.get(
        f"{world.base}?%7Bprop.%2A%7D=prop.department%3DA%2CB&limit=50&sort=_id", headers=world.headers
    )
    assert response.status_code == 200, response.text
    assert _ids(response.json()["data"]) == [a, b]
    response = api.client.get(f"{world.base}?%7Bprop.%2A%7D=department", headers=world.headers)
    assert_error(response, 400, "{prop.*}")


def test_status_filter(api: Api) -> None:
    world = World.build(api)
    open_one = world.create()["sessionId"]
    closed_one = world.create(status="closed")["sessionId"]
    closed_later = world.create()["sessionId"]
    world.patch(closed_later, status="closed")
    assert world.ids(status="open") == [open_one]
    assert world.ids(status="closed") == [closed_one, closed_later]
    assert_error(api.client.get(world.base, params={"status": "done"}, headers=world.headers), 400, "status")


def test_participants_filter_is_a_comma_separated_any_of(api: Api) -> None:
    world = World.build(api)
    alice, bob, carol = world.user(), world.user(), world.user()
    crew = api.group(world.realm, "crew", [])
    with_alice = world.create(participants=[user_ref(alice)])["sessionId"]
    with_bob = world.create(participants=[user_ref(bob), user_ref(alice)])["sessionId"]
    with_crew = world.create(participants=[group_ref(crew)])["sessionId"]
    world.create(participants=[user_ref(carol)])
    assert world.ids(participants=str(alice.id)) == [with_alice, with_bob]
    assert world.ids(participants=f"{bob.id},{crew.id}") == [with_bob, with_crew]
    assert world.ids(participants=f" {bob.id} , {crew.id} ") == [with_bob, with_crew]
    response = api.client.get(world.base, params={"participants": "nope"}, headers=world.headers)
    assert_error(response, 400, "participants")


def test_name_filter_is_an_exact_match(api: Api) -> None:
    world = World.build(api)
    pump = world.create(name="Pump")["sessionId"]
    world.create(name="Pump 2")
    world.create(name="pump")
    again = world.create(name="Pump")["sessionId"]
    assert world.ids(name="Pump") == [pump, again]
    assert world.ids(name="Pum") == []


def test_created_by_and_modified_by_filters(api: Api) -> None:
    world = World.build(api)
    manager, manager_headers = world.member("manager")
    mine = world.create()["sessionId"]
    theirs = world.create(manager_headers)["sessionId"]
    touched = world.create()["sessionId"]
    world.patch(touched, manager_headers, name="touched")
    assert world.ids(createdBy=str(world.admin.id)) == [mine, touched]
    assert world.ids(createdBy=str(manager.id)) == [theirs]
    assert world.ids(createdBy=f"{manager.id},{world.admin.id}") == [mine, theirs, touched]
    assert world.ids(modifiedBy=str(manager.id)) == [theirs, touched]
    assert world.ids(modifiedBy=str(world.admin.id)) == [mine]
    assert world.ids(createdBy=str(world.admin.id), modifiedBy=str(manager.id)) == [touched]
    for field in ("createdBy", "modifiedBy"):
        response = api.client.get(world.base, params={field: "x,y"}, headers=world.headers)
        assert_error(response, 400, field)


def test_created_and_modified_time_windows(api: Api) -> None:
    world = World.build(api)
    base = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
    old, middle, new = world.insert_sessions(
        [
            {"created_at": base, "modified_at": base + dt.timedelta(days=5)},
            {"created_at": base + dt.timedelta(days=1), "modified_at": base + dt.timedelta(days=1)},
            {"created_at": base + dt.timedelta(days=2), "modified_at": base + dt.timedelta(days=3)},
        ]
    )
    day = dt.timedelta(days=1)

    def iso(value: dt.datetime) -> str:
        return value.isoformat().replace("+00:00", "Z")

    assert world.ids(createdFrom=iso(base + day)) == [middle, new]
    assert world.ids(createdTo=iso(base + day)) == [old, middle]  # inclusive bounds
    assert world.ids(createdFrom=iso(base + day), createdTo=iso(base + day)) == [middle]
    assert world.ids(modifiedFrom=iso(base + 3 * day)) == [old, new]
    assert world.ids(modifiedTo=iso(base + 2 * day)) == [middle]
    assert world.ids(createdFrom=iso(base), modifiedTo=iso(base + 3 * day)) == [middle, new]
    # Offsets are honoured: 13:00+01:00 is 12:00Z.
    assert world.ids(createdFrom="2024-03-02T13:00:00+01:00", createdTo="2024-03-02T13:00:00+01:00") == [
        middle
    ]
    assert world.ids(createdFrom=iso(base + 10 * day)) == []


BAD_TIMES = [
    "yesterday",
    "2024-03-01",
    "2024-03-01T12:00:00",
    "2024-13-01T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-03-01T24:00:00Z",
    "2024-03-01T12:00:00+24:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2024-03-01T12:00:00Z\n",
]


def test_bad_time_filters_are_400(api: Api) -> None:
    world = World.build(api)
    for field in ("createdFrom", "createdTo", "modifiedFrom", "modifiedTo"):
        for value in BAD_TIMES:
            response = api.client.get(world.base, params={field: value}, headers=world.headers)
            assert_error(response, 400, field)


def test_an_unencoded_plus_in_a_time_filter_gets_a_hint(api: Api) -> None:
    world = World.build(api)
    response = api.client.get(f"{world.base}?createdFrom=2024-03-01T12:00:00+01:00", headers=world.headers)
    assert_error(response, 400, "createdFrom", "%2B")


def test_filters_combine_with_and(api: Api) -> None:
    world = World.build(api)
    worker = world.user()
    wanted = world.create(name="n", participants=[user_ref(worker)], properties={"k": "v"})["sessionId"]
    world.create(name="n", participants=[user_ref(worker)], properties={"k": "w"})
    world.create(name="n", properties={"k": "v"})
    world.create(name="m", participants=[user_ref(worker)], properties={"k": "v"})
    world.create(name="n", participants=[user_ref(worker)], properties={"k": "v"}, status="closed")
    params = {"name": "n", "participants": str(worker.id), "prop.k": "v", "status": "open"}
    body = world.page(**params)
    assert _ids(body["data"]) == [wanted]
    assert body["page"]["total"] == 1


@pytest.mark.parametrize(("limit", "count"), [(1, 1), (2, 2), (200, 5)])
def test_limit_bounds_the_page(api: Api, limit: int, count: int) -> None:
    world = World.build(api)
    world.insert_sessions([{} for _ in range(5)])
    page = world.page(limit=limit)["page"]
    assert page["count"] == count
    assert page["limit"] == limit
    assert page["total"] == 5
    assert (page["nextCursor"] is None) == (count == 5)
    assert page["prevCursor"] is None


def test_limit_defaults_to_50(api: Api) -> None:
    world = World.build(api)
    world.insert_sessions([{} for _ in range(60)])
    body = world.page()
    assert body["page"]["count"] == 50
    assert body["page"]["limit"] == 50
    assert body["page"]["total"] == 60
    assert body["page"]["nextCursor"]


def test_bad_limits_are_400(api: Api) -> None:
    world = World.build(api)
    for limit in ("0", "201", "-1", "abc", "1.5", "1e2", "99999999999999999999999"):
        response = api.client.get(f"{world.base}?limit={limit}", headers=world.headers)
        assert_error(response, 400, "limit")


def test_sorts_and_their_descending_forms(api: Api) -> None:
    world = World.build(api)
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = [
        {"name": "charlie", "created_at": base + dt.timedelta(minutes=2), "modified_at": base},
        {"name": "alpha", "created_at": base + dt.timedelta(minutes=3), "modified_at": base},
        {"name": "bravo", "created_at": base + dt.timedelta(minutes=1), "modified_at": base},
        {"name": "alpha", "created_at": base, "modified_at": base + dt.timedelta(hours=1)},
    ]
    c, a1, b, a2 = world.insert_sessions(rows)
    assert world.ids() == [c, a1, b, a2]
    assert world.ids(sort="_id") == [c, a1, b, a2]
    assert world.ids(sort="-_id") == [a2, b, a1, c]
    assert world.ids(sort="name") == [a1, a2, b, c]  # ties in creation order
    assert world.ids(sort="-name") == [c, b, a2, a1]
    assert world.ids(sort="createdAt") == [a2, b, c, a1]
    assert world.ids(sort="-createdAt") == [a1, c, b, a2]
    assert world.ids(sort="modifiedAt") == [c, a1, b, a2]
    assert world.ids(sort="-modifiedAt") == [a2, b, a1, c]


def test_bad_sorts_are_400(api: Api) -> None:
    world = World.build(api)
    for sort in ("size", "-", "--name", "Name", "name,createdAt", "+name", "created_at", "id"):
        response = api.client.get(world.base, params={"sort": sort}, headers=world.headers)
        assert_error(response, 400, "sort")


def test_modified_at_sort_follows_changes(api: Api) -> None:
    world = World.build(api)
    first = world.create(name="1")["sessionId"]
    second = world.create(name="2")["sessionId"]
    time.sleep(0.005)
    world.patch(first, name="changed")
    assert world.ids(sort="modifiedAt") == [second, first]
    assert world.ids(sort="-modifiedAt") == [first, second]


def test_unknown_query_parameters_are_ignored(api: Api) -> None:
    world = World.build(api)
    created = world.create()["sessionId"]
    assert world.ids(colour="blue", **{"prop.": "x"}) == [created]
