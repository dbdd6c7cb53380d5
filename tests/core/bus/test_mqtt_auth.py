"""The MQTT authentication and topic rules, with real tokens from the access-token codec."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import jwt
import pytest

from fieldhub.core.bus.mqtt_auth import MqttIdentity, TokenAuthenticator
from fieldhub.core.bus.topics import filter_within, topic_matches
from fieldhub.core.identity.keys import SigningKey
from fieldhub.core.identity.tokens import AccessTokenCodec

ISSUER = "http://fieldhub.test"
TEMPLATE = "v1/realms/{realm}/users/{sub}/session/#"
SUB = uuid.UUID("0b9f6a52-1c3e-4b7a-9d8e-5f0a1b2c3d4e")
OTHER_SUB = uuid.UUID("26ad943f-a811-44ff-a61b-5ed06c19c5ab")


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return SigningKey.load_or_create(tmp_path_factory.mktemp("key"))


@pytest.fixture(scope="module")
def codec(key: SigningKey) -> AccessTokenCodec:
    return AccessTokenCodec(key=key, issuer=ISSUER, ttl_seconds=600)


#: The (realm, subject) pairs the authenticator asked the database about, and those it finds gone.
LOOKUPS: list[tuple[str, uuid.UUID]] = []
REMOVED = {uuid.UUID("5d1c0c8e-8f5b-4a43-9a3c-2b7d7f1f0e11")}


def principal_exists(realm: str, subject: uuid.UUID) -> bool:
    LOOKUPS.append((realm, subject))
    return subject not in REMOVED


@pytest.fixture(scope="module")
def auth(codec: AccessTokenCodec) -> TokenAuthenticator:
    return TokenAuthenticator(
        codec=codec, subscription_templates=[TEMPLATE], principal_exists=principal_exists
    )


def connect(auth: TokenAuthenticator, **credentials: str | None) -> MqttIdentity | None:
    return asyncio.run(auth.authenticate(**credentials))  # type: ignore[arg-type]


def token(codec: AccessTokenCodec, *, realm: str = "demo", sub: uuid.UUID = SUB, ago: int = 0) -> str:
    return codec.issue(
        user_id=sub, realm=realm, roles=["user"], now=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ago)
    )


def test_the_spec_credentials_give_the_identity(auth: TokenAuthenticator, codec: AccessTokenCodec) -> None:
    raw = token(codec)
    identity = connect(auth, client_id=f"demo-{SUB}-00000042", username=f"demo/{SUB}", password=raw)
    assert identity == MqttIdentity(
        realm="demo",
        subject=str(SUB),
        client_id=f"demo-{SUB}-00000042",
        expires_at=codec.verify(raw).expires_at,
    )


def test_realm_names_with_dashes_work(auth: TokenAuthenticator, codec: AccessTokenCodec) -> None:
    raw = token(codec, realm="acme-eu-1")
    assert connect(auth, client_id=f"acme-eu-1-{SUB}-12345678", username=f"acme-eu-1/{SUB}", password=raw)


@pytest.mark.parametrize(
    ("client_id", "username"),
    [
        (f"demo-{SUB}-1234567", f"demo/{SUB}"),
        (f"demo-{SUB}-123456789", f"demo/{SUB}"),
        (f"demo-{SUB}-1234567x", f"demo/{SUB}"),
        (f"demo-{SUB}", f"demo/{SUB}"),
        (f"other-{SUB}-12345678", f"demo/{SUB}"),
        (f"demo-{OTHER_SUB}-12345678", f"demo/{SUB}"),
        (f"demo-{SUB}-12345678", f"demo/{OTHER_SUB}"),
        (f"demo-{SUB}-12345678", f"other/{SUB}"),
        (f"demo-{SUB}-12345678", str(SUB)),
        (f"demo-{SUB}-12345678", f"demo/{SUB}/x"),
        (f"demo-{SUB}-12345678", f"demo/{str(SUB).upper()}"),
        (f"demo-{SUB}-12345678", None),
    ],
)
def test_ids_that_disagree_are_refused(
    auth: TokenAuthenticator, codec: AccessTokenCodec, client_id: str, username: str | None
) -> None:
    assert connect(auth, client_id=client_id, username=username, password=token(codec)) is None


def test_bad_tokens_are_refused(
    auth: TokenAuthenticator, codec: AccessTokenCodec, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other_key = SigningKey.load_or_create(tmp_path_factory.mktemp("other"))
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {"iss": ISSUER, "sub": str(SUB), "realm": "demo", "iat": now, "exp": now + 600, "jti": "j"}
    bad = {
        "other key": token(AccessTokenCodec(key=other_key, issuer=ISSUER, ttl_seconds=600)),
        "other issuer": token(AccessTokenCodec(key=codec._key, issuer="http://elsewhere", ttl_seconds=600)),
        "expired": token(codec, ago=601),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "other realm": token(codec, realm="other"),
        "other subject": token(codec, sub=uuid.uuid4()),
        "garbage": "a.b.c",
        "empty": "",
        "missing": None,
    }
    results = {
        case: connect(auth, client_id=f"demo-{SUB}-12345678", username=f"demo/{SUB}", password=raw)
        for case, raw in bad.items()
    }
    assert results == dict.fromkeys(bad)


def test_the_token_of_a_user_who_no_longer_exists_is_refused(
    auth: TokenAuthenticator, codec: AccessTokenCodec
) -> None:
    [gone] = REMOVED
    raw = token(codec, sub=gone)
    assert codec.verify(raw).subject == gone, "the token itself is valid"
    assert connect(auth, client_id=f"demo-{gone}-12345678", username=f"demo/{gone}", password=raw) is None
    assert LOOKUPS[-1] == ("demo", gone)


def test_forged_credentials_cost_no_database_lookup(
    auth: TokenAuthenticator, codec: AccessTokenCodec, tmp_path_factory: pytest.TempPathFactory
) -> None:
    forger = AccessTokenCodec(
        key=SigningKey.load_or_create(tmp_path_factory.mktemp("forger")), issuer=ISSUER, ttl_seconds=600
    )
    before = len(LOOKUPS)
    for raw in (token(forger), token(codec, ago=601), "a.b.c"):
        assert connect(auth, client_id=f"demo-{SUB}-12345678", username=f"demo/{SUB}", password=raw) is None
    assert len(LOOKUPS) == before


@pytest.fixture
def identity() -> MqttIdentity:
    return MqttIdentity(realm="demo", subject=str(SUB), client_id=f"demo-{SUB}-12345678", expires_at=0)


@pytest.mark.parametrize(
    "topic_filter",
    [
        f"v1/realms/demo/users/{SUB}/session/#",
        f"v1/realms/demo/users/{SUB}/session",
        f"v1/realms/demo/users/{SUB}/session/abc/#",
        f"v1/realms/demo/users/{SUB}/session/+",
        f"v1/realms/demo/users/{SUB}/session/+/SessionUpdated",
        f"v1/realms/demo/users/{SUB}/session/abc/+/x/#",
    ],
)
def test_own_filters_and_narrower_ones_are_allowed(
    auth: TokenAuthenticator, identity: MqttIdentity, topic_filter: str
) -> None:
    assert auth.may_subscribe(identity, topic_filter)


@pytest.mark.parametrize(
    "topic_filter",
    [
        "#",
        "+",
        "+/#",
        "$SYS/#",
        "v1/#",
        "v1/realms/+/users/+/session/#",
        f"v1/realms/+/users/{SUB}/session/#",
        "v1/realms/demo/users/+/session/#",
        "v1/realms/demo/users/#",
        f"v1/realms/demo/users/{SUB}/#",
        f"v1/realms/demo/users/{SUB}/+/#",
        f"v1/realms/demo/users/{SUB}/+",
        f"v1/realms/demo/users/{OTHER_SUB}/session/#",
        f"v1/realms/other/users/{SUB}/session/#",
        f"v1/realms/demo/users/{SUB}/sessions/#",
        f"v1/realms/demo/users/{SUB}/session/a#",
        f"v1/realms/demo/users/{SUB}/session/#/x",
        f"v1/realms/demo/users/{SUB}/session/a+/x",
        f"v1/realms/demo/users/{SUB}",
        "",
    ],
)
def test_wider_or_foreign_filters_are_refused(
    auth: TokenAuthenticator, identity: MqttIdentity, topic_filter: str
) -> None:
    assert not auth.may_subscribe(identity, topic_filter)


def test_token_users_publish_nothing(auth: TokenAuthenticator, identity: MqttIdentity) -> None:
    assert not auth.may_publish(identity, f"v1/realms/demo/users/{SUB}/session/s1/x")
    assert not auth.may_publish(identity, "anything")


def test_several_templates_each_grant_their_own_subtree(
    codec: AccessTokenCodec, identity: MqttIdentity
) -> None:
    auth = TokenAuthenticator(
        codec=codec,
        subscription_templates=[TEMPLATE, "v1/realms/{realm}/users/{sub}/snapshots/+"],
        principal_exists=principal_exists,
    )
    assert auth.may_subscribe(identity, f"v1/realms/demo/users/{SUB}/snapshots/s1")
    assert not auth.may_subscribe(identity, f"v1/realms/demo/users/{SUB}/snapshots/#")


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("+/b", "a/b", True),
        ("#", "$SYS/x", False),
        ("$SYS/#", "$SYS/x", True),
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
    ],
)
def test_topic_matching(topic_filter: str, topic: str, expected: bool) -> None:
    assert topic_matches(topic_filter, topic) is expected


def test_filter_within_mirrors_matching() -> None:
    assert filter_within("a/+/c", "a/+/#")
    assert filter_within("#", "#")
    assert not filter_within("a/+", "a/b/#")
    assert not filter_within("a", "a/b")
