"""The composed app answers its operational routes on both backends."""

from __future__ import annotations

from conftest import Api


def test_healthz_reports_the_database(api: Api) -> None:
    response = api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True}


def test_jwks_publishes_the_signing_key(api: Api) -> None:
    keys = api.client.get("/.well-known/jwks.json").json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["alg"] == "RS256"
    assert keys[0]["kid"]
