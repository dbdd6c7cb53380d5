"""``POST /v1/authentication/login/realms/{realm}``: the token response, the JWT, and every refusal."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher

from conftest import TEST_PASSWORD, Api
from fieldhub.core.identity import auth, passwords


def login_url(realm: str) -> str:
    return f"/v1/authentication/login/realms/{realm}"


def decode_with_jwks(api: Api, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The verified claims and the header, with the key taken from the published JWKS."""
    jwks = jwt.PyJWKSet.from_dict(api.client.get("/.well-known/jwks.json").json())
    header = jwt.get_unverified_header(token)
    key = jwks[header["kid"]]
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        issuer=api.runtime.settings.issuer,
        options={"require": ["exp", "iat", "iss", "sub", "jti"]},
    )
    return claims, header


def test_login_returns_exactly_the_spec_fields(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    response = api.client.post(
        login_url(realm.name),
        json={"username": user.username, "password": TEST_PASSWORD, "realm": realm.name},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "refresh_expires_in"}
    assert body["expires_in"] == api.runtime.settings.access_token_ttl_seconds
    assert body["refresh_expires_in"] == api.runtime.settings.refresh_token_ttl_seconds
    assert isinstance(body["access_token"], str)
    assert isinstance(body["refresh_token"], str)
    assert body["refresh_token"] != body["access_token"]


def test_access_token_verifies_against_the_jwks_and_carries_the_claims(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm, admin=True)
    token = api.login(realm, user)["access_token"]
    claims, header = decode_with_jwks(api, token)
    assert header["alg"] == "RS256"
    assert header["kid"] == api.runtime.signing_key.kid
    assert claims["sub"] == str(user.id)
    assert claims["realm"] == realm.name
    assert claims["iss"] == api.runtime.settings.issuer
    assert claims["exp"] - claims["iat"] == api.runtime.settings.access_token_ttl_seconds
    assert claims["jti"]
    assert "admin" in claims["roles"]
    # Every token has its own id.
    again, _ = decode_with_jwks(api, api.login(realm, user)["access_token"])
    assert again["jti"] != claims["jti"]


def test_plain_user_token_has_no_admin_role(api: Api) -> None:
    realm = api.realm()
    claims, _ = decode_with_jwks(api, api.login(realm, api.user(realm))["access_token"])
    assert claims["roles"] == ["user"]


def test_the_token_authorises_both_header_forms(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm, admin=True)
    application = api.application(realm)
    token = api.login(realm, user)["access_token"]
    url = f"/v1/application/applications/{application.id}/sessions"
    for header in (f"Bearer {token}", f"Bearer: {token}"):
        assert api.client.get(url, headers={"Authorization": header}).status_code == 200
    missing = api.client.get(url)
    assert missing.status_code == 401
    assert missing.json() == {"error": "No authorization token found"}


def test_body_realm_must_match_the_url(api: Api) -> None:
    realm = api.realm()
    other = api.realm()
    user = api.user(realm)
    response = api.client.post(
        login_url(realm.name),
        json={"username": user.username, "password": TEST_PASSWORD, "realm": other.name},
    )
    assert response.status_code == 400
    assert "realm" in response.json()["error"]


def test_wrong_password_unknown_user_and_unknown_realm_look_the_same(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    attempts = [
        (realm.name, user.username, "wrong-password"),
        (realm.name, "nobody-here", TEST_PASSWORD),
        ("no-such-realm", user.username, TEST_PASSWORD),
    ]
    errors = []
    for realm_name, username, password in attempts:
        response = api.client.post(
            login_url(realm_name), json={"username": username, "password": password, "realm": realm_name}
        )
        assert response.status_code == 401, response.text
        body = response.json()
        assert set(body) == {"error"}
        errors.append(body["error"])
    assert len(set(errors)) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"password": TEST_PASSWORD, "realm": "acme"},
        {"username": "ada", "realm": "acme"},
        {"username": "ada", "password": TEST_PASSWORD},
        {"username": "ada", "password": "", "realm": "acme"},
        {"username": 12, "password": TEST_PASSWORD, "realm": "acme"},
        {"username": "ada", "password": ["x"], "realm": "acme"},
        {},
        [],
        "ada",
    ],
)
def test_missing_or_malformed_fields_are_400(api: Api, body: Any) -> None:
    response = api.client.post(login_url("acme"), json=body)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"}
    # Refused before any lookup: nothing was counted against anyone.
    assert api.count("login_failure_windows") == 0


def test_malformed_json_and_no_body_are_400(api: Api) -> None:
    realm = api.realm()
    bad = api.client.post(
        login_url(realm.name), content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 400
    assert api.client.post(login_url(realm.name)).status_code == 400


def test_login_creates_one_refresh_token_row_per_login(api: Api) -> None:
    realm = api.realm()
    user = api.user(realm)
    before = api.count("refresh_tokens")
    first = api.login(realm, user)
    second = api.login(realm, user)
    assert api.count("refresh_tokens") == before + 2
    assert first["refresh_token"] != second["refresh_token"]
    # Stored hashed: the raw token never appears in the table.
    with api.runtime.db.unit_of_work(write=False) as uow:
        from sqlalchemy import text

        hashes = set(uow.session.scalars(text("SELECT token_hash FROM refresh_tokens")))
    assert first["refresh_token"] not in hashes


def test_usernames_are_scoped_to_their_realm(api: Api) -> None:
    realm_a = api.realm()
    realm_b = api.realm()
    name = f"same{uuid.uuid4().hex[:6]}"
    user_a = api.user(realm_a, name)
    user_b = api.user(realm_b, name)
    claims_a, _ = decode_with_jwks(api, api.login(realm_a, user_a)["access_token"])
    claims_b, _ = decode_with_jwks(api, api.login(realm_b, user_b)["access_token"])
    assert claims_a["sub"] != claims_b["sub"]
    assert (claims_a["realm"], claims_b["realm"]) == (realm_a.name, realm_b.name)


def test_concurrent_logins_all_succeed(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Password checks are slow on purpose; they must not hold the database's write lock meanwhile.

    Each check is made to take 0.3 s (sleeping, so without CPU): 30 logins that each held SQLite's
    write lock through it would queue for 9 s, past the 5 s busy timeout, and fail with 500s.
    """
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    realm = api.realm()
    user = api.user(realm)
    real_verify = auth.verify_password

    def slow_verify(password_hash: str | None, password: str) -> bool:
        time.sleep(0.3)
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", slow_verify)
    workers = 30
    barrier = threading.Barrier(workers)

    def log_in(_: int) -> int:
        barrier.wait()
        response = api.client.post(
            login_url(realm.name),
            json={"username": user.username, "password": TEST_PASSWORD, "realm": realm.name},
        )
        return int(response.status_code)

    with ThreadPoolExecutor(workers) as pool:
        assert list(pool.map(log_in, range(workers))) == [200] * workers


@pytest.mark.parametrize("field", ["username", "realm"])
def test_a_nul_character_in_the_login_is_a_400_not_a_500(api: Api, field: str) -> None:
    realm = api.realm()
    body = {"username": "alice", "password": "whatever-password", "realm": realm.name}
    body[field] = body[field] + "\x00"
    response = api.client.post(f"/v1/authentication/login/realms/{realm.name}", json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"body.{field}")
    assert api.count("login_failure_windows") == 0
