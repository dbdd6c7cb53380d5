"""Job configs and the job analysis over stored scan events."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from scans_support import PREFIX, ScanCustomer, assert_error, event

from conftest import Api


def _config(customer: ScanCustomer, gateway_ids: list[str], **fields: Any) -> dict[str, Any]:
    body = {"job_name": f"job-{uuid.uuid4().hex[:6]}", "start_barcode": "START", "end_barcode": "END"}
    response = customer.customer.post("/job-configs", {**body, "gateway_ids": gateway_ids, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_job_configs_are_created_listed_read_changed_and_deleted(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    empty = customer.customer.get("/job-configs", admin=False)
    assert empty.json()["items"] == []
    created = _config(customer, [gateway_id.upper()], job_name="Packing job 1")
    assert created["class"] == "jobconfig"
    assert created["version"] == 1
    assert created["gateway_ids"] == [gateway_id]
    assert created["created"] == created["last_updated"]

    listed = customer.customer.get("/job-configs", admin=False)
    assert listed.json()["items"] == [created]
    assert listed.headers["etag"].isdigit()
    assert listed.headers["etag"] != empty.headers["etag"]
    config_id = created["job_config_id"]
    assert customer.customer.get(f"/job-configs/{config_id}", admin=False).json() == created

    changed = customer.customer.patch(f"/job-configs/{config_id}", {"end_barcode": "DONE"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["version"], changed.json()["end_barcode"]) == (2, "DONE")
    again = customer.customer.get("/job-configs")
    assert again.headers["etag"] != listed.headers["etag"]
    unchanged = customer.customer.patch(f"/job-configs/{config_id}", {"end_barcode": "DONE"})
    assert unchanged.json()["version"] == 2
    assert customer.customer.get("/job-configs").headers["etag"] == again.headers["etag"]

    assert customer.customer.delete(f"/job-configs/{config_id}").status_code == 204
    assert_error(customer.customer.get(f"/job-configs/{config_id}"), 404)
    assert_error(customer.customer.delete(f"/job-configs/{config_id}"), 404)
    assert customer.customer.get("/job-configs").headers["etag"] == empty.headers["etag"]


def test_job_names_are_unique_per_customer(api: Api) -> None:
    one, two = ScanCustomer.build(api), ScanCustomer.build(api)
    first = _config(one, [one.gateway()], job_name="Packing")
    assert_error(
        one.customer.post(
            "/job-configs",
            {
                "job_name": "Packing",
                "start_barcode": "A",
                "end_barcode": "B",
                "gateway_ids": first["gateway_ids"],
            },
        ),
        409,
        "already exists",
    )
    _config(two, [two.gateway()], job_name="Packing")
    other = _config(one, first["gateway_ids"], job_name="Sorting")
    assert_error(one.customer.patch(f"/job-configs/{other['job_config_id']}", {"job_name": "Packing"}), 409)
    assert api.count("insight_job_configs") == 3


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"start_barcode": "A", "end_barcode": "B", "gateway_ids": ["{gw}"]}, "job_name"),
        ({"job_name": "", "start_barcode": "A", "end_barcode": "B", "gateway_ids": ["{gw}"]}, "job_name"),
        (
            {"job_name": "J", "start_barcode": "", "end_barcode": "B", "gateway_ids": ["{gw}"]},
            "start_barcode",
        ),
        ({"job_name": "J", "start_barcode": "A", "end_barcode": "B", "gateway_ids": []}, "gateway_ids"),
        ({"job_name": "J", "start_barcode": "A", "end_barcode": "B", "gateway_ids": ["gw-1"]}, "gateway_ids"),
        (
            {"job_name": "J", "start_barcode": "A", "end_barcode": "B", "gateway_ids": ["{gw}", "{gw}"]},
            "more than once",
        ),
        (
            {"job_name": "J", "start_barcode": "A", "end_barcode": "B", "gateway_ids": ["{theirs}"]},
            "no gateway",
        ),
        ({"job_name": "J", "start_barcode": "A", "end_barcode": "B", "gateway_ids": ["{gw}"], "x": 1}, "x"),
        ({"job_name": "J", "start_barcode": "A\x00", "end_barcode": "B", "gateway_ids": ["{gw}"]}, "NUL"),
    ],
)
def test_bad_job_configs_are_a_400_and_change_nothing(api: Api, body: dict[str, Any], details: str) -> None:
    customer, other = ScanCustomer.build(api), ScanCustomer.build(api)
    names = {"{gw}": customer.gateway(), "{theirs}": other.gateway()}
    body = {**body, "gateway_ids": [names.get(value, value) for value in body["gateway_ids"]]}
    assert_error(customer.customer.post("/job-configs", body), 400, details)
    assert api.count("insight_job_configs") == 0


def test_job_config_permissions_and_isolation(api: Api) -> None:
    customer, other = ScanCustomer.build(api), ScanCustomer.build(api)
    gateway_id = customer.gateway()
    body = {"job_name": "J", "start_barcode": "A", "end_barcode": "B", "gateway_ids": [gateway_id]}
    assert_error(customer.customer.post("/job-configs", body, admin=False), 403, "job_configs.write")
    created = _config(customer, [gateway_id])
    path = f"/job-configs/{created['job_config_id']}"
    assert_error(customer.customer.patch(path, {"job_name": "K"}, admin=False), 403)
    assert_error(customer.customer.delete(path, admin=False), 403)
    assert_error(other.customer.get(path), 404)
    assert_error(other.customer.delete(path), 404)
    assert_error(other.customer.patch(path, {"job_name": "K"}), 404)
    assert_error(customer.customer.get("/job-configs/not-a-uuid"), 400, "job_config_id")
    assert_error(api.client.get(f"{PREFIX}/{customer.customer.realm.id}/job-configs"), 401)
    foreign = api.client.get(
        f"{PREFIX}/{other.customer.realm.id}/job-configs", headers=customer.customer.admin_headers
    )
    assert_error(foreign, 403)
    assert customer.customer.get(path).json()["version"] == 1


def test_a_stale_change_is_a_conflict(api: Api) -> None:
    customer = ScanCustomer.build(api)
    created = _config(customer, [customer.gateway()])
    path = f"/job-configs/{created['job_config_id']}"
    read = customer.customer.get(path).headers["etag"]
    assert (
        customer.customer.patch(path, {"start_barcode": "S2"}, headers={"If-Match": read}).status_code == 200
    )
    assert_error(customer.customer.patch(path, {"start_barcode": "S3"}, headers={"If-Match": read}), 409)
    assert_error(customer.customer.patch(path, {"start_barcode": "S3"}, headers={"If-Match": "soon"}), 400)
    assert_error(customer.customer.patch(path, {}), 400, "at least one")
    assert customer.customer.get(path).json()["start_barcode"] == "S2"


def _analyse(customer: ScanCustomer, config_id: str, start: int, end: int) -> list[dict[str, Any]]:
    response = customer.customer.post(
        "/job-analysis", {"job_config_id": config_id, "start_time": start, "end_time": end}, admin=False
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def _scan(code: str, created: int) -> dict[str, Any]:
    return event(scan_code=code, created=created, id=f"{code}@{created}")


def test_job_analysis_pairs_starts_and_ends_per_gateway(api: Api) -> None:
    customer = ScanCustomer.build(api)
    one, two, idle = customer.gateway(), customer.gateway(), customer.gateway()
    customer.ingest(
        one,
        [
            _scan("END-orphan", 1000),  # an end with no start: ignored
            _scan("START-1", 2000),
            _scan("other", 2500),
            _scan("END-1", 3000),
            _scan("START-2", 4000),
            _scan("START-3", 5000),  # a second start before an end restarts the job
            _scan("END-3", 6000),
            _scan("START-open", 7000),  # still open at the window's end
        ],
    )
    customer.ingest(two, [_scan("START-x", 2000), _scan("END-x", 2000)])  # equal timestamps, in arrival order
    customer.ingest(two, [_scan("END-y", 4000), _scan("START-y", 4000)])  # an end first: nothing to close
    config = _config(customer, [one, two, idle])
    results = _analyse(customer, config["job_config_id"], 0, 10_000)
    assert [result["gateway_id"] for result in results] == [one, two, idle]
    assert results[0]["jobs"] == [
        {
            "start_time": 2000,
            "end_time": 3000,
            "start_event_id": "START-1@2000",
            "end_event_id": "END-1@3000",
        },
        {
            "start_time": 5000,
            "end_time": 6000,
            "start_event_id": "START-3@5000",
            "end_event_id": "END-3@6000",
        },
        {"start_time": 7000, "end_time": None, "start_event_id": "START-open@7000", "end_event_id": None},
    ]
    assert results[1]["jobs"] == [
        {
            "start_time": 2000,
            "end_time": 2000,
            "start_event_id": "START-x@2000",
            "end_event_id": "END-x@2000",
        },
        {"start_time": 4000, "end_time": None, "start_event_id": "START-y@4000", "end_event_id": None},
    ]
    assert results[2]["jobs"] == []

    # The window cuts: a job whose start lies before it has only an (ignored) end inside it.
    cut = _analyse(customer, config["job_config_id"], 2500, 6500)
    assert [job["start_event_id"] for job in cut[0]["jobs"]] == ["START-3@5000"]


def test_prefixes_are_case_sensitive_and_literal(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    customer.ingest(
        gateway_id,
        [
            _scan("start-lower", 1000),
            _scan("S%X", 1500),
            _scan("S_1", 2000),
            _scan("E_1", 3000),
            _scan("EX", 3500),
        ],
    )
    config = _config(customer, [gateway_id], start_barcode="S_", end_barcode="E_")
    jobs = _analyse(customer, config["job_config_id"], 0, 10_000)[0]["jobs"]
    assert jobs == [
        {"start_time": 2000, "end_time": 3000, "start_event_id": "S_1@2000", "end_event_id": "E_1@3000"}
    ]


def test_a_scan_matching_both_prefixes_ends_an_open_job_or_starts_one(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    customer.ingest(gateway_id, [_scan("JOB-a", 1000), _scan("JOB-b", 2000), _scan("JOB-c", 3000)])
    config = _config(customer, [gateway_id], start_barcode="JOB", end_barcode="JOB")
    jobs = _analyse(customer, config["job_config_id"], 0, 10_000)[0]["jobs"]
    assert [(job["start_time"], job["end_time"]) for job in jobs] == [(1000, 2000), (3000, None)]


@pytest.mark.parametrize(
    ("body", "status", "details"),
    [
        ({"job_config_id": "{config}", "start_time": 10, "end_time": 10}, 400, "start_time: must be before"),
        ({"job_config_id": "{config}", "start_time": -1, "end_time": 10}, 400, "start_time"),
        ({"job_config_id": "{config}", "start_time": "soon", "end_time": 10}, 400, "start_time"),
        ({"job_config_id": "{config}", "start_time": 0}, 400, "end_time"),
        ({"job_config_id": "nope", "start_time": 0, "end_time": 10}, 400, "job_config_id"),
        ({"job_config_id": "{unknown}", "start_time": 0, "end_time": 10}, 404, "Job config not found"),
        ({"job_config_id": "{theirs}", "start_time": 0, "end_time": 10}, 404, "Job config not found"),
    ],
)
def test_bad_job_analysis_requests(api: Api, body: dict[str, Any], status: int, details: str) -> None:
    customer, other = ScanCustomer.build(api), ScanCustomer.build(api)
    names = {
        "{config}": _config(customer, [customer.gateway()])["job_config_id"],
        "{theirs}": _config(other, [other.gateway()])["job_config_id"],
        "{unknown}": str(uuid.uuid4()),
    }
    body = {**body, "job_config_id": names.get(body["job_config_id"], body["job_config_id"])}
    assert_error(customer.customer.post("/job-analysis", body), status, details)
