"""Gateways: CRUD, bulk-create (all or nothing), optimistic concurrency, connectivity status."""

from __future__ import annotations

import datetime as dt
import uuid

from insight_support import Customer, assert_error, custom_api

from conftest import Api
from fieldhub.core.config import Settings

GATEWAY = {"usecase": "Picking", "station": "Station3", "name": "Gateway1"}


def test_create_get_list_patch_gateway(api: Api) -> None:
    customer = Customer.build(api)
    response = customer.post("/gateways", GATEWAY)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["class"] == "gateway"
    assert created["type"] == "stationary"
    assert created["connectivity_status"] == "NOT_REGISTERED"
    assert created["thing_name"]
    assert created["created"] == created["last_updated"] > 0
    uuid.UUID(created["id"])

    by_id = customer.get(f"/gateways/{created['id']}")
    assert by_id.json() == created
    assert by_id.headers["etag"] == '"1"'
    assert customer.get(f"/gateways/{created['thing_name']}").json() == created
    listed = customer.get("/gateways", admin=False).json()
    assert [item["id"] for item in listed["items"]] == [created["id"]]

    patched = customer.patch(f"/gateways/{created['id']}", {"station": "S9", "name": "Renamed"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["station"], patched.json()["name"]) == ("S9", "Renamed")
    assert patched.json()["usecase"] == "Picking"
    assert patched.headers["etag"] == '"2"'
    assert customer.get(f"/gateways/{created['thing_name']}").json()["name"] == "Renamed"


def test_duplicate_name_is_409(api: Api) -> None:
    customer = Customer.build(api)
    first = customer.gateway("A")
    customer.gateway("B")
    assert_error(customer.post("/gateways", {**GATEWAY, "name": "A"}), 409, "already exists")
    assert_error(customer.patch(f"/gateways/{first['id']}", {"name": "B"}), 409)
    assert api.count("insight_gateways") == 2
    # The same name in another realm is fine.
    assert Customer.build(api).post("/gateways", {**GATEWAY, "name": "A"}).status_code == 201


def test_bulk_create_is_all_or_nothing(api: Api) -> None:
    customer = Customer.build(api)
    customer.gateway("Taken")
    good = [{**GATEWAY, "name": f"G{number}"} for number in range(3)]
    for bad_one, status in (
        ({**GATEWAY, "name": ""}, 400),
        ({"usecase": "x", "station": "y"}, 400),
        ({**GATEWAY, "name": "Taken"}, 409),
        ({**GATEWAY, "name": "G0"}, 409),
    ):
        assert_error(customer.post("/gateways/bulk-create", {"gateways": [*good, bad_one]}), status)
    assert api.count("insight_gateways") == 1
    assert_error(customer.post("/gateways/bulk-create", {"gateways": []}), 400)

    created = customer.post("/gateways/bulk-create", {"gateways": good})
    assert created.status_code == 201, created.text
    assert [g["name"] for g in created.json()] == ["G0", "G1", "G2"]
    assert api.count("insight_gateways") == 4


def test_stale_if_match_is_409_and_changes_nothing(api: Api) -> None:
    customer = Customer.build(api)
    gateway = customer.gateway("A")
    path = f"/gateways/{gateway['id']}"
    assert customer.patch(path, {"station": "first"}, headers={"If-Match": '"1"'}).status_code == 200
    # A client that read version 1 and did not see the change above must not overwrite it.
    assert_error(customer.patch(path, {"station": "lost"}, headers={"If-Match": '"1"'}), 409, "concurrently")
    assert customer.get(path).json()["station"] == "first"
    assert_error(customer.patch(path, {"station": "x"}, headers={"If-Match": "abc"}), 400, "If-Match")


def test_bad_gateway_input_is_400_and_changes_nothing(api: Api) -> None:
    customer = Customer.build(api)
    gateway = customer.gateway("A")
    for body in (
        {**GATEWAY, "name": "x" * 129},
        {**GATEWAY, "usecase": None},
        {**GATEWAY, "station": "a\x00"},
        {**GATEWAY, "connectivity_status": "ACTIVE"},
    ):
        assert_error(customer.post("/gateways", body), 400)
    assert_error(customer.patch(f"/gateways/{gateway['id']}", {"connectivity_status": "ACTIVE"}), 400)
    assert_error(
        customer.post("/gateways", content=b"{not json", headers={"Content-Type": "application/json"}), 400
    )
    assert_error(customer.get("/gateways", params={"limit": "0"}), 400, "limit")
    assert_error(customer.get("/gateways", params={"limit": "many"}), 400, "limit")
    assert_error(customer.get("/gateways", params={"next_token": "!!"}), 400, "next_token")
    assert api.count("insight_gateways") == 1
    assert customer.get(f"/gateways/{gateway['id']}").json() == gateway


def test_huge_body_is_413(settings: Settings) -> None:
    with custom_api(settings, max_json_body_bytes=4096) as api:
        customer = Customer.build(api)
        body = {"gateways": [{**GATEWAY, "name": f"G{number}"} for number in range(200)]}
        assert_error(customer.post("/gateways/bulk-create", body), 413)
        assert api.count("insight_gateways") == 0


def test_unknown_and_foreign_gateways_are_404(api: Api) -> None:
    customer, other = Customer.build(api), Customer.build(api)
    foreign = other.gateway("Theirs")
    for reference in (foreign["id"], foreign["thing_name"], str(uuid.uuid4()), "no-such-thing"):
        assert_error(customer.get(f"/gateways/{reference}"), 404)
        assert_error(customer.patch(f"/gateways/{reference}", {"name": "Mine"}), 404)
    assert other.get(f"/gateways/{foreign['id']}").json()["name"] == "Theirs"


def test_user_role_cannot_create_or_change_gateways(api: Api) -> None:
    customer = Customer.build(api)
    gateway = customer.gateway("A")
    assert_error(customer.post("/gateways", GATEWAY, admin=False), 403, "gateways.create")
    assert_error(customer.post("/gateways/bulk-create", {"gateways": [GATEWAY]}, admin=False), 403)
    assert_error(customer.patch(f"/gateways/{gateway['id']}", {"name": "B"}, admin=False), 403)
    assert_error(customer.post(f"/gateways/{gateway['id']}/prepare-provisioning", admin=False), 403)
    assert api.count("insight_gateways") == 1
    assert customer.get(f"/gateways/{gateway['id']}").json()["name"] == "A"


def test_gateway_pagination(api: Api) -> None:
    customer = Customer.build(api)
    body = {"gateways": [{**GATEWAY, "name": f"G{number:02}"} for number in range(7)]}
    assert customer.post("/gateways/bulk-create", body).status_code == 201
    names: list[str] = []
    link = customer.url("/gateways?limit=3")
    while link:
        page = api.client.get(link, headers=customer.admin_headers).json()
        assert page["metadata"]["size"] == len(page["items"]) <= 3
        names += [item["name"] for item in page["items"]]
        link = page["links"]["next"]
    assert names == [f"G{number:02}" for number in range(7)]


def test_connectivity_status_follows_the_state_machine(api: Api) -> None:
    customer = Customer.build(api)
    gateway = customer.gateway("A")
    path = f"/gateways/{gateway['id']}"
    assert customer.get(path).json()["connectivity_status"] == "NOT_REGISTERED"
    customer.prepare(gateway["id"])
    assert customer.get(path).json()["connectivity_status"] == "REGISTERING"
    now = dt.datetime.now(dt.UTC)
    customer.gateway_seen(gateway["id"], now - dt.timedelta(minutes=5))
    assert customer.get(path).json()["connectivity_status"] == "ACTIVE"
    customer.gateway_seen(gateway["id"], now - dt.timedelta(hours=2, minutes=1))
    assert customer.get(path).json()["connectivity_status"] == "INACTIVE"


def test_activity_window_is_configurable(settings: Settings) -> None:
    with custom_api(settings, insight_gateway_active_seconds=60) as api:
        customer = Customer.build(api)
        gateway = customer.gateway("A")
        customer.gateway_seen(gateway["id"], dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
        assert customer.get(f"/gateways/{gateway['id']}").json()["connectivity_status"] == "INACTIVE"


def test_odd_gateway_references_are_404_not_500(api: Api) -> None:
    customer = Customer.build(api)
    customer.gateway("A")
    for reference in ("a%00b", "%C3%A9t%C3%A9", "gw-" + "0" * 32, "x" * 300):
        assert_error(customer.get(f"/gateways/{reference}"), 404)
        assert_error(customer.patch(f"/gateways/{reference}", {"name": "B"}), 404)
