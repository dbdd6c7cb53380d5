"""Request, response and message models named after the spec's event and job objects."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from fieldhub.insight.schemas import Links, Metadata, RequestModel, Text128

#: 9999-12-31T23:59:59.999Z: the largest time every engine and ``datetime`` can represent.
MAX_MILLIS = 253_402_300_799_999
#: Longest scan code kept (a QR code holds at most 7,089 digits; 4,096 characters covers real codes).
MAX_SCAN_CODE = 4096
MAX_JOB_GATEWAYS = 100
EXPORT_FORMATS = ("csv", "jsonl", "parquet")


def _storable(value: str) -> str:
    """Text both engines store as given: PostgreSQL refuses NUL, and lone surrogates cannot be
    encoded.  Other control characters stay: GS1 barcodes carry the group separator (0x1D)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return _storable(value)


Identifier = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_printable)]
ShortText = Annotated[str, Field(max_length=64), AfterValidator(_printable)]
Millis = Annotated[int, Field(ge=0, le=MAX_MILLIS)]
Barcode = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_storable)]


class GatewayScanEvent(BaseModel):
    """One event of a gateway's message (docs/insight-events.md): the spec's event fields without
    the ``gateway_*`` ones, which the server adds.  Strict: ``"93"`` is not a battery level."""

    model_config = ConfigDict(strict=True, extra="ignore")

    id: Identifier
    type: Literal["scan"] = "scan"
    created: Millis
    scan_code: Annotated[str, Field(min_length=1, max_length=MAX_SCAN_CODE), AfterValidator(_storable)]
    scan_duration: Annotated[float, Field(ge=0, le=86_400)] | None = None
    scan_decode_symbology: ShortText | None = None
    device_id: Identifier
    device_battery: Annotated[int, Field(ge=0, le=100)] | None = None
    device_firmware: ShortText | None = None
    device_temperature: Annotated[float, Field(ge=-273.15, le=1000)] | None = None
    metrics_worker_steps: Annotated[int, Field(ge=0, le=2**53)] | None = None


class Event(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    class_: Literal["event"] = Field(default="event", alias="class")
    type: Literal["scan"] = "scan"
    created: int = Field(description="Milliseconds since the epoch.")
    scan_code: str
    scan_duration: float | None = None
    scan_decode_symbology: str | None = None
    device_id: str
    device_battery: int | None = None
    device_firmware: str | None = None
    device_temperature: float | None = None
    gateway_id: str
    gateway_usecase: str
    gateway_station: str
    metrics_worker_steps: int | None = None


class EventPage(BaseModel):
    items: list[Event]
    links: Links
    metadata: Metadata


class Rejection(BaseModel):
    message: int = Field(description="Index of the message in the request (0 for a single message).")
    event: int | None = Field(description="Index of the event in the message's array, if it was one.")
    reason: str


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[Rejection]


class IngestToken(BaseModel):
    gateway_id: str
    token: str = Field(description="Send as 'Authorization: Bearer <token>' to the gateway-ingest route.")
    ingest_path: str


class DownloadLink(BaseModel):
    download_link: str = Field(description="A short lived link to retrieve the created file")


class ExportTaskAccepted(BaseModel):
    task: str
    requested: str


class ExportTask(BaseModel):
    task: str
    completed: bool
    status: Literal["SUCCESSFUL", "FAILED", "PENDING"]
    download_link: str | None = None


class JobConfig(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    job_config_id: str
    job_name: str
    created: int
    last_updated: int
    start_barcode: str
    end_barcode: str
    gateway_ids: list[str]
    class_: Literal["jobconfig"] = Field(default="jobconfig", alias="class")
    version: int


class JobConfigPage(BaseModel):
    items: list[JobConfig]
    links: Links
    metadata: Metadata


GatewayIds = Annotated[
    list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=MAX_JOB_GATEWAYS)
]


class JobConfigCreate(RequestModel):
    job_name: Text128
    start_barcode: Barcode
    end_barcode: Barcode
    gateway_ids: GatewayIds


class JobConfigPatch(RequestModel):
    job_name: Text128 | None = None
    start_barcode: Barcode | None = None
    end_barcode: Barcode | None = None
    gateway_ids: GatewayIds | None = None


class JobAnalysisRequest(RequestModel):
    job_config_id: str = Field(max_length=64)
    start_time: Millis
    end_time: Millis


class Job(BaseModel):
    start_time: int
    end_time: int | None = Field(description="null: the job was still open at the window's end.")
    start_event_id: str
    end_event_id: str | None


class GatewayJobs(BaseModel):
    gateway_id: str
    jobs: list[Job]


class JobAnalysis(BaseModel):
    results: list[GatewayJobs]
