"""The few fieldhub HTTP calls the benchmarks make to arrange their data."""

from __future__ import annotations

from typing import Any

import httpx

from bench.servers import ADMIN_PASSWORD, ADMIN_USERNAME, RunningServer, ServerError

REALM = "demo"
TIMEOUT_SECONDS = 30.0


def _checked(response: httpx.Response, expected: int) -> dict[str, Any]:
    if response.status_code != expected:
        raise ServerError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    body: dict[str, Any] = response.json()
    return body


def login(server: RunningServer) -> str:
    """An access token of the bootstrapped realm admin."""
    response = httpx.post(
        f"{server.base_url}/v1/authentication/login/realms/{REALM}",
        json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "realm": REALM},
        timeout=TIMEOUT_SECONDS,
    )
    return str(_checked(response, 200)["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sessions_url(server: RunningServer, application_id: str) -> str:
    return f"{server.base_url}/v1/application/applications/{application_id}/sessions"


def create_session(server: RunningServer, token: str, application_id: str, body: dict[str, Any]) -> str:
    response = httpx.post(
        sessions_url(server, application_id), json=body, headers=bearer(token), timeout=TIMEOUT_SECONDS
    )
    return str(_checked(response, 201)["sessionId"])


def probe(url: str, headers: dict[str, str]) -> int:
    """Size in bytes of the 200 response body of ``url``; anything but a 200 is an error."""
    response = httpx.get(url, headers=headers, timeout=TIMEOUT_SECONDS)
    if response.status_code != 200:
        raise ServerError(f"GET {url}: {response.status_code} {response.text[:200]}")
    return len(response.content)
