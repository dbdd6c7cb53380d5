"""Event exports: at once (201 + link) and as background tasks, on both blob stores."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from scans_support import PREFIX, ScanCustomer, assert_error, custom_api, event, now_millis, wait_for_task
from sqlalchemy import update

from conftest import Api
from fieldhub.core.config import Settings
from fieldhub.core.db import utcnow
from fieldhub.core.runtime import Runtime
from fieldhub.core.tasks.models import BackgroundTask
from fieldhub.insight.scans.export import ExportService
from fieldhub.insight.scans.repository import ScanRepository, TimeWindow
from fieldhub.insight.scans.tokens import ExportFile, sign_download

HEADER = [
    "id",
    "class",
    "type",
    "created",
    "scan_code",
    "scan_duration",
    "scan_decode_symbology",
    "device_id",
    "device_battery",
    "device_firmware",
    "device_temperature",
    "gateway_id",
    "gateway_usecase",
    "gateway_station",
    "metrics_worker_steps",
]


def _download(api: Api, link: str) -> Any:
    parts = urlsplit(link)
    return api.client.get(parts.path, params={k: v[0] for k, v in parse_qs(parts.query).items()})


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode())))


@pytest.mark.usefixtures("blob_backend")
def test_export_writes_a_csv_with_the_spec_field_names(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    start = now_millis() - 10_000
    events = [event(created=start + n, device_battery=None if n == 1 else 50) for n in range(3)]
    customer.ingest(gateway_id, events)
    customer.ingest(gateway_id, [event(created=start - 20_000)])  # outside the window
    response = customer.customer.get("/events/export", params={"start_time_millis": start}, admin=False)
    assert response.status_code == 201, response.text
    downloaded = _download(api, response.json()["download_link"])
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.headers["content-type"].startswith("text/csv")
    assert "attachment" in downloaded.headers["content-disposition"]
    rows = _csv_rows(downloaded.content)
    assert rows[0] == HEADER
    assert [row[0] for row in rows[1:]] == [item["id"] for item in events]
    first = dict(zip(HEADER, rows[1], strict=True))
    assert first["class"] == "event"
    assert first["created"] == str(start)
    assert first["gateway_id"] == gateway_id
    assert first["scan_duration"] == "2.34"
    assert dict(zip(HEADER, rows[2], strict=True))["device_battery"] == ""


def test_export_as_json_lines_keeps_values_exactly(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    formula = event(scan_code='=HYPERLINK("http://evil")', device_firmware="-1")
    customer.ingest(gateway_id, [formula])
    csv_link = customer.customer.get("/events/export").json()["download_link"]
    row = dict(zip(HEADER, _csv_rows(_download(api, csv_link).content)[1], strict=True))
    # A spreadsheet must not run a barcode as a formula; the JSON Lines file has the raw value.
    assert row["scan_code"] == '\'=HYPERLINK("http://evil")'
    assert row["device_firmware"] == "'-1"
    response = customer.customer.get("/events/export", params={"format": "jsonl"})
    assert response.status_code == 201, response.text
    downloaded = _download(api, response.json()["download_link"])
    assert downloaded.headers["content-type"].startswith("application/x-ndjson")
    lines = downloaded.content.splitlines()
    assert [orjson.loads(line) for line in lines] == [
        {
            **formula,
            "class": "event",
            "gateway_id": gateway_id,
            "gateway_usecase": "Picking",
            "gateway_station": "S1",
        }
    ]


def test_an_empty_window_exports_only_the_header(api: Api) -> None:
    customer = ScanCustomer.build(api)
    link = customer.customer.get("/events/export").json()["download_link"]
    assert _csv_rows(_download(api, link).content) == [HEADER]


@pytest.mark.parametrize(
    ("params", "details"),
    [
        ({"format": "parquet"}, "unsupported format"),
        ({"format": "xlsx"}, "format: must be csv or jsonl"),
        ({"start_time_millis": "10", "end_time_millis": "5"}, "start_time_millis: must be before"),
        ({"start_time_millis": "-5"}, "start_time_millis"),
    ],
)
def test_bad_export_requests_are_a_400_and_write_nothing(
    api: Api, params: dict[str, str], details: str
) -> None:
    customer = ScanCustomer.build(api)
    assert_error(customer.customer.get("/events/export", params=params), 400, details)
    assert_error(customer.customer.post("/events/export/tasks", params=params), 400, details)
    assert api.count("insight_event_exports") == 0
    assert api.count("background_tasks") == 0


def test_download_links_are_checked(api: Api) -> None:
    customer = ScanCustomer.build(api)
    link = customer.customer.get("/events/export").json()["download_link"]
    parts = urlsplit(link)
    signature = parse_qs(parts.query)["signature"][0]
    assert_error(api.client.get(parts.path, params={"signature": signature[:-4] + "AAAA"}), 403)
    assert_error(
        api.client.get(f"{PREFIX}/event-exports/{uuid.uuid4()}", params={"signature": signature}), 403
    )
    assert_error(api.client.get(parts.path), 400)
    expired = sign_download(
        api.runtime.signing_key,
        issuer=api.runtime.settings.issuer,
        file=ExportFile(
            realm_id=customer.customer.realm.id,
            export_id=uuid.UUID(parts.path.rsplit("/", 1)[1]),
            format="csv",
        ),
        now=utcnow() - dt.timedelta(minutes=6),
    )
    assert_error(api.client.get(parts.path, params={"signature": expired}), 403, "expired")
    # A user's access token is no download signature.
    assert_error(
        api.client.get(parts.path, params={"signature": customer.customer.admin_headers["Authorization"]}),
        403,
    )


@pytest.mark.usefixtures("blob_backend")
def test_an_export_task_runs_in_the_background(api: Api) -> None:
    customer = ScanCustomer.build(api)
    gateway_id = customer.gateway()
    events = [event(created=now_millis() - n) for n in range(5)]
    customer.ingest(gateway_id, events)
    accepted = customer.customer.post("/events/export/tasks", params={"format": "jsonl"}, admin=False)
    assert accepted.status_code == 202, accepted.text
    task = accepted.json()["task"]
    assert dt.datetime.fromisoformat(accepted.json()["requested"]).tzinfo is not None
    done = wait_for_task(customer.customer, task)
    assert (done["status"], done["completed"], done["task"]) == ("SUCCESSFUL", True, task)
    lines = _download(api, done["download_link"]).content.splitlines()
    assert sorted(orjson.loads(line)["id"] for line in lines) == sorted(item["id"] for item in events)
    # Each call signs a fresh link.
    again = customer.customer.get(f"/events/export/tasks/{task}").json()
    assert _download(api, again["download_link"]).status_code == 200


def test_export_tasks_of_another_customer_do_not_exist(api: Api) -> None:
    one, two = ScanCustomer.build(api), ScanCustomer.build(api)
    task = two.customer.post("/events/export/tasks").json()["task"]
    assert_error(one.customer.get(f"/events/export/tasks/{task}"), 404)
    assert_error(one.customer.get(f"/events/export/tasks/{uuid.uuid4()}"), 404)
    assert_error(one.customer.get("/events/export/tasks/not-a-uuid"), 400, "task")
    foreign = api.client.get(
        f"{PREFIX}/{two.customer.realm.id}/events/export/tasks/{task}", headers=one.customer.admin_headers
    )
    assert_error(foreign, 403)
    assert_error(api.client.post(f"{PREFIX}/{one.customer.realm.id}/events/export/tasks"), 401)


class _BrokenStore:
    def writer(self, key: str) -> Any:
        raise OSError("the disk is full")


def test_an_export_task_that_keeps_failing_is_reported_failed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = ScanCustomer.build(api)
    monkeypatch.setattr(api.runtime, "blobs", _BrokenStore())
    task = customer.customer.post("/events/export/tasks").json()["task"]
    done = wait_for_task(customer.customer, task)
    assert (done["status"], done["completed"]) == ("FAILED", True)
    assert "download_link" not in done


def test_a_pending_task_left_by_a_killed_server_runs_after_a_restart(settings: Settings) -> None:
    with custom_api(settings) as first:
        customer = ScanCustomer.build(first)
        customer.ingest(customer.gateway(), [event(), event()])
    # As a killed server leaves it: the export PENDING, its task claimed by a runner that is gone.
    runtime = Runtime.build(settings)
    with runtime.db.unit_of_work() as uow:
        repo = ScanRepository(uow.session, realm_id=customer.customer.realm.id)
        now = utcnow()
        window = TimeWindow(0, now_millis() + 1)
        export = ExportService(repo).request(window=window, file_format="csv", now=now)
        uow.session.flush()
        uow.session.execute(
            update(BackgroundTask).values(
                status="running", attempts=1, lease_expires_at=now - dt.timedelta(seconds=1)
            )
        )
    runtime.close()
    with custom_api(settings) as second:
        customer.customer.api = second
        done = wait_for_task(customer.customer, str(export.id))
        assert done["status"] == "SUCCESSFUL"
        assert len(_csv_rows(_download(second, done["download_link"]).content)) == 3
