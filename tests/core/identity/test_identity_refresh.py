"""``POST /v1/authentication/token/refresh``: rotation, reuse detection, expiry and races."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import update

from conftest import Api
from fieldhub.core.identity.models import RefreshToken
from fieldhub.core.identity.tokens import hash_refresh_token

REFRESH_URL = "/v1/authentication/token/refresh"


def refresh(api: Api, token: str) -> Any:
    return api.client.post(REFRESH_URL, json={"refreshToken": token})


def test_refresh_returns_a_new_pair_that_works(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm, admin=True)
    application = api.application(realm)
    first = api.login(realm, user)
    response = refresh(api, first["refresh_token"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "refresh_expires_in"}
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    listed = api.client.get(
        f"/v1/application/applications/{application.id}/sessions",
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert listed.status_code == 200
    # The new refresh token rotates in turn.
    assert refresh(api, body["refresh_token"]).status_code == 200


def test_a_rotated_token_cannot_be_used_again_and_its_reuse_revokes_the_family(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    original = api.login(realm, user)["refresh_token"]
    second = refresh(api, original).json()["refresh_token"]
    newest = refresh(api, second).json()["refresh_token"]

    replay = refresh(api, original)
    assert replay.status_code == 401
    assert set(replay.json()) == {"error"}
    # The whole family is gone, including the newest token that was never used.
    assert refresh(api, newest).status_code == 401
    assert refresh(api, second).status_code == 401


def test_reuse_revokes_only_its_own_family(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    laptop = api.login(realm, user)["refresh_token"]
    phone = api.login(realm, user)["refresh_token"]
    refresh(api, laptop)
    assert refresh(api, laptop).status_code == 401
    assert refresh(api, phone).status_code == 200


def test_an_expired_refresh_token_is_401(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    token = api.login(realm, user)["refresh_token"]
    with api.runtime.db.unit_of_work() as uow:
        uow.session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_refresh_token(token))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    response = refresh(api, token)
    assert response.status_code == 401
    assert set(response.json()) == {"error"}


def test_unknown_and_malformed_refresh_requests(api: Api) -> None:
    assert refresh(api, "not-a-token-we-issued").status_code == 401
    assert api.client.post(REFRESH_URL, json={}).status_code == 400
    assert api.client.post(REFRESH_URL, json={"refreshToken": 5}).status_code == 400
    assert api.client.post(REFRESH_URL, json={"refresh_token": "x"}).status_code == 400
    assert api.client.post(REFRESH_URL, json={"refreshToken": "x" * 10_000}).status_code == 400


def test_an_access_token_is_not_a_refresh_token(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    # Longer than any refresh token, so refused at validation (400) or at lookup (401).
    assert refresh(api, api.login(realm, user)["access_token"]).status_code in {400, 401}


def test_refresh_token_of_a_deleted_user_is_401(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    token = api.login(realm, user)["refresh_token"]
    with api.runtime.db.unit_of_work() as uow:
        uow.session.delete(uow.session.merge(user))
    assert refresh(api, token).status_code == 401


def test_concurrent_refresh_of_one_token_succeeds_at_most_once(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    token = api.login(realm, user)["refresh_token"]
    workers = 6
    barrier = threading.Barrier(workers)

    def attempt(_: int) -> int:
        barrier.wait()
        return int(refresh(api, token).status_code)

    with ThreadPoolExecutor(workers) as pool:
        statuses = list(pool.map(attempt, range(workers)))
    assert set(statuses) <= {200, 401}, statuses
    assert statuses.count(200) <= 1, statuses
    # Whatever happened, the old token is spent.
    assert refresh(api, token).status_code == 401
