"""Access tokens that must be refused: forged, unsigned, expired, confused, or orphaned."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import Api
from fieldhub.core.identity import passwords
from fieldhub.core.identity.models import Application, Realm, User


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sessions_url(application: Application) -> str:
    return f"/v1/application/applications/{application.id}/sessions"


def claims_for(api: Api, home: Realm, who: User, /, **overrides: Any) -> dict[str, Any]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims: dict[str, Any] = {
        "iss": api.runtime.settings.issuer,
        "sub": str(who.id),
        "realm": home.name,
        "roles": ["admin", "user"],
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return claims


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: these tests are about tokens, not about password hashing."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def setup(api: Api) -> tuple[Api, Realm, User, Application]:
    realm = api.realm()
    user = api.user(realm, admin=True)
    return api, realm, user, api.application(realm)


def assert_refused(api: Api, application: Application, token: str) -> None:
    for header in (f"Bearer {token}", f"Bearer: {token}"):
        response = api.client.get(sessions_url(application), headers={"Authorization": header})
        assert response.status_code == 401, response.text
        assert set(response.json()) == {"error"}


def test_a_token_signed_by_the_server_works(setup: tuple[Api, Realm, User, Application]) -> None:
    api, realm, user, application = setup
    token = jwt.encode(
        claims_for(api, realm, user),
        api.runtime.signing_key.private_key,
        algorithm="RS256",
        headers={"kid": api.runtime.signing_key.kid},
    )
    response = api.client.get(sessions_url(application), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


def test_alg_none_is_refused(setup: tuple[Api, Realm, User, Application]) -> None:
    api, realm, user, application = setup
    header = {"alg": "none", "typ": "JWT", "kid": api.runtime.signing_key.kid}
    payload = claims_for(api, realm, user)
    unsigned = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}."
    assert_refused(api, application, unsigned)


def test_a_token_signed_by_another_key_with_the_same_kid_is_refused(
    setup: tuple[Api, Realm, User, Application],
) -> None:
    api, realm, user, application = setup
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(
        claims_for(api, realm, user),
        impostor,
        algorithm="RS256",
        headers={"kid": api.runtime.signing_key.kid},
    )
    assert_refused(api, application, token)


def test_hs256_signed_with_the_public_key_is_refused(setup: tuple[Api, Realm, User, Application]) -> None:
    api, realm, user, application = setup
    public_pem = api.runtime.signing_key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": api.runtime.signing_key.kid}
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims_for(api, realm, user)).encode())}"
    )
    import hashlib
    import hmac

    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert_refused(api, application, f"{signing_input}.{_b64(signature)}")


def test_an_expired_access_token_is_refused(setup: tuple[Api, Realm, User, Application]) -> None:
    api, realm, user, application = setup
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    token = api.runtime.tokens.issue(user_id=user.id, realm=realm.name, roles=user.roles, now=an_hour_ago)
    assert_refused(api, application, token)


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "https://somebody-else.example"},
        {"sub": "not-a-uuid"},
        {"sub": str(uuid.uuid4())},
        {"realm": "some-other-realm"},
        {"exp": None},
        {"jti": None},
    ],
    ids=["issuer", "subject-not-uuid", "unknown-subject", "realm-mismatch", "no-exp", "no-jti"],
)
def test_tampered_claims_are_refused(
    setup: tuple[Api, Realm, User, Application], overrides: dict[str, Any]
) -> None:
    api, realm, user, application = setup
    claims = {k: v for k, v in claims_for(api, realm, user, **overrides).items() if v is not None}
    token = jwt.encode(
        claims,
        api.runtime.signing_key.private_key,
        algorithm="RS256",
        headers={"kid": api.runtime.signing_key.kid},
    )
    assert_refused(api, application, token)


def test_a_token_for_a_deleted_user_is_refused(setup: tuple[Api, Realm, User, Application]) -> None:
    api, realm, user, application = setup
    token = api.login(realm, user)["access_token"]
    with api.runtime.db.unit_of_work() as uow:
        uow.session.delete(uow.session.merge(user))
    assert_refused(api, application, token)


@pytest.mark.parametrize(
    "header", ["Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer a b", "Token abc", "Bearer not.a.jwt"]
)
def test_malformed_authorization_headers_are_401(
    setup: tuple[Api, Realm, User, Application], header: str
) -> None:
    api, _, _, application = setup
    response = api.client.get(sessions_url(application), headers={"Authorization": header})
    assert response.status_code == 401
    assert set(response.json()) == {"error"}


def test_a_tampered_payload_is_refused(setup: tuple[Api, Realm, User, Application]) -> None:
    api, realm, user, application = setup
    other = api.user(realm)
    token = api.login(realm, other)["access_token"]
    head, _, signature = token.split(".")
    forged_payload = _b64(json.dumps(claims_for(api, realm, user)).encode())
    assert_refused(api, application, f"{head}.{forged_payload}.{signature}")


def test_access_tokens_carry_the_mqtt_username_and_acl_emqx_checks(
    setup: tuple[Api, Realm, User, Application],
) -> None:
    api, realm, user, _ = setup
    token = api.login(realm, user)["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["mqtt_username"] == f"{realm.name}/{user.id}"
    assert claims["acl"] == [
        {
            "permission": "allow",
            "action": "subscribe",
            "topic": f"v1/realms/{realm.name}/users/{user.id}/session/#",
        },
        # The snapshot API's notifications, per endpoint of the user.
        {"permission": "allow", "action": "subscribe", "topic": f"user/{user.id}/#"},
    ]
