"""Failed-login throttling: per user, per client address, only failures count, and no 500 on races."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from conftest import TEST_PASSWORD, Api
from fieldhub.core.identity import passwords
from fieldhub.core.identity.models import LoginFailureWindow, Realm
from fieldhub.core.identity.throttle import LoginThrottle

LIMIT = 5  # what the settings fixture configures


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: these tests log in dozens of times and are about counting, not hashing."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def from_address(api: Api, address: str) -> TestClient:
    return TestClient(api.client.app, client=(address, 50000))


def attempt(client: TestClient, realm: Realm, username: str, password: str) -> int:
    response = client.post(
        f"/v1/authentication/login/realms/{realm.name}",
        json={"username": username, "password": password, "realm": realm.name},
    )
    assert response.status_code in {200, 401, 429}, response.text
    return int(response.status_code)


def failures(api: Api, key: str) -> int | None:
    with api.runtime.db.unit_of_work(write=False) as uow:
        return uow.session.scalar(select(LoginFailureWindow.failures).where(LoginFailureWindow.key == key))


def test_a_user_is_locked_after_the_limit_even_with_the_right_password(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    attacker = from_address(api, "10.0.0.1")
    assert [attempt(attacker, realm, user.username, "wrong-password") for _ in range(LIMIT)] == [401] * LIMIT

    # The lock is on the user: the right password from a clean address is refused too.
    response = from_address(api, "10.0.0.2").post(
        f"/v1/authentication/login/realms/{realm.name}",
        json={"username": user.username, "password": TEST_PASSWORD, "realm": realm.name},
    )
    assert response.status_code == 429
    assert set(response.json()) == {"error"}
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= api.runtime.settings.login_failure_window_seconds

    # Other users from that clean address are unaffected.
    other = api.user(realm)
    assert attempt(from_address(api, "10.0.0.2"), realm, other.username, TEST_PASSWORD) == 200


def test_one_address_guessing_many_usernames_is_locked(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    scanner = from_address(api, "10.0.1.1")
    statuses = [attempt(scanner, realm, f"guess{n}", "hunter2-hunter2") for n in range(LIMIT)]
    assert statuses == [401] * LIMIT
    assert attempt(scanner, realm, f"guess{LIMIT}", "hunter2-hunter2") == 429
    # Even a real user with the right password is refused from that address ...
    assert attempt(scanner, realm, user.username, TEST_PASSWORD) == 429
    # ... but not from anywhere else.
    assert attempt(from_address(api, "10.0.1.2"), realm, user.username, TEST_PASSWORD) == 200


def test_successful_logins_never_count(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    client = from_address(api, "10.0.2.1")
    statuses = [attempt(client, realm, user.username, TEST_PASSWORD) for _ in range(10 * LIMIT)]
    assert statuses == [200] * (10 * LIMIT)
    assert failures(api, f"user:{realm.name}:{user.username.lower()}") is None
    assert failures(api, "addr:10.0.2.1") is None


def test_the_failure_count_is_committed_although_the_login_failed(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    client = from_address(api, "10.0.3.1")
    user_key = f"user:{realm.name}:{user.username.lower()}"
    for expected in range(1, 4):
        assert attempt(client, realm, user.username, "wrong-password") == 401
        # Read back through a fresh connection: the count survived the 401.
        assert failures(api, user_key) == expected
        assert failures(api, "addr:10.0.3.1") == expected


def test_a_success_clears_the_user_count_but_not_the_address_count(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    user_key = f"user:{realm.name}:{user.username.lower()}"
    for n in range(LIMIT - 1):
        assert attempt(from_address(api, f"10.0.4.{n}"), realm, user.username, "wrong-password") == 401
    assert failures(api, user_key) == LIMIT - 1
    assert attempt(from_address(api, "10.0.4.1"), realm, user.username, TEST_PASSWORD) == 200
    assert failures(api, user_key) is None
    assert failures(api, "addr:10.0.4.1") == 1
    # A fresh run of failures is needed to lock the user again.
    for n in range(LIMIT - 1):
        assert attempt(from_address(api, f"10.0.5.{n}"), realm, user.username, "wrong-password") == 401
    assert attempt(from_address(api, "10.0.5.99"), realm, user.username, TEST_PASSWORD) == 200


def test_the_lock_lifts_when_the_window_has_passed(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    client = from_address(api, "10.0.6.1")
    for _ in range(LIMIT):
        attempt(client, realm, user.username, "wrong-password")
    assert attempt(client, realm, user.username, TEST_PASSWORD) == 429
    window = dt.timedelta(seconds=api.runtime.settings.login_failure_window_seconds + 1)
    with api.runtime.db.unit_of_work() as uow:
        uow.session.execute(update(LoginFailureWindow).values(window_start=dt.datetime.now(dt.UTC) - window))
    # A failure after the window starts a new count at 1 rather than adding to the old one.
    assert attempt(client, realm, user.username, "wrong-password") == 401
    assert failures(api, f"user:{realm.name}:{user.username.lower()}") == 1
    assert attempt(client, realm, user.username, TEST_PASSWORD) == 200


def test_the_user_key_ignores_username_case(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm, "CaseUser")
    for n in range(LIMIT):
        name = "caseuser" if n % 2 else "CASEUSER"
        attempt(from_address(api, f"10.0.7.{n}"), realm, name, "wrong-password")
    assert attempt(from_address(api, "10.0.7.99"), realm, user.username, TEST_PASSWORD) == 429


def test_concurrent_failed_logins_never_500(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    workers = LIMIT - 1
    barrier = threading.Barrier(workers)

    def fail_once(n: int) -> int:
        client = from_address(api, f"10.0.8.{n}")
        barrier.wait()
        return attempt(client, realm, user.username, "wrong-password")

    with ThreadPoolExecutor(workers) as pool:
        assert list(pool.map(fail_once, range(workers))) == [401] * workers
    assert failures(api, f"user:{realm.name}:{user.username.lower()}") == workers


def test_record_failure_survives_concurrent_first_failures_of_one_key(api: Api) -> None:
    """Every thread saw no row (as check() does) before any of them recorded: all must count."""
    workers = 4
    # SQLite writers take the lock at BEGIN, so there they cannot all read before any writes.
    barrier = threading.Barrier(1 if api.runtime.db.dialect == "sqlite" else workers)
    now = dt.datetime.now(dt.UTC)
    errors: list[BaseException] = []

    def record(_: int) -> None:
        try:
            with api.runtime.db.unit_of_work() as uow:
                throttle = LoginThrottle(session=uow.session, limit=LIMIT, window_seconds=300)
                throttle.check(realm="race", username="victim", client_address="10.0.9.1", now=now)
                barrier.wait(timeout=10)
                throttle.record_failure(realm="race", username="victim", client_address="10.0.9.1", now=now)
        except BaseException as exc:
            errors.append(exc)
            raise

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(record, range(workers)))
    assert errors == []
    assert failures(api, "user:race:victim") == workers
    assert failures(api, "addr:10.0.9.1") == workers


def test_failures_for_unknown_users_and_realms_count_too(api: Api) -> None:
    realm = api.realm()
    client = from_address(api, "10.0.10.1")
    attempt(client, realm, "ghost", "wrong-password")
    assert failures(api, f"user:{realm.name}:ghost") == 1
    url_realm = "no-such-realm"
    client.post(
        f"/v1/authentication/login/realms/{url_realm}",
        json={"username": "ghost", "password": "wrong-password", "realm": url_realm},
    )
    assert failures(api, f"user:{url_realm}:ghost") == 1
    assert failures(api, "addr:10.0.10.1") == 2
