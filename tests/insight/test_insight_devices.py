"""Scanners (``/devices``) and device configuration files in the blob store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from insight_support import Customer, assert_error, custom_api

from conftest import Api
from fieldhub.core.config import Settings


def test_list_scanners_and_set_their_status(api: Api) -> None:
    customer = Customer.build(api)
    seen = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    customer.scanner("M2MR101000000", battery=50, firmware="0.0.1", model="Mark", last_activity_at=seen)
    customer.scanner("M2MR101000001")
    Customer.build(api).scanner("FOREIGN")

    listed = customer.get("/devices", admin=False).json()
    assert [item["id"] for item in listed["items"]] == ["M2MR101000000", "M2MR101000001"]
    first = listed["items"][0]
    assert (first["class"], first["status"], first["battery"], first["model"]) == (
        "device",
        "ACTIVE",
        50,
        "Mark",
    )
    assert first["last_activity_time"] == int(seen.timestamp() * 1000)

    changed = customer.put("/devices/M2MR101000000", json={"status": "INACTIVE"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "INACTIVE"
    assert customer.get("/devices").json()["items"][0]["status"] == "INACTIVE"


def test_scanner_pagination(api: Api) -> None:
    customer = Customer.build(api)
    for number in range(5):
        customer.scanner(f"S{number}")
    first = customer.get("/devices", params={"limit": "2"}).json()
    assert [item["id"] for item in first["items"]] == ["S0", "S1"]
    token = first["links"]["next"].split("next_token=")[1]
    second = customer.get("/devices", params={"limit": "2", "next_token": token}).json()
    assert [item["id"] for item in second["items"]] == ["S2", "S3"]


def test_bad_scanner_changes(api: Api) -> None:
    customer, other = Customer.build(api), Customer.build(api)
    customer.scanner("S1")
    other.scanner("THEIRS")
    assert_error(customer.put("/devices/S1", json={"status": "BROKEN"}), 400)
    assert_error(customer.put("/devices/S1", json={}), 400)
    assert_error(customer.put("/devices/NOPE", json={"status": "INACTIVE"}), 404)
    assert_error(customer.put("/devices/THEIRS", json={"status": "INACTIVE"}), 404)
    assert_error(customer.put("/devices/S1", json={"status": "INACTIVE"}, admin=False), 403, "devices.update")
    assert customer.get("/devices").json()["items"][0]["status"] == "ACTIVE"
    assert other.get("/devices").json()["items"][0]["status"] == "ACTIVE"


@pytest.mark.usefixtures("blob_backend")
def test_device_config_put_get_list_replace_delete(api: Api) -> None:
    customer = Customer.build(api)
    content = b"\x00binary config\xff" * 1000
    stored = customer.put(
        "/device-configs/scanner-default",
        content=content,
        headers={"File-Name": "very important config file.", "Content-Type": "application/octet-stream"},
    )
    assert stored.status_code == 200, stored.text
    meta = stored.json()
    assert (meta["id"], meta["name"], meta["file_size"]) == (
        "scanner-default",
        "very important config file.",
        len(content),
    )
    assert meta["class"] == "device_config"
    assert meta["created"] == meta["last_modified"]

    fetched = customer.get("/device-configs/scanner-default", admin=False)
    assert fetched.status_code == 200
    assert fetched.content == content
    assert fetched.headers["content-type"] == "application/octet-stream"
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert customer.get("/device-configs", admin=False).json() == {"configs": [meta]}

    replaced = customer.put("/device-configs/scanner-default", content=b"v2", headers={"File-Name": "v2.cfg"})
    assert replaced.json()["file_size"] == 2
    assert replaced.json()["created"] == meta["created"]
    assert customer.get("/device-configs/scanner-default").content == b"v2"

    assert customer.delete("/device-configs/scanner-default").status_code == 204
    assert_error(customer.get("/device-configs/scanner-default"), 404)
    assert customer.get("/device-configs").json() == {"configs": []}


def test_streamed_upload_without_content_length(api: Api) -> None:
    customer = Customer.build(api)

    def chunks() -> Iterator[bytes]:
        for number in range(50):
            yield bytes([number]) * 10_000

    response = customer.put("/device-configs/streamed", content=chunks(), headers={"File-Name": "s.bin"})
    assert response.status_code == 200, response.text
    assert response.json()["file_size"] == 500_000
    assert len(customer.get("/device-configs/streamed").content) == 500_000


def test_file_name_is_stored_as_metadata_and_sent_encoded(api: Api) -> None:
    customer = Customer.build(api)
    name = '../../etc/passwd"; x=<script>'
    assert customer.put("/device-configs/c1", content=b"x", headers={"File-Name": name}).status_code == 200
    disposition = customer.get("/device-configs/c1").headers["content-disposition"]
    assert disposition.startswith("attachment; filename*=UTF-8''")
    assert '"' not in disposition.split("''", 1)[1]
    assert "/" not in disposition.split("''", 1)[1]
    assert customer.get("/device-configs").json()["configs"][0]["name"] == name


def test_bad_config_uploads_store_nothing(api: Api) -> None:
    customer = Customer.build(api)
    assert_error(customer.put("/device-configs/c1", content=b"x"), 400, "File-Name")
    assert_error(
        customer.put("/device-configs/c1", content=b"x", headers={"File-Name": "a\tb"}), 400, "File-Name"
    )
    assert_error(customer.put("/device-configs/bad%20id", content=b"x", headers={"File-Name": "a"}), 400)
    assert_error(customer.put("/device-configs/" + "x" * 129, content=b"x", headers={"File-Name": "a"}), 400)
    assert_error(
        customer.put("/device-configs/c1", content=b"x", headers={"File-Name": "a"}, admin=False), 403
    )
    assert_error(
        customer.api.client.put(customer.url("/device-configs/c1"), content=b"x", headers={"File-Name": "a"}),
        401,
    )
    assert api.count("insight_device_configs") == 0
    assert_error(customer.delete("/device-configs/c1"), 404)
    assert_error(customer.delete("/device-configs/c1", admin=False), 403)


def test_foreign_configs_are_404(api: Api) -> None:
    customer, other = Customer.build(api), Customer.build(api)
    assert other.put("/device-configs/c1", content=b"theirs", headers={"File-Name": "a"}).status_code == 200
    assert_error(customer.get("/device-configs/c1"), 404)
    assert_error(customer.delete("/device-configs/c1"), 404)
    assert customer.get("/device-configs").json() == {"configs": []}
    assert other.get("/device-configs/c1").content == b"theirs"


def test_config_size_limit_declared_and_streamed(settings: Settings) -> None:
    with custom_api(settings, insight_device_config_max_bytes=1000) as api:
        customer = Customer.build(api)
        assert (
            customer.put("/device-configs/ok", content=b"x" * 1000, headers={"File-Name": "a"}).status_code
            == 200
        )
        assert_error(
            customer.put("/device-configs/big", content=b"x" * 1001, headers={"File-Name": "a"}), 413
        )

        def chunks() -> Iterator[bytes]:
            yield b"x" * 600
            yield b"x" * 600

        assert_error(customer.put("/device-configs/big", content=chunks(), headers={"File-Name": "a"}), 413)
        assert [c["id"] for c in customer.get("/device-configs").json()["configs"]] == ["ok"]
        blobs = (
            list((settings.data_dir / "blobs").rglob("*")) if (settings.data_dir / "blobs").exists() else []
        )
        assert len([path for path in blobs if path.is_file()]) == 1


def test_odd_scanner_ids_are_404_not_500(api: Api) -> None:
    customer = Customer.build(api)
    customer.scanner("S1")
    for serial in ("a%00b", "x" * 300, "%C3%A9"):
        assert_error(customer.put(f"/devices/{serial}", json={"status": "INACTIVE"}), 404)
    assert_error(customer.get("/device-configs/a%00b"), 400)
