"""Arrangements for the scan-event tests: a customer with gateways that send events."""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

# The part 1 helpers live one directory up, which pytest only puts on the path for its own tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from insight_support import PREFIX, Customer, assert_error, custom_api

from conftest import Api
from fieldhub.core.db import utcnow

__all__ = [
    "PREFIX",
    "Customer",
    "ScanCustomer",
    "assert_error",
    "custom_api",
    "event",
    "now_millis",
    "wait_for_task",
]


def now_millis() -> int:
    return int(utcnow().timestamp() * 1000)


def event(**fields: Any) -> dict[str, Any]:
    """A gateway's scan event as documented, with a fresh id and the current time by default."""
    return {
        "id": str(uuid.uuid4()),
        "type": "scan",
        "created": now_millis(),
        "scan_code": "1234567890",
        "scan_duration": 2.34,
        "scan_decode_symbology": "QR_CODE",
        "device_id": "M2MR141204452",
        "device_battery": 93,
        "device_firmware": "0.0.1",
        "device_temperature": 31.5,
        "metrics_worker_steps": 1,
        **fields,
    }


@dataclass
class ScanCustomer:
    """A customer (realm) whose gateways publish through the HTTPS ingest."""

    customer: Customer
    tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, api: Api) -> ScanCustomer:
        return cls(Customer.build(api))

    @property
    def api(self) -> Api:
        return self.customer.api

    def gateway(self, name: str | None = None) -> str:
        gateway_id = str(self.customer.gateway(name)["id"])
        response = self.customer.post(f"/gateways/{gateway_id}/ingest-token")
        assert response.status_code == 200, response.text
        self.tokens[gateway_id] = response.json()["token"]
        return gateway_id

    def send(self, gateway_id: str, message: Any, *, token: str | None = None) -> httpx.Response:
        """Posts one message (an event, an array of events, or raw bytes) as the gateway."""
        headers = {"Authorization": f"Bearer {token or self.tokens[gateway_id]}"}
        url = f"{PREFIX}/gateway-ingest/{gateway_id}"
        if isinstance(message, bytes):
            response: httpx.Response = self.api.client.post(url, content=message, headers=headers)
        else:
            response = self.api.client.post(url, json=message, headers=headers)
        return response

    def ingest(self, gateway_id: str, events: list[Any]) -> dict[str, Any]:
        response = self.send(gateway_id, events)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def walk(self, **params: Any) -> list[dict[str, Any]]:
        """Every event of a listing, following ``links.next`` to the end."""
        items: list[dict[str, Any]] = []
        response = self.customer.get("/events", params=params)
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            items.extend(body["items"])
            if body["links"]["next"] is None:
                return items
            response = self.api.client.get(body["links"]["next"], headers=self.customer.admin_headers)


def wait_for_task(customer: Customer, task: str, *, timeout: float = 30.0) -> dict[str, Any]:
    """Polls an export task until it is no longer PENDING (the app's task runner works meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        response = customer.get(f"/events/export/tasks/{task}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] != "PENDING" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)
