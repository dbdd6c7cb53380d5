"""The few fieldhub HTTP calls the benchmarks make to arrange their data."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
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


def login(server: RunningServer, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD) -> str:
    """An access token of ``username`` (by default the bootstrapped realm admin)."""
    response = httpx.post(
        f"{server.base_url}/v1/authentication/login/realms/{REALM}",
        json={"username": username, "password": password, "realm": REALM},
        timeout=TIMEOUT_SECONDS,
    )
    return str(_checked(response, 200)["access_token"])


def logins(server: RunningServer, usernames: Sequence[str], password: str, *, parallel: int = 4) -> list[str]:
    """Access tokens of ``usernames``, in order; ``parallel`` logins at a time (argon2 takes ~0.1 s each)."""
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(lambda name: login(server, name, password), usernames))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sessions_url(server: RunningServer, application_id: str) -> str:
    return f"{server.base_url}/v1/application/applications/{application_id}/sessions"


def create_session(server: RunningServer, token: str, application_id: str, body: dict[str, Any]) -> str:
    response = httpx.post(
        sessions_url(server, application_id), json=body, headers=bearer(token), timeout=TIMEOUT_SECONDS
    )
    return str(_checked(response, 201)["sessionId"])


def patch_data(client: httpx.Client, session_url: str, data: dict[str, Any]) -> str:
    """``PATCH {session_url}/data`` on a keep-alive client; returns the ``eventId`` of its event."""
    response = client.patch(f"{session_url}/data", json={"data": data, "version": 1})
    return str(_checked(response, 200)["eventId"])


def probe(url: str, headers: dict[str, str]) -> int:
    """Size in bytes of the 200 response body of ``url``; anything but a 200 is an error."""
    response = httpx.get(url, headers=headers, timeout=TIMEOUT_SECONDS)
    if response.status_code != 200:
        raise ServerError(f"GET {url}: {response.status_code} {response.text[:200]}")
    return len(response.content)
